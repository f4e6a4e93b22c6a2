"""Interpolate's quality on held-out tunes: how well the melody VAE rebuilds 2-bar windows it never saw, and how
smoothly its interpolations move from A to B.

    python -m tonemorph.training.midi.vae_eval [models/midi/melody_vae_decoder.onnx] [--pairs 200]

Everything runs through the C++ core (_core.midi.MelodyVae: the ONNX files as the plugin runs them), argmax
decoding (Interpolate's default). Windows: vae_train.validation_windows (bar-aligned 2-bar windows of the
held-out tunes). Distances between two windows of events:
    events     the fraction of the 32 steps whose event differs (0 same, 1 nothing in common)
    pitches    half the L1 distance between their pitch-class histograms of note-ons (0..1)
Smoothness: for random pairs (A, B) of held-out windows, STEPS clips from A to B; the mean distance between
neighbouring clips beside the distance between A and B themselves (a smooth path makes steps of about
d(A, B) / (STEPS - 1); a jumpy one makes larger steps).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from . import melody_data as md
from .vae_train import validation_windows

STEPS = 5
PAIRS = 200
SEED = 0


def reference_interpolate(vae, a: np.ndarray, b: np.ndarray, steps: int = STEPS) -> list[np.ndarray]:
    """The events of `steps` argmax clips from window a to window b through `vae` (_core.midi.MelodyVae)."""
    from tonemorph.engine import _core

    z_a, z_b = vae.encode(a.tolist()), vae.encode(b.tolist())
    return [np.array(vae.decode(_core.midi.slerp(z_a, z_b, i / (steps - 1)), 0.0, 0)) for i in range(steps)]


def event_distance(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.asarray(x) != np.asarray(y)))


def pitch_histogram(events: np.ndarray) -> np.ndarray:
    """12 pitch classes' share of the note-ons (all zero without notes)."""
    events = np.asarray(events)
    pitches = events[events >= md.FIRST_NOTE_ON] - md.FIRST_NOTE_ON + md.MIN_PITCH
    counts = np.bincount(pitches % 12, minlength=12).astype(np.float64)
    return counts / counts.sum() if counts.sum() else counts


def pitch_distance(x: np.ndarray, y: np.ndarray) -> float:
    return float(0.5 * np.abs(pitch_histogram(x) - pitch_histogram(y)).sum())


DISTANCES = {"events": event_distance, "pitches": pitch_distance}


def reconstruction(vae, windows: np.ndarray) -> dict:
    """Step accuracy (all steps; the note-on steps) and whole windows rebuilt exactly, argmax from the mean z."""
    got = np.array([vae.decode(vae.encode(w.tolist()), 0.0, 0) for w in windows])
    same = got == windows
    return {
        "windows": len(windows),
        "accuracy": float(same.mean()),
        "note_on_accuracy": float(same[windows >= md.FIRST_NOTE_ON].mean()),
        "exact_windows": float(same.all(1).mean()),
    }


def smoothness(vae, windows: np.ndarray, pairs: int = PAIRS, steps: int = STEPS, seed: int = SEED) -> dict:
    """Per distance: mean neighbour step, mean d(A, B), their ratio, the ends' distances to A and B, and how
    often the distance to A never falls (and to B never rises) along the path."""
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(len(windows), 2, replace=False) for _ in range(pairs)]
    paths = [
        (windows[i], windows[j], reference_interpolate(vae, windows[i], windows[j], steps)) for i, j in chosen
    ]
    out = {"pairs": pairs, "steps": steps}
    for name, d in DISTANCES.items():
        neighbour = [np.mean([d(p[k], p[k + 1]) for k in range(steps - 1)]) for _, _, p in paths]
        direct = [d(a, b) for a, b, _ in paths]
        to_a = np.array([[d(x, a) for x in p] for a, _, p in paths])
        to_b = np.array([[d(x, b) for x in p] for _, b, p in paths])
        out[name] = {
            "neighbour_mean": float(np.mean(neighbour)),
            "a_to_b_mean": float(np.mean(direct)),
            "neighbour_over_a_to_b": float(np.mean(neighbour) / max(np.mean(direct), 1e-12)),
            "first_to_a": float(to_a[:, 0].mean()),
            "last_to_b": float(to_b[:, -1].mean()),
            "mean_to_a_by_step": to_a.mean(0).round(4).tolist(),
            "mean_to_b_by_step": to_b.mean(0).round(4).tolist(),
            "monotonic_paths": float(
                np.mean((np.diff(to_a, axis=1) >= 0).all(1) & (np.diff(to_b, axis=1) <= 0).all(1))
            ),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", nargs="?", default="models/midi/melody_vae_decoder.onnx")
    parser.add_argument("--pairs", type=int, default=PAIRS)
    args = parser.parse_args()
    from tonemorph.engine import _core

    vae = _core.midi.MelodyVae(args.model)
    windows = validation_windows(md.melody_data())
    report = {
        "reconstruction": reconstruction(vae, windows),
        "smoothness": smoothness(vae, windows, args.pairs),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
