"""The Markov-chain baseline for the next-event models: P(event | the `order` events before it), add-k smoothed.

P(x | c) = (n(c, x) + k) / (n(c) + k V), V = num_events; the context before the first event is START
(= num_events, the models' input-only token). Counts are kept sparse (only the (context, event) pairs seen),
so an order-2 chain over the drums' 512 events costs what its data holds, not 513^2 x 512 numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .melody_data import NUM_EVENTS


def contexts(events: np.ndarray, order: int, num_events: int = NUM_EVENTS) -> np.ndarray:
    """[steps] context index of each step: the `order` events before it (START before the first), base
    num_events + 1."""
    start, base = num_events, num_events + 1
    padded = np.concatenate([np.full(order, start, np.int64), events.astype(np.int64)])
    index = np.zeros(len(events), np.int64)
    for j in range(order):
        index = index * base + padded[j : j + len(events)]
    return index


def _lookup(keys: np.ndarray, counts: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """counts[k] where keys[k] == wanted, 0 where wanted is not among the (sorted) keys."""
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    found = keys[at] == wanted if len(keys) else np.zeros(len(wanted), bool)
    return np.where(found, counts[at] if len(keys) else 0.0, 0.0)


def _merge(keys: np.ndarray, counts: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    merged, inverse = np.unique(np.concatenate([keys, new]), return_inverse=True)
    weights = np.concatenate([counts, np.ones(len(new))])
    return merged, np.bincount(inverse.ravel(), weights, minlength=len(merged))


class MarkovChain:
    def __init__(self, order: int, k: float = 1.0, num_events: int = NUM_EVENTS):
        if order < 0:
            raise ValueError(f"order must be >= 0, got {order}")
        self.order, self.k, self.num_events = order, float(k), num_events
        self.pairs, self.pair_counts = np.zeros(0, np.int64), np.zeros(0)  # context * V + event
        self.contexts, self.context_counts = np.zeros(0, np.int64), np.zeros(0)

    def fit(self, sequences: Iterable[np.ndarray]) -> MarkovChain:
        context_parts, pair_parts = [], []
        for events in sequences:
            c = contexts(events, self.order, self.num_events)
            context_parts.append(c)
            pair_parts.append(c * self.num_events + events.astype(np.int64))
        if pair_parts:
            self.pairs, self.pair_counts = _merge(self.pairs, self.pair_counts, np.concatenate(pair_parts))
            self.contexts, self.context_counts = _merge(
                self.contexts, self.context_counts, np.concatenate(context_parts)
            )
        return self

    def log_probs(self, events: np.ndarray) -> np.ndarray:
        """[steps] natural log P(event_t | its context)."""
        c = contexts(events, self.order, self.num_events)
        seen = _lookup(self.pairs, self.pair_counts, c * self.num_events + events.astype(np.int64))
        total = _lookup(self.contexts, self.context_counts, c)
        return np.log((seen + self.k) / (total + self.k * self.num_events))

    def nll(self, sequences: Iterable[np.ndarray]) -> float:
        """Mean negative log-likelihood per step (nats) over all steps of `sequences`."""
        total, steps = 0.0, 0
        for events in sequences:
            total -= float(self.log_probs(events).sum())
            steps += len(events)
        return total / max(steps, 1)
