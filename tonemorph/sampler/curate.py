"""Measures for keeping the best of generated sounds: silent, clipped, and how near a training sound.

The embedding is log-mel statistics, small and quick and in units a reader can picture (dB):
EMBED_MELS mel bands (librosa's Slaney filterbank, 20 Hz to half the rate) of the power STFT
(descriptors.N_FFT, HOP, periodic Hann), in dB floored at FLOOR_DB; per band the mean and the standard
deviation over time (the timbre and how it moves), then the mean over bands in EMBED_SEGMENTS equal
stretches of the sound (its envelope): 2 * EMBED_MELS + EMBED_SEGMENTS numbers. The distance between two
embeddings is the RMS of their difference, in dB: 0 for a copy.
"""

from __future__ import annotations

import numpy as np

from .descriptors import HOP, N_FFT, magnitude_spectrogram

SILENT_DB = -60.0  # peak below this is silence or near-silence
CLIP_LEVEL = 0.99  # of full scale
CLIP_RUN = 3  # equal samples in a row at CLIP_LEVEL or above: a flat top (a full-scale sine's peak is not)
EMBED_MELS = 40
EMBED_SEGMENTS = 16
FLOOR_DB = -100.0
EMBED_DIMS = 2 * EMBED_MELS + EMBED_SEGMENTS
DISTANCE_BLOCK = 1024  # rows of `embeddings` compared at a time


def is_silent(audio: np.ndarray, threshold_db: float = SILENT_DB) -> bool:
    """True where the peak is below threshold_db dBFS (or there are no samples)."""
    x = np.asarray(audio)
    return len(x) == 0 or float(np.max(np.abs(x))) < 10 ** (threshold_db / 20)


def is_clipped(audio: np.ndarray) -> bool:
    """True where any sample is beyond full scale, or CLIP_RUN equal samples in a row reach CLIP_LEVEL."""
    x = np.asarray(audio, np.float64)
    if len(x) and np.abs(x).max() > 1.0:
        return True
    flat = (np.abs(x[1:]) >= CLIP_LEVEL) & (x[1:] == x[:-1])  # sample n + 1 repeats sample n up there
    runs = np.flatnonzero(np.diff(np.concatenate([[0], flat.astype(np.int64), [0]])))
    return bool(np.any(runs[1::2] - runs[::2] >= CLIP_RUN - 1))


def _mel_filters(sample_rate: float) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sample_rate, n_fft=N_FFT, n_mels=EMBED_MELS, fmin=20.0)


def embedding(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Log-mel statistics of one sound (see the module docstring): [EMBED_DIMS] float32."""
    power = magnitude_spectrogram(audio, N_FFT, HOP) ** 2
    mel_db = 10 * np.log10(np.maximum(power @ _mel_filters(sample_rate).T, 10 ** (FLOOR_DB / 10)))
    segments = np.array_split(mel_db.mean(axis=1), EMBED_SEGMENTS)
    envelope = np.array([s.mean() if len(s) else FLOOR_DB for s in segments])
    return np.concatenate([mel_db.mean(axis=0), mel_db.std(axis=0), envelope]).astype(np.float32)


def embeddings(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """embedding of each sound [sounds, samples] -> [sounds, EMBED_DIMS]."""
    return (
        np.stack([embedding(a, sample_rate) for a in audio])
        if len(audio)
        else np.zeros((0, EMBED_DIMS), np.float32)
    )


def nearest_distance(embeddings: np.ndarray, train_embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance to the nearest training embedding [n] in dB RMS, its index [n]) for embeddings [n, dims]
    against train_embeddings [m, dims]."""
    queries = np.asarray(embeddings, np.float64)
    train = np.asarray(train_embeddings, np.float64)
    if train.ndim != 2 or len(train) == 0 or queries.ndim != 2 or queries.shape[1] != train.shape[1]:
        raise ValueError(
            f"nearest_distance needs [n, dims] and [m >= 1, dims], got {queries.shape} and {train.shape}."
        )
    train_sq = (train**2).sum(axis=1)
    distances, nearest = [], []
    for first in range(0, len(queries), DISTANCE_BLOCK):
        block = queries[first : first + DISTANCE_BLOCK]
        # |q - t|^2 = |q|^2 + |t|^2 - 2 q.t
        squared = np.maximum((block**2).sum(axis=1)[:, None] + train_sq[None, :] - 2 * block @ train.T, 0.0)
        index = np.argmin(squared, axis=1)
        nearest.append(index)
        distances.append(np.sqrt(squared[np.arange(len(block)), index] / train.shape[1]))
    if not distances:
        return np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(distances), np.concatenate(nearest)
