"""How often Continue's notes are in the key of the clip it continues, on held-out tunes.

    python -m tonemorph.training.midi.continuation_eval [--model models/midi/melody.onnx]

Each held-out tune (melody_data's split) of at least PROMPT_BARS + NEW_BARS bars gives a prompt, its first
PROMPT_BARS bars; the C++ Continue (the shipped tool, temperature 1) adds NEW_BARS bars in VARIATIONS
variations. The prompt's key is found with the Krumhansl-Kessler profiles (pitch classes weighted by
duration, the best of 24 major and minor keys by correlation); a note is in the key when its pitch class is
in that key's diatonic scale (natural minor for minor keys). Beside the model: the tune's own next bars (what
a composer wrote) and uniform random pitches in the model's range (7 of 12 pitch classes: about 0.58).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np

from . import melody_data as md

PROMPT_BARS = 4
NEW_BARS = 2
VARIATIONS = 4
TEMPERATURE = 1.0
# Krumhansl & Kessler (1982) probe-tone ratings, C major and C minor
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

Note = tuple[int, int, int]  # start step, end step, MIDI pitch


def find_key(notes: Sequence[Note]) -> tuple[int, bool]:
    """(tonic pitch class, is_major) of the notes, by duration-weighted Krumhansl-Kessler correlation."""
    weights = np.zeros(12)
    for start, end, pitch in notes:
        weights[pitch % 12] += end - start
    best, key = -np.inf, (0, True)
    for tonic in range(12):
        for major, profile in ((True, MAJOR_PROFILE), (False, MINOR_PROFILE)):
            r = np.corrcoef(weights, np.roll(profile, tonic))[0, 1]
            if r > best:
                best, key = r, (tonic, major)
    return key


def key_pitch_classes(key: tuple[int, bool]) -> set[int]:
    tonic, major = key
    return {(tonic + d) % 12 for d in (MAJOR_SCALE if major else MINOR_SCALE)}


def evaluate(model_path: str, tunes: Sequence[np.ndarray], seed: int = 0) -> dict:
    """In-key fractions (over all notes pooled) of the model's continuations, the tunes' own next bars and
    uniform random pitches, for the tunes long enough to have a prompt and a next part."""
    from tonemorph.engine import _core

    model = _core.midi.EventModel(model_path, "midi-melody")
    prompt_steps, new_steps = PROMPT_BARS * md.STEPS_PER_BAR, NEW_BARS * md.STEPS_PER_BAR
    rng = np.random.default_rng(seed)
    counts = {"model": [0, 0], "tune": [0, 0], "random": [0, 0]}
    used = 0
    for i, events in enumerate(tunes):
        if len(events) < prompt_steps + new_steps:
            continue
        notes = md.decode(events)
        prompt = [(a, min(b, prompt_steps), p) for a, b, p in notes if a < prompt_steps]
        truth = [p for a, _, p in notes if prompt_steps <= a < prompt_steps + new_steps]
        if not prompt or not truth:
            continue
        used += 1
        scale = key_pitch_classes(find_key(prompt))
        clip = _core.midi.Clip([_core.midi.Note(a, b, p) for a, b, p in prompt], prompt_steps)
        result = _core.midi.continue_clip(
            model, clip, bars=NEW_BARS, variations=VARIATIONS, temperature=TEMPERATURE, seed=seed + 1000 * i
        )
        made = [n.pitch for c in result["clips"] for n in c.notes if n.start_step >= prompt_steps]
        random = rng.integers(md.MIN_PITCH, md.MAX_PITCH + 1, len(truth))
        for name, pitches in (("model", made), ("tune", truth), ("random", random)):
            counts[name][0] += sum(p % 12 in scale for p in pitches)
            counts[name][1] += len(pitches)
    return {"tunes": used, **{k: (n / total if total else float("nan")) for k, (n, total) in counts.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="models/midi/melody.onnx")
    args = parser.parse_args()
    data = md.melody_data()
    print(json.dumps(evaluate(args.model, data.side(validation=True)), indent=2))


if __name__ == "__main__":
    main()
