"""The Groove / Drumify model's numbers for the README, on the held-out grids (songs and style files the model
never saw), through the C++ tools (_core.midi.groove / drumify):

- Groove's timing-offset and velocity distribution per drum class (mean, stdev) beside the training data's:
  the held-out grids humanised as training humanises them (fixed seed), against Groove's output on the same
  quantised hits at temperature 1 (one seed per grid) and 0, and the data without its per-note noise;
- Drumify's accent alignment: of the kicks and snares it places on the input's onsets, the fraction on its
  accents, beside a permutation baseline (the same number of accents shuffled among the onsets), for random
  bass-like clips (5 accents among 14 onsets in 2 bars) and for the held-out grids' own tap tracks (accents:
  the loudest third of each clip's taps).

    python -m tonemorph.training.midi.groove_eval [MODEL]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from . import groove_data as gd
from .groove_export import DRUM_CLASSES

STEP_MS_AT_120 = 125.0
SHUFFLES = 200


def groove_distribution(model, grids: gd.Grids, temperature: float, seed: int = 0) -> dict:
    """Per class: offsets (steps) and velocities (0..1) of Groove's output on each grid's hits."""
    from tonemorph.engine import _core

    midi = _core.midi
    offsets = {c: [] for c in range(gd.NUM_CLASSES)}
    velocities = {c: [] for c in range(gd.NUM_CLASSES)}
    for i in range(len(grids)):
        steps, classes = np.nonzero(grids.hits[i])
        notes = [midi.Note(int(s), int(s) + 1, DRUM_CLASSES[c][0], 90) for s, c in zip(steps, classes)]
        clip = midi.Clip(notes, gd.STEPS, 120.0, True)
        out = midi.groove(model, clip, variations=1, temperature=temperature, seed=seed + i)["clips"][0]
        for n in out.notes:
            c = midi.groove_drum_class(n.pitch)
            offsets[c].append(n.start_offset)
            velocities[c].append(n.velocity / 127)
    return {"offset": offsets, "velocity": velocities}


def data_distribution(grids: gd.Grids, seed: int) -> dict:
    """Per class: the training data's offsets and velocities (the grids humanised as training does)."""
    _, target = gd.fixed_examples(grids, seed, drumify=False)
    hits = target[..., : gd.NUM_CLASSES] > 0
    vel = target[..., gd.NUM_CLASSES : 2 * gd.NUM_CLASSES]
    off = target[..., 2 * gd.NUM_CLASSES :]
    return {
        "offset": {c: off[..., c][hits[..., c]].tolist() for c in range(gd.NUM_CLASSES)},
        "velocity": {c: vel[..., c][hits[..., c]].tolist() for c in range(gd.NUM_CLASSES)},
    }


def data_without_note_noise(grids: gd.Grids, seed: int) -> dict:
    """The same, with the humaniser's per-note jitter and velocity noise off: the part of the data's spread
    that a groove's feel (tempo, swing, lags, push, accents) explains, which a model can predict."""
    saved = gd.JITTER_MS, gd.VELOCITY_NOISE
    gd.JITTER_MS, gd.VELOCITY_NOISE = (0.0, 0.0), 0.0
    try:
        return data_distribution(grids, seed)
    finally:
        gd.JITTER_MS, gd.VELOCITY_NOISE = saved


def summarise(dist: dict) -> dict:
    out = {}
    for c, name in enumerate(gd.CLASS_NAMES):
        off = np.array(dist["offset"][c], np.float64)
        vel = np.array(dist["velocity"][c], np.float64) * 127
        if off.size == 0:
            continue
        out[name] = {
            "hits": int(off.size),
            "offset_mean_ms": float(off.mean() * STEP_MS_AT_120),
            "offset_std_ms": float(off.std() * STEP_MS_AT_120),
            "velocity_mean": float(vel.mean()),
            "velocity_std": float(vel.std()),
        }
    return out


def alignment(model, clips: list[tuple[list[int], set[int], list[int]]], rng, variations: int = 4) -> dict:
    """clips: (onset steps, accented steps, velocities per onset) on 32 steps -> observed fraction of
    on-onset kicks and snares that are on accents, and the permutation baseline's mean and 99th percentile."""
    from tonemorph.engine import _core

    midi = _core.midi
    kick_snare = {DRUM_CLASSES[0][0], DRUM_CLASSES[1][0]}
    total, accented, shuffled = 0, 0, np.zeros(SHUFFLES)
    for k, (onsets, accents, velocities) in enumerate(clips):
        notes = [midi.Note(s, s + 1, 40, v) for s, v in zip(onsets, velocities)]
        clip = midi.Clip(notes, gd.STEPS, 120.0, False)
        out = midi.drumify(model, clip, variations=variations, temperature=1.0, seed=1000 * k)["clips"]
        on = set(onsets)
        placed = [n.start_step for c in out for n in c.notes if n.pitch in kick_snare and n.start_step in on]
        total += len(placed)
        accented += sum(s in accents for s in placed)
        for j in range(SHUFFLES):
            fake = set(rng.choice(onsets, size=len(accents), replace=False).tolist())
            shuffled[j] += sum(s in fake for s in placed)
    shuffled /= max(total, 1)
    return {
        "kick_snare_on_onsets": total,
        "on_accents": accented / max(total, 1),
        "chance_mean": float(shuffled.mean()),
        "chance_p99": float(np.quantile(shuffled, 0.99)),
    }


def random_clips(rng, count: int = 100) -> list:
    out = []
    for _ in range(count):
        onsets = sorted(rng.choice(gd.STEPS, size=14, replace=False).tolist())
        accents = set(rng.choice(onsets, size=5, replace=False).tolist())
        out.append((onsets, accents, [120 if s in accents else 55 for s in onsets]))
    return out


def grid_clips(grids: gd.Grids, seed: int) -> list:
    """The held-out grids' tap tracks (humanised velocities), accents the loudest third of each clip's taps."""
    cond, _ = gd.fixed_examples(grids, seed, drumify=True)
    out = []
    for c in cond:
        tap = c[:, gd.TAP : gd.TAP + 3]
        onsets = np.nonzero(tap[:, 0])[0].tolist()
        if len(onsets) < 6:
            continue
        vel = np.round(tap[onsets, 1] * 127).astype(int)
        loud = sorted(onsets, key=lambda s: -tap[s, 1])[: len(onsets) // 3]
        out.append((onsets, set(loud), vel.tolist()))
    return out


def evaluate(model_path: str | Path, seed: int = 0) -> dict:
    from tonemorph.engine import _core

    model = _core.midi.GrooveModel(str(model_path))
    grids = gd.training_grids().side(validation=True)
    rng = np.random.default_rng(seed)
    return {
        "validation_windows": len(grids),
        "data": summarise(data_distribution(grids, seed)),
        "data_without_note_noise": summarise(data_without_note_noise(grids, seed)),
        "groove_t1": summarise(groove_distribution(model, grids, 1.0, seed)),
        "groove_t0": summarise(groove_distribution(model, grids, 0.0, seed)),
        "drumify_random_clips": alignment(model, random_clips(rng), rng),
        "drumify_heldout_taps": alignment(model, grid_clips(grids, seed), rng),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else Path(__file__).resolve().parents[2] / "models" / "midi" / "groove.onnx"
    result = evaluate(path)
    print(json.dumps(result, indent=1))
    print("\nclass        data offset ms  no jitter     groove T=1   groove T=0  | data velocity  groove T=1")
    for name, d in result["data"].items():
        g, z = result["groove_t1"].get(name), result["groove_t0"].get(name)
        q = result["data_without_note_noise"][name]
        if g is None or z is None:
            continue
        print(
            f"{name:12s} {d['offset_mean_ms']:+5.1f} ± {d['offset_std_ms']:4.1f}  "
            f"{q['offset_mean_ms']:+5.1f} ± {q['offset_std_ms']:4.1f}  "
            f"{g['offset_mean_ms']:+5.1f} ± {g['offset_std_ms']:4.1f}  {z['offset_mean_ms']:+5.1f} ± "
            f"{z['offset_std_ms']:4.1f} | {d['velocity_mean']:5.1f} ± {d['velocity_std']:4.1f}  "
            f"{g['velocity_mean']:5.1f} ± {g['velocity_std']:4.1f}   ({d['hits']} hits)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
