"""Melodies from music21's bundled corpus as melody_rnn-style event sequences, split by tune, cached.

Encoding (one event per sixteenth-note step, as Magenta's melody_rnn):
    0            NO_EVENT   nothing happens: the sounding note holds, or the rest goes on
    1            NOTE_OFF   the sounding note ends
    2 + p - 48   note-on of MIDI pitch p, 48 <= p <= 84 (a new note ends the one before)
START (= NUM_EVENTS) is an input-only token that begins every sequence, so Generate can start from nothing.

Steps are sixteenth notes whatever the metre: a bar of 4/4 is 16 steps, 3/4 is 12, 6/8 is 12. Onsets and
ends are rounded to the nearest step (triplets and 32nds move; of notes that land on one step the highest
is kept, as melody_rnn does). A tune is transposed by octaves into 48..84; a tune wider than that is skipped.
Training draws each crop in a random key, a shift of -6..+5 semitones that keeps the tune in range.

Tunes: every monophonic part of a fiddle or folk tune (a chord in it gives its top note, overlaps are cut
at the next onset), and the soprano line of each Bach chorale. Identical tunes up to transposition (a chorale
melody harmonised twice) are kept once. The split is by tune: crc32 of the tune's name decides, so a tune and
all its transpositions are on one side only.
"""

from __future__ import annotations

import json
import os
import warnings
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tonemorph.atomic import atomic_open

MIN_PITCH = 48
MAX_PITCH = 84
NO_EVENT = 0
NOTE_OFF = 1
FIRST_NOTE_ON = 2
NUM_PITCHES = MAX_PITCH - MIN_PITCH + 1
NUM_EVENTS = FIRST_NOTE_ON + NUM_PITCHES  # the model's output classes
START = NUM_EVENTS  # input only
NUM_INPUTS = NUM_EVENTS + 1
STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16  # in 4/4
TRANSPOSITIONS = tuple(range(-6, 6))
MIN_TUNE_NOTES = 8
VALIDATION_EVERY = 10  # crc32(tune) % 10 == 0 -> validation
DATA_VERSION = 1
# corpus folder -> how many of its files to read (None: all). The Essen collection is a few very large
# files of about 300 songs each (15 s to parse apiece); a quarter of them keeps the data build near 5 min.
SOURCES: dict[str, int | None] = {"ryansMammoth": None, "oneills1850": None, "bach": None, "essenFolksong": 8}
SOPRANO_ONLY = ("bach",)

Note = tuple[float, float, int]  # onset and duration in quarter notes, MIDI pitch


@dataclass
class MelodyData:
    """Event sequences of whole tunes: events[offsets[i]:offsets[i + 1]] is tune i (names[i])."""

    events: np.ndarray  # [total steps] int8
    offsets: np.ndarray  # [tunes + 1] int64
    names: list[str]
    validation: np.ndarray  # [tunes] bool
    meta: dict

    def __len__(self) -> int:
        return len(self.names)

    def tune(self, i: int) -> np.ndarray:
        return self.events[self.offsets[i] : self.offsets[i + 1]]

    def side(self, validation: bool) -> list[np.ndarray]:
        return [self.tune(i) for i in range(len(self)) if bool(self.validation[i]) == validation]

    def summary(self) -> dict:
        lengths = np.diff(self.offsets)
        out = {}
        for label, flag in (("train", False), ("validation", True)):
            chosen = self.validation == flag
            out[f"{label}_tunes"] = int(chosen.sum())
            out[f"{label}_steps"] = int(lengths[chosen].sum())
        return out


# --- encoding -------------------------------------------------------------------------------------------


def note_on(pitch: int) -> int:
    return FIRST_NOTE_ON + pitch - MIN_PITCH


def quantise(notes: Iterable[Note]) -> list[tuple[int, int, int]]:
    """(onset, duration, pitch) in quarter notes -> (start step, end step, pitch), monophonic.

    Onsets and ends round to the nearest sixteenth; of notes that start on one step the highest is kept; a
    note is cut where the next one starts; a note that rounds to no length lasts one step.
    """
    by_step: dict[int, tuple[int, int]] = {}
    for onset, duration, pitch in notes:
        start = round(onset * STEPS_PER_QUARTER)
        end = max(start + 1, round((onset + duration) * STEPS_PER_QUARTER))
        if start not in by_step or pitch > by_step[start][1]:
            by_step[start] = (end, pitch)
    starts = sorted(by_step)
    out = []
    for k, start in enumerate(starts):
        end, pitch = by_step[start]
        if k + 1 < len(starts):
            end = min(end, starts[k + 1])
        out.append((start, end, pitch))
    return out


def encode(steps: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """(start step, end step, pitch), monophonic and sorted, pitches in range -> events [steps] int8.

    The sequence starts at step 0 (leading rests are NO_EVENT) and ends with the last note's NOTE_OFF.
    """
    if not steps:
        return np.zeros(0, np.int8)
    events = np.full(steps[-1][1] + 1, NO_EVENT, np.int8)
    for k, (start, end, pitch) in enumerate(steps):
        if not MIN_PITCH <= pitch <= MAX_PITCH:
            raise ValueError(f"pitch {pitch} is outside {MIN_PITCH}..{MAX_PITCH}")
        events[start] = note_on(pitch)
        if k + 1 == len(steps) or steps[k + 1][0] > end:
            events[end] = NOTE_OFF
    return events


def decode(events: Sequence[int]) -> list[tuple[int, int, int]]:
    """events -> (start step, end step, pitch): a note lasts until the next note-on or note-off."""
    notes: list[tuple[int, int, int]] = []
    sounding: tuple[int, int] | None = None  # (start, pitch)
    for step, event in enumerate(int(e) for e in events):
        if event != NO_EVENT and sounding is not None:
            notes.append((sounding[0], step, sounding[1]))
            sounding = None
        if event >= FIRST_NOTE_ON:
            sounding = (step, MIN_PITCH + event - FIRST_NOTE_ON)
    if sounding is not None:
        notes.append((sounding[0], len(events), sounding[1]))
    return notes


def fit_range(steps: list[tuple[int, int, int]]) -> list[tuple[int, int, int]] | None:
    """Shift by octaves into MIN_PITCH..MAX_PITCH (as near the middle as it goes); None if the tune is wider."""
    low, high = min(s[2] for s in steps), max(s[2] for s in steps)
    if high - low > MAX_PITCH - MIN_PITCH:
        return None
    shift = 12 * round(((MIN_PITCH + MAX_PITCH) / 2 - (low + high) / 2) / 12)
    while low + shift < MIN_PITCH:
        shift += 12
    while high + shift > MAX_PITCH:
        shift -= 12
    if low + shift < MIN_PITCH:
        return None
    return [(a, b, p + shift) for a, b, p in steps]


def transpose(events: np.ndarray, semitones: int) -> np.ndarray | None:
    """The events in another key; None if a note would leave the range."""
    on = events >= FIRST_NOTE_ON
    if not on.any() or semitones == 0:
        return events
    shifted = events.astype(np.int16)
    shifted[on] += semitones
    if shifted[on].min() < FIRST_NOTE_ON or shifted[on].max() >= NUM_EVENTS:
        return None
    return shifted.astype(np.int8)


def transpositions(events: np.ndarray) -> list[int]:
    """The shifts of TRANSPOSITIONS that keep the tune in range (0 is always one)."""
    on = events[events >= FIRST_NOTE_ON].astype(int)
    if on.size == 0:
        return [0]
    return [k for k in TRANSPOSITIONS if on.min() + k >= FIRST_NOTE_ON and on.max() + k < NUM_EVENTS]


# --- the corpus -----------------------------------------------------------------------------------------


def top_line(part) -> list[Note]:
    """A music21 part's notes as one line: ties merged, grace notes dropped, a chord's top note."""
    from music21 import chord

    notes = []
    for n in part.stripTies().flatten().notes:
        if n.duration.isGrace or n.quarterLength <= 0:
            continue
        pitch = max(p.midi for p in n.pitches) if isinstance(n, chord.Chord) else n.pitch.midi
        notes.append((float(n.offset), float(n.quarterLength), int(pitch)))
    return notes


def tunes_in_file(path: str) -> list[tuple[str, list[Note]]]:
    """(tune name, notes) for each kept part of each score in a corpus file (an ABC file may hold hundreds)."""
    from music21 import corpus, stream

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = corpus.parse(path)
    except Exception:  # noqa: BLE001 -- music21 raises many types for the few corpus files it cannot read
        return []
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    soprano_only = path.split("/", 1)[0] in SOPRANO_ONLY
    out = []
    for s, score in enumerate(scores):
        parts = list(getattr(score, "parts", ())) or [score]
        for p, part in enumerate(parts[:1] if soprano_only else parts):
            try:
                notes = top_line(part)
            except Exception:  # noqa: BLE001, S112 -- a damaged tune inside a good file is skipped
                continue
            if len(notes) >= MIN_TUNE_NOTES:
                out.append((f"{path.rsplit('.', 1)[0]}#{s}.{p}", notes))
    return out


def corpus_files(sources: dict[str, int | None] = SOURCES) -> list[str]:
    from ..soundfont import corpus_paths

    files = []
    for source, limit in sources.items():
        found = [p for p in corpus_paths() if p.split("/", 1)[0] == source]
        seen: dict[str, str] = {}
        for p in found:  # bwv66.6.mxl and bwv66.6.krn are one chorale
            seen.setdefault(p.rsplit(".", 1)[0], p)
        chosen = sorted(seen.values())
        if limit is not None:
            chosen = chosen[:: max(1, len(chosen) // limit)][:limit]
        files.extend(chosen)
    return files


def is_validation(name: str) -> bool:
    return zlib.crc32(name.encode()) % VALIDATION_EVERY == 0


def build(files: Sequence[str], progress: Callable[[int, int], None] | None = None) -> MelodyData:
    """Read, quantise, encode and split the tunes of `files` (corpus paths). progress(done, total) per file."""
    sequences: list[np.ndarray] = []
    names: list[str] = []
    seen: set[bytes] = set()
    counts = {"files": len(files), "parts_read": 0, "too_wide": 0, "duplicates": 0}
    for done, path in enumerate(files, 1):
        for name, notes in tunes_in_file(path):
            counts["parts_read"] += 1
            steps = fit_range(quantise(notes))
            if steps is None:
                counts["too_wide"] += 1
                continue
            events = encode(steps)
            first = steps[0][2]  # a duplicate is the same tune in any key
            key = np.array([(a, b, p - first) for a, b, p in steps], np.int32).tobytes()
            if key in seen:
                counts["duplicates"] += 1
                continue
            seen.add(key)
            sequences.append(events)
            names.append(name)
        if progress is not None:
            progress(done, len(files))
    lengths = np.array([len(s) for s in sequences], np.int64)
    meta = {"version": DATA_VERSION, "sources": list(files), **counts}
    return MelodyData(
        events=np.concatenate(sequences) if sequences else np.zeros(0, np.int8),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        names=names,
        validation=np.array([is_validation(n) for n in names], bool),
        meta=meta,
    )


# --- the cache ------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """$TONEMORPH_CACHE, or `cache` beside the user model folder (as the training runs sit beside it)."""
    if env := os.environ.get("TONEMORPH_CACHE"):
        return Path(env).expanduser()
    from tonemorph.paths import user_models_dir

    return user_models_dir().parent / "cache"


def cache_path(files: Sequence[str]) -> Path:
    import music21

    key = zlib.crc32(json.dumps([DATA_VERSION, music21.__version__, list(files)]).encode())
    return cache_dir() / f"midi-melodies-v{DATA_VERSION}-{key:08x}.npz"


def save(data: MelodyData, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        np.savez(
            f,
            events=data.events,
            offsets=data.offsets,
            names=np.array(data.names),
            validation=data.validation,
            meta=np.array(json.dumps(data.meta)),
        )


def load(path: Path) -> MelodyData:
    with np.load(path, allow_pickle=False) as z:
        return MelodyData(
            z["events"],
            z["offsets"],
            [str(n) for n in z["names"]],
            z["validation"],
            json.loads(str(z["meta"])),
        )


def cached(
    path: Path, build: Callable[[], Any], save: Callable, load: Callable[[Path], Any], what: str
) -> Any:
    """load(path) if it reads, else build() saved to path (a damaged cache is made again); meta["cache"] says
    where. A cache that cannot be written is a warning, not an error."""
    if path.is_file():
        try:
            data = load(path)
            data.meta["cache"] = str(path)
            return data
        except (OSError, ValueError, KeyError):
            pass
    data = build()
    try:
        save(data, path)
        data.meta["cache"] = str(path)
    except OSError as e:
        warnings.warn(
            f"could not cache the {what} in {path} ({e}); it will be read again next time.", stacklevel=3
        )
    return data


def melody_data(
    files: Sequence[str] | None = None, progress: Callable[[int, int], None] | None = None
) -> MelodyData:
    """The melody data set, from the cache if it is there, else built (minutes) and cached."""
    files = corpus_files() if files is None else list(files)
    return cached(cache_path(files), lambda: build(files, progress), save, load, "melody data")
