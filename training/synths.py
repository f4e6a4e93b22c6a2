"""Differentiable DDSP synths in torch, computing what the C++ blocks in cpp/dsp/ compute (docs/model-format.md).

Frames: model rate `sample_rate`, hop `hop`; frame k drives output hop k, samples [k hop, (k+1) hop).
"""

from __future__ import annotations

import math

import torch

EXP_SIGMOID_MAX = 2.0
EXP_SIGMOID_EXPONENT = 10.0
EXP_SIGMOID_FLOOR = 1e-7
DISTRIBUTION_SUM_FLOOR = 1e-7


def exp_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """DDSP's scaled sigmoid for positive controls: 2 sigmoid(x)^ln(10) + 1e-7, in (1e-7, 2 + 1e-7)."""
    return EXP_SIGMOID_MAX * torch.sigmoid(x) ** math.log(EXP_SIGMOID_EXPONENT) + EXP_SIGMOID_FLOOR


def harmonic_amplitudes(
    f0_hz: torch.Tensor, amplitude: torch.Tensor, distribution: torch.Tensor, sample_rate: float
) -> torch.Tensor:
    """Per-frame harmonic amplitudes a_i = amp dist_i / max(sum_i dist_i, 1e-7), dist_i = 0 where (i+1) f0 >= sr/2.

    f0_hz [b, t], amplitude [b, t], distribution [b, t, k] -> [b, t, k].
    """
    n_harmonics = distribution.shape[-1]
    harmonic_numbers = torch.arange(1, n_harmonics + 1, dtype=torch.float64, device=f0_hz.device)
    below_nyquist = f0_hz.double().unsqueeze(-1) * harmonic_numbers < sample_rate / 2.0
    distribution = distribution * below_nyquist.to(distribution.dtype)
    total = distribution.sum(dim=-1, keepdim=True).clamp_min(DISTRIBUTION_SUM_FLOOR)
    return amplitude.unsqueeze(-1) * distribution / total


def upsample_linear(frames: torch.Tensor, first: torch.Tensor, hop: int) -> torch.Tensor:
    """Per-sample values interpolated from frame k-1 to frame k over hop k (alpha = n / hop, n = 0 .. hop-1).

    frames [b, t, ...], first [b, 1, ...] (frame -1) -> [b, t hop, ...].
    """
    previous = torch.cat([first, frames[:, :-1]], dim=1)
    alpha = torch.arange(hop, dtype=frames.dtype, device=frames.device) / hop
    alpha = alpha.view((1, 1, hop) + (1,) * (frames.dim() - 2))
    samples = previous.unsqueeze(2) + alpha * (frames - previous).unsqueeze(2)
    return samples.reshape((frames.shape[0], frames.shape[1] * hop) + tuple(frames.shape[2:]))


def harmonic_synth(
    f0_hz: torch.Tensor, amplitude: torch.Tensor, distribution: torch.Tensor, sample_rate: float, hop: int
) -> torch.Tensor:
    """Phase-continuous additive synth (cpp/dsp/HarmonicSynth.h).

    f0_hz [b, t] (Hz), amplitude [b, t] (>= 0), distribution [b, t, k] (>= 0, not normalised) -> [b, t hop].

    Frame -1 has the f0 of frame 0 and zero amplitudes; per sample n of hop k (alpha = n / hop):
        f(n)  = f0_{k-1} + alpha (f0_k - f0_{k-1}),    a_i(n) likewise
        phi  <- wrap_2pi(phi + 2 pi f(n) / sr)          (phi starts at 0; float64)
        y(n)  = sum_i a_i(n) sin((i+1) phi),           a_i(n) := 0 where (i+1) f(n) >= sr/2
    """
    if f0_hz.shape != amplitude.shape or distribution.shape[:2] != f0_hz.shape:
        raise ValueError(
            "harmonic_synth: expected f0_hz [b, t], amplitude [b, t], distribution [b, t, k]; got "
            f"{tuple(f0_hz.shape)}, {tuple(amplitude.shape)}, {tuple(distribution.shape)}"
        )
    amplitudes = harmonic_amplitudes(f0_hz, amplitude, distribution, sample_rate)
    amplitudes = upsample_linear(amplitudes, torch.zeros_like(amplitudes[:, :1]), hop)

    f0 = f0_hz.double()
    frequency = upsample_linear(f0, f0[:, :1], hop)
    phase = torch.remainder(torch.cumsum(2.0 * math.pi * frequency / sample_rate, dim=-1), 2.0 * math.pi)

    n_harmonics = distribution.shape[-1]
    harmonic_numbers = torch.arange(1, n_harmonics + 1, dtype=torch.float64, device=f0_hz.device)
    below_nyquist = frequency.unsqueeze(-1) * harmonic_numbers < sample_rate / 2.0
    waves = torch.sin(phase.unsqueeze(-1) * harmonic_numbers).to(amplitudes.dtype) * below_nyquist
    return (amplitudes * waves).sum(dim=-1)


def noise_filter_ir(magnitudes: torch.Tensor) -> torch.Tensor:
    """Linear-phase FIR per frame: h = roll(irfft(m, N), B-1) * hann_periodic(N), N = 2 (B-1).

    magnitudes [b, t, B] (linear, 0 Hz .. Nyquist) -> [b, t, N].
    """
    n_bands = magnitudes.shape[-1]
    n_taps = 2 * (n_bands - 1)
    ir = torch.roll(torch.fft.irfft(magnitudes, n=n_taps), shifts=n_bands - 1, dims=-1)
    window = torch.hann_window(n_taps, periodic=True, dtype=ir.dtype, device=ir.device)
    return ir * window


def filtered_noise(magnitudes: torch.Tensor, hop: int, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Frame-wise filtered noise, causal, overlap-added (cpp/dsp/FilteredNoise.h).

    magnitudes [b, t, B] (>= 0), noise [b, t hop] uniform in [-1, 1) (drawn from torch when None) -> [b, t hop].
    Hop k's noise is convolved with frame k's FIR (noise_filter_ir); tails carry into later hops and are cut at
    the end of the signal.
    """
    batch, n_frames, n_bands = magnitudes.shape
    if n_bands < 2:
        raise ValueError(f"filtered_noise: need at least 2 bands (IR of 2 (B-1) taps), got {n_bands}")
    if noise is None:
        noise = (
            torch.rand(batch, n_frames * hop, dtype=magnitudes.dtype, device=magnitudes.device) * 2.0 - 1.0
        )
    elif noise.shape != (batch, n_frames * hop):
        raise ValueError(
            f"filtered_noise: noise must be [{batch}, {n_frames * hop}], got {tuple(noise.shape)}"
        )

    ir = noise_filter_ir(magnitudes)
    conv_size = hop + ir.shape[-1] - 1
    fft_size = 1 << (conv_size - 1).bit_length()
    hops = noise.reshape(batch, n_frames, hop)
    spectrum = torch.fft.rfft(hops, n=fft_size) * torch.fft.rfft(ir, n=fft_size)
    convolved = torch.fft.irfft(spectrum, n=fft_size)[..., :conv_size]

    # Overlap-add: piece j of hop k's convolution lands in output hop k + j.
    n_pieces = -(-conv_size // hop)
    pieces = torch.nn.functional.pad(convolved, (0, n_pieces * hop - conv_size)).reshape(
        batch, n_frames, n_pieces, hop
    )
    out = sum(
        (
            torch.nn.functional.pad(pieces[:, : n_frames - j, j], (0, 0, j, 0))
            for j in range(min(n_pieces, n_frames))
        ),
        torch.zeros_like(hops),
    )
    return out.reshape(batch, n_frames * hop)


def reverb(audio: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
    """Dry plus convolution reverb (cpp/dsp/Reverb.h with mix 1): audio [b, n], ir [L] -> audio + (audio * ir)[:n]."""
    if audio.dim() != 2 or ir.dim() != 1:
        raise ValueError(
            f"reverb: expected audio [b, n] and ir [L], got {tuple(audio.shape)}, {tuple(ir.shape)}"
        )
    n = audio.shape[-1]
    fft_size = 1 << (n + ir.shape[-1] - 2).bit_length()
    wet = torch.fft.irfft(torch.fft.rfft(audio, n=fft_size) * torch.fft.rfft(ir, n=fft_size), n=fft_size)
    return audio + wet[..., :n]
