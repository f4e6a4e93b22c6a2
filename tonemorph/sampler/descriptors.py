"""What a one-shot sounds like, in numbers: brightness, decay, pitch, loudness and punch, noisiness.

Every function takes mono float audio [samples] at `sample_rate` and looks at the whole of it (a training
chunk starts at the sound's onset, so "the whole of it" is the sound).

- brightness: spectral centroid (Hz), the magnitude-weighted mean frequency of each STFT frame, averaged
  over frames weighted by their energy (so the silent tail of a chunk does not pull it down).
- noisiness: spectral flatness, geometric over arithmetic mean of each frame's power spectrum (0 for a
  pure tone, near 1 for white noise), energy-weighted over frames the same way.
  The per-frame centroid and flatness are librosa's definitions (n_fft, hop, periodic Hann, centred
  frames padded with zeros) and are tested against librosa.
- decay (length): seconds from the first envelope frame within ONSET_DB of the loudest to the end of the
  last frame within DECAY_DB of it (a steady sound lasts as long as the audio).
- pitch: YIN (de Cheveigné & Kawahara 2002) on PITCH_WINDOW_S from the loudest frame; the lag where the
  cumulative mean normalised difference first dips below PITCH_THRESHOLD, refined by a parabola. None
  where no lag does (noise, clicks): the sound has no pitch.
- loudness: peak (dBFS), RMS over the sounding part (dBFS, up to the decay end), crest = peak - RMS (dB).
"""

from __future__ import annotations

import math

import numpy as np

N_FFT = 1024  # 43 ms at 24 kHz: resolves a kick's fundamental from its click
HOP = 256
ENVELOPE_FRAME_S = 0.005  # RMS envelope frames for the decay ...
ENVELOPE_HOP_S = 0.0025  # ... and their spacing: decay is known to this
DECAY_DB = 40.0
ONSET_DB = 20.0
PITCH_WINDOW_S = 0.1
PITCH_MIN_HZ = 30.0  # below the lowest kick fundamentals
PITCH_MAX_HZ = 2000.0
PITCH_THRESHOLD = 0.15  # YIN's absolute threshold; white noise stays near 1
FLATNESS_AMIN = 1e-10  # librosa's floor on the power spectrum
SILENT_DB = -120.0  # levels of digital silence are reported as this


def _frames(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred frames, zero-padded by n_fft // 2 either side (librosa's center=True): [frames, n_fft]."""
    padded = np.pad(np.asarray(audio, np.float64), (n_fft // 2, n_fft // 2))
    if len(padded) < n_fft:
        padded = np.pad(padded, (0, n_fft - len(padded)))
    n_frames = 1 + (len(padded) - n_fft) // hop
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]


def magnitude_spectrogram(audio: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """|STFT| with a periodic Hann window: [frames, n_fft // 2 + 1]."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    return np.abs(np.fft.rfft(_frames(audio, n_fft, hop) * window, axis=1))


def spectral_centroid_frames(
    audio: np.ndarray, sample_rate: float, n_fft: int = N_FFT, hop: int = HOP
) -> np.ndarray:
    """sum_k f_k |X_k| / sum_k |X_k| per frame [frames] (0 for a silent frame)."""
    magnitude = magnitude_spectrogram(audio, n_fft, hop)
    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    total = magnitude.sum(axis=1)
    return np.where(total > 0, magnitude @ freqs / np.maximum(total, 1e-30), 0.0)


def spectral_flatness_frames(audio: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """exp(mean log P) / mean P per frame with P = max(|X|^2, FLATNESS_AMIN): [frames]."""
    power = np.maximum(magnitude_spectrogram(audio, n_fft, hop) ** 2, FLATNESS_AMIN)
    return np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)


def _energy_weighted(values: np.ndarray, audio: np.ndarray) -> float:
    energy = (magnitude_spectrogram(audio) ** 2).sum(axis=1)
    return float((values * energy).sum() / energy.sum()) if energy.sum() > 0 else 0.0


def brightness(audio: np.ndarray, sample_rate: float) -> float:
    """Spectral centroid in Hz, energy-weighted over frames."""
    return _energy_weighted(spectral_centroid_frames(audio, sample_rate), audio)


def noisiness(audio: np.ndarray) -> float:
    """Spectral flatness 0..1, energy-weighted over frames."""
    return _energy_weighted(spectral_flatness_frames(audio), audio)


def envelope_db(audio: np.ndarray, sample_rate: float) -> tuple[np.ndarray, int]:
    """(RMS level in dB of ENVELOPE_FRAME_S frames every ENVELOPE_HOP_S [frames], hop in samples)."""
    frame = max(round(ENVELOPE_FRAME_S * sample_rate), 1)
    hop = max(round(ENVELOPE_HOP_S * sample_rate), 1)
    x = np.asarray(audio, np.float64)
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    power = np.lib.stride_tricks.sliding_window_view(x * x, frame)[::hop].mean(axis=1)
    return 10 * np.log10(np.maximum(power, 10 ** (SILENT_DB / 10))), hop


def sounding_span(audio: np.ndarray, sample_rate: float) -> tuple[int, int]:
    """[first, end) samples: from the first envelope frame within ONSET_DB of the loudest to the end of the
    last one within DECAY_DB of it; (0, 0) for digital silence."""
    level, hop = envelope_db(audio, sample_rate)
    top = level.max()
    if top <= SILENT_DB:
        return 0, 0
    first = int(np.argmax(level >= top - ONSET_DB))
    last = int(np.flatnonzero(level >= top - DECAY_DB)[-1])
    return first * hop, min(last * hop + max(round(ENVELOPE_FRAME_S * sample_rate), 1), len(audio))


def decay_seconds(audio: np.ndarray, sample_rate: float) -> float:
    """Length of the sound to DECAY_DB below its loudest (s): see sounding_span."""
    first, end = sounding_span(audio, sample_rate)
    return (end - first) / sample_rate


def pitch_hz(audio: np.ndarray, sample_rate: float) -> float | None:
    """YIN's f0 over PITCH_WINDOW_S from the loudest envelope frame, or None where nothing is periodic.

    d(tau) = sum_j (x_j - x_{j+tau})^2 over the window, d'(tau) = d(tau) tau / sum_{t<=tau} d(t).
    """
    level, hop = envelope_db(audio, sample_rate)
    start = int(np.argmax(level)) * hop
    max_lag = math.ceil(sample_rate / PITCH_MIN_HZ)
    min_lag = int(sample_rate / PITCH_MAX_HZ)
    window = round(PITCH_WINDOW_S * sample_rate)
    x = np.asarray(audio[start : start + window + max_lag], np.float64)
    if len(x) < window + max_lag:
        x = np.pad(x, (0, window + max_lag - len(x)))
    if not np.any(x[:window]):
        return None
    # d(tau) = E(0) + E(tau) - 2 r(tau), with r the cross-correlation of the window with the signal
    n = 1 << math.ceil(math.log2(len(x) + window))
    r = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(x[:window], n)), n)[: max_lag + 1]
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    shifted = energy[window : window + max_lag + 1] - energy[: max_lag + 1]  # energy of x[tau : tau + window]
    d = np.maximum(shifted[0] + shifted - 2 * r, 0.0)
    cumulative = np.cumsum(d[1:])
    cmnd = np.ones_like(d)
    cmnd[1:] = d[1:] * np.arange(1, max_lag + 1) / np.maximum(cumulative, 1e-30)
    below = np.flatnonzero(cmnd[min_lag:max_lag] < PITCH_THRESHOLD)
    if len(below) == 0:
        return None
    tau = int(below[0]) + min_lag
    while tau + 1 < max_lag and cmnd[tau + 1] < cmnd[tau]:  # down to the bottom of this dip
        tau += 1
    a, b, c = cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) > 0 else 0.0
    return float(sample_rate / (tau + shift))


def loudness(audio: np.ndarray, sample_rate: float) -> dict[str, float]:
    """{"peak_db", "rms_db", "crest_db"}: peak and RMS (over the sound up to its decay end) in dBFS."""
    x = np.asarray(audio, np.float64)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    peak_db = 20 * math.log10(peak) if peak > 0 else SILENT_DB
    start, end = sounding_span(x, sample_rate)
    mean_square = float(np.mean(x[start:end] ** 2)) if end > start else 0.0
    rms_db = 10 * math.log10(mean_square) if mean_square > 0 else SILENT_DB
    return {"peak_db": peak_db, "rms_db": rms_db, "crest_db": peak_db - rms_db}


def describe(audio: np.ndarray, sample_rate: float) -> dict[str, float]:
    """Every descriptor of one sound: brightness_hz, decay_s, pitch_hz (NaN: no pitch), peak_db, rms_db,
    crest_db, flatness."""
    f0 = pitch_hz(audio, sample_rate)
    return {
        "brightness_hz": brightness(audio, sample_rate),
        "decay_s": decay_seconds(audio, sample_rate),
        "pitch_hz": math.nan if f0 is None else f0,
        **loudness(audio, sample_rate),
        "flatness": noisiness(audio),
    }
