"""Groove and Drumify in numpy + ONNX Runtime: the reference the C++ tools (cpp/actions/midi/Groove.cpp) are
checked against, and the path the evaluation (training/midi/groove_eval.py) takes. Same steps, same draws:

- a clip is notes (start_step, end_step, pitch, velocity, start_offset, end_offset) on sixteenth steps, its
  length rounded up to whole bars, cut into 2-bar windows (the last one padded with silence);
- variation v of seed s draws from Pcg32(s + v) (cpp/actions/midi/Sampler.h; the bound C++ generator, which
  tests/test_midi_tools.py checks against its Python twin): first the latent z, LATENT
  normals by Box-Muller (u1, u2 -> r = sqrt(-2 ln(1 - u1)), r cos(2 pi u2), r sin(2 pi u2)), times the
  temperature, one z for all windows (one feel for the clip); then, Drumify only and temperature > 0, one
  uniform per window, step and class in that order: a hit where u < sigmoid(logit / temperature);
  temperature 0: z = 0 and a hit where the logit is above 0;
- Groove keeps every note (pitch, step, length) and sets the velocity (floor(v * 127 + 0.5), 1..127) and the
  offset of each note of the nine classes from its class and step; notes of no class stay as they are;
- Drumify writes one sixteenth-long note per hit, the first GM note of its class.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from . import groove_data as gd
from .groove_export import DRUM_CLASSES


def Pcg32(seed: int):
    """The C++ generator (cpp/actions/midi/Sampler.h), bound."""
    from tonemorph.engine import _core

    return _core.midi.Pcg32(seed)


NOTE_CLASS = {note: c for c, notes in enumerate(DRUM_CLASSES) for note in notes}


def normals(rng, count: int) -> np.ndarray:
    """`count` standard normals by Box-Muller from `rng` (a Pcg32: uniform() in [0, 1))."""
    out = np.zeros(count, np.float64)
    for k in range(0, count, 2):
        u1, u2 = rng.uniform(), rng.uniform()
        r = math.sqrt(-2.0 * math.log(1.0 - u1))
        out[k] = r * math.cos(2 * math.pi * u2)
        if k + 1 < count:
            out[k + 1] = r * math.sin(2 * math.pi * u2)
    return out


@dataclass
class RefNote:
    start_step: int
    end_step: int
    pitch: int
    velocity: int
    start_offset: float = 0.0
    end_offset: float = 0.0


def clip_steps(notes: list[RefNote], steps: int = 0) -> int:
    """Whole bars covering `steps` and every note's onset (at least one bar)."""
    last = max([steps] + [n.start_step + 1 for n in notes])
    return max(1, -(-last // gd.STEPS_PER_BAR)) * gd.STEPS_PER_BAR


def windows(steps: int) -> int:
    return -(-steps // gd.STEPS)


class GrooveSession:
    """A midi-groove ONNX model in ONNX Runtime (one thread)."""

    def __init__(self, path: str | os.PathLike):
        import onnxruntime as ort

        from .groove_export import read_metadata

        self.meta = read_metadata(path)
        self.latent = int(self.meta["latent"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])

    def run(self, condition: np.ndarray, z: np.ndarray):
        """condition [STEPS, COND], z [latent] -> hit_logits, velocity, offset [STEPS, 9]."""
        out = self.session.run(
            ["hit_logits", "velocity", "offset"],
            {"condition": condition[None].astype(np.float32), "z": z[None].astype(np.float32)},
        )
        return tuple(o[0] for o in out)


def velocity_of(value: float) -> int:
    """0..1 -> MIDI velocity 1..127, halves rounded up (as the C++)."""
    return int(min(127, max(1, math.floor(float(value) * 127.0 + 0.5))))


def _latent(rng, latent: int, temperature: float) -> np.ndarray:
    if temperature <= 0:
        return np.zeros(latent, np.float32)
    return (normals(rng, latent) * temperature).astype(np.float32)


def groove(
    model: GrooveSession, notes: list[RefNote], steps: int, *, variation_seed: int, temperature: float
):
    """One Groove variation: the notes with new velocities and offsets."""
    steps = clip_steps(notes, steps)
    hits = np.zeros((windows(steps) * gd.STEPS, gd.NUM_CLASSES), bool)
    for n in notes:
        if n.pitch in NOTE_CLASS:
            hits[n.start_step, NOTE_CLASS[n.pitch]] = True
    rng = Pcg32(variation_seed)
    z = _latent(rng, model.latent, temperature)
    vel = np.zeros(hits.shape, np.float32)
    off = np.zeros(hits.shape, np.float32)
    for w in range(windows(steps)):
        part = slice(w * gd.STEPS, (w + 1) * gd.STEPS)
        _, vel[part], off[part] = model.run(gd.groove_condition(hits[part]), z)
    out = []
    for n in notes:
        c = NOTE_CLASS.get(n.pitch)
        if c is None:
            out.append(n)
            continue
        o = float(np.clip(off[n.start_step, c], -gd.MAX_OFFSET, gd.MAX_OFFSET))
        v = velocity_of(vel[n.start_step, c])
        out.append(RefNote(n.start_step, n.end_step, n.pitch, v, o, o))
    return out


def tap_track(notes: list[RefNote], steps: int) -> np.ndarray:
    """[windows * STEPS, 3]: onset, loudest velocity / 127, that note's offset (the first of equals)."""
    track = np.zeros((windows(steps) * gd.STEPS, 3), np.float32)
    best = np.zeros(len(track), np.int32)
    for n in notes:
        if n.velocity > best[n.start_step]:
            best[n.start_step] = n.velocity
            track[n.start_step] = (1.0, n.velocity / 127.0, n.start_offset)
    return track


def drumify(
    model: GrooveSession, notes: list[RefNote], steps: int, *, variation_seed: int, temperature: float
):
    """One Drumify variation: drum notes (first GM note of each class, a sixteenth long)."""
    steps = clip_steps(notes, steps)
    taps = tap_track(notes, steps)
    rng = Pcg32(variation_seed)
    z = _latent(rng, model.latent, temperature)
    out = []
    for w in range(windows(steps)):
        base = w * gd.STEPS
        logits, vel, off = model.run(gd.drumify_condition(taps[base : base + gd.STEPS]), z)
        for s in range(gd.STEPS):
            for c in range(gd.NUM_CLASSES):
                if temperature > 0:
                    u = rng.uniform()
                    p = 1.0 / (1.0 + math.exp(-float(logits[s, c]) / temperature))
                    hit = u < p
                else:
                    hit = float(logits[s, c]) > 0
                if hit and base + s < steps:
                    o = float(np.clip(off[s, c], -gd.MAX_OFFSET, gd.MAX_OFFSET))
                    v = velocity_of(vel[s, c])
                    out.append(RefNote(base + s, base + s + 1, DRUM_CLASSES[c][0], v, o, o))
    return out
