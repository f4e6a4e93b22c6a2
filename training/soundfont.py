"""Training data from the FluidR3 General MIDI soundfont: corpus melodies, scales, arpeggios, long tones.

    python -m tonemorph.training.soundfont trumpet data/trumpet --minutes 12 --seed 0
    python -m tonemorph.training.soundfont trumpet data/heldout/trumpet --heldout
    python -m tonemorph.training.soundfont all data             # every bundled instrument, both sets
    python -m tonemorph.training.soundfont guitar examples --demo

A training set is a folder of mono 16-bit WAV files of 10-40 s and a `manifest.json` that lists what was
rendered (program, corpus pieces, every note). A held-out set holds melodies from corpus pieces that no
training set draws from (`is_heldout`), each rendered twice, note for note: by the instrument
(`OUT/<instrument>/`) and by the nylon guitar (`OUT/guitar/`), without pitch-bend vibrato so that the
MIDI pitches in the manifest are the true f0.

Everything random comes from numpy Generators seeded by (seed, instrument, material), so a seed
reproduces the files sample for sample on the same FluidSynth build. Reverb and chorus are off: the
renders are dry, and the model learns its own reverb. GM programs are 0-based here (trumpet 56 = GM 57).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import json
import os
import re
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tonemorph.atomic import write_text

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")  # Debian's fluid-soundfont-gm
DATA_SAMPLE_RATE = 48000
DEMO_SAMPLE_RATE = 44100
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1

TRAINING_MINUTES = 12.0
HELDOUT_MINUTES = 2.0
MATERIAL_MIX = {"melody": 0.60, "scale": 0.12, "arpeggio": 0.10, "long_tone": 0.18}  # share of the minutes
FILE_SECONDS = (10.0, 40.0)
LEAD_IN_S = 0.25
TAIL_S = 1.0
DEMO_SECONDS = (10.0, 15.0)

CONTROL_PERIOD_S = 0.005  # resolution of the CC11 and pitch-bend curves
BEND_RANGE_CENTS = 200.0  # GM default pitch-bend sensitivity (RPN 0): +-2 semitones
BEND_FULL_SCALE = 8192
VIBRATO_FADE_S = 0.25
CC_VOLUME = 7
CC_EXPRESSION = 11
PROBE_PEAK_DBFS = -4.0  # the loudest probe note (velocity, CC7 and CC11 at 127) peaks here

# Held-out melodies come from the fiddle tunes and the Palestrina masses, never from Bach: his chorale
# melodies recur under several BWV numbers, so no split of the files keeps them apart.
TRAINING_SOURCES = {"ryansMammoth": 0.4, "bach": 0.3, "palestrina": 0.3}
HELDOUT_SOURCES = {"ryansMammoth": 0.5, "palestrina": 0.5}
HELDOUT_EVERY = 8  # a piece is held out when crc32(piece key) % HELDOUT_EVERY == 0
SCORE_SUFFIXES = (".abc", ".krn", ".mxl", ".xml", ".musicxml")
MIN_MELODY_NOTES = 8
MAX_RUN_S = 10.0  # one scale or arpeggio run, up and down
PATTERN_FILE_SECONDS = (18.0, 28.0)  # drawn length of a scale, arpeggio or long-tone file
MAX_DRAWS = 400


@dataclass(frozen=True)
class Instrument:
    name: str
    program: int  # General MIDI program, 0-based
    low: int  # MIDI note range the material stays in
    high: int
    vibrato: bool  # players of it use vibrato

    @property
    def gm_program(self) -> int:
        """The 1-based number GM tables print."""
        return self.program + 1


INSTRUMENTS = {
    "trumpet": Instrument("trumpet", 56, 52, 84, True),  # E3-C6
    "violin": Instrument("violin", 40, 55, 93, True),  # G3-A6: FluidR3's violin has no sample for B-flat 6
    "flute": Instrument("flute", 73, 60, 96, True),  # C4-C7
    "alto_sax": Instrument("alto_sax", 65, 49, 80, True),  # D-flat 3-A-flat 5, sounding
    "tenor_sax": Instrument("tenor_sax", 66, 44, 75, True),  # A-flat 2-E-flat 5, sounding
    "guitar": Instrument("guitar", 24, 40, 83, False),  # nylon, E2-B5
    "steel_guitar": Instrument("steel_guitar", 25, 40, 83, False),
}
BUNDLED = ("trumpet", "violin", "flute", "alto_sax", "tenor_sax")
GUITAR = "guitar"  # the held-out sets' and the demo's second voice

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "natural_minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "chromatic": tuple(range(12)),
    "major_pentatonic": (0, 2, 4, 7, 9),
    "whole_tone": (0, 2, 4, 6, 8, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}
ARPEGGIOS = {
    "major": (0, 4, 7),
    "minor": (0, 3, 7),
    "augmented": (0, 4, 8),
    "dominant7": (0, 4, 7, 10),
    "major7": (0, 4, 7, 11),
    "minor7": (0, 3, 7, 10),
    "diminished7": (0, 3, 6, 9),
}


# --- what to play --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    pitch: int  # MIDI note
    start: float  # seconds from the start of the file
    end: float  # note-off
    velocity: int


@dataclass(frozen=True)
class Vibrato:
    """A pitch-bend LFO over one note: cents(t) = depth min(1, (t - start - onset) / fade) sin(2 pi rate t')."""

    start: float
    end: float
    rate_hz: float
    depth_cents: float
    onset_s: float


@dataclass
class Performance:
    """One file's worth of MIDI: notes (monophonic, sorted), a CC11 curve, a CC7 level and vibratos."""

    notes: list[Note]
    expression: list[tuple[float, float]]  # (seconds, 0..127) breakpoints, linear between, held after
    volume: int = 100
    vibrato: list[Vibrato] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # how it was made, for the manifest

    @property
    def seconds(self) -> float:
        return self.notes[-1].end + TAIL_S

    def without_vibrato(self) -> Performance:
        return Performance(self.notes, self.expression, self.volume, [], dict(self.info))


# --- the corpus ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Melody:
    """One monophonic part of a corpus piece: (onset, duration) in quarter notes and the MIDI pitch."""

    piece: str  # corpus path, e.g. "ryansMammoth/AcaciaReel.abc"
    part: int
    notes: tuple[tuple[float, float, int], ...]

    @property
    def low(self) -> int:
        return min(n[2] for n in self.notes)

    @property
    def high(self) -> int:
        return max(n[2] for n in self.notes)


def piece_key(path: str) -> str:
    """What the held-out split is decided on: a fiddle tune is itself, a Palestrina movement its mass."""
    folder, name = path.split("/", 1)
    stem = name.rsplit(".", 1)[0]
    if folder == "palestrina":
        number = re.search(r"\d+", stem)
        return f"palestrina/{'rpt-' if '_rpt' in stem else ''}mass-{number.group() if number else 'none'}"
    return f"{folder}/{stem}"


def is_heldout(path: str) -> bool:
    """True for the pieces that only held-out sets (and the demo) use; no training set ever draws them."""
    return path.split("/", 1)[0] in HELDOUT_SOURCES and zlib.crc32(piece_key(path).encode()) % HELDOUT_EVERY == 0


@functools.cache
def corpus_paths() -> tuple[str, ...]:
    """music21's bundled corpus (it ships inside the wheel): score paths relative to the corpus root, sorted."""
    from music21 import common, corpus

    root = Path(common.getCorpusFilePath())
    paths = (Path(p).relative_to(root).as_posix() for p in corpus.getPaths())
    return tuple(sorted(p for p in paths if p.count("/") == 1 and p.lower().endswith(SCORE_SUFFIXES)))


def corpus_pool(heldout: bool) -> dict[str, list[str]]:
    """source folder -> its pieces on one side of the split, one path per piece key (sorted)."""
    sources = HELDOUT_SOURCES if heldout else TRAINING_SOURCES
    pool: dict[str, dict[str, str]] = {source: {} for source in sources}
    for path in corpus_paths():
        source = path.split("/", 1)[0]
        if source in pool and is_heldout(path) == heldout:
            pool[source].setdefault(path.rsplit(".", 1)[0], path)  # bwv66.6.mxl and .krn are one chorale
    return {source: sorted(paths.values()) for source, paths in pool.items()}


@functools.cache
def monophonic_parts(path: str) -> tuple[Melody, ...]:
    """The parts of a corpus piece that are single lines: no chords, no overlapping notes; ties merged,
    grace notes dropped. An unparsable piece has none."""
    from music21 import chord, corpus

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = corpus.parse(path)
    except Exception:  # noqa: BLE001 -- music21 raises many types for the few corpus files it cannot read
        return ()
    melodies = []
    for index, part in enumerate(getattr(score, "parts", ())):
        notes = []
        for n in part.stripTies().flatten().notes:
            if isinstance(n, chord.Chord):
                break
            if n.duration.isGrace or n.quarterLength <= 0:
                continue
            notes.append((float(n.offset), float(n.quarterLength), int(n.pitch.midi)))
        else:
            onsets = np.array([n[0] for n in notes])
            ends = onsets + np.array([n[1] for n in notes])
            if len(notes) >= MIN_MELODY_NOTES and np.all(onsets[1:] >= ends[:-1] - 1e-6):
                melodies.append(Melody(path, index, tuple(notes)))
    return tuple(melodies)


def draw_melodies(heldout: bool, rng: np.random.Generator, low: int, high: int) -> Iterator[tuple[Melody, int]]:
    """(melody, transposition in semitones) that fit [low, high], each piece at most once, in seeded order."""
    pool = corpus_pool(heldout)
    weights = TRAINING_SOURCES if not heldout else HELDOUT_SOURCES
    order = {source: list(rng.permutation(len(paths))) for source, paths in pool.items()}
    sources = list(pool)
    p = np.array([weights[s] for s in sources])
    for _ in range(MAX_DRAWS):
        open_sources = [i for i, s in enumerate(sources) if order[s]]
        if not open_sources:
            return
        source = sources[rng.choice(open_sources, p=p[open_sources] / p[open_sources].sum())]
        path = pool[source][order[source].pop()]
        fitting = [m for m in monophonic_parts(path) if m.high - m.low <= high - low]
        if not fitting:
            continue
        melody = fitting[rng.integers(len(fitting))]
        yield melody, int(rng.integers(low - melody.low, high - melody.high + 1))


# --- material ------------------------------------------------------------------------------------------


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _velocity(rng: np.random.Generator, base: float, spread: float = 8.0) -> int:
    return int(np.clip(round(base + rng.normal(0.0, spread)), 20, 127))


def _wandering_expression(rng: np.random.Generator, seconds: float) -> list[tuple[float, float]]:
    """CC11 breakpoints every 1.5-5 s: slow crescendos and decrescendos over a phrase."""
    points, t = [], 0.0
    while t < seconds:
        points.append((t, _uniform(rng, 45, 127)))
        t += _uniform(rng, 1.5, 5.0)
    return points + [(seconds, _uniform(rng, 45, 127))]


def _vibrato(rng: np.random.Generator, note: Note, depth: tuple[float, float]) -> Vibrato:
    return Vibrato(note.start, note.end, _uniform(rng, 4.5, 6.5), _uniform(rng, *depth), _uniform(rng, 0.08, 0.3))


def melody_performance(
    melody: Melody, transpose: int, rng: np.random.Generator, max_seconds: float, vibrato: bool
) -> Performance | None:
    """A melody at a drawn tempo, articulation and dynamics, cut at a note end before max_seconds.

    None if the melody is shorter than the shortest file.
    """
    median_q = float(np.median([n[1] for n in melody.notes]))
    seconds_per_quarter = float(np.clip(_uniform(rng, 0.16, 0.45) / median_q, 60 / 220, 60 / 40))
    legato = _uniform(rng, 0.75, 0.97)
    base_velocity = _uniform(rng, 45, 115)
    first = melody.notes[0][0]
    notes = []
    for onset_q, duration_q, pitch in melody.notes:
        start = LEAD_IN_S + (onset_q - first) * seconds_per_quarter
        duration = duration_q * seconds_per_quarter
        end = start + max(duration - min(duration * (1 - legato), 0.12), 0.05)
        if end + TAIL_S > max_seconds:
            break
        notes.append(Note(pitch + transpose, start, end, _velocity(rng, base_velocity)))
    if not notes or notes[-1].end + TAIL_S < FILE_SECONDS[0]:
        return None
    vibratos = []
    if vibrato and rng.random() < 0.7:
        depth = (_uniform(rng, 5, 15), _uniform(rng, 20, 40))
        vibratos = [_vibrato(rng, n, depth) for n in notes if n.end - n.start >= 0.35]
    info = {"piece": melody.piece, "part": melody.part, "transpose": transpose,
            "bpm": round(60 / seconds_per_quarter, 2), "legato": round(legato, 3)}
    return Performance(notes, _wandering_expression(rng, notes[-1].end + TAIL_S), int(rng.integers(95, 128)),
                       vibratos, info)


def _run_pitches(intervals: tuple[int, ...], tonic: int, octaves: int) -> list[int]:
    """Up from the tonic through `octaves` octaves of the pattern and back down."""
    up = [tonic + 12 * o + i for o in range(octaves) for i in intervals] + [tonic + 12 * octaves]
    return up + up[-2::-1]


def pattern_performance(
    kind: str, instrument: Instrument, rng: np.random.Generator, target_seconds: float
) -> Performance:
    """Scales ("scale") or arpeggios ("arpeggio") over the instrument's range, runs separated by rests.

    Each run has its tempo, legato and dynamic shape (crescendo up, decrescendo down, or the reverse);
    its top and last notes are held, with vibrato where the instrument uses it.
    """
    patterns = SCALES if kind == "scale" else ARPEGGIOS
    notes, expression, vibratos, runs = [], [(0.0, 90.0)], [], []
    t = LEAD_IN_S
    while True:
        name = sorted(patterns)[rng.integers(len(patterns))]
        span = instrument.high - instrument.low
        octaves = 2 if span >= 24 and rng.random() < 0.5 else 1
        tonic = int(rng.integers(instrument.low, instrument.high - 12 * octaves + 1))
        pitches = _run_pitches(patterns[name], tonic, octaves)
        step = min(_uniform(rng, 0.12, 0.45), MAX_RUN_S / (len(pitches) + 4))  # two notes held 3 steps
        if t + step * (len(pitches) + 4) + TAIL_S > target_seconds and t + TAIL_S >= FILE_SECONDS[0]:
            break
        legato = _uniform(rng, 0.7, 0.97)
        base_velocity = _uniform(rng, 40, 120)
        quiet, loud = _uniform(rng, 40, 90), _uniform(rng, 100, 127)
        swell = rng.random() < 0.7
        top = len(pitches) // 2
        run_start = t
        for i, pitch in enumerate(pitches):
            hold = 3.0 if i in (top, len(pitches) - 1) else 1.0
            note = Note(pitch, t, t + step * hold * legato, _velocity(rng, base_velocity, 6.0))
            notes.append(note)
            if hold > 1 and instrument.vibrato and rng.random() < 0.5:
                vibratos.append(_vibrato(rng, note, (10.0, 35.0)))
            t += step * hold
        top_time = notes[-len(pitches) + top].start
        expression += [(run_start, quiet if swell else loud), (top_time, loud if swell else quiet),
                       (t, quiet if swell else loud)]
        runs.append({"pattern": name, "tonic": tonic, "octaves": octaves, "step_s": round(step, 3)})
        t += _uniform(rng, 0.3, 0.9)
    return Performance(notes, expression, int(rng.integers(95, 128)), vibratos, {"runs": runs})


def _pitch_cycle(instrument: Instrument, rng: np.random.Generator) -> Iterator[int]:
    """Every note of the range in shuffled rounds, so that long tones cover it evenly."""
    while True:
        yield from (int(p) for p in rng.permutation(np.arange(instrument.low, instrument.high + 1)))


LONG_TONE_SHAPES = {  # CC11 at the note's start, middle and end
    "crescendo": ((25, 50), (70, 100), (115, 127)),
    "decrescendo": ((115, 127), (70, 100), (25, 50)),
    "swell": ((30, 60), (110, 127), (30, 60)),
    "steady": ((60, 127),) * 3,
}


def long_tone_performance(
    instrument: Instrument, rng: np.random.Generator, target_seconds: float, pitches: Iterator[int]
) -> Performance:
    """Held notes of 1.2-4 s across the range, each with its own velocity and CC11 shape, half with vibrato."""
    notes, expression, vibratos, shapes = [], [], [], []
    t = LEAD_IN_S
    while True:
        duration = _uniform(rng, 1.2, 4.0)
        if t + duration + TAIL_S > target_seconds and t + TAIL_S >= FILE_SECONDS[0]:
            break
        note = Note(next(pitches), t, t + duration, int(rng.integers(30, 128)))
        shape = sorted(LONG_TONE_SHAPES)[rng.integers(len(LONG_TONE_SHAPES))]
        levels = [_uniform(rng, *r) for r in LONG_TONE_SHAPES[shape]]
        if shape == "steady":
            levels = [levels[0]] * 3
        if expression:
            expression.append((t - 0.01, expression[-1][1]))
        expression += [(t, levels[0]), (t + duration / 2, levels[1]), (t + duration, levels[2])]
        notes.append(note)
        shapes.append(shape)
        if instrument.vibrato and rng.random() < 0.5:
            vibratos.append(_vibrato(rng, note, (10.0, 40.0)))
        t += duration + _uniform(rng, 0.3, 0.8)
    return Performance(notes, expression, int(rng.integers(95, 128)), vibratos, {"shapes": shapes})


# --- rendering -----------------------------------------------------------------------------------------


def _expression_values(performance: Performance, times: np.ndarray) -> np.ndarray:
    t, v = zip(*performance.expression)
    return np.clip(np.round(np.interp(times, t, v)), 0, 127).astype(int)


def midi_events(performance: Performance, sample_rate: int) -> list[tuple[int, int, str, int, int]]:
    """(sample, order, kind, data1, data2) sorted; at one sample: note-off, CC, pitch bend, note-on."""
    events = []
    for n in performance.notes:
        events.append((round(n.start * sample_rate), 3, "on", n.pitch, n.velocity))
        events.append((round(n.end * sample_rate), 0, "off", n.pitch, 0))
    times = np.arange(0.0, performance.seconds, CONTROL_PERIOD_S)
    values = _expression_values(performance, times)
    for i in np.flatnonzero(np.diff(values, prepend=-1)):
        events.append((round(times[i] * sample_rate), 1, "cc", CC_EXPRESSION, int(values[i])))
    for v in performance.vibrato:
        t = np.arange(v.start, v.end, CONTROL_PERIOD_S)
        depth = v.depth_cents * np.clip((t - v.start - v.onset_s) / VIBRATO_FADE_S, 0.0, 1.0)
        cents = depth * np.sin(2 * np.pi * v.rate_hz * (t - v.start))
        bend = np.clip(np.round(cents / BEND_RANGE_CENTS * BEND_FULL_SCALE), -BEND_FULL_SCALE, BEND_FULL_SCALE - 1)
        events += [(round(ti * sample_rate), 2, "bend", int(b), 0) for ti, b in zip(t, bend)]
        events.append((round(v.end * sample_rate), 2, "bend", 0, 0))
    return sorted(events)


class FluidRenderer:
    """FluidSynth with the soundfont, reverb and chorus off. Every render gets a new synth: one that has
    played before starts its next first note slightly differently (state left in its voices).

    FluidSynth applies events between its 64-sample blocks, so note times are exact to 64 samples.
    """

    def __init__(self, sample_rate: int = DATA_SAMPLE_RATE, soundfont: str | os.PathLike = SOUNDFONT):
        import fluidsynth

        soundfont = Path(soundfont)
        if not soundfont.is_file():
            raise FileNotFoundError(
                f"the soundfont '{soundfont}' is missing; install it (Debian/Ubuntu: "
                f"`sudo apt install fluid-soundfont-gm`) or pass --soundfont PATH.")
        self.sample_rate = int(sample_rate)
        self.soundfont = soundfont
        # pyfluidsynth only wraps the 16-bit output; the float one has no dither and no clipping.
        self._lib = ctypes.CDLL(fluidsynth.lib)
        self._lib.fluid_synth_write_float.argtypes = [ctypes.c_void_p, ctypes.c_int] + [
            ctypes.c_void_p, ctypes.c_int, ctypes.c_int] * 2
        self._lib.fluid_version_str.restype = ctypes.c_char_p
        self.fluidsynth_version = self._lib.fluid_version_str().decode()
        self._gains: dict[int, float] = {}

    @contextlib.contextmanager
    def _synth(self) -> Iterator[tuple[object, int]]:
        import fluidsynth

        synth = fluidsynth.Synth(samplerate=float(self.sample_rate), gain=0.2,
                                 **{"synth.reverb.active": 0, "synth.chorus.active": 0})
        try:
            sfid = synth.sfload(str(self.soundfont))
            if sfid < 0:
                raise ValueError(f"FluidSynth could not load '{self.soundfont}' as a soundfont.")
            yield synth, sfid
        finally:
            synth.delete()

    def preset_name(self, program: int) -> str:
        with self._synth() as (synth, sfid):
            return synth.sfpreset_name(sfid, 0, program) or f"program {program}"

    def render_raw(self, performance: Performance, program: int) -> np.ndarray:
        """[samples] float32 at FluidSynth's own level (gain 0.2), mono (L + R) / 2."""
        with self._synth() as (s, sfid):

            def write(n: int) -> np.ndarray:
                left, right = np.zeros(n, np.float32), np.zeros(n, np.float32)
                if n and self._lib.fluid_synth_write_float(s.synth, n, left.ctypes.data, 0, 1,
                                                           right.ctypes.data, 0, 1) != 0:
                    raise RuntimeError("FluidSynth failed to render audio")
                return 0.5 * (left + right)

            s.program_select(0, sfid, 0, program)
            s.cc(0, CC_VOLUME, performance.volume)
            s.cc(0, CC_EXPRESSION, int(_expression_values(performance, np.zeros(1))[0]))
            chunks, position = [], 0
            for sample, _, kind, a, b in midi_events(performance, self.sample_rate):
                if sample > position:
                    chunks.append(write(sample - position))
                    position = sample
                if kind == "on":
                    s.noteon(0, a, b)
                elif kind == "off":
                    s.noteoff(0, a)
                elif kind == "cc":
                    s.cc(0, a, b)
                else:
                    s.pitch_bend(0, a)
            chunks.append(write(max(round(performance.seconds * self.sample_rate) - position, 0)))
        return np.concatenate(chunks)

    def gain(self, instrument: Instrument) -> float:
        """One fixed gain per instrument, so that every set of it shares a level: the loudest of five probe
        notes across its range (velocity, CC7, CC11 at 127) peaks at PROBE_PEAK_DBFS."""
        if instrument.program not in self._gains:
            pitches = np.linspace(instrument.low, instrument.high, 5).round().astype(int)
            notes = [Note(int(p), LEAD_IN_S + 1.5 * i, LEAD_IN_S + 1.5 * i + 1.0, 127) for i, p in enumerate(pitches)]
            probe = self.render_raw(Performance(notes, [(0.0, 127.0)], 127), instrument.program)
            self._gains[instrument.program] = 10 ** (PROBE_PEAK_DBFS / 20) / float(np.max(np.abs(probe)))
        return self._gains[instrument.program]

    def render(self, performance: Performance, instrument: Instrument) -> np.ndarray:
        """[samples] float32 mono at the instrument's fixed gain, within [-1, 1]."""
        audio = self.render_raw(performance, instrument.program) * self.gain(instrument)
        return np.clip(audio, -1.0, 1.0)


# --- sets on disk --------------------------------------------------------------------------------------


def _rng(seed: int, *names: str | int) -> np.random.Generator:
    return np.random.default_rng([seed] + [zlib.crc32(str(n).encode()) for n in names])


def _notes_json(performance: Performance, sample_rate: int) -> list[list]:
    """[[pitch, start_s, end_s, velocity], ...] at the sample the events were sent."""
    def at(t: float) -> float:
        return round(round(t * sample_rate) / sample_rate, 6)

    return [[n.pitch, at(n.start), at(n.end), n.velocity] for n in performance.notes]


def _write_json(path: Path, data: dict) -> None:
    """Indented, with innermost lists (a note, a range) on one line; atomic."""
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]",
                  json.dumps(data, indent=1))
    write_text(path, text + "\n")


def _clear_previous_render(out_dir: Path) -> None:
    """Make out_dir ready: remove the files of an earlier render there, refuse a folder of other audio."""
    from tonemorph.engine.render import AUDIO_SUFFIXES

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST
    if manifest.is_file():
        try:
            files = json.loads(manifest.read_text())["files"]
            listed = [name for f in files for name in ([f["file"]] if "file" in f else f["audio"].values())]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ValueError(f"'{manifest}' is not a tonemorph soundfont manifest; choose an empty folder.") from None
        for name in listed:
            (out_dir / name).unlink(missing_ok=True)
        for sub in sorted({Path(n).parent for n in listed if Path(n).parent != Path(".")}, reverse=True):
            if (out_dir / sub).is_dir() and not any((out_dir / sub).iterdir()):
                (out_dir / sub).rmdir()
        manifest.unlink()
    foreign = [p for p in out_dir.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES]
    if foreign:
        raise ValueError(f"'{out_dir}' already holds audio that this script did not render ({foreign[0].name}, ...); "
                         f"choose an empty or new folder so nothing of yours is overwritten.")


def _header(kind: str, renderer: FluidRenderer, seed: int, minutes: float, instruments: list[Instrument]) -> dict:
    return {
        "format": MANIFEST_FORMAT,
        "kind": kind,
        "soundfont": str(renderer.soundfont),
        "fluidsynth": renderer.fluidsynth_version,
        "sample_rate": renderer.sample_rate,
        "seed": seed,
        "minutes": round(minutes, 3),
        "instruments": {i.name: {"program": i.program, "gm_program": i.gm_program,
                                 "preset": renderer.preset_name(i.program), "range": [i.low, i.high],
                                 "gain": renderer.gain(i)} for i in instruments},
        "heldout_rule": f"pieces of {sorted(HELDOUT_SOURCES)} with crc32(piece_key) % {HELDOUT_EVERY} == 0",
        "note_columns": ["midi_pitch", "start_s", "end_s", "velocity"],
    }


def _instrument(name: str) -> Instrument:
    if name not in INSTRUMENTS:
        raise ValueError(f"unknown instrument '{name}'; choose one of {', '.join(INSTRUMENTS)}.")
    return INSTRUMENTS[name]


def _melody_performances(
    heldout: bool, rng: np.random.Generator, low: int, high: int, vibrato: bool
) -> Iterator[Performance]:
    for melody, transpose in draw_melodies(heldout, rng, low, high):
        performance = melody_performance(melody, transpose, rng, _uniform(rng, 15.0, 35.0), vibrato)
        if performance is not None:
            yield performance


def _material(kind: str, instrument: Instrument, rng: np.random.Generator) -> Iterator[Performance]:
    """Endless performances of one kind (melodies end when the corpus runs out of fitting ones)."""
    if kind == "melody":
        yield from _melody_performances(False, rng, instrument.low, instrument.high, instrument.vibrato)
        return
    pitches = _pitch_cycle(instrument, rng)
    while True:
        target_seconds = _uniform(rng, *PATTERN_FILE_SECONDS)
        if kind == "long_tone":
            yield long_tone_performance(instrument, rng, target_seconds, pitches)
        else:
            yield pattern_performance(kind, instrument, rng, target_seconds)


def training_performances(instrument: Instrument, minutes: float, seed: int) -> Iterator[tuple[str, Performance]]:
    """(kind, performance) for a training set: each kind until its share of the minutes is filled (at least
    one file of each).

    Every kind draws from its own seeded Generator, so the first files of a longer set are a shorter set's.
    """
    for kind, share in MATERIAL_MIX.items():
        budget = share * minutes * 60.0
        done = 0.0
        for performance in _material(kind, instrument, _rng(seed, instrument.name, kind)):
            if done and done + performance.seconds / 2 > budget:  # the first, and any that fits half or more
                break
            yield kind, performance
            done += performance.seconds
        else:
            raise RuntimeError(f"the corpus ran out of melodies that fit {instrument.name} after {done:.0f} s")


def render_training_set(
    instrument: str,
    out_dir: str | os.PathLike,
    *,
    minutes: float = TRAINING_MINUTES,
    seed: int = 0,
    sample_rate: int = DATA_SAMPLE_RATE,
    soundfont: str | os.PathLike = SOUNDFONT,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Render `minutes` of melodies, scales, arpeggios and long tones of one instrument into out_dir.

    Writes <kind>-NNN.wav (mono, 16-bit) and manifest.json; returns the manifest.
    """
    inst = _instrument(instrument)
    out_dir = Path(out_dir)
    _clear_previous_render(out_dir)
    renderer = FluidRenderer(sample_rate, soundfont)
    manifest = _header("training", renderer, seed, minutes, [inst]) | {"instrument": inst.name, "files": []}
    counts: dict[str, int] = {}
    for kind, performance in training_performances(inst, minutes, seed):
        name = f"{kind}-{counts.setdefault(kind, 0):03d}.wav"
        counts[kind] += 1
        _write_wav(out_dir / name, renderer.render(performance, inst), sample_rate)
        manifest["files"].append({"file": name, "kind": kind, "seconds": round(performance.seconds, 3),
                                  **performance.info, "vibrato_notes": len(performance.vibrato),
                                  "notes": _notes_json(performance, sample_rate)})
        if log:
            log(f"{out_dir / name}  ({performance.seconds:.1f} s)")
    manifest["pieces"] = sorted({f["piece"] for f in manifest["files"] if "piece" in f})
    _write_json(out_dir / MANIFEST, manifest)
    return manifest


def render_heldout_set(
    instrument: str,
    out_dir: str | os.PathLike,
    *,
    minutes: float = HELDOUT_MINUTES,
    seed: int = 0,
    sample_rate: int = DATA_SAMPLE_RATE,
    soundfont: str | os.PathLike = SOUNDFONT,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Held-out melodies (pieces no training set uses), each rendered by the instrument into
    out_dir/<instrument>/ and note for note by the nylon guitar into out_dir/guitar/.

    The melodies sit where both ranges meet and have no vibrato, so the manifest's MIDI pitches are the
    true f0 of both renders. Returns the manifest.
    """
    inst, guitar = _instrument(instrument), INSTRUMENTS[GUITAR]
    if inst.name == GUITAR:
        raise ValueError("the held-out set pairs an instrument with the guitar; choose an instrument other than it.")
    out_dir = Path(out_dir)
    _clear_previous_render(out_dir)
    low, high = max(inst.low, guitar.low), min(inst.high, guitar.high)
    rng = _rng(seed, inst.name, "heldout")
    renderer = FluidRenderer(sample_rate, soundfont)
    manifest = _header("heldout", renderer, seed, minutes, [inst, guitar]) | {
        "instrument": inst.name, "guitar": guitar.name, "files": []}
    done = 0.0
    for i, performance in enumerate(_melody_performances(True, rng, low, high, vibrato=False)):
        if done >= minutes * 60.0:
            break
        audio = {}
        for voice in (inst, guitar):
            audio[voice.name] = f"{voice.name}/melody-{i:03d}.wav"
            (out_dir / voice.name).mkdir(exist_ok=True)
            _write_wav(out_dir / audio[voice.name], renderer.render(performance, voice), sample_rate)
        manifest["files"].append({"kind": "melody", "audio": audio, "seconds": round(performance.seconds, 3),
                                  **performance.info, "notes": _notes_json(performance, sample_rate)})
        done += performance.seconds
        if log:
            log(f"{out_dir / audio[inst.name]} + guitar  ({performance.seconds:.1f} s)")
    manifest["pieces"] = sorted({f["piece"] for f in manifest["files"]})
    _write_json(out_dir / MANIFEST, manifest)
    return manifest


def render_demo(
    path: str | os.PathLike,
    *,
    instrument: str = GUITAR,
    fits: str = "trumpet",
    seed: int = 0,
    sample_rate: int = DEMO_SAMPLE_RATE,
    soundfont: str | os.PathLike = SOUNDFONT,
) -> dict:
    """A DEMO_SECONDS held-out melody played by `instrument` in the range it shares with `fits`.

    Writes the WAV (mono 16-bit) and a JSON beside it with the notes; returns that JSON's content.
    """
    inst, target = _instrument(instrument), _instrument(fits)
    low, high = max(inst.low, target.low), min(inst.high, target.high)
    rng = _rng(seed, "demo")
    for melody, transpose in draw_melodies(True, rng, low, high):
        performance = melody_performance(melody, transpose, rng, _uniform(rng, *DEMO_SECONDS), vibrato=False)
        if performance is not None and DEMO_SECONDS[0] <= performance.seconds <= DEMO_SECONDS[1]:
            break
    else:
        raise RuntimeError("no held-out melody fits the demo clip")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    renderer = FluidRenderer(sample_rate, soundfont)
    _write_wav(path, renderer.render(performance, inst), sample_rate)
    manifest = _header("demo", renderer, seed, performance.seconds / 60, [inst]) | {
        "instrument": inst.name, "fits": target.name,
        "files": [{"file": path.name, "kind": "melody", "seconds": round(performance.seconds, 3),
                   **performance.info, "notes": _notes_json(performance, sample_rate)}]}
    _write_json(path.with_suffix(".json"), manifest)
    return manifest


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    from tonemorph.engine.render import write_audio

    write_audio(path, audio[None, :], sample_rate)  # pedalboard writes 16-bit WAV by default


# --- command line --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tonemorph.training.soundfont",
        description="Render training audio from the FluidR3 General MIDI soundfont: melodies from music21's "
                    "corpus, scales, arpeggios and long tones with vibrato and crescendos, dry (no reverb).",
    )
    parser.add_argument("instrument", choices=[*INSTRUMENTS, "all"],
                        help="what to render; 'all' renders every bundled instrument's training and held-out "
                             "sets (and the guitar's training set) into OUT_DIR/<name> and OUT_DIR/heldout/<name>")
    parser.add_argument("out_dir", help="folder to write into (an earlier render there is replaced)")
    parser.add_argument("--minutes", type=float, default=None,
                        help=f"minutes of audio (default {TRAINING_MINUTES:g}, or {HELDOUT_MINUTES:g} with --heldout)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed renders the same files (default 0)")
    parser.add_argument("--heldout", action="store_true",
                        help="render held-out melodies (pieces no training set uses), by the instrument and by "
                             "the guitar, note for note, for the eval")
    parser.add_argument("--demo", action="store_true",
                        help="render the 10-15 s demo clip OUT_DIR/<instrument>.wav (44.1 kHz) in the trumpet's range")
    parser.add_argument("--sample-rate", type=int, default=DATA_SAMPLE_RATE, help="Hz (default 48000)")
    parser.add_argument("--soundfont", default=str(SOUNDFONT), help=f"the .sf2 file (default {SOUNDFONT})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out_dir)
    common = {"seed": args.seed, "sample_rate": args.sample_rate, "soundfont": args.soundfont, "log": print}
    started = time.perf_counter()
    try:
        if args.demo:
            demo = render_demo(out / f"{args.instrument}.wav", instrument=args.instrument, seed=args.seed,
                               soundfont=args.soundfont)
            print(f"{out / demo['files'][0]['file']}  ({demo['files'][0]['seconds']:.1f} s, {demo['files'][0]['piece']})")
        elif args.instrument == "all":
            for name in (*BUNDLED, GUITAR):
                render_training_set(name, out / name, minutes=args.minutes or TRAINING_MINUTES, **common)
            for name in BUNDLED:
                render_heldout_set(name, out / "heldout" / name, minutes=HELDOUT_MINUTES, **common)
        elif args.heldout:
            render_heldout_set(args.instrument, out, minutes=args.minutes or HELDOUT_MINUTES, **common)
        else:
            render_training_set(args.instrument, out, minutes=args.minutes or TRAINING_MINUTES, **common)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
