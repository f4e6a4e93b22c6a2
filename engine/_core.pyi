"""Type stubs for tonemorph.engine._core, the pybind11 module (one section per binding source)."""

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float32]
ArrayLike: TypeAlias = npt.ArrayLike

# --- bind_synths.cpp: HarmonicSynth, FilteredNoise, Reverb ---

class HarmonicSynth:
    """Phase-continuous additive synth, one hop per frame (docs/model-format.md)."""

    def __init__(self, sample_rate: float, hop: int, n_harmonics: int) -> None: ...
    def process(self, f0: ArrayLike, amplitude: ArrayLike, distribution: ArrayLike) -> FloatArray:
        """f0 [T] Hz, amplitude [T], distribution [T, n_harmonics] -> audio [T * hop]."""
    def reset(self) -> None: ...
    @property
    def hop(self) -> int: ...
    @property
    def n_harmonics(self) -> int: ...

class FilteredNoise:
    """Filtered noise, one hop per frame; FIR of ir_size = 2 (n_bands - 1) taps per frame."""

    def __init__(self, hop: int, n_bands: int, seed: int = 0x9E3779B9) -> None: ...
    def process(self, magnitudes: ArrayLike, noise: ArrayLike | None = None) -> FloatArray:
        """magnitudes [T, n_bands], noise [T * hop] or None (built-in generator) -> audio [T * hop]."""
    def reset(self, seed: int = 0x9E3779B9) -> None: ...
    @property
    def hop(self) -> int: ...
    @property
    def n_bands(self) -> int: ...
    @property
    def ir_size(self) -> int: ...

class Reverb:
    """Zero-latency partitioned FFT convolution; process returns the wet signal only."""

    def __init__(self, ir: ArrayLike, hop: int) -> None: ...
    def process(self, x: ArrayLike) -> FloatArray:
        """x [n * hop] -> wet (x * ir)[:len(x)], [n * hop]."""
    def reset(self) -> None: ...
    @property
    def hop(self) -> int: ...
    @property
    def ir_length(self) -> int: ...

# --- bind_analysis.cpp: YinPitch, Loudness ---

class YinPitch:
    """Causal YIN pitch tracker: one f0 estimate and confidence per hop, streaming across calls."""

    VOICED_CONFIDENCE: float
    """Confidence at or above which the engine treats a frame as voiced (1 - the default threshold)."""

    def __init__(
        self,
        sample_rate: float,
        hop: int,
        fmin_hz: float = 50.0,
        fmax_hz: float = 2000.0,
        window_ms: float = 20.0,
        threshold: float = 0.15,
    ) -> None: ...
    def process(self, x: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """x [n] -> (f0_hz [frames], confidence [frames]), one per hop completed by this call."""
    def reset(self) -> None: ...
    @property
    def history_size(self) -> int: ...
    @property
    def latency_samples(self) -> int: ...
    @property
    def sample_rate(self) -> float: ...
    @property
    def hop(self) -> int: ...

class Loudness:
    """DDSP's A-weighted loudness in dB per hop, causal, streaming across calls."""

    def __init__(
        self, sample_rate: float, hop: int, n_fft: int = 512, range_db: float = 80.0, ref_db: float = 0.0
    ) -> None: ...
    def process(self, x: ArrayLike) -> FloatArray:
        """x [n] -> loudness_db [frames], one per hop completed by this call."""
    def reset(self) -> None: ...
    @staticmethod
    def a_weighting_db(freq: float) -> float:
        """librosa.A_weighting(freq, min_db=-80) in dB."""
    @property
    def sample_rate(self) -> float: ...
    @property
    def hop(self) -> int: ...
    @property
    def n_fft(self) -> int: ...
