"""Models for engine tests, exported through the real export path.

`ToneDecoder` is a decoder whose output is known in closed form, so that tests can check what the
engine does with pitch and loudness: harmonic k at amplitude 1/k, loudness mapped to amplitude by
amplitude = 0.3 * clamp((loudness_db + 70) / 60, 0, 1), a faint constant noise floor, and a state that
counts frames (state_out = state + 1), which makes the state handling visible too.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tonemorph.training.export import export_onnx
from tonemorph.training.models import DDSP, Decoder
from torch import nn

SAMPLE_RATE = 24000
HOP = 96


class ToneDecoder(Decoder):
    def __init__(self, n_harmonics: int = 30, n_noise_bands: int = 17, noise: float = 1e-4):
        nn.Module.__init__(self)
        self.n_harmonics, self.n_noise_bands = n_harmonics, n_noise_bands
        self.hidden, self.gru_layers = 4, 1
        self.sample_rate, self.hop = SAMPLE_RATE, HOP
        self.loudness_mean, self.loudness_std = -30.0, 12.0
        self.head = nn.Linear(1, 1)  # only so that initial_state() finds a device
        self.register_buffer("distribution", 1.0 / torch.arange(1, n_harmonics + 1, dtype=torch.float32))
        self.noise = noise

    def forward(self, f0_hz, loudness_db, state=None):
        if state is None:
            state = self.initial_state(f0_hz.shape[0])
        amplitude = 0.3 * torch.clamp((loudness_db + 70.0) / 60.0, 0.0, 1.0)
        distribution = self.distribution.expand(*f0_hz.shape[:2], self.n_harmonics) + 0.0 * f0_hz
        noise = torch.full((*f0_hz.shape[:2], self.n_noise_bands), self.noise) + 0.0 * loudness_db
        return amplitude, distribution, noise, state + 1.0


def export_tone_model(path: Path, name: str = "tone", f0_range=(50.0, 2000.0), **kwargs) -> Path:
    export_onnx(ToneDecoder(**kwargs), path, name=name, version=1, f0_range=f0_range)
    return path


def random_ddsp(hidden: int = 32, seed: int = 0) -> DDSP:
    """An untrained DDSP with reproducible weights (the torch side of parity tests)."""
    torch.manual_seed(seed)
    return DDSP(Decoder(hidden=hidden, loudness_mean=-40.0, loudness_std=15.0, n_harmonics=40, n_noise_bands=33),
                reverb_seconds=0.25)


def export_random_model(path: Path, name: str = "random", hidden: int = 32, seed: int = 0) -> Path:
    export_onnx(random_ddsp(hidden, seed), path, name=name, version=1, f0_range=(80.0, 1200.0))
    return path
