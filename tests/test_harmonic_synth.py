"""HarmonicSynth (cpp/dsp/HarmonicSynth.h) against the synthesis contract in docs/model-format.md."""

import numpy as np
import pytest
import scipy.signal
from tonemorph.engine import _core

SR = 24000
HOP = 96


def reference_harmonic(f0, amplitude, distribution, sr, hop):
    """The contract, vectorised in float64: f0 [T], amplitude [T], distribution [T, K] -> [T * hop]."""
    f0 = np.asarray(f0, np.float64)
    amplitude = np.asarray(amplitude, np.float64)
    distribution = np.asarray(distribution, np.float64)
    n_harm = distribution.shape[1]
    harmonic = np.arange(1, n_harm + 1, dtype=np.float64)

    masked = np.where(harmonic[None, :] * f0[:, None] >= sr / 2, 0.0, distribution)
    amps = amplitude[:, None] * masked / np.maximum(masked.sum(axis=1, keepdims=True), 1e-7)

    # Frame -1: f0 of frame 0, zero amplitudes.
    f0_prev = np.concatenate([f0[:1], f0[:-1]])
    amps_prev = np.concatenate([np.zeros((1, n_harm)), amps[:-1]])
    alpha = np.arange(hop, dtype=np.float64) / hop
    f = (f0_prev[:, None] + alpha[None, :] * (f0 - f0_prev)[:, None]).reshape(-1)
    a = (amps_prev[:, None, :] + alpha[None, :, None] * (amps - amps_prev)[:, None, :]).reshape(-1, n_harm)

    phase = np.mod(np.cumsum(2.0 * np.pi * f / sr), 2.0 * np.pi)
    a = np.where(harmonic[None, :] * f[:, None] >= sr / 2, 0.0, a)
    return np.sum(a * np.sin(harmonic[None, :] * phase[:, None]), axis=1)


def render(f0, amplitude, distribution, sr=SR, hop=HOP):
    synth = _core.HarmonicSynth(sr, hop, distribution.shape[1])
    return synth.process(
        np.asarray(f0, np.float32), np.asarray(amplitude, np.float32), np.asarray(distribution, np.float32)
    )


def peak_amplitudes(y, freqs_hz, sr):
    """Amplitude of bin-centred sinusoids in y (length sr: 1 Hz bins) through a periodic Hann window."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(len(y)) / len(y))
    spectrum = np.abs(np.fft.rfft(y * window)) * 2.0 / window.sum()
    return spectrum[np.round(np.asarray(freqs_hz)).astype(int)], spectrum


def test_steady_tone_spectrum_matches_requested_harmonic_amplitudes():
    rng = np.random.default_rng(1)
    n_harm, f0_hz, amp = 30, 1130.0, 0.8
    dist = rng.uniform(0.05, 1.0, n_harm)
    n_frames = 2 * SR // HOP + 1
    y = render(np.full(n_frames, f0_hz), np.full(n_frames, amp), np.tile(dist, (n_frames, 1)))

    audible = np.arange(1, n_harm + 1) * f0_hz < SR / 2
    expected = amp * dist[audible] / dist[audible].sum()
    measured, _ = peak_amplitudes(y[-SR:], f0_hz * np.arange(1, audible.sum() + 1), SR)
    np.testing.assert_allclose(measured, expected, rtol=0.01)


def test_harmonics_at_or_above_nyquist_are_absent():
    # 1130 Hz: harmonics 11.. lie above 12 kHz and would alias to 24000 - i * 1130 Hz, 270 Hz off the
    # harmonic grid, where a correct synth has nothing.
    n_harm, f0_hz = 30, 1130.0
    n_frames = 2 * SR // HOP + 1
    y = render(np.full(n_frames, f0_hz), np.ones(n_frames), np.ones((n_frames, n_harm)))
    _, spectrum = peak_amplitudes(y[-SR:], [f0_hz], SR)

    harmonics = f0_hz * np.arange(1, n_harm + 1)
    aliases = np.abs(SR - harmonics[harmonics >= SR / 2])
    aliases = np.where(aliases > SR / 2, SR - aliases, aliases)
    fundamental = spectrum[int(f0_hz)]
    assert fundamental > 0.05
    assert spectrum[np.round(aliases).astype(int)].max() < 1e-5 * fundamental
    # The 10 audible harmonics share the amplitude equally.
    np.testing.assert_allclose(spectrum[np.round(harmonics[:10]).astype(int)], 0.1, rtol=0.01)


def test_glide_across_nyquist_adds_no_alias():
    # f0 1000 -> 2000 Hz over 4 s: harmonics 6..8 cross 12 kHz one after another. An aliased harmonic
    # would fold back to 24000 - i f(t), falling while the real ones rise; every STFT frame may only hold
    # energy near i f(t) < sr / 2.
    n_harm, seconds = 8, 4.0
    n_frames = int(seconds * SR / HOP)
    f0 = np.linspace(1000.0, 2000.0, n_frames)
    y = render(f0, np.ones(n_frames), np.ones((n_frames, n_harm)))

    f_sample = np.interp(np.arange(len(y)) / HOP, np.arange(n_frames), f0)
    n_fft, step = 1024, 512
    window = scipy.signal.get_window("blackmanharris", n_fft)  # sidelobes < -92 dB
    bin_hz = SR / n_fft
    # Transients are not aliases: skip the fade-in and the cut of each harmonic at Nyquist.
    transients = [0] + [np.searchsorted(f_sample, SR / 2 / i) for i in range(6, n_harm + 1)]
    worst_outside, checked = 0.0, 0
    for start in range(0, len(y) - n_fft, step):
        if any(abs(start + n_fft / 2 - t) < n_fft for t in transients):
            continue
        seg_f = f_sample[start : start + n_fft]
        spectrum = np.abs(np.fft.rfft(y[start : start + n_fft] * window)) * 2 / window.sum()
        freqs = np.arange(len(spectrum)) * bin_hz
        allowed = np.zeros(len(spectrum), bool)
        for i in range(1, n_harm + 1):
            lo, hi = i * seg_f.min(), i * seg_f.max()
            if lo < SR / 2:
                allowed |= (freqs > lo - 6 * bin_hz) & (freqs < hi + 6 * bin_hz)
        worst_outside = max(worst_outside, spectrum[~allowed].max())
        checked += 1
    assert checked > 150
    # An alias carries a harmonic's amplitude (1/8 .. 1/5 here: an unmasked synth measures ~0.12).
    assert worst_outside < 1e-4


def test_matches_numpy_reference_with_phase_continuity_across_hops():
    rng = np.random.default_rng(7)
    n_harm, n_frames = 40, 300
    t = np.arange(n_frames) * HOP / SR
    # Vibrato, a jump and a glide up through Nyquist for the upper harmonics; amplitude and
    # distribution move every frame, so any phase or interpolation slip at hop boundaries shows.
    f0 = 220.0 * 2 ** (0.5 * np.sin(2 * np.pi * 5.0 * t))
    f0[100:150] = 660.0
    f0[200:] = np.linspace(300.0, 3000.0, n_frames - 200)
    amplitude = 0.5 + 0.4 * np.sin(2 * np.pi * 3.0 * t)
    distribution = rng.uniform(0.0, 1.0, (n_frames, n_harm))

    f0, amplitude, distribution = (np.asarray(a, np.float32) for a in (f0, amplitude, distribution))
    y = render(f0, amplitude, distribution)
    expected = reference_harmonic(f0, amplitude, distribution, SR, HOP)
    assert y.shape == (n_frames * HOP,)
    assert np.max(np.abs(y - expected)) < 1e-5


@pytest.mark.parametrize("sr,hop,n_harm", [(16000, 64, 60), (48000, 192, 100), (22050, 1, 5)])
def test_matches_numpy_reference_at_other_rates(sr, hop, n_harm):
    rng = np.random.default_rng(sr)
    n_frames = max(200, 4000 // hop)
    f0 = rng.uniform(50.0, 1500.0, n_frames).astype(np.float32)
    amplitude = rng.uniform(0.0, 1.0, n_frames).astype(np.float32)
    distribution = rng.uniform(0.0, 1.0, (n_frames, n_harm)).astype(np.float32)
    y = render(f0, amplitude, distribution, sr=sr, hop=hop)
    assert np.max(np.abs(y - reference_harmonic(f0, amplitude, distribution, sr, hop))) < 1e-5


def test_output_independent_of_chunking_and_reset_restarts():
    rng = np.random.default_rng(3)
    n_harm, n_frames = 20, 120
    f0 = rng.uniform(80.0, 900.0, n_frames).astype(np.float32)
    amplitude = rng.uniform(0.0, 1.0, n_frames).astype(np.float32)
    distribution = rng.uniform(0.0, 1.0, (n_frames, n_harm)).astype(np.float32)

    synth = _core.HarmonicSynth(SR, HOP, n_harm)
    whole = synth.process(f0, amplitude, distribution)

    synth.reset()
    pieces, start = [], 0
    for size in [1, 5, 0, 17, 2, 40]:
        pieces.append(
            synth.process(
                f0[start : start + size], amplitude[start : start + size], distribution[start : start + size]
            )
        )
        start += size
    pieces.append(synth.process(f0[start:], amplitude[start:], distribution[start:]))
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_first_hop_fades_in_from_silence():
    n_frames = 4
    y = render(np.full(n_frames, 440.0), np.ones(n_frames), np.ones((n_frames, 1)))
    # Frame -1 has zero amplitude, so hop 0 ramps a(n) = n / hop: y(n) = (n / hop) sin(2 pi 440 (n + 1) / sr).
    n = np.arange(HOP)
    np.testing.assert_allclose(y[:HOP], n / HOP * np.sin(2 * np.pi * 440.0 * (n + 1) / SR), atol=1e-6)


def test_non_finite_controls_do_not_poison_output():
    n_harm, n_frames = 10, 20
    f0 = np.full(n_frames, 220.0, np.float32)
    amplitude = np.ones(n_frames, np.float32)
    distribution = np.ones((n_frames, n_harm), np.float32)
    f0[3], f0[4] = np.nan, np.inf
    amplitude[6], amplitude[7] = np.inf, -1.0
    distribution[9, 2], distribution[10, 0] = np.nan, -np.inf
    y = render(f0, amplitude, distribution)
    assert np.all(np.isfinite(y))
    assert np.abs(y[-HOP:]).max() > 0.1  # recovered, not stuck at silence


def test_bad_shapes_raise_value_error():
    synth = _core.HarmonicSynth(SR, HOP, 8)
    ones = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="n_harmonics"):
        synth.process(ones, ones, np.ones((4, 7), np.float32))
    with pytest.raises(ValueError, match="amplitude"):
        synth.process(ones, np.ones(3, np.float32), np.ones((4, 8), np.float32))
    with pytest.raises(ValueError, match="f0"):
        synth.process(np.ones((4, 1), np.float32), ones, np.ones((4, 8), np.float32))
    with pytest.raises(ValueError, match="hop"):
        _core.HarmonicSynth(SR, 0, 8)
