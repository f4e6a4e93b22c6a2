"""The next-event LSTM of the melody model (melody_rnn-style events, training/midi/melody_data.py), and of the
drums model (9-class bitmask events, training/midi/drum_data.py) with its own vocabulary sizes.

One step: event [batch, T] (int64, START first) and state [2 layers, batch, hidden] (h of every layer,
then c of every layer; zeros at the start) -> logits [batch, T, num_events] over the next step's event,
and the state after T steps. The C++ sampling loop calls it with T = 1. START is the last input
(num_inputs - 1 == num_events in both encodings).
"""

from __future__ import annotations

import torch
from torch import nn

from .melody_data import NUM_EVENTS, NUM_INPUTS


class MelodyRNN(nn.Module):
    def __init__(
        self,
        hidden: int = 256,
        layers: int = 2,
        embedding: int = 64,
        dropout: float = 0.1,
        num_inputs: int = NUM_INPUTS,
        num_events: int = NUM_EVENTS,
    ):
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.num_events, self.start_token = num_events, num_inputs - 1
        self.embed = nn.Embedding(num_inputs, embedding)
        self.lstm = nn.LSTM(
            embedding, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.out = nn.Linear(hidden, num_events)

    def initial_state(self, batch: int = 1) -> torch.Tensor:
        """[2 layers, batch, hidden] zeros."""
        return torch.zeros(2 * self.layers, batch, self.hidden)

    def forward(self, events: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state[: self.layers], state[self.layers :]
        y, (h, c) = self.lstm(self.embed(events), (h.contiguous(), c.contiguous()))
        return self.out(y), torch.cat([h, c], 0)
