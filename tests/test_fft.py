"""The engine's real FFT (cpp/dsp/RealFft.h) against numpy's, at the sizes the engine and mastering use."""

from __future__ import annotations

import numpy as np
import pytest
from tonemorph.engine import _core


@pytest.mark.parametrize("n", [2, 8, 30, 960, 1024, 1920, 8192, 32768])
def test_real_fft_matches_numpy_and_inverts(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    spectrum, back = _core.real_fft(x)
    reference = np.fft.rfft(x.astype(np.float64))
    assert spectrum.dtype == np.complex64 and spectrum.shape == (n // 2 + 1,)
    scale = np.sqrt(n)  # the spectrum's rms for unit white noise
    assert np.max(np.abs(spectrum - reference)) < 2e-5 * scale * np.log2(max(n, 2))
    assert np.max(np.abs(back / n - x)) < 1e-5


@pytest.mark.parametrize("n", [0, 7, 14, 22])
def test_real_fft_refuses_sizes_the_engine_cannot_take(n):
    with pytest.raises(ValueError, match="product of 2, 3 and 5"):
        _core.real_fft(np.zeros(n, np.float32))


def test_the_linux_build_runs_fftw():
    assert _core.FFT_BACKEND == "fftw"
