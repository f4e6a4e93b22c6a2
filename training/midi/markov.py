"""The Markov-chain baseline for the melody model: P(event | the `order` events before it), add-k smoothed.

P(x | c) = (n(c, x) + k) / (n(c) + k V), V = NUM_EVENTS; the context before the first event is START.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .melody_data import NUM_EVENTS, NUM_INPUTS, START


def contexts(events: np.ndarray, order: int) -> np.ndarray:
    """[steps] context index of each step: the `order` events before it (START before the first), base NUM_INPUTS."""
    padded = np.concatenate([np.full(order, START, np.int64), events.astype(np.int64)])
    index = np.zeros(len(events), np.int64)
    for j in range(order):
        index = index * NUM_INPUTS + padded[j : j + len(events)]
    return index


class MarkovChain:
    def __init__(self, order: int, k: float = 1.0):
        if order < 0:
            raise ValueError(f"order must be >= 0, got {order}")
        self.order, self.k = order, float(k)
        self.counts = np.zeros((NUM_INPUTS**order, NUM_EVENTS), np.float64)

    def fit(self, sequences: Iterable[np.ndarray]) -> MarkovChain:
        for events in sequences:
            flat = contexts(events, self.order) * NUM_EVENTS + events.astype(np.int64)
            self.counts += np.bincount(flat, minlength=self.counts.size).reshape(self.counts.shape)
        return self

    def log_probs(self, events: np.ndarray) -> np.ndarray:
        """[steps] natural log P(event_t | its context)."""
        c = contexts(events, self.order)
        rows = self.counts[c]
        p = (rows[np.arange(len(events)), events.astype(np.int64)] + self.k) / (
            rows.sum(1) + self.k * NUM_EVENTS
        )
        return np.log(p)

    def nll(self, sequences: Iterable[np.ndarray]) -> float:
        """Mean negative log-likelihood per step (nats) over all steps of `sequences`."""
        total, steps = 0.0, 0
        for events in sequences:
            total -= float(self.log_probs(events).sum())
            steps += len(events)
        return total / max(steps, 1)
