"""Groove and Drumify data: 2-bar drum grids (9 classes x hit, velocity, micro-timing) and what they are made of.

A grid is 32 sixteenth steps x 9 drum classes (CONTRACT.md's order: kick, snare, closed hat, open hat, low /
mid / high tom, crash, ride), three arrays:
    hits      [32, 9] bool
    velocity  [32, 9] float32, MIDI velocity / 127 where hit, 0 elsewhere
    offset    [32, 9] float32, where the hit really fell, in fractions of a step from the grid (-0.5..0.5)

Which drums hit come from real drum patterns (training/midi/drum_data.py, Hydrogen's patterns and songs),
when that module is there, else from `synthetic_patterns`. Hydrogen's patterns are step-sequenced: their
timing is exactly on the grid and most of their velocities are flat. No human-played drum data was reachable
here, so the timing and dynamics Groove learns are MADE by `humanise`, a rule-based drummer (swing, per-drum
lead/lag, a groove-wide push or lay-back, per-note jitter, metric accents and ghost notes) whose numbers are
our choice, within the ranges reported for real drummers (see README, "Groove: what it was trained on"). The
model can learn no more than that humaniser knows: it is a learned, conditional, variable humaniser, not a
model of any real drummer.

The condition the model sees (COND features per step):
    0..8    the hits of the 9 classes (Groove), zeros for Drumify
    9..11   the tap track (Drumify): onset, velocity, offset of the step's loudest note; zeros for Groove
    12, 13  mode flags: Groove (1, 0), Drumify (0, 1)
Drumify's tap track is every onset of a clip collapsed to one row (as GrooVAE's tap2drum), with the loudest
velocity of the step.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

STEPS = 32  # two bars of 4/4, the model's window
STEPS_PER_BAR = 16
NUM_CLASSES = 9
CLASS_NAMES = ("kick", "snare", "closed hat", "open hat", "low tom", "mid tom", "high tom", "crash", "ride")
KICK, SNARE, CLOSED_HAT, OPEN_HAT, LOW_TOM, MID_TOM, HIGH_TOM, CRASH, RIDE = range(NUM_CLASSES)
TAP = 9
GROOVE_FLAG, DRUMIFY_FLAG = 12, 13
COND = 14
MAX_OFFSET = 0.49
VALIDATION_EVERY = 10  # crc32(name) % 10 == 0 -> held out

# --- the made-up drummer (numbers in milliseconds, MIDI velocity) ----------------------------------------
# Mean lead (-) or lag (+) of each class against the grid, and its spread from groove to groove: the kick on
# or a little ahead, the backbeat snare laid back, the hats pushing, as timing studies of drummers describe
# (e.g. Raesaenen et al. 2015, PLoS ONE 10(6): a hi-hat's timing spread of 10-20 ms; Frane & Shams 2017:
# backbeats late by 10-20 ms in laid-back playing).
CLASS_LAG_MS = np.array([-2.0, 8.0, -4.0, -2.0, 0.0, 0.0, 0.0, -3.0, -3.0], np.float32)
CLASS_LAG_SPREAD_MS = np.array([4.0, 6.0, 4.0, 4.0, 5.0, 5.0, 5.0, 5.0, 4.0], np.float32)
GROOVE_PUSH_MS = 5.0  # the whole groove ahead of or behind the grid, stdev
JITTER_MS = (4.0, 14.0)  # per-note timing noise, stdev, drawn per groove
SWING_PROBABILITY = 0.4
SWING_RATIO = (0.52, 0.62)  # of a pair of sixteenths, the first one's share when swung (0.5 straight)
BPM = (70.0, 150.0)
# velocity of a hit by class and place in the bar: base, + on quarters, + on eighths, - on off-sixteenths
CLASS_VELOCITY = np.array([105, 100, 80, 85, 95, 95, 95, 105, 85], np.float32)
QUARTER_ACCENT, EIGHTH_ACCENT, OFF_SIXTEENTH = 10.0, 4.0, -10.0
BACKBEATS = (4, 12)  # steps of a bar where the snare is the backbeat
GHOST_VELOCITY = (30.0, 55.0)
VELOCITY_NOISE = 6.0
DYNAMICS = (-15.0, 10.0)  # groove-wide loudness shift


@dataclass
class Grids:
    """Drum grids, each STEPS long (hits bool, velocity, offset: [N, STEPS, NUM_CLASSES])."""

    hits: np.ndarray
    velocity: np.ndarray
    offset: np.ndarray
    names: list[str]
    validation: np.ndarray  # [N] bool
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def side(self, validation: bool) -> Grids:
        keep = self.validation == validation
        return Grids(
            self.hits[keep],
            self.velocity[keep],
            self.offset[keep],
            [n for n, k in zip(self.names, keep) if k],
            self.validation[keep],
            dict(self.meta),
        )

    def has_timing(self) -> np.ndarray:
        """[N] bool: the grid carries its own micro-timing (not all on the grid)."""
        return np.abs(self.offset).reshape(len(self), -1).max(axis=1) > 1e-6

    def has_dynamics(self) -> np.ndarray:
        """[N] bool: the grid's velocities vary (more than flat step-sequencer levels)."""
        out = np.zeros(len(self), bool)
        for i in range(len(self)):
            v = self.velocity[i][self.hits[i]]
            out[i] = v.size > 1 and float(v.std()) > 0.04
        return out


def is_validation(name: str) -> bool:
    return zlib.crc32(name.encode("utf-8")) % VALIDATION_EVERY == 0


def two_bar_windows(hits: np.ndarray, velocity: np.ndarray, offset: np.ndarray):
    """A pattern of any length -> 2-bar windows: a 1-bar pattern repeated, longer ones cut every 2 bars (a
    last part shorter than a bar is dropped, one of 1..2 bars repeated from its start)."""
    length = hits.shape[0]
    if length < STEPS_PER_BAR:
        return []
    out = []
    for start in range(0, length, STEPS):
        parts = slice(start, min(start + STEPS, length))
        h, v, o = hits[parts], velocity[parts], offset[parts]
        if h.shape[0] < STEPS_PER_BAR:
            break
        if h.shape[0] < STEPS:
            reps = -(-STEPS // h.shape[0])
            h, v, o = (np.concatenate([a] * reps)[:STEPS] for a in (h, v, o))
        if h.any():
            out.append((h.astype(bool), v.astype(np.float32), o.astype(np.float32)))
    return out


def grids_from_patterns(patterns) -> Grids:
    """(name, hits [T, 9], velocity [T, 9] 0..1, offset [T, 9], held out) tuples -> Grids of their 2-bar
    windows (a pattern's windows go to its side of the split), identical windows kept once."""
    hits, vel, off, names, held_out, seen = [], [], [], [], [], set()
    for name, h, v, o, validation in patterns:
        for k, (wh, wv, wo) in enumerate(two_bar_windows(np.asarray(h), np.asarray(v), np.asarray(o))):
            wv = np.where(wh, wv, 0).astype(np.float32)
            wo = np.where(wh, np.clip(wo, -MAX_OFFSET, MAX_OFFSET), 0).astype(np.float32)
            key = wh.tobytes() + wv.tobytes() + wo.tobytes()
            if key in seen:
                continue
            seen.add(key)
            hits.append(wh)
            vel.append(wv)
            off.append(wo)
            names.append(f"{name}#{k}")
            held_out.append(bool(validation))
    if not names:
        raise ValueError("no drum pattern of at least one bar with a hit in it.")
    return Grids(np.stack(hits), np.stack(vel), np.stack(off), names, np.array(held_out, bool))


def synthetic_patterns(
    count: int, seed: int = 0
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, bool]]:
    """Rock, funk and shuffle-like 2-bar patterns drawn by rule (flat velocity 0.8, no timing): for tests and
    for training before real patterns are there."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        h = np.zeros((STEPS, NUM_CLASSES), bool)
        ride = rng.random() < 0.2
        sixteenths = rng.random() < 0.3
        for bar in range(2):
            b = bar * STEPS_PER_BAR
            h[b + 0, KICK] = True
            for s in (8, 10, 6, 14, 3, 11, 7):
                if rng.random() < 0.3:
                    h[b + s, KICK] = True
            for s in BACKBEATS:
                h[b + s, SNARE] = True
            for s in range(STEPS_PER_BAR):
                if s % 2 == 0 or sixteenths:
                    h[b + s, RIDE if ride else CLOSED_HAT] = True
                elif rng.random() < 0.08:
                    h[b + s, SNARE] = True  # ghost
            if rng.random() < 0.15:
                h[b + 14, CLOSED_HAT] = False
                h[b + 14, OPEN_HAT] = True
        if rng.random() < 0.3:
            h[0, CRASH] = True
            h[0, CLOSED_HAT] = h[0, RIDE] = False
        if rng.random() < 0.3:  # a fill over the last beat
            toms = rng.choice([HIGH_TOM, MID_TOM, LOW_TOM, SNARE], size=4)
            h[28:32, [CLOSED_HAT, RIDE]] = False
            for s, c in zip(range(28, 32), toms):
                h[s, c] = True
        name = f"synthetic-{i}"
        velocity = np.where(h, 0.8, 0).astype(np.float32)
        out.append((name, h, velocity, np.zeros(h.shape, np.float32), is_validation(name)))
    return out


def humanise(
    hits: np.ndarray,
    velocity: np.ndarray,
    rng: np.random.Generator,
    *,
    keep_velocity: bool = False,
    written_offset: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The made-up drummer: velocity and offset [STEPS, 9] for quantised `hits` [STEPS, 9], one groove's feel
    drawn from `rng` (tempo, swing, per-class lag, push, jitter, dynamics). keep_velocity: add only noise and
    the groove's dynamics to the given `velocity` (patterns whose dynamics were written by hand).
    written_offset: the pattern's own placement (written swing, triplets), used instead of drawn swing."""
    steps = hits.shape[0]
    bpm = rng.uniform(*BPM)
    step_ms = 60000.0 / bpm / 4
    swing = 0.0
    if rng.random() < SWING_PROBABILITY:
        swing = 2 * (rng.uniform(*SWING_RATIO) - 0.5)  # delay of the off-sixteenths, in steps
    lag = CLASS_LAG_MS + rng.normal(0, 1, NUM_CLASSES) * CLASS_LAG_SPREAD_MS + rng.normal(0, GROOVE_PUSH_MS)
    jitter = rng.uniform(*JITTER_MS)
    position = np.arange(steps) % STEPS_PER_BAR
    off_sixteenth = (position % 2 == 1)[:, None]
    backbeat = np.isin(position, BACKBEATS)[:, None]
    offset_ms = lag[None, :] + rng.normal(0, jitter, hits.shape)
    snare_lag = np.where(backbeat, 0.0, -CLASS_LAG_MS[SNARE])  # ghost notes are not laid back
    offset_ms[:, SNARE] += snare_lag[:, 0]
    if written_offset is not None:
        offset = offset_ms / step_ms + written_offset
    else:
        offset = offset_ms / step_ms + np.where(off_sixteenth, swing, 0.0)
    offset = np.clip(offset, -MAX_OFFSET, MAX_OFFSET)

    dynamics = rng.uniform(*DYNAMICS)
    if keep_velocity:
        vel = velocity * 127.0 + dynamics
    else:
        quarter = (position % 4 == 0)[:, None]
        eighth = (position % 4 == 2)[:, None]
        vel = (
            CLASS_VELOCITY[None, :]
            + np.where(quarter, QUARTER_ACCENT, 0.0)
            + np.where(eighth, EIGHTH_ACCENT, 0.0)
            + np.where(off_sixteenth, OFF_SIXTEENTH, 0.0)
            + dynamics
        )
        ghost = ~backbeat[:, 0]
        vel[ghost, SNARE] = rng.uniform(*GHOST_VELOCITY)
        vel[backbeat[:, 0], SNARE] += 12.0
    vel = vel + rng.normal(0, VELOCITY_NOISE, hits.shape)
    vel = np.clip(np.round(vel), 1, 127) / 127.0
    return np.where(hits, vel, 0).astype(np.float32), np.where(hits, offset, 0).astype(np.float32)


def tap(hits: np.ndarray, velocity: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """[T, 3]: every onset of a step collapsed to one row (onset, loudest velocity, that note's offset)."""
    loud = np.where(hits, velocity, -1.0)
    which = loud.argmax(axis=1)
    rows = np.arange(hits.shape[0])
    onset = hits.any(axis=1)
    return np.stack(
        [
            onset.astype(np.float32),
            np.where(onset, velocity[rows, which], 0),
            np.where(onset, offset[rows, which], 0),
        ],
        axis=1,
    ).astype(np.float32)


def groove_condition(hits: np.ndarray) -> np.ndarray:
    """[T, COND] for Groove: the hits, the Groove flag."""
    cond = np.zeros((hits.shape[0], COND), np.float32)
    cond[:, :NUM_CLASSES] = hits
    cond[:, GROOVE_FLAG] = 1
    return cond


def drumify_condition(tap_track: np.ndarray) -> np.ndarray:
    """[T, COND] for Drumify: the tap track [T, 3], the Drumify flag."""
    cond = np.zeros((tap_track.shape[0], COND), np.float32)
    cond[:, TAP : TAP + 3] = tap_track
    cond[:, DRUMIFY_FLAG] = 1
    return cond


class GrooveSampler:
    """Training examples: a grid, humanised afresh each time it is drawn (its written swing and accents kept), as
    a Groove example or a Drumify one (half each). Drumify's tap track is sometimes made of a subset of the
    classes (kick and snare, or no cymbals), so a sparse line like a bassline is a tap track it has seen."""

    def __init__(self, grids: Grids, seed: int):
        if len(grids) == 0:
            raise ValueError("the groove data has no training grids.")
        self.grids = grids
        self.timing = grids.has_timing()
        self.dynamics = grids.has_dynamics()
        self.rng = np.random.default_rng(seed)

    def example(self, i: int, drumify: bool) -> tuple[np.ndarray, np.ndarray]:
        """(condition [STEPS, COND], target [STEPS, 27]: hits, velocity, offset)."""
        g = self.grids
        hits = g.hits[i]
        vel, off = humanise(
            hits,
            g.velocity[i],
            self.rng,
            keep_velocity=bool(self.dynamics[i]),
            written_offset=g.offset[i] if self.timing[i] else None,
        )
        if drumify:
            chosen = hits
            r = self.rng.random()
            if r < 0.15:
                chosen = hits * np.isin(np.arange(NUM_CLASSES), [KICK, SNARE])[None, :]
            elif r < 0.3:
                chosen = hits * ~np.isin(np.arange(NUM_CLASSES), [CLOSED_HAT, OPEN_HAT, RIDE, CRASH])[None, :]
            if not chosen.any():
                chosen = hits
            cond = drumify_condition(tap(chosen, vel, off))
        else:
            cond = groove_condition(hits)
        target = np.concatenate([hits.astype(np.float32), vel, off], axis=1)
        return cond, target

    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        chosen = self.rng.integers(0, len(self.grids), batch)
        modes = self.rng.random(batch) < 0.5
        pairs = [self.example(int(i), bool(m)) for i, m in zip(chosen, modes)]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def fixed_examples(grids: Grids, seed: int, drumify: bool) -> tuple[np.ndarray, np.ndarray]:
    """One example per grid, humanised with `seed`: the validation set (same numbers every time)."""
    sampler = GrooveSampler(grids, seed)
    pairs = [sampler.example(i, drumify) for i in range(len(grids))]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def grids_from_drum_data(data) -> Grids:
    """training/midi/drum_data.py's data set (Hydrogen songs, MMA grooves) -> Grids: the 4/4 patterns (16 steps
    a bar; 3/4 and 6/8 ones are left out), split as that data set splits them (by song or style file)."""
    patterns = []
    for i in range(len(data)):
        p = data.pattern(i)
        if p.steps_per_bar == STEPS_PER_BAR:
            held_out = bool(data.validation[i])
            patterns.append(
                (p.name, p.velocity > 0, p.velocity.astype(np.float32) / 127.0, p.offset, held_out)
            )
    grids = grids_from_patterns(patterns)
    grids.meta.update(
        {
            "source": "Hydrogen demo songs and MMA grooves (training/midi/drum_data.py)",
            "patterns": len(patterns),
            "cache": data.meta.get("cache"),
        }
    )
    return grids


def training_grids(progress=None) -> Grids:
    """The grids Groove trains on: drum_data's data set (read once and cached by that module)."""
    from . import drum_data

    return grids_from_drum_data(drum_data.drum_data(progress=progress))
