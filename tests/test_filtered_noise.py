"""FilteredNoise (cpp/dsp/FilteredNoise.h) against the synthesis contract in docs/model-format.md."""

import numpy as np
import pytest
import scipy.signal
from tonemorph.engine import _core


def reference_ir(magnitudes):
    """h = roll(irfft(m, N), B-1) * hann_periodic(N), N = 2 (B-1)."""
    n_bands = len(magnitudes)
    n_taps = 2 * (n_bands - 1)
    h = np.roll(np.fft.irfft(np.asarray(magnitudes, np.float64), n_taps), n_bands - 1)
    return h * scipy.signal.get_window("hann", n_taps, fftbins=True)


def reference_filtered_noise(magnitudes, noise, hop):
    """Each hop's noise convolved with its frame's IR, overlap-added; the first T * hop samples."""
    n_frames, n_bands = magnitudes.shape
    n_taps = 2 * (n_bands - 1)
    y = np.zeros(n_frames * hop + n_taps - 1)
    for k in range(n_frames):
        y[k * hop : (k + 1) * hop + n_taps - 1] += np.convolve(
            noise[k * hop : (k + 1) * hop], reference_ir(magnitudes[k])
        )
    return y[: n_frames * hop]


@pytest.mark.parametrize("hop,n_bands", [(96, 65), (256, 33), (1, 5), (64, 129)])
def test_matches_numpy_reference_with_given_noise(hop, n_bands):
    rng = np.random.default_rng(hop + n_bands)
    n_frames = max(60, 2000 // hop)
    magnitudes = rng.uniform(0.0, 1.0, (n_frames, n_bands)).astype(np.float32)
    noise = rng.uniform(-1.0, 1.0, n_frames * hop).astype(np.float32)

    synth = _core.FilteredNoise(hop, n_bands)
    assert synth.ir_size == 2 * (n_bands - 1)
    y = synth.process(magnitudes, noise)
    expected = reference_filtered_noise(magnitudes.astype(np.float64), noise.astype(np.float64), hop)
    assert np.abs(expected).max() > 0.1
    assert np.max(np.abs(y - expected)) < 1e-5


def test_output_independent_of_chunking():
    hop, n_bands, n_frames = 96, 65, 50
    rng = np.random.default_rng(5)
    magnitudes = rng.uniform(0.0, 1.0, (n_frames, n_bands)).astype(np.float32)
    whole = _core.FilteredNoise(hop, n_bands, seed=11).process(magnitudes)

    synth = _core.FilteredNoise(hop, n_bands, seed=11)
    pieces = [synth.process(magnitudes[a:b]) for a, b in [(0, 1), (1, 1), (1, 8), (8, 31), (31, 50)]]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_long_run_power_spectrum_follows_band_magnitudes():
    hop, n_bands, sr = 96, 65, 24000
    band_hz = np.linspace(0.0, sr / 2, n_bands)
    # A smooth shape (the Hann window smooths the response over ~2 bands): a low shelf and a bump.
    magnitudes = (
        0.05 + 0.5 / (1 + (band_hz / 2000.0) ** 2) + 0.8 * np.exp(-(((band_hz - 7000.0) / 1200.0) ** 2))
    )
    n_frames = 3000
    y = _core.FilteredNoise(hop, n_bands, seed=1234).process(
        np.tile(magnitudes.astype(np.float32), (n_frames, 1))
    )

    # One-sided PSD of the filtered uniform noise (variance 1/3): 2 * (1/3) * |H(f)|^2 per unit of fs.
    n_seg = 4 * (2 * (n_bands - 1))
    freqs, psd = scipy.signal.welch(y[1000:], fs=1.0, window="hann", nperseg=n_seg)
    at_bands = psd[:: n_seg // (2 * (n_bands - 1))]
    assert np.allclose(freqs[:: n_seg // (2 * (n_bands - 1))] * sr, band_hz)
    inner = slice(1, n_bands - 1)  # DC and Nyquist bins of a one-sided PSD carry half the density
    measured_db = 10 * np.log10(at_bands[inner])
    expected_db = 10 * np.log10(2.0 / 3.0 * magnitudes[inner] ** 2)
    assert np.max(np.abs(measured_db - expected_db)) < 1.0


def test_all_pass_magnitudes_give_the_generator_delayed_by_half_the_ir():
    # m = 1 everywhere: irfft is a unit impulse, rolled to tap B-1 where the window is 1.
    hop, n_bands, n_frames = 96, 65, 500
    y = _core.FilteredNoise(hop, n_bands).process(np.ones((n_frames, n_bands), np.float32))
    delay = n_bands - 1
    np.testing.assert_array_equal(y[:delay], 0.0)
    u = y[delay:]
    assert u.min() >= -1.0 and u.max() < 1.0
    assert abs(u.mean()) < 0.01
    assert abs(u.var() - 1.0 / 3.0) < 0.01
    # xorshift32 has no short-lag correlation: a white spectrum.
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01


def test_seeded_generator_is_deterministic():
    hop, n_bands, n_frames = 96, 33, 40
    magnitudes = np.ones((n_frames, n_bands), np.float32)
    a = _core.FilteredNoise(hop, n_bands, seed=42)
    b = _core.FilteredNoise(hop, n_bands, seed=42)
    first = a.process(magnitudes)
    np.testing.assert_array_equal(first, b.process(magnitudes))
    assert not np.array_equal(first, _core.FilteredNoise(hop, n_bands, seed=43).process(magnitudes))
    assert not np.array_equal(first, a.process(magnitudes))  # the generator moves on
    a.reset(42)
    np.testing.assert_array_equal(first, a.process(magnitudes))


def test_given_noise_does_not_advance_the_generator():
    hop, n_bands = 96, 33
    magnitudes = np.ones((10, n_bands), np.float32)
    a = _core.FilteredNoise(hop, n_bands, seed=7)
    b = _core.FilteredNoise(hop, n_bands, seed=7)
    a.process(magnitudes, np.zeros(10 * hop, np.float32))  # leaves a tail of zeros only
    np.testing.assert_array_equal(a.process(magnitudes), b.process(magnitudes))


def test_non_finite_inputs_do_not_poison_output():
    hop, n_bands, n_frames = 96, 65, 20
    magnitudes = np.ones((n_frames, n_bands), np.float32)
    magnitudes[2, 5], magnitudes[3, 0], magnitudes[4, 9] = np.nan, np.inf, -3.0
    noise = np.random.default_rng(0).uniform(-1, 1, n_frames * hop).astype(np.float32)
    noise[300], noise[301] = np.nan, -np.inf
    synth = _core.FilteredNoise(hop, n_bands)
    assert np.all(np.isfinite(synth.process(magnitudes, noise)))
    assert np.all(np.isfinite(synth.process(magnitudes)))


def test_bad_shapes_raise_value_error():
    synth = _core.FilteredNoise(96, 65)
    with pytest.raises(ValueError, match="n_bands = 65"):
        synth.process(np.ones((4, 64), np.float32))
    with pytest.raises(ValueError, match="noise must have"):
        synth.process(np.ones((4, 65), np.float32), np.zeros(4 * 96 - 1, np.float32))
    with pytest.raises(ValueError, match="n_bands must be >= 2"):
        _core.FilteredNoise(96, 1)
