"""The Groove / Drumify model (kind midi-groove): a small conditional VAE after GrooVAE (Gillick et al. 2019).

One model for both tools, told apart by the condition's mode flags (training/midi/groove_data.py):
    encoder (training only): bidirectional GRU over the condition and the target grid -> mean and log-variance
        of a latent z [LATENT]: the "feel" of a performance
    decoder: bidirectional GRU over the condition, z at every step -> per step and class
        hit_logits  (Drumify samples hits from them; Groove copies its input's hits and ignores them)
        velocity    0..1 (sigmoid)
        offset      -0.5..0.5 steps (0.5 tanh)
Variations draw z ~ N(0, temperature^2); temperature 0 is the mean feel.
"""

from __future__ import annotations

import torch
from torch import nn

from .groove_data import COND, NUM_CLASSES

TARGET = 3 * NUM_CLASSES


class GrooveVAE(nn.Module):
    def __init__(self, hidden: int = 128, latent: int = 32, layers: int = 2, dropout: float = 0.1):
        super().__init__()
        self.hidden, self.latent, self.layers = hidden, latent, layers
        self.encoder = nn.GRU(COND + TARGET, hidden, 1, batch_first=True, bidirectional=True)
        self.to_latent = nn.Linear(2 * hidden, 2 * latent)
        self.decoder = nn.GRU(
            COND + latent,
            hidden,
            layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.out = nn.Linear(2 * hidden, TARGET)

    def encode(self, condition: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, T, COND], [B, T, TARGET] -> mean, log-variance [B, latent]."""
        _, h = self.encoder(torch.cat([condition, target], -1))
        mean, logvar = self.to_latent(torch.cat([h[0], h[1]], -1)).chunk(2, -1)
        return mean, logvar.clamp(-10, 5)

    def decode(self, condition: torch.Tensor, z: torch.Tensor):
        """[B, T, COND], [B, latent] -> hit_logits, velocity, offset [B, T, NUM_CLASSES]."""
        steps = condition.shape[1]
        y, _ = self.decoder(torch.cat([condition, z[:, None, :].expand(-1, steps, -1)], -1))
        hit, vel, off = self.out(y).split(NUM_CLASSES, -1)
        return hit, torch.sigmoid(vel), 0.5 * torch.tanh(off)

    def forward(self, condition: torch.Tensor, z: torch.Tensor):
        return self.decode(condition, z)


def loss_terms(model: GrooveVAE, condition: torch.Tensor, target: torch.Tensor, sample: bool = True) -> dict:
    """Per-batch losses: hits (binary cross-entropy, Drumify examples only), velocity and offset (squared
    error where the target hits), KL of the latent (nats per example)."""
    mean, logvar = model.encode(condition, target)
    z = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if sample else mean
    hit_logits, vel, off = model.decode(condition, z)
    hits = target[..., :NUM_CLASSES]
    drumify = condition[..., -1:].expand_as(hits)  # the Drumify flag
    bce = nn.functional.binary_cross_entropy_with_logits(hit_logits, hits, reduction="none")
    hit_loss = (bce * drumify).sum() / drumify.sum().clamp_min(1)
    count = hits.sum().clamp_min(1)
    vel_loss = (((vel - target[..., NUM_CLASSES : 2 * NUM_CLASSES]) ** 2) * hits).sum() / count
    off_loss = (((off - target[..., 2 * NUM_CLASSES :]) ** 2) * hits).sum() / count
    kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(-1).mean()
    return {"hits": hit_loss, "velocity": vel_loss, "offset": off_loss, "kl": kl}
