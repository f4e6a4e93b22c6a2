"""Drum patterns from Debian packages as 9-class sixteenth-note grids, split by song or style, cached.

A pattern is a grid of sixteenth-note steps x the nine drum classes of Magenta's drums_rnn (CONTRACT.md):
    velocity  [steps, 9] uint8    MIDI velocity of the hit, 0 = no hit
    offset    [steps, 9] float32  where the hit fell against its step, in fractions of a step (-0.5..0.5)
Two hits of one class on one step are one hit (the louder, with its offset). The model's event for a step is
the bitmask of the classes hit (0..511, bit c = class c); START (512) is an input-only token.

Sources (docs/midi-data.md has the counts and licences):
- Hydrogen's demo songs (Debian `hydrogen-data`, and the song inside `hydrogen-drumkits`' Colombo kit):
  each song played through its pattern sequence (groups of patterns sounding together), 48 ticks a quarter.
  Instruments map to a class by their name (Hydrogen kits name them; their MIDI notes are often just 36, 37,
  38, ... in kit order), else by their MIDI note; an instrument neither names is dropped (counted).
- MMA's groove library (Debian `mma`, "Musical MIDI Accompaniment"): every groove of every style file,
  rendered by mma itself for BARS_PER_GROOVE bars with its random timing, volume and skip turned off (so
  what remains is the groove as written: its swing and triplet placements, its accents), channel 10 read
  back. Grooves choose among pattern variants at random (SeqRnd); a fixed RndSeed keeps that reproducible.

Neither source is human-played: Hydrogen's notes all have lead/lag 0 and sit on a 48-per-quarter grid (about
4 % off the sixteenths, on 32nds and triplets); MMA's offsets are its written swing and triplets. The offsets
are kept as the sources give them, for Groove to see what such data holds.

The split is by song (Hydrogen) or style file (MMA): crc32 of that name decides (as melody_data), so all the
grooves of one style, its intros, fills and endings, are on one side. Grids that are identical to an earlier
one (a groove that differs from another only in its non-drum tracks) are kept once.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tonemorph.atomic import atomic_open

from .melody_data import VALIDATION_EVERY, cache_dir, cached

CLASS_NAMES = (
    "kick",
    "snare",
    "closed hi-hat",
    "open hi-hat",
    "low tom",
    "mid tom",
    "high tom",
    "crash",
    "ride",
)
# GM drum notes of each class, as drums_rnn maps them; the first is the note written out.
CLASS_NOTES: tuple[tuple[int, ...], ...] = (
    (36, 35),
    (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),
    (42, 44, 54, 68, 69, 70, 71, 73, 78, 80),
    (46, 67, 72, 74, 79, 81),
    (45, 29, 41, 61, 64, 84),
    (48, 47, 60, 63, 77, 86, 87),
    (50, 30, 43, 62, 76, 83),
    (49, 55, 57, 58),
    (51, 52, 53, 59, 82),
)
NUM_CLASSES = len(CLASS_NOTES)
NOTE_CLASS = {note: c for c, notes in enumerate(CLASS_NOTES) for note in notes}
NUM_EVENTS = 1 << NUM_CLASSES  # 512: the model's output classes
START = NUM_EVENTS  # input only
NUM_INPUTS = NUM_EVENTS + 1
STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16  # in 4/4
MAX_OFFSET = 0.5
DATA_VERSION = 1

HYDROGEN_TICKS_PER_QUARTER = 48
HYDROGEN_LEAD_LAG_TICKS = 5  # Hydrogen plays a note's lead/lag (-1..1) as up to 5 ticks early or late
HYDROGEN_SONGS = (
    "/usr/share/hydrogen/data/demo_songs/*.h2song",
    "/usr/share/hydrogen/data/drumkits/*/*.h2song",
)
MMA_LIBRARY = Path("/usr/share/mma/lib")
BARS_PER_GROOVE = 8
MMA_SEED = 1
MMA_TIMEOUT_SECONDS = 300

# An instrument's name -> the GM note it plays, first match wins (so "ride-crash" is a ride, "tom hi" a high
# tom before "hi" could make it a hat). Words, lower case, matched at word starts.
NAME_NOTES: tuple[tuple[str, int], ...] = (
    (r"kick|bass ?drum|bassdrum|\bbd\b", 36),
    (r"rim ?shot", 40),
    (r"stick|\brim", 37),
    (r"clap", 39),
    (r"cowbell", 56),
    (r"clave", 75),
    (r"snare|\bredo", 38),
    (r"floor|tom ?low|low ?tom|tom ?3", 45),
    (r"tom ?mid|mid ?tom|tom ?2", 48),
    (r"tom ?hi|hi(gh)? ?tom|tom ?1|\btom", 50),
    (r"conga", 63),
    (r"ride", 51),
    (r"bell|cup", 53),
    (r"china", 52),
    (r"splash", 55),
    (r"crash|cymbal", 49),
    (r"pedal", 44),
    (r"semi|open", 46),
    (r"hat|\bhh", 42),
    (r"shaker|maraca", 82),
    (r"tambourine", 54),
)


@dataclass
class DrumPattern:
    """One song, groove or pattern as a grid (see the module docstring)."""

    name: str
    group: str  # what the split goes by: the song or the style file
    velocity: np.ndarray  # [steps, NUM_CLASSES] uint8
    offset: np.ndarray  # [steps, NUM_CLASSES] float32
    bpm: float
    steps_per_bar: int

    def events(self) -> np.ndarray:
        return encode(self.velocity)


# --- encoding -------------------------------------------------------------------------------------------


def drum_class(note: int) -> int | None:
    """The class of a GM drum note, None for notes outside the map."""
    return NOTE_CLASS.get(int(note))


def encode(velocity: np.ndarray) -> np.ndarray:
    """[steps, NUM_CLASSES] velocities (or hits) -> [steps] int16 events: bit c set where class c is hit."""
    bits = (np.asarray(velocity) > 0).astype(np.int16)
    return (bits << np.arange(NUM_CLASSES, dtype=np.int16)).sum(axis=1).astype(np.int16)


def decode(events: Sequence[int]) -> np.ndarray:
    """[steps] events -> [steps, NUM_CLASSES] bool hits."""
    events = np.asarray(events, np.int64)
    if events.size and (events.min() < 0 or events.max() >= NUM_EVENTS):
        raise ValueError(f"drum events are 0..{NUM_EVENTS - 1}; got {events.min()}..{events.max()}")
    return ((events[:, None] >> np.arange(NUM_CLASSES)) & 1).astype(bool)


def grid(hits: Iterable[tuple[float, int, int]], steps: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(position in steps, class, velocity 1..127) hits -> velocity [steps, 9] uint8, offset [steps, 9], dropped.

    Each hit goes to its nearest step, its offset the rest (-0.5..0.5); of two on one step and class the louder
    is kept; hits that round outside 0..steps-1 are dropped (counted).
    """
    velocity = np.zeros((steps, NUM_CLASSES), np.uint8)
    offset = np.zeros((steps, NUM_CLASSES), np.float32)
    dropped = 0
    for position, cls, vel in hits:
        step = int(np.floor(position + 0.5))
        if not 0 <= step < steps:
            dropped += 1
            continue
        vel = int(np.clip(round(vel), 1, 127))
        if vel > velocity[step, cls]:
            velocity[step, cls] = vel
            offset[step, cls] = np.clip(position - step, -MAX_OFFSET, MAX_OFFSET)
    return velocity, offset, dropped


# --- Hydrogen -------------------------------------------------------------------------------------------


def instrument_note(name: str, midi_note: int | None) -> int | None:
    """The GM note a Hydrogen instrument stands for: by its name, else its MIDI note if that is a drum note."""
    text = name.lower().replace("_", " ").replace("-", " ")
    for pattern, note in NAME_NOTES:
        if re.search(pattern, text):
            return note
    if midi_note is not None and midi_note in NOTE_CLASS:
        return midi_note
    return None


def _float(element: ET.Element, tag: str, default: float) -> float:
    text = element.findtext(tag)
    try:
        return float(text) if text is not None else default
    except ValueError:
        return default


@dataclass
class HydrogenSong:
    name: str
    bpm: float
    instruments: dict[str, int | None]  # instrument id -> class (None: not a drum we map)
    patterns: dict[
        str, tuple[int, list[tuple[int, float, str, float]]]
    ]  # name -> (ticks, [(tick, lead/lag, id, velocity 0..1)])
    sequence: list[list[str]]  # the song: each bar-long group names the patterns sounding together


def read_h2song(path: str | os.PathLike) -> HydrogenSong:
    """A Hydrogen song file (0.9.x or 1.x XML). ValueError for a file that is not one."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise ValueError(f"'{path}' is not a readable Hydrogen song ({e}).") from e
    if root.tag != "song":
        raise ValueError(f"'{path}' is not a Hydrogen song (its root element is <{root.tag}>, not <song>).")
    instruments: dict[str, int | None] = {}
    for inst in root.iterfind("instrumentList/instrument"):
        midi = inst.findtext("midiOutNote")
        note = instrument_note(
            inst.findtext("name") or "", int(midi) if midi and midi.strip().isdigit() else None
        )
        instruments[(inst.findtext("id") or "").strip()] = None if note is None else NOTE_CLASS[note]
    patterns = {}
    for pat in root.iterfind("patternList/pattern"):
        notes = [
            (
                int(_float(n, "position", 0)),
                _float(n, "leadlag", 0.0),
                (n.findtext("instrument") or "").strip(),
                _float(n, "velocity", 0.8),
            )
            for n in pat.iter("note")  # 1.x: noteList/note; 0.9: sequenceList/sequence/noteList/note
        ]
        patterns[(pat.findtext("name") or "").strip()] = (int(_float(pat, "size", 192)), notes)
    sequence = [
        [(p.text or "").strip() for p in group.iterfind("patternID")]
        for group in root.iterfind("patternSequence/group")
    ]
    return HydrogenSong(
        name=(root.findtext("name") or Path(path).stem).strip(),
        bpm=_float(root, "bpm", 120.0),
        instruments=instruments,
        patterns=patterns,
        sequence=[g for g in sequence if g],
    )


def _hydrogen_hits(notes, instruments, start_tick: int, counts: dict):
    ticks_per_step = HYDROGEN_TICKS_PER_QUARTER / STEPS_PER_QUARTER
    for tick, lead_lag, instrument, velocity in notes:
        cls = instruments.get(instrument)
        if cls is None:
            counts["unmapped_notes"] = counts.get("unmapped_notes", 0) + 1
            continue
        position = (start_tick + tick + lead_lag * HYDROGEN_LEAD_LAG_TICKS) / ticks_per_step
        yield position, cls, velocity * 127


def h2song_patterns(path: str | os.PathLike, counts: dict | None = None) -> list[DrumPattern]:
    """Each pattern of a Hydrogen song as its own grid (empty patterns left out)."""
    song = read_h2song(path)
    counts = {} if counts is None else counts
    out = []
    for name, (ticks, notes) in song.patterns.items():
        if not notes:
            continue
        steps = ticks * STEPS_PER_QUARTER // HYDROGEN_TICKS_PER_QUARTER
        velocity, offset, _ = grid(_hydrogen_hits(notes, song.instruments, 0, counts), steps)
        out.append(DrumPattern(f"{song.name}/{name}", song.name, velocity, offset, song.bpm, steps))
    return out


def h2song_arrangement(path: str | os.PathLike, counts: dict | None = None) -> DrumPattern | None:
    """The whole song as Hydrogen plays it: its pattern groups one after another (None if it has none).

    A group lasts as long as its longest pattern; a note that rounds past the end of its group moves into the
    next step, which is the next group's first.
    """
    song = read_h2song(path)
    counts = {} if counts is None else counts
    hits, tick = [], 0
    for group in song.sequence:
        known = [song.patterns[p] for p in group if p in song.patterns]
        for _, notes in known:
            hits.extend(_hydrogen_hits(notes, song.instruments, tick, counts))
        tick += max((ticks for ticks, _ in known), default=0)
    steps = tick * STEPS_PER_QUARTER // HYDROGEN_TICKS_PER_QUARTER
    if not hits or steps == 0:
        return None
    velocity, offset, dropped = grid(hits, steps)
    counts["dropped_hits"] = counts.get("dropped_hits", 0) + dropped
    bar = (
        max((t for t, _ in song.patterns.values()), default=192)
        * STEPS_PER_QUARTER
        // HYDROGEN_TICKS_PER_QUARTER
    )
    return DrumPattern(song.name, f"hydrogen:{song.name}", velocity, offset, song.bpm, bar)


def hydrogen_song_files(patterns: Sequence[str] = HYDROGEN_SONGS) -> list[str]:
    return sorted(f for p in patterns for f in glob.glob(p))


# --- MMA ------------------------------------------------------------------------------------------------


def mma_styles(library: Path = MMA_LIBRARY) -> dict[str, list[str]]:
    """{style file relative to the library, no suffix: [its grooves, in file order]}."""
    styles = {}
    for path in sorted(library.glob("*/*.mma")):
        names = re.findall(r"(?im)^\s*defgroove\s+(\S+)", path.read_text(errors="replace"))
        if names:
            styles[path.relative_to(library).with_suffix("").as_posix()] = list(dict.fromkeys(names))
    return styles


def _mma_source(style: str, grooves: Sequence[str], bars: int) -> str:
    lines = [f"RndSeed {MMA_SEED}"]
    for groove in grooves:
        lines += [
            f"MidiMark groove:{groove}",
            f"Groove {style}:{groove}",
            "AllTracks RTime 0",
            "AllTracks RVolume 0",
            "AllTracks RSkip 0",
        ]
        lines += ["C"] * bars
    return "\n".join(lines) + "\n"


def midi_drum_patterns(path: str | os.PathLike, group: str) -> list[DrumPattern]:
    """The channel-10 notes of a MIDI file as grids, one per stretch between markers named 'groove:NAME'.

    The steps are sixteenths of the file's quarter note; a stretch ends at the next marker or the file's end.
    """
    import mido

    midi = mido.MidiFile(os.fspath(path))
    tpq = midi.ticks_per_beat
    tick, bpm, numerator, denominator = 0, 120.0, 4, 4
    marks: list[tuple[int, str, float, int]] = []  # tick, name, bpm, steps per bar
    notes: list[tuple[int, int, int]] = []
    for message in mido.merge_tracks(midi.tracks):
        tick += message.time
        if message.type == "set_tempo":
            bpm = mido.tempo2bpm(message.tempo)
        elif message.type == "time_signature":
            numerator, denominator = message.numerator, message.denominator
        elif message.type == "marker" and message.text.startswith("groove:"):
            marks.append((tick, message.text.split(":", 1)[1], bpm, numerator * 16 // denominator))
        elif message.type == "note_on" and message.velocity > 0 and message.channel == 9:
            cls = drum_class(message.note)
            if cls is not None:
                notes.append((tick, cls, message.velocity))
    if not marks:
        marks = [(0, Path(path).stem, bpm, numerator * 16 // denominator)]
    out = []
    for k, (start, name, tempo, bar) in enumerate(marks):
        end = marks[k + 1][0] if k + 1 < len(marks) else tick  # the file's end
        chosen = [n for n in notes if start <= n[0] < end]
        if not chosen:
            continue
        steps = int(np.ceil((end - start) * STEPS_PER_QUARTER / tpq))
        velocity, offset, _ = grid(
            (((t - start) * STEPS_PER_QUARTER / tpq, c, v) for t, c, v in chosen), steps
        )
        out.append(DrumPattern(f"{group}:{name}", group, velocity, offset, tempo, bar))
    return out


def _run_mma(mma: str, work: Path, style: str, grooves: Sequence[str], bars: int) -> list[DrumPattern] | None:
    source, midi = work / "in.mma", work / "out.mid"
    source.write_text(_mma_source(style, grooves, bars))
    midi.unlink(missing_ok=True)
    try:
        subprocess.run(
            [mma, "-f", os.fspath(midi), os.fspath(source)],
            cwd=work,
            capture_output=True,
            timeout=MMA_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    return midi_drum_patterns(midi, f"mma:{style}") if midi.is_file() else None


def render_mma_style(style: str, grooves: Sequence[str], bars: int = BARS_PER_GROOVE) -> list[DrumPattern]:
    """The grooves of one MMA style file, rendered by mma; a groove mma refuses is left out.

    One mma run for the whole file; if it fails, one run per groove, so one broken groove costs only itself.
    """
    mma = shutil.which("mma")
    if mma is None:
        raise FileNotFoundError("mma is not installed (Debian package `mma`; scripts/setup.sh installs it).")
    with tempfile.TemporaryDirectory(prefix="tonemorph-mma-") as work:
        whole = _run_mma(mma, Path(work), style, grooves, bars)
        if whole is not None or len(grooves) == 1:
            return whole or []
        out = []
        for groove in grooves:
            out.extend(_run_mma(mma, Path(work), style, [groove], bars) or [])
        return out


# --- the data set ---------------------------------------------------------------------------------------


@dataclass
class DrumData:
    """Grids of whole songs and grooves: rows bounds[i]:bounds[i + 1] of velocity and offset are pattern i."""

    velocity: np.ndarray  # [total steps, NUM_CLASSES] uint8
    offset: np.ndarray  # [total steps, NUM_CLASSES] float32
    bounds: np.ndarray  # [patterns + 1] int64
    names: list[str]
    groups: list[str]
    bpm: np.ndarray  # [patterns] float32
    steps_per_bar: np.ndarray  # [patterns] int32
    validation: np.ndarray  # [patterns] bool
    meta: dict

    def __len__(self) -> int:
        return len(self.names)

    def pattern(self, i: int) -> DrumPattern:
        rows = slice(self.bounds[i], self.bounds[i + 1])
        return DrumPattern(
            self.names[i],
            self.groups[i],
            self.velocity[rows],
            self.offset[rows],
            float(self.bpm[i]),
            int(self.steps_per_bar[i]),
        )

    def events(self, i: int) -> np.ndarray:
        return encode(self.velocity[self.bounds[i] : self.bounds[i + 1]])

    def patterns(self, validation: bool) -> list[DrumPattern]:
        return [self.pattern(i) for i in range(len(self)) if bool(self.validation[i]) == validation]

    def side(self, validation: bool) -> list[np.ndarray]:
        """The event sequences of the training (False) or held-out (True) patterns."""
        return [self.events(i) for i in range(len(self)) if bool(self.validation[i]) == validation]

    def summary(self) -> dict:
        lengths = np.diff(self.bounds)
        out = {}
        for label, flag in (("train", False), ("validation", True)):
            chosen = self.validation == flag
            out[f"{label}_patterns"] = int(chosen.sum())
            out[f"{label}_groups"] = len({g for g, v in zip(self.groups, self.validation) if v == flag})
            out[f"{label}_steps"] = int(lengths[chosen].sum())
        out["hits"] = int((self.velocity > 0).sum())
        return out


def is_validation(group: str) -> bool:
    return zlib.crc32(group.encode()) % VALIDATION_EVERY == 0


def collect(patterns: Iterable[DrumPattern], meta: dict) -> DrumData:
    """Patterns -> DrumData: empty ones and repeats of an earlier grid (same hits and velocities) left out."""
    kept: list[DrumPattern] = []
    seen: set[bytes] = set()
    meta = {**meta, "empty": 0, "duplicates": 0}
    for p in patterns:
        if not p.velocity.any():
            meta["empty"] += 1
            continue
        key = p.velocity.tobytes()
        if key in seen:
            meta["duplicates"] += 1
            continue
        seen.add(key)
        kept.append(p)
    lengths = np.array([len(p.velocity) for p in kept], np.int64)
    return DrumData(
        velocity=np.concatenate([p.velocity for p in kept]) if kept else np.zeros((0, NUM_CLASSES), np.uint8),
        offset=np.concatenate([p.offset for p in kept]) if kept else np.zeros((0, NUM_CLASSES), np.float32),
        bounds=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        names=[p.name for p in kept],
        groups=[p.group for p in kept],
        bpm=np.array([p.bpm for p in kept], np.float32),
        steps_per_bar=np.array([p.steps_per_bar for p in kept], np.int32),
        validation=np.array([is_validation(p.group) for p in kept], bool),
        meta=meta,
    )


@dataclass(frozen=True)
class Sources:
    """What the data set is read from: Hydrogen song files and MMA style files (relative to MMA_LIBRARY)."""

    hydrogen: tuple[str, ...]
    mma: tuple[str, ...]

    @classmethod
    def installed(cls) -> Sources:
        styles = mma_styles() if MMA_LIBRARY.is_dir() and shutil.which("mma") else {}
        return cls(tuple(hydrogen_song_files()), tuple(styles))

    def __bool__(self) -> bool:
        return bool(self.hydrogen or self.mma)


def build(sources: Sources, progress: Callable[[int, int], None] | None = None) -> DrumData:
    """Read, render and grid every source; progress(done, total) per file."""
    if not sources:
        raise ValueError(
            "no drum data found: neither Hydrogen's demo songs (/usr/share/hydrogen/data) nor MMA's groove "
            "library (/usr/share/mma/lib) is installed. Install the Debian packages hydrogen-data, "
            "hydrogen-drumkits and mma (scripts/setup.sh does)."
        )
    counts: dict = {"hydrogen_songs": len(sources.hydrogen), "mma_styles": len(sources.mma), "mma_grooves": 0}
    patterns: list[DrumPattern] = []
    total, done = len(sources.hydrogen) + len(sources.mma), 0
    for path in sources.hydrogen:
        song = h2song_arrangement(path, counts)
        if song is not None:
            patterns.append(song)
        done += 1
        if progress is not None:
            progress(done, total)
    styles = mma_styles() if sources.mma else {}
    for style in sources.mma:
        grooves = styles.get(style, [])
        counts["mma_grooves"] += len(grooves)
        rendered = render_mma_style(style, grooves) if grooves else []
        counts["mma_grooves_rendered"] = counts.get("mma_grooves_rendered", 0) + len(rendered)
        patterns.extend(rendered)
        done += 1
        if progress is not None:
            progress(done, total)
    meta = {
        "version": DATA_VERSION,
        "sources": {"hydrogen": list(sources.hydrogen), "mma": list(sources.mma)},
    }
    return collect(patterns, {**meta, **counts})


# --- the cache ------------------------------------------------------------------------------------------


def _mma_version() -> str:
    try:
        out = subprocess.run(["mma", "-v"], capture_output=True, text=True, timeout=30, check=False)
        return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "none"


def cache_path(sources: Sources) -> Path:
    key = zlib.crc32(
        json.dumps(
            [
                DATA_VERSION,
                BARS_PER_GROOVE,
                MMA_SEED,
                _mma_version() if sources.mma else "",
                list(sources.hydrogen),
                list(sources.mma),
            ]
        ).encode()
    )
    return cache_dir() / f"midi-drums-v{DATA_VERSION}-{key:08x}.npz"


def save(data: DrumData, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        np.savez(
            f,
            velocity=data.velocity,
            offset=data.offset,
            bounds=data.bounds,
            names=np.array(data.names),
            groups=np.array(data.groups),
            bpm=data.bpm,
            steps_per_bar=data.steps_per_bar,
            validation=data.validation,
            meta=np.array(json.dumps(data.meta)),
        )


def load(path: Path) -> DrumData:
    with np.load(path, allow_pickle=False) as z:
        return DrumData(
            z["velocity"],
            z["offset"],
            z["bounds"],
            [str(n) for n in z["names"]],
            [str(g) for g in z["groups"]],
            z["bpm"],
            z["steps_per_bar"],
            z["validation"],
            json.loads(str(z["meta"])),
        )


def drum_data(sources: Sources | None = None, progress: Callable[[int, int], None] | None = None) -> DrumData:
    """The drum data set, from the cache if it is there, else built (a few minutes: mma renders) and cached."""
    sources = Sources.installed() if sources is None else sources
    return cached(cache_path(sources), lambda: build(sources, progress), save, load, "drum data")
