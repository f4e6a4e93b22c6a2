"""Loudness (cpp/dsp/Loudness.h) against DDSP's A-weighted loudness, written here with librosa."""

import librosa
import numpy as np
import pytest
import signals
from tonemorph.engine import _core

SR = 24000  # the model rate (docs/model-format.md)
HOP = 96
N_FFT = 512
MAX_ERROR_DB = 1e-4  # measured: at most 3.3e-6 dB over the four cases (float32 rounding)


def a_weighting(freqs):
    """librosa.A_weighting (min_db=-80), quiet about log10(0) at 0 Hz."""
    with np.errstate(divide="ignore"):
        return librosa.A_weighting(freqs)


def reference_loudness(x, sr, hop, n_fft=N_FFT, range_db=80.0, ref_db=0.0):
    """DDSP's spectral_ops.compute_loudness, causal: frame k covers the n_fft samples ending at (k+1) hop.

    x [samples] -> loudness [samples // hop] in dB.
    """
    padded = np.concatenate([np.zeros(n_fft - hop), np.asarray(x, np.float64)])
    spectrum = librosa.stft(padded, n_fft=n_fft, hop_length=hop, window="hann", center=False)
    weighting = 10.0 ** (a_weighting(librosa.fft_frequencies(sr=sr, n_fft=n_fft)) / 10.0)
    power = np.mean(np.abs(spectrum) ** 2 * weighting[:, None], axis=0)
    db = 10.0 * np.log10(np.maximum(power, 10.0 ** (-range_db / 10.0))) - ref_db
    return np.maximum(db, -range_db)


def mixed_signal(sr: int, seed: int = 0) -> np.ndarray:
    """Notes, a chirp and noise at levels from full scale down to the -80 dB floor, with silence."""
    rng = np.random.default_rng(seed)
    parts = [
        signals.notes_with_gaps((110.0, 440.0, 1760.0), sr, rng, note_s=0.3, gap_s=0.1),
        signals.exponential_chirp(50.0, 0.4 * sr, 1.0, sr, rng),
        signals.white_noise(0.3, sr, rng, rms=0.3),
        signals.white_noise(0.3, sr, rng, rms=1e-3),
        signals.silence(0.2, sr),
    ]
    x = signals.concat(*parts).audio
    gains = 10.0 ** (np.linspace(0.0, -70.0, len(x)) / 20.0)  # sweep through the whole range
    return np.concatenate([x, x * gains]).astype(np.float32)


@pytest.mark.parametrize(
    "sr, hop, n_fft, range_db, ref_db",
    [
        (SR, HOP, N_FFT, 80.0, 0.0),
        (16000, 64, 512, 80.0, 0.0),
        (48000, 192, 1024, 60.0, 10.0),
        (SR, 50, 256, 80.0, -6.0),
    ],
)
def test_matches_ddsp_reference(sr, hop, n_fft, range_db, ref_db):
    x = mixed_signal(sr)
    ours = _core.Loudness(sr, hop, n_fft=n_fft, range_db=range_db, ref_db=ref_db).process(x)
    reference = reference_loudness(x, sr, hop, n_fft, range_db, ref_db)
    assert ours.shape == reference.shape == (len(x) // hop,)
    floor = max(-range_db - ref_db, -range_db)
    assert reference.max() > -10 and reference.min() == floor, "the signal should span the whole range"
    assert np.max(np.abs(ours - reference)) < MAX_ERROR_DB


def test_a_weighting_matches_librosa():
    freqs = np.array([0.0, 1.0, 10.0, 20.0, 31.5, 100.0, 1000.0, 2500.0, 10000.0, 20000.0, 96000.0])
    ours = np.array([_core.Loudness.a_weighting_db(f) for f in freqs])
    np.testing.assert_allclose(ours, a_weighting(freqs), atol=1e-3)


def sine(amplitude: float, freq: float, seconds: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t + 0.3)).astype(np.float32)


def test_sine_rises_6_db_when_amplitude_doubles():
    steady = slice(N_FFT // HOP + 1, None)  # frames whose window is all sine
    quiet = _core.Loudness(SR, HOP).process(sine(0.1, 1000.0))[steady]
    loud = _core.Loudness(SR, HOP).process(sine(0.2, 1000.0))[steady]
    np.testing.assert_allclose(loud - quiet, 20 * np.log10(2.0), atol=0.01)


def test_bin_centred_sine_matches_closed_form():
    # A sine on bin b0 under a periodic Hann window puts |X| = A N / 4 in b0 and A N / 8 in b0 +- 1.
    b0, amplitude = 21, 0.25
    freqs = librosa.fft_frequencies(sr=SR, n_fft=N_FFT)
    weight = 10.0 ** (a_weighting(freqs) / 10.0)
    power = (amplitude * N_FFT / 4) ** 2 * weight[b0] + (amplitude * N_FFT / 8) ** 2 * (
        weight[b0 - 1] + weight[b0 + 1]
    )
    expected = 10 * np.log10(power / len(freqs))
    loudness = _core.Loudness(SR, HOP).process(sine(amplitude, freqs[b0]))
    np.testing.assert_allclose(loudness[N_FFT // HOP + 1 :], expected, atol=0.01)


def test_silence_is_minus_range_db():
    assert np.all(_core.Loudness(SR, HOP).process(np.zeros(SR, np.float32)) == -80.0)
    assert np.all(_core.Loudness(SR, HOP, range_db=60.0).process(np.zeros(SR, np.float32)) == -60.0)


def test_output_independent_of_block_split():
    x = mixed_signal(SR, seed=1)
    whole = _core.Loudness(SR, HOP).process(x)
    loudness = _core.Loudness(SR, HOP)
    rng = np.random.default_rng(2)
    sizes = np.concatenate([[1, 1, 95, 96, 97, 0, 8192], rng.integers(0, 1500, 400)])
    cuts = np.minimum(np.cumsum(sizes), len(x))
    parts = [loudness.process(piece) for piece in np.split(x, cuts)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_non_finite_input_gives_finite_output():
    x = sine(0.5, 440.0, seconds=1.0)
    x[1000:1100] = np.nan
    x[3000] = np.inf
    x[5000] = -np.inf
    x[7000:7500] = 1e30  # finite but absurd
    loudness = _core.Loudness(SR, HOP).process(x)
    assert np.all(np.isfinite(loudness)) and np.all(loudness >= -80.0)
    # NaN counts as silence: once the bad samples have left the window, the sine's loudness is back.
    clean = np.arange(len(loudness)) * HOP >= 7500 + N_FFT
    reference = reference_loudness(np.where(np.abs(x) <= 1, x, 0), SR, HOP)  # NaN fails both tests
    np.testing.assert_allclose(loudness[clean], reference[clean], atol=0.01)
    assert np.all(_core.Loudness(SR, HOP).process(np.full(SR, np.nan, np.float32)) == -80.0)


def test_reset_forgets_history():
    x = sine(0.3, 660.0)
    loudness = _core.Loudness(SR, HOP)
    first = loudness.process(x)
    loudness.process(x[:1234])
    loudness.reset()
    np.testing.assert_array_equal(loudness.process(x), first)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sample_rate": -1.0, "hop": 96}, "sample_rate"),
        ({"sample_rate": SR, "hop": 0}, "hop"),
        ({"sample_rate": SR, "hop": 96, "n_fft": 511}, "n_fft"),
        ({"sample_rate": SR, "hop": 96, "n_fft": 2 * 7 * 32}, "prime factor"),
        ({"sample_rate": SR, "hop": 96, "range_db": 0.0}, "range_db"),
        ({"sample_rate": SR, "hop": 96, "ref_db": float("nan")}, "ref_db"),
    ],
)
def test_invalid_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _core.Loudness(**kwargs)


def test_multichannel_input_raises_value_error():
    with pytest.raises(ValueError, match="1-D"):
        _core.Loudness(SR, HOP).process(np.zeros((960, 2), np.float32))
