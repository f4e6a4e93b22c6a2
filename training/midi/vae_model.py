"""The melody VAE behind Interpolate: a small MusicVAE-style model over 2 bars of melody_rnn events.

    encoder  events [batch, 32] (int64, melody_data's encoding) -> embedding -> bidirectional LSTM ->
             the last forward and first backward outputs -> mu, logvar [batch, Z]
    decoder  one LSTM over (embedding of the previous event, START first) concatenated with z at every step
             -> logits [batch, T, NUM_EVENTS] over the step's event; its state starts at zeros, so one
             decoder step is (event [batch, 1], z [batch, Z], state [2 layers, batch, hidden]) ->
             (logits, state): the graph a C++ loop calls 32 times per clip, z held fixed.

Training is teacher forced; the KL term counts only above a free-bits budget (vae_train.py), so the
decoder has to read z. Clips longer than 2 bars are handled 2 bars at a time by the caller.
"""

from __future__ import annotations

import torch
from torch import nn

from .melody_data import NUM_EVENTS, NUM_INPUTS, STEPS_PER_BAR

BARS = 2
STEPS = BARS * STEPS_PER_BAR  # 32 sixteenth notes


class MelodyVAE(nn.Module):
    def __init__(
        self,
        latent: int = 64,
        encoder_hidden: int = 128,
        hidden: int = 192,
        layers: int = 2,
        embedding: int = 64,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.latent, self.hidden, self.layers, self.encoder_hidden = latent, hidden, layers, encoder_hidden
        # one embedding for the encoder's and the decoder's events (START only in the decoder)
        self.embed = nn.Embedding(NUM_INPUTS, embedding)
        self.encoder = nn.LSTM(embedding, encoder_hidden, 1, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * encoder_hidden, latent)
        self.to_logvar = nn.Linear(2 * encoder_hidden, latent)
        self.decoder = nn.LSTM(
            embedding + latent, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.out = nn.Linear(hidden, NUM_EVENTS)

    def encode(self, events: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """events [batch, STEPS] -> mu, logvar [batch, latent]."""
        y, _ = self.encoder(self.embed(events))
        h = self.encoder_hidden
        summary = torch.cat([y[:, -1, :h], y[:, 0, h:]], dim=-1)
        return self.to_mu(summary), self.to_logvar(summary)

    def initial_state(self, batch: int = 1) -> torch.Tensor:
        """[2 layers, batch, hidden] zeros: h of each layer, then c of each layer."""
        return torch.zeros(2 * self.layers, batch, self.hidden)

    def decode(
        self, inputs: torch.Tensor, z: torch.Tensor, state: torch.Tensor, word_dropout: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs [batch, T] (START, then the events before each step), z [batch, latent], state -> logits
        [batch, T, NUM_EVENTS], state after T steps. word_dropout (training): the fraction of input events
        hidden from the decoder (their embedding zeroed), so that it has to lean on z."""
        x = self.embed(inputs)
        if word_dropout > 0:
            x = x * (torch.rand(x.shape[:2], device=x.device) >= word_dropout).unsqueeze(-1).to(x.dtype)
        x = torch.cat([x, z[:, None, :].expand(-1, x.shape[1], -1)], dim=-1)
        h, c = state[: self.layers], state[self.layers :]
        y, (h, c) = self.decoder(x, (h.contiguous(), c.contiguous()))
        return self.out(y), torch.cat([h, c], 0)

    def forward(
        self, events: torch.Tensor, inputs: torch.Tensor, sample: bool = True, word_dropout: float = 0.0
    ):
        """Teacher-forced pass: -> logits [batch, STEPS, NUM_EVENTS], mu, logvar."""
        mu, logvar = self.encode(events)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        logits, _ = self.decode(inputs, z, self.initial_state(events.shape[0]), word_dropout)
        return logits, mu, logvar

    @torch.no_grad()
    def greedy(self, z: torch.Tensor, steps: int = STEPS) -> torch.Tensor:
        """Argmax decoding from z [batch, latent] -> events [batch, steps] int64."""
        from .melody_data import START

        batch = z.shape[0]
        event = torch.full((batch, 1), START, dtype=torch.long)
        state = self.initial_state(batch)
        out = []
        for _ in range(steps):
            logits, state = self.decode(event, z, state)
            event = logits[:, -1].argmax(-1, keepdim=True)
            out.append(event)
        return torch.cat(out, 1)
