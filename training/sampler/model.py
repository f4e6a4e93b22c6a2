"""The sampler's generator: rectified flow (Liu et al. 2022) on 1-second waveforms, conditioned on words.

The flow runs in waveform space, scaled by the training data's standard deviation (`audio_scale`):
    x_t = (1 - t) x_0 + t x_1,  x_0 ~ N(0, I) noise, x_1 = audio / audio_scale,  t in [0, 1]
and sampling integrates dx/dt = v from noise at t = 0 to sound at t = 1 with `steps` Euler steps. The
same loop runs in C++ (cpp/actions/sampler/SoundGenerator.cpp) on the exported network.

The network predicts the sound, not the velocity (x-prediction, Li & He 2025, "Back to Basics: Let
Denoising Generative Models Denoise"): its output is x_1' and the graph returns v = (x_1' - x_t) / (1 - t)
(1 - t floored at T_EPS), trained by the mean squared error of x_1' against x_1. A sound is mostly silence
and lies near a small part of the 24000 dimensions; noise fills all of them. Predicting the velocity
(x_1 - x_0) asks the network to carry the noise through it exactly, and after 400 steps of that (with and
without a linear skip term) every example still held the starting noise at -26 dBFS in its tail;
predicting the sound asks for silence there, which is easy.

The network (VelocityNet) works at a frame rate: a learned analysis filterbank (a strided Conv1d, window
`window`, hop `hop`: 4 ms at 24 kHz) turns the waveform into `channels` x frames, FiLM-conditioned residual
blocks of dilated convolutions (dilations 1..32 frames, about 0.6 s of context) work there, and the
transposed filterbank writes the sound back at the audio rate. It costs about half of a waveform U-Net
of the same depth per step on one core (training/sampler/README.md has the numbers).

Conditions, [batch, len(CONDITIONS)] int64: the kind (an index into KINDS, or its UNSPECIFIED index) and for
each descriptor its bin (words.LOW_BIN / MIDDLE_BIN / HIGH_BIN, or UNSPECIFIED_BIN). Training drops each
condition now and then, and all of them together for classifier-free guidance (Ho & Salimans 2022):
    v = v(x, t, unspecified) + guidance (v(x, t, c) - v(x, t, unspecified)).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tonemorph.sampler.words import DESCRIPTORS, KIND_SYNONYMS

KINDS = list(KIND_SYNONYMS)  # every kind words.py knows, so fine-tuning on new kinds needs no new rows
CONDITIONS = ["kind", *DESCRIPTORS]
UNSPECIFIED_KIND = len(KINDS)
UNSPECIFIED_BIN = 3  # after LOW_BIN, MIDDLE_BIN, HIGH_BIN
CONDITION_VALUES = [len(KINDS) + 1] + [UNSPECIFIED_BIN + 1] * len(DESCRIPTORS)
TIME_FREQUENCIES = 32
TIME_MAX_FREQUENCY = 1000.0
DILATIONS = (1, 2, 4, 8, 16, 32)
T_EPS = 0.05  # 1 - t is floored here when the predicted sound becomes a velocity


def unspecified(batch: int = 1) -> torch.Tensor:
    """The null condition (every condition unspecified): [batch, len(CONDITIONS)] int64."""
    row = torch.tensor([UNSPECIFIED_KIND] + [UNSPECIFIED_BIN] * len(DESCRIPTORS), dtype=torch.int64)
    return row.repeat(batch, 1)


def condition_row(conditions: dict[str, str | int]) -> np.ndarray:
    """{'kind': 'snare', 'decay_s': 0, ...} (words.parse_prompt's answer) -> [len(CONDITIONS)] int64; what
    the dict does not name is unspecified."""
    row = unspecified(1)[0].numpy().copy()
    for name, value in conditions.items():
        index = CONDITIONS.index(name)
        row[index] = KINDS.index(value) if name == "kind" else int(value)
    return row


def time_features(t: torch.Tensor) -> torch.Tensor:
    """[batch] in [0, 1] -> [batch, 2 TIME_FREQUENCIES]: sin and cos of t at log-spaced frequencies."""
    frequencies = torch.exp(
        torch.linspace(0.0, math.log(TIME_MAX_FREQUENCY), TIME_FREQUENCIES, device=t.device)
    )
    angles = t[:, None] * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class ResidualBlock(nn.Module):
    """x + conv(silu(conv_dilated(silu(FiLM(norm(x)))))): [batch, channels, frames]."""

    def __init__(self, channels: int, condition_dim: int, dilation: int):
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.film = nn.Linear(condition_dim, 2 * channels)
        self.dilated = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.out = nn.Conv1d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(embedding)[:, :, None].chunk(2, dim=1)
        h = self.norm(x) * (1 + scale) + shift
        return x + self.out(F.silu(self.dilated(F.silu(h))))


class VelocityNet(nn.Module):
    """v(x [batch, samples], t [batch], conditions [batch, len(CONDITIONS)] int64) -> [batch, samples].

    samples must be a multiple of `hop`. audio_scale is the data's standard deviation (see the module
    docstring), kept with the weights.
    """

    def __init__(
        self,
        channels: int = 192,
        blocks: int = 8,
        hop: int = 96,
        window: int = 384,
        condition_dim: int = 128,
        audio_scale: float = 1.0,
    ):
        super().__init__()
        if window % hop:
            raise ValueError(f"the window ({window}) must be a whole number of hops ({hop}).")
        self.hop, self.window = hop, window
        self.register_buffer("audio_scale", torch.tensor(float(audio_scale)))
        self.analysis = nn.Conv1d(1, channels, window, stride=hop, padding=window - hop)
        self.synthesis = nn.ConvTranspose1d(channels, 1, window, stride=hop, padding=window - hop)
        self.time_mlp = nn.Sequential(
            nn.Linear(2 * TIME_FREQUENCIES, condition_dim), nn.SiLU(), nn.Linear(condition_dim, condition_dim)
        )
        self.condition_table = nn.Embedding(sum(CONDITION_VALUES), condition_dim)
        offsets = np.concatenate([[0], np.cumsum(CONDITION_VALUES)[:-1]])
        self.register_buffer("condition_offsets", torch.tensor(offsets, dtype=torch.int64))
        self.blocks = nn.ModuleList(
            ResidualBlock(channels, condition_dim, DILATIONS[i % len(DILATIONS)]) for i in range(blocks)
        )
        self.out_norm = nn.GroupNorm(1, channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        embedding = self.time_mlp(time_features(t))
        embedding = embedding + self.condition_table(conditions + self.condition_offsets).sum(dim=1)
        embedding = F.silu(embedding)
        h = self.analysis(x[:, None, :])
        for block in self.blocks:
            h = block(h, embedding)
        sound = self.synthesis(F.silu(self.out_norm(h)))[:, 0, : x.shape[-1]]
        return (sound - x) / torch.clamp(1 - t, min=T_EPS)[:, None]


SPECTRAL_FFTS = (256, 1024, 2048)  # 11, 43 and 85 ms at 24 kHz; hops of a quarter
SPECTRAL_EPS = 1e-2  # magnitude floor of the log term, in audio_scale units (about -85 dBFS at 1024)


def spectral_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT distance of a and b [batch, samples] per item [batch]: at each of SPECTRAL_FFTS,
    the L1 distance of the magnitudes relative to b's, plus the mean L1 distance of the log magnitudes."""
    total = torch.zeros(a.shape[0], device=a.device)
    for n in SPECTRAL_FFTS:
        window = torch.hann_window(n, device=a.device)
        spectra = [torch.stft(x, n, n // 4, window=window, return_complex=True).abs() for x in (a, b)]
        linear = (spectra[0] - spectra[1]).abs().sum((1, 2)) / spectra[1].sum((1, 2)).clamp_min(1e-6)
        log = (torch.log(spectra[0] + SPECTRAL_EPS) - torch.log(spectra[1] + SPECTRAL_EPS)).abs().mean((1, 2))
        total = total + linear + log
    return total / len(SPECTRAL_FFTS)


def flow_loss(
    net: VelocityNet,
    audio: torch.Tensor,
    conditions: torch.Tensor,
    generator: torch.Generator | None = None,
    spectral_weight: float = 0.0,
) -> torch.Tensor:
    """The loss of one batch, audio [batch, samples], conditions [batch, len(CONDITIONS)]: the mean squared
    error of the predicted sound, x_t + max(1 - t, T_EPS) v (what the network computed before the graph
    made it a velocity), against x_1; with spectral_weight w, plus w t^2 spectral_distance of the two (the
    squared error of a waveform lets quiet and high, unpredictable parts go to their mean, silence: the
    spectral term asks for their energy, mostly near t = 1, where the sound is known).

    Noise and t come from `generator` (torch's global RNG when None).
    """
    x1 = audio / net.audio_scale
    x0 = torch.randn(x1.shape, generator=generator, device=x1.device)
    t = torch.rand(x1.shape[0], generator=generator, device=x1.device)
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    predicted = xt + torch.clamp(1 - t, min=T_EPS)[:, None] * net(xt, t, conditions)
    loss = F.mse_loss(predicted, x1)
    if spectral_weight > 0:
        loss = loss + spectral_weight * (t**2 * spectral_distance(predicted, x1)).mean()
    return loss


def guided_velocity(
    net: VelocityNet, x: torch.Tensor, t: float, conditions: torch.Tensor, guidance: float
) -> torch.Tensor:
    """v at (x [batch, samples], t) with classifier-free guidance; one batched call of 2 x batch when guided.

    guidance 1 (or conditions all unspecified) is the conditional velocity alone; 0 the unconditional one.
    """
    batch = x.shape[0]
    null = unspecified(batch).to(x.device)
    times = torch.full((batch,), float(t), device=x.device)
    if guidance == 1.0 or torch.equal(conditions, null):
        return net(x, times, conditions)
    both = net(torch.cat([x, x]), torch.cat([times, times]), torch.cat([conditions, null]))
    conditional, unconditional = both[:batch], both[batch:]
    return unconditional + guidance * (conditional - unconditional)


def time_grid(count: int, strength: float = 1.0, shift: float = 1.0) -> list[float]:
    """The times t_0 .. t_count of `count` Euler steps from t = 1 - strength to 1:
    t_k = 1 - strength f(1 - k / count), f(sigma) = shift sigma / (1 + (shift - 1) sigma).

    shift 1 spaces them evenly. Above 1 (Esser et al. 2024's shift, SD3) more of the steps go where the sound is
    still mostly noise: with few steps, a drum decided in one large first step comes out as a blurred average
    of the drums it could be (measured on the drums run: training/sampler/README.md). The C++ loop computes
    the same grid (SoundGenerator.h's time_grid).
    """
    grid = []
    for k in range(count + 1):
        sigma = 1.0 - k / count
        grid.append(1.0 - strength * (shift * sigma / (1.0 + (shift - 1.0) * sigma)))
    return grid


@torch.no_grad()
def sample(
    net: VelocityNet,
    noise: torch.Tensor,
    conditions: torch.Tensor,
    *,
    steps: int = 8,
    guidance: float = 2.0,
    start: torch.Tensor | None = None,
    strength: float = 1.0,
    shift: float = 1.0,
) -> torch.Tensor:
    """Euler integration of the flow from noise [batch, samples] (t = 0) to audio [batch, samples] (t = 1).

    x_{k+1} = x_k + v(x_k, t_k) (t_{k+1} - t_k) at the times of time_grid(steps, 1, shift); audio = x_steps *
    audio_scale. With `start` (audio [batch, samples]), a variation at `strength` s: from t0 = 1 - s, where the
    flow is x_t0 = s noise + (1 - s) start / audio_scale, n = ceil(s steps) steps at time_grid(n, s, shift);
    s = 0 returns start, s = 1 ignores it.
    """
    if steps < 1:
        raise ValueError(f"steps must be 1 or more, not {steps}.")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be 0..1, not {strength}.")
    x = noise.to(net.audio_scale.device, torch.float32)
    conditions = conditions.to(x.device)
    count = steps
    if start is not None:
        start = start.to(x.device, torch.float32)
        if strength == 0.0:
            return start.clone()
        x = strength * x + (1.0 - strength) * (start / net.audio_scale)
        count = math.ceil(strength * steps)
    else:
        strength = 1.0
    times = time_grid(count, strength, shift)
    for k in range(count):
        x = x + guided_velocity(net, x, times[k], conditions, guidance) * (times[k + 1] - times[k])
    return x * net.audio_scale
