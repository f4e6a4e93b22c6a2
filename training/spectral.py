"""Spectral features and losses in torch: A-weighted loudness, multi-scale spectral loss.

Both follow magenta/ddsp (spectral_ops.compute_loudness, losses.SpectralLoss); loudness is made causal so
that the C++ engine (cpp/dsp/Loudness.h) computes the same numbers frame for frame.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch

LOUDNESS_N_FFT = 512
LOUDNESS_RANGE_DB = 80.0
A_WEIGHTING_MIN_DB = -80.0
SPECTRAL_LOSS_FFT_SIZES = (2048, 1024, 512, 256, 128, 64)
SPECTRAL_LOSS_OVERLAP = 0.75
LOG_MAGNITUDE_EPS = 1e-5


def a_weighting_power(sample_rate: float, n_fft: int) -> np.ndarray:
    """Linear power weights 10^(A(f_b)/10) of the n_fft // 2 + 1 rfft bins (librosa.A_weighting, min -80 dB)."""
    frequencies = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)
    with np.errstate(divide="ignore"):  # log10(0) at 0 Hz; min_db clips it to -80 dB
        return 10.0 ** (librosa.A_weighting(frequencies, min_db=A_WEIGHTING_MIN_DB) / 10.0)


def causal_frames(audio: torch.Tensor, hop: int, size: int) -> torch.Tensor:
    """[batch, samples] -> [batch, samples // hop, size]: frame k holds the `size` samples ending at (k+1) hop.

    Samples before the start of the signal are zeros.
    """
    n_frames = audio.shape[-1] // hop
    if n_frames == 0:
        return audio.new_zeros(audio.shape[:-1] + (0, size))
    audio = audio[..., : n_frames * hop]
    left = size - hop
    audio = torch.nn.functional.pad(audio, (left, 0)) if left >= 0 else audio[..., -left:]
    return audio.unfold(-1, size, hop)


def compute_loudness(
    audio: torch.Tensor,
    sample_rate: float,
    hop: int,
    n_fft: int = LOUDNESS_N_FFT,
    range_db: float = LOUDNESS_RANGE_DB,
    ref_db: float = 0.0,
) -> torch.Tensor:
    """A-weighted loudness in dB, DDSP's definition made causal (cpp/dsp/Loudness.h).

    audio [batch, samples] -> loudness [batch, samples // hop]; frame k analyses the n_fft samples ending at
    (k+1) hop (zeros before the start). Differentiable.

        P[b] = |rfft(x * hann_periodic)[b]|^2 * 10^(A(f_b)/10)
        L    = max(10 log10(max(mean_b P[b], 10^(-range_db/10))) - ref_db, -range_db)
    """
    if audio.dim() != 2:
        raise ValueError(f"compute_loudness: audio must be [batch, samples], got shape {tuple(audio.shape)}")
    if hop <= 0 or n_fft <= 0:
        raise ValueError(f"compute_loudness: hop and n_fft must be > 0, got hop={hop}, n_fft={n_fft}")
    frames = causal_frames(audio, hop, n_fft)
    if frames.shape[-2] == 0:  # shorter than one hop; MKL's FFT refuses empty batches
        return frames.new_zeros(frames.shape[:-1])
    window = torch.hann_window(n_fft, periodic=True, dtype=audio.dtype, device=audio.device)
    spectrum = torch.fft.rfft(frames * window, n=n_fft)
    power = spectrum.real**2 + spectrum.imag**2
    weights = torch.as_tensor(a_weighting_power(sample_rate, n_fft), dtype=audio.dtype, device=audio.device)
    mean_power = (power * weights).mean(dim=-1)
    db = 10.0 * torch.log10(mean_power.clamp_min(10.0 ** (-range_db / 10.0))) - ref_db
    return db.clamp_min(-range_db)


def magnitude_spectrogram(
    audio: torch.Tensor, n_fft: int, overlap: float = SPECTRAL_LOSS_OVERLAP
) -> torch.Tensor:
    """|STFT| as DDSP's compute_mag: periodic Hann, hop n_fft (1 - overlap), end padded with zeros.

    audio [batch, samples] -> [batch, n_fft // 2 + 1, ceil(samples / hop)].
    """
    hop = int(n_fft * (1.0 - overlap))
    n_frames = -(-audio.shape[-1] // hop)
    pad = (n_frames - 1) * hop + n_fft - audio.shape[-1]
    audio = torch.nn.functional.pad(audio, (0, pad))
    window = torch.hann_window(n_fft, periodic=True, dtype=audio.dtype, device=audio.device)
    stft = torch.stft(audio, n_fft, hop_length=hop, window=window, center=False, return_complex=True)
    return stft.abs()


def multiscale_spectral_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    fft_sizes: tuple[int, ...] = SPECTRAL_LOSS_FFT_SIZES,
    mag_weight: float = 1.0,
    logmag_weight: float = 1.0,
) -> torch.Tensor:
    """DDSP's multi-scale spectral loss: sum over FFT sizes of mean L1 on linear and log magnitudes.

    pred, target [batch, samples] -> scalar.
        loss = sum_s  mag_weight mean|S_t - S_p| + logmag_weight mean|log max(S_t, eps) - log max(S_p, eps)|
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"multiscale_spectral_loss: shapes differ, {tuple(pred.shape)} vs {tuple(target.shape)}"
        )
    loss = pred.new_zeros(())
    for n_fft in fft_sizes:
        pred_mag = magnitude_spectrogram(pred, n_fft)
        target_mag = magnitude_spectrogram(target, n_fft)
        loss = loss + mag_weight * (target_mag - pred_mag).abs().mean()
        log_diff = target_mag.clamp_min(LOG_MAGNITUDE_EPS).log() - pred_mag.clamp_min(LOG_MAGNITUDE_EPS).log()
        loss = loss + logmag_weight * log_diff.abs().mean()
    return loss
