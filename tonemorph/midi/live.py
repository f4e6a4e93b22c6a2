"""`tonemorph midi live`: call and response over MIDI ports.

tonemorph listens on a MIDI input. When the player pauses (nothing held, and a beat of silence after the
last note-off), it takes the phrase, finds its tempo, quantises it to sixteenths and hands it to a tool
(`answer(phrase, start_step, bars) -> notes`); the answer is played on the output in the phrase's tempo,
from the first bar line (or beat) far enough ahead to compute it. A note from the player while the answer
plays stops it (note-offs and All Notes Off).

Time: every message is stamped with the MIDI system's own delta times (EventClock), so the spacing of a
phrase is what the system measured, not when Python got round to it; the answer is scheduled on that clock.

Tempo (estimate_tempo): the attacks (onsets closer than CHORD_SECONDS are one attack) are scored against
sixteenth-note grids of every tempo in BPM_RANGE, in steps of 0.25 BPM:
    err(bpm)  = s / 2pi * sqrt(-2 ln |mean_i exp(2pi i t_i / s)|)     s = 15 / bpm, one sixteenth in seconds
    cost(bpm) = (err / JITTER_SECONDS)^2 + PRIOR_WEIGHT * log2(bpm / PREFERRED_BPM)^2 + OFFBEAT_WEIGHT * off
(err: the circular spread of the attacks around the grid; off: the mean of 0 for an attack on a beat, 1/2 on
an eighth, 1 on another sixteenth, counting from the first attack. Half, double and 3/2 tempo fit a grid
equally well; the last two terms prefer the reading near PREFERRED_BPM with the attacks on beats and
eighths.) The best grid is refined by least squares of the attacks on their steps, and step 0 is the grid
line of the first attack: the phrase's first note is taken as a downbeat. On 400 synthetic 2-bar phrases
(70..170 BPM, sixteenths to half notes, onsets off by a normal 10 ms) 89 % come out within 2 % of the
played tempo and the rest at double or half of it (tests/test_midi_live.py).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

STEPS_PER_BEAT = 4  # sixteenths per quarter note
STEPS_PER_BAR = 16  # in 4/4
DRUM_CHANNEL = 9  # 0-based: channel 10 as musicians count, the General MIDI drum channel
DEFAULT_BPM = 120.0  # when a phrase has too few attacks to tell (one note)
BPM_RANGE = (60.0, 180.0)  # where the tempo is looked for
BPM_LIMITS = (15.0, 720.0)  # what --bpm may give
BPM_RESOLUTION = 0.25
PREFERRED_BPM = 105.0
JITTER_SECONDS = 0.03
PRIOR_WEIGHT = 1.0
OFFBEAT_WEIGHT = 1.2
CHORD_SECONDS = 0.04  # onsets closer than this are one attack (a chord, a flam)
SILENCE_BEATS = 1.0  # the pause that ends a phrase, after the last note-off, by default
SILENCE_LIMITS = (0.3, 1.5)  # seconds: the default pause is one beat, kept within these
LEAD_SECONDS = 0.12  # the answer starts no sooner than this after the pause is heard (to compute it)
MAX_PHRASE_SECONDS = 20.0  # a phrase is the playing of at most this long before the pause (a long
# improvisation's tempo drifts off any one grid, and Continue primes on its last 4 bars anyway)
TEMPO_ATTACKS = 32  # the pause's length follows the tempo of the last this many attacks
ALL_NOTES_OFF = 123  # the controller number
REALTIME_PRIORITY = 5  # the answer's thread, when the system allows it (below JACK's default of 10)
CLIENT_NAME = "tonemorph"
OUTPUT_LINGER_SECONDS = 0.1  # the output stays open this long after the last message (see close_ports)
CLOSE_SETTLE_SECONDS = 0.25  # between closing an output's port and deleting it (see close_ports)

NOTE_OFF, NOTE_ON, CONTROL = 0x80, 0x90, 0xB0


@dataclass(frozen=True)
class PlayedNote:
    """A note as the player played it, times in seconds on the session clock."""

    onset: float
    end: float
    pitch: int
    velocity: int
    channel: int  # 0..15


@dataclass(frozen=True)
class StepNote:
    """A note on the sixteenth grid: steps [start, end)."""

    start: int
    end: int
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Grid:
    """The sixteenth grid of a phrase: step k sounds at origin + k * 15 / bpm seconds."""

    bpm: float
    origin: float
    estimated: bool = True  # False: --bpm, or too few attacks to tell

    @property
    def step(self) -> float:
        return 60.0 / self.bpm / STEPS_PER_BEAT

    def time(self, step: float) -> float:
        return self.origin + step * self.step

    def step_at(self, seconds: float) -> float:
        return (seconds - self.origin) / self.step


@dataclass(frozen=True)
class Phrase:
    """A played phrase, quantised: step 0 is the first attack; `steps` ends with its last note."""

    notes: tuple[StepNote, ...]
    steps: int
    grid: Grid
    channel: int
    played: tuple[PlayedNote, ...] = field(repr=False)

    @property
    def drums(self) -> bool:
        return self.channel == DRUM_CHANNEL


Answer = Callable[[Phrase, int, int], list[StepNote]]
"""answer(phrase, start_step, bars) -> the answer's notes on the phrase's grid (steps from the phrase's step
0), none before start_step. start_step (>= phrase.steps, on a bar line or beat) is where the answer is to
begin: a tool that continues the phrase sees the rest between the two."""


# --- tempo, quantisation, pauses ------------------------------------------------------------------------


def attack_times(onsets: Sequence[float], together: float = CHORD_SECONDS) -> np.ndarray:
    """Sorted onsets with those within `together` seconds of the attack before them merged into it."""
    times = np.sort(np.asarray(onsets, dtype=np.float64))
    attacks: list[float] = []
    for t in times:
        if not attacks or t - attacks[-1] >= together:
            attacks.append(float(t))
    return np.asarray(attacks)


def _fit_grid(attacks: np.ndarray, step: float, phase: float) -> tuple[float, float, np.ndarray]:
    """Least squares of attacks on their nearest steps of (step, phase): (step, origin, step numbers)."""
    k = np.round((attacks - phase) / step)
    if len(np.unique(k)) >= 3:
        step, phase = np.polyfit(k, attacks, 1)
        k = np.round((attacks - phase) / step)
    return float(step), float(phase), k


def _check_bpm(bpm: float) -> None:
    if not BPM_LIMITS[0] <= bpm <= BPM_LIMITS[1]:
        raise ValueError(f"--bpm {bpm:g}: give a tempo from {BPM_LIMITS[0]:g} to {BPM_LIMITS[1]:g} BPM")


def estimate_tempo(onsets: Sequence[float], bpm: float | None = None) -> Grid:
    """The sixteenth grid that fits the onsets best (see the module's docstring); `bpm` fixes the tempo and
    leaves only the grid's position to find. Step 0 is the grid line of the first attack."""
    attacks = attack_times(onsets)
    if attacks.size == 0:
        raise ValueError("a phrase needs at least one note to find its tempo")
    if bpm is not None:
        _check_bpm(bpm)
    if bpm is None and attacks.size < 2:
        return Grid(DEFAULT_BPM, float(attacks[0]), estimated=False)
    relative = attacks - attacks[0]
    if bpm is None:
        candidates = np.arange(BPM_RANGE[0], BPM_RANGE[1] + BPM_RESOLUTION / 2, BPM_RESOLUTION)
    else:
        candidates = np.array([float(bpm)])
    steps = 60.0 / candidates / STEPS_PER_BEAT
    coherence = np.exp(2j * np.pi * relative[None, :] / steps[:, None]).mean(axis=1)
    spread = np.clip(np.abs(coherence), 1e-12, 1.0)
    err = steps / (2 * np.pi) * np.sqrt(-2 * np.log(spread))
    k = np.round(relative[None, :] / steps[:, None]).astype(np.int64)
    offbeat = np.where(k % 4 == 0, 0.0, np.where(k % 2 == 0, 0.5, 1.0)).mean(axis=1)
    cost = (
        (err / JITTER_SECONDS) ** 2
        + PRIOR_WEIGHT * np.log2(candidates / PREFERRED_BPM) ** 2
        + OFFBEAT_WEIGHT * offbeat
    )
    best = int(np.argmin(cost))
    step = float(steps[best])
    phase = float(np.angle(coherence[best])) / (2 * np.pi) * step
    if bpm is None:
        step, phase, k = _fit_grid(relative, step, phase)
    else:
        k = np.round((relative - phase) / step)
        phase = float(np.mean(relative - k * step))
    origin = attacks[0] + phase + k[0] * step
    return Grid(60.0 / step / STEPS_PER_BEAT, float(origin), estimated=bpm is None)


def quantise(notes: Sequence[PlayedNote], grid: Grid) -> list[StepNote]:
    """Played notes -> notes on the grid, sorted by start then pitch: onsets and ends to the nearest step
    (never before step 0), a note at least one step long. Chords stay chords."""
    out = []
    for n in notes:
        start = max(0, round(grid.step_at(n.onset)))
        end = max(start + 1, round(grid.step_at(n.end)))
        out.append(StepNote(start, end, n.pitch, n.velocity))
    return sorted(out, key=lambda n: (n.start, n.pitch))


def make_phrase(played: Sequence[PlayedNote], bpm: float | None = None) -> Phrase:
    """The phrase of `played` (at least one note): its grid, its notes on it, its channel (the one most of
    its notes came on)."""
    if not played:
        raise ValueError("a phrase needs at least one note")
    grid = estimate_tempo([n.onset for n in played], bpm)
    notes = quantise(played, grid)
    channels = [n.channel for n in played]
    channel = max(set(channels), key=lambda c: (channels.count(c), -c))
    return Phrase(tuple(notes), max(n.end for n in notes), grid, channel, tuple(played))


def silence_seconds(bpm: float | None, silence: float | None = None) -> float:
    """The pause that ends a phrase: `silence` if given, else SILENCE_BEATS beats of `bpm` (DEFAULT_BPM
    when unknown) kept within SILENCE_LIMITS."""
    if silence is not None:
        return silence
    beat = 60.0 / (bpm or DEFAULT_BPM)
    return min(max(SILENCE_BEATS * beat, SILENCE_LIMITS[0]), SILENCE_LIMITS[1])


class PhraseRecorder:
    """Collects note-ons and note-offs (any channel; a note-on of velocity 0 is a note-off) into notes, and
    tells when the player has paused. Not thread-safe: the session locks around it."""

    def __init__(self) -> None:
        self._done: list[PlayedNote] = []
        self._held: dict[tuple[int, int], tuple[float, int]] = {}  # (channel, pitch) -> (onset, velocity)
        self._last_off: float | None = None
        self.version = 0  # changes with every note-on or note-off taken in

    def feed(self, message: Sequence[int], t: float) -> str | None:
        """Takes one MIDI message at time t: 'on', 'off', or None for anything else (ignored)."""
        if len(message) < 3:
            return None
        kind, channel, pitch, velocity = message[0] & 0xF0, message[0] & 0x0F, message[1], message[2]
        if kind == NOTE_ON and velocity > 0:
            self._close(channel, pitch, t)  # the same key again without a note-off: the first one ends
            self._held[(channel, pitch)] = (t, velocity)
            self.version += 1
            return "on"
        if kind in (NOTE_OFF, NOTE_ON) and self._close(channel, pitch, t):
            self._last_off = t
            self.version += 1
            return "off"
        return None

    def _close(self, channel: int, pitch: int, t: float) -> bool:
        held = self._held.pop((channel, pitch), None)
        if held is None:
            return False
        self._done.append(PlayedNote(held[0], max(t, held[0]), pitch, held[1], channel))
        return True

    def onsets(self) -> list[float]:
        return [n.onset for n in self._done] + [onset for onset, _ in self._held.values()]

    def paused(self, now: float, silence: float) -> bool:
        """True when notes were played, none is held, and `silence` seconds have passed since the last
        note-off."""
        return bool(self._done) and not self._held and now - (self._last_off or now) >= silence

    def take(self) -> list[PlayedNote]:
        """The finished notes, in onset order; the recorder starts afresh (held notes stay held)."""
        notes, self._done = sorted(self._done, key=lambda n: (n.onset, n.pitch)), []
        self.version += 1
        return notes


# --- the answer on the grid -----------------------------------------------------------------------------


def answer_start(grid: Grid, earliest: float, phrase_steps: int, unit: int) -> int:
    """The first multiple of `unit` steps (16: a bar line, 4: a beat) at or after the phrase's end that
    sounds no sooner than `earliest` (seconds)."""
    step = max(phrase_steps, math.ceil(grid.step_at(earliest) - 1e-9))
    return -(-step // unit) * unit


def answer_events(
    notes: Sequence[StepNote], grid: Grid, shift: int, channel: int
) -> list[tuple[float, list[int]]]:
    """(time, message) of the notes' note-ons and note-offs (steps moved `shift` later), in time order, a
    note-off before a note-on at the same time. A note that overlaps a later note of the same pitch ends
    where that one starts."""
    by_pitch: dict[int, list[StepNote]] = {}
    for n in sorted(notes, key=lambda n: (n.start, n.pitch)):
        by_pitch.setdefault(n.pitch, []).append(n)
    events = []
    for pitch, same in by_pitch.items():
        for i, n in enumerate(same):
            end = n.end if i + 1 == len(same) else min(n.end, same[i + 1].start)
            if end <= n.start:
                continue
            velocity = min(max(int(n.velocity), 1), 127)
            events.append((grid.time(shift + n.start), 1, [NOTE_ON | channel, pitch, velocity]))
            events.append((grid.time(shift + end), 0, [NOTE_OFF | channel, pitch, 0]))
    events.sort(key=lambda e: (e[0], e[1], e[2][1]))
    return [(t, message) for t, _, message in events]


def _realtime_priority() -> bool:
    """Asks for round-robin real-time scheduling for the calling thread (as JACK's own threads have), so a
    busy computer delays the answer's notes less; where that is not allowed it stays as it is. True if
    granted."""
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
    except (AttributeError, OSError):
        return False
    return True


class AnswerPlayer:
    """Plays (time, message) events on a thread at their times (session clock). stop() ends every note it
    started and sends All Notes Off on its channel."""

    def __init__(
        self,
        send: Callable[[list[int]], None],
        events: Sequence[tuple[float, list[int]]],
        channel: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send, self._events, self._channel, self._clock = send, list(events), channel, clock
        self._stop = threading.Event()
        self._sounding: set[int] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="tonemorph-answer", daemon=True)
        self.sent: list[tuple[float, list[int]]] = []  # (when it was sent, message)

    def start(self) -> AnswerPlayer:
        self._thread.start()
        return self

    @property
    def playing(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        _realtime_priority()
        for when, message in self._events:
            if self._stop.wait(max(0.0, when - self._clock())):
                return
            with self._lock:
                if self._stop.is_set():
                    return
                self._send(message)
                self.sent.append((self._clock(), message))
                if message[0] & 0xF0 == NOTE_ON:
                    self._sounding.add(message[1])
                else:
                    self._sounding.discard(message[1])

    def stop(self) -> None:
        """Stops playing (from any thread) and silences what it started."""
        with self._lock:
            self._stop.set()
            for pitch in sorted(self._sounding):
                self._send([NOTE_OFF | self._channel, pitch, 0])
            self._sounding.clear()
            self._send([CONTROL | self._channel, ALL_NOTES_OFF, 0])
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for the answer to end; True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


# --- the session ----------------------------------------------------------------------------------------


@dataclass
class AnswerReport:
    """What one call and its response were: printed per answer."""

    phrase: Phrase
    notes: int
    start_step: int
    start_time: float  # session clock
    heard_after: float  # seconds from the last note-off to the pause being heard
    compute_seconds: float
    player: AnswerPlayer | None = None

    def describe(self) -> str:
        g = self.phrase.grid
        tempo = f"{g.bpm:.1f} BPM" + (" (estimated)" if g.estimated else "")
        last_off = max(n.end for n in self.phrase.played)
        return (
            f"phrase: {len(self.phrase.played)} notes, {self.phrase.steps} steps at {tempo}, "
            f"{'drums' if self.phrase.drums else 'melody'} on channel {self.phrase.channel + 1}; "
            f"answer: {self.notes} notes from step {self.start_step}, "
            f"{self.start_time - last_off:.2f} s after your last note-off "
            f"(pause heard after {self.heard_after:.2f} s, tool {1000 * self.compute_seconds:.0f} ms)"
        )


class LiveSession:
    """The call-and-response loop. feed() takes the input's messages (from any thread); poll() (from
    the main loop) answers a finished phrase; close() silences everything."""

    def __init__(
        self,
        send: Callable[[list[int]], None],
        answer: Answer,
        *,
        bars: int = 2,
        bpm: float | None = None,
        silence: float | None = None,
        answer_on: str = "bar",
        lead: float = LEAD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        report: Callable[[str], None] = print,
    ) -> None:
        if bars < 1:
            raise ValueError(f"--bars {bars}: the answer needs at least one bar")
        if silence is not None and silence <= 0:
            raise ValueError(f"--silence {silence:g}: the pause must be longer than 0 seconds")
        if answer_on not in ("bar", "beat"):
            raise ValueError(f"answer_on is 'bar' or 'beat', not '{answer_on}'")
        if bpm is not None:
            _check_bpm(bpm)
        self._send_raw, self._answer = send, answer
        self.bars, self.bpm, self.silence, self.lead = bars, bpm, silence, lead
        self._unit = STEPS_PER_BAR if answer_on == "bar" else STEPS_PER_BEAT
        self._clock, self._report = clock, report
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._recorder = PhraseRecorder()
        self._player: AnswerPlayer | None = None
        self._taken = 0  # how many phrases were taken; a note-on after the last one cancels its answer
        self._cancelled = 0
        self._silence_cache: tuple[int, float] = (-1, silence_seconds(bpm, silence))
        self._channels_used: set[int] = set()
        self.answers: list[AnswerReport] = []

    def _send(self, message: list[int]) -> None:
        with self._send_lock:
            self._send_raw(message)

    def feed(self, message: Sequence[int], t: float) -> None:
        """One message from the player at time t (session clock). A note-on stops an answer that plays or
        is being computed."""
        with self._lock:
            kind = self._recorder.feed(message, t)
            if kind != "on":
                return
            self._cancelled = self._taken
            player = self._player
        if player is not None and player.playing:
            player.stop()
            self._report("interrupted: the answer stopped (a new phrase)")

    def _silence(self) -> float:
        """The pause for the phrase so far (one beat of its tempo unless --silence or --bpm set it)."""
        if self.silence is not None or self.bpm is not None:
            return self._silence_cache[1]
        version = self._recorder.version
        if self._silence_cache[0] != version:
            onsets = sorted(self._recorder.onsets())[-TEMPO_ATTACKS:]
            bpm = estimate_tempo(onsets).bpm if len(attack_times(onsets)) >= 2 else None
            self._silence_cache = (version, silence_seconds(bpm))
        return self._silence_cache[1]

    def poll(self) -> AnswerReport | None:
        """Answers the phrase if the player has paused; returns what was done (None: nothing to do)."""
        now = self._clock()
        with self._lock:
            if not self._recorder.paused(now, self._silence()):
                return None
            played = self._recorder.take()
            self._taken += 1
            taken = self._taken
        last_off = max(n.end for n in played)
        played = [n for n in played if n.onset >= last_off - MAX_PHRASE_SECONDS]
        phrase = make_phrase(played, self.bpm)
        start_step = answer_start(phrase.grid, now + self.lead, phrase.steps, self._unit)
        began = time.perf_counter()
        try:
            notes = self._answer(phrase, start_step, self.bars)
        except ValueError as e:
            self._report(f"no answer to this phrase: {e}")
            return None
        compute = time.perf_counter() - began
        notes = [n for n in notes if n.start >= start_step]
        shift = 0  # whole bars (beats) later when the tool took longer than the lead
        while phrase.grid.time(start_step + shift) < self._clock() + 0.005:
            shift += self._unit
        events = answer_events(notes, phrase.grid, shift, phrase.channel)
        start = start_step + shift
        result = AnswerReport(phrase, len(notes), start, phrase.grid.time(start), now - last_off, compute)
        with self._lock:
            if self._cancelled >= taken:  # the player began again while the tool worked
                self._report("the player went on before the answer began; it was dropped")
                return None
            if self._player is not None and self._player.playing:
                self._player.stop()
            self._channels_used.add(phrase.channel)
            self._player = result.player = AnswerPlayer(
                self._send, events, phrase.channel, self._clock
            ).start()
        self.answers.append(result)
        self._report(result.describe())
        return result

    def close(self) -> None:
        """Stops any answer and sends All Notes Off on every channel answered on."""
        with self._lock:
            player, self._player = self._player, None
        if player is not None:
            player.stop()
        for channel in sorted(self._channels_used):
            self._send([CONTROL | channel, ALL_NOTES_OFF, 0])


# --- tools ----------------------------------------------------------------------------------------------


def echo_answer(phrase: Phrase, start_step: int, bars: int) -> list[StepNote]:
    """The phrase played back as quantised, its first `bars` bars (no model: checks ports and timing)."""
    limit = bars * STEPS_PER_BAR
    return [
        StepNote(start_step + n.start, start_step + min(n.end, limit), n.pitch, n.velocity)
        for n in phrase.notes
        if n.start < limit
    ]


# --- MIDI ports (python-rtmidi) -------------------------------------------------------------------------


class NoMidiSystem(OSError):
    """No MIDI system this computer can open; the message says what is missing and what to do."""


API_NAMES = {
    "alsa": "API_LINUX_ALSA",
    "jack": "API_UNIX_JACK",
    "coremidi": "API_MACOSX_CORE",
    "winmm": "API_WINDOWS_MM",
}
ALSA_SEQUENCER = "/dev/snd/seq"
# our ports: direction -> (client name suffix, what --in / --out names, what to do with a virtual one)
_DIRECTIONS = {
    "in": ("listen", "source", "connect a source to it"),
    "out": ("answer", "destination", "connect it to a synth"),
}


def _rtmidi():
    try:
        import rtmidi
    except ImportError as e:
        raise NoMidiSystem(
            "live MIDI needs python-rtmidi, which is not installed: pip install python-rtmidi"
        ) from e
    return rtmidi


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silences what ALSA's and JACK's C libraries print while a MIDI system is tried (the reason is
    reported by us instead)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _auto_order() -> list[str]:
    if sys.platform == "darwin":
        return ["coremidi", "jack"]
    if sys.platform.startswith("win"):
        return ["winmm"]
    return ["alsa", "jack"]


def _why_not(api: str, error: Exception | None) -> str:
    """What is missing for `api` and what to do, for the message when none opens."""
    if api == "alsa":
        if not os.path.exists(ALSA_SEQUENCER):
            return (
                f"the ALSA sequencer is missing ({ALSA_SEQUENCER} does not exist: load it with `sudo modprobe "
                "snd-seq`; in a container, pass the device in, e.g. `--device /dev/snd`)"
            )
        return f"the ALSA sequencer did not open ({error}; is {ALSA_SEQUENCER} readable by you?)"
    if api == "jack":
        server = os.environ.get("JACK_DEFAULT_SERVER", "default")
        return (
            f"no JACK server is running (server name '{server}'; start one, e.g. `jackd -d alsa` with a sound "
            "card or `jackd -d dummy -r 48000` without one, or use PipeWire's JACK)"
        )
    return f"{api} did not open ({error})"


class MidiSystem:
    """One of python-rtmidi's MIDI systems (API), opened: its ports, and ports of our own."""

    def __init__(self, api: str = "auto") -> None:
        rtmidi = _rtmidi()
        compiled = {
            name
            for name, attr in API_NAMES.items()
            if getattr(rtmidi, attr, None) in rtmidi.get_compiled_api()
        }
        if api != "auto" and api not in API_NAMES:
            raise ValueError(f"--api {api}: choose one of auto, {', '.join(API_NAMES)}")
        if api != "auto" and api not in compiled:
            raise NoMidiSystem(
                f"this python-rtmidi has no {api} support compiled in (it has: {', '.join(sorted(compiled))})"
            )
        order = [a for a in _auto_order() if a in compiled] if api == "auto" else [api]
        reasons = []
        for name in order:
            try:
                with _quiet_stderr():
                    probe = rtmidi.MidiIn(getattr(rtmidi, API_NAMES[name]), name=CLIENT_NAME)
                    probe.delete()
            except rtmidi.RtMidiError as e:
                reasons.append(_why_not(name, e))
                continue
            self.name, self.api = name, getattr(rtmidi, API_NAMES[name])
            self._rtmidi = rtmidi
            return
        if not reasons:
            reasons.append(f"this python-rtmidi supports none of them here ({', '.join(sorted(compiled))})")
        raise NoMidiSystem(
            "no MIDI system to connect to: "
            + "; and ".join(reasons)
            + ". Then `tonemorph midi live --list-ports` shows the ports."
        )

    def _port(self, direction: str, client: str):
        """A new client of ours: a MidiIn for 'in', a MidiOut for 'out'."""
        make = self._rtmidi.MidiIn if direction == "in" else self._rtmidi.MidiOut
        with _quiet_stderr():
            return make(self.api, name=client)

    def _listing(self, direction: str) -> list[str]:
        port = self._port(direction, f"{CLIENT_NAME}-list")
        try:
            return list(port.get_ports())
        finally:
            port.delete()

    def sources(self) -> list[str]:
        """Ports that send MIDI (keyboards, other programs' outputs): what --in can name."""
        return self._listing("in")

    def destinations(self) -> list[str]:
        """Ports that take MIDI (synths, other programs' inputs): what --out can name."""
        return self._listing("out")

    def _open(self, direction: str, wanted: str | None):
        client, kind, hint = _DIRECTIONS[direction]
        port = self._port(direction, f"{CLIENT_NAME}-{client}")
        try:
            if wanted is None:
                self._virtual(port, direction)
                return port, f"{CLIENT_NAME}-{client}:{direction} (virtual: {hint})"
            index = pick_port(port.get_ports(), wanted, kind, f"--{direction}")
            description = port.get_ports()[index]
            port.open_port(index, direction)
        except BaseException:
            port.delete()
            raise
        return port, description

    def open_input(self, wanted: str | None):
        """Opens our input, connected to the source `wanted` (see pick_port), or as a virtual port others
        connect to (wanted None). Read it with get_message() -> (message, delta seconds) or None: polled,
        so the MIDI system's own (real-time) thread never waits for Python. Returns (port, description)."""
        return self._open("in", wanted)

    def open_output(self, wanted: str | None):
        """Opens our output, connected to the destination `wanted` (see pick_port), or virtual (None).
        Returns (port, description)."""
        return self._open("out", wanted)

    def _virtual(self, port, name: str) -> None:
        try:
            port.open_virtual_port(name)
        except (self._rtmidi.RtMidiError, NotImplementedError) as e:
            raise NoMidiSystem(
                f"{self.name} cannot make virtual ports ({e}); name existing ports with --in and --out "
                "instead (tonemorph midi live --list-ports shows them)"
            ) from e


def pick_port(names: Sequence[str], wanted: str, kind: str, option: str) -> int:
    """The index of the port `wanted` names: its number in the list, its exact name, or a part of one name
    (any case). Anything else is a ValueError that lists the ports."""
    listing = "; ".join(f"{i}: {n}" for i, n in enumerate(names)) or "none"
    if wanted.strip().isdigit():
        index = int(wanted)
        if index < len(names):
            return index
        raise ValueError(f"{option} {wanted}: there is no {kind} port number {index} (the ports: {listing})")
    if wanted in names:
        return list(names).index(wanted)
    matches = [i for i, n in enumerate(names) if wanted.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ValueError(f"{option} '{wanted}': no {kind} port has that name (the ports: {listing})")
    found = "; ".join(names[i] for i in matches)
    raise ValueError(
        f"{option} '{wanted}' names {len(matches)} {kind} ports ({found}); give more of the name"
    )


class EventClock:
    """A port's clock: messages are stamped by the MIDI system's delta times, counted from the arrival of
    the first (time.monotonic), so their spacing is the system's, not Python's. now() reads the same clock:
    time.monotonic() - offset, the offset being the smallest (arrival - stamp) seen, the message delivered
    with the least delay (0 or less)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._total: float | None = None
        self._offset = 0.0

    def stamp(self, delta: float, arrival: float | None = None) -> float:
        arrival = self._clock() if arrival is None else arrival
        self._total = arrival if self._total is None else self._total + max(0.0, delta)
        self._offset = min(self._offset, arrival - self._total)
        return self._total

    def now(self) -> float:
        return self._clock() - self._offset


def run_live(
    system: MidiSystem,
    answer: Answer,
    *,
    port_in: str | None,
    port_out: str | None,
    report: Callable[[str], None] = print,
    stop: threading.Event | None = None,
    poll_seconds: float = 0.005,
    **session_options,
) -> list[AnswerReport]:
    """Opens the ports and answers phrases until Ctrl-C (KeyboardInterrupt) or `stop` is set; then
    silences the output and closes the ports. port_in/port_out None: virtual ports. Every poll_seconds the
    input's messages are taken in (stamped with the MIDI system's delta times, so the wait does not move
    them) and a finished phrase is answered."""
    stop = stop or threading.Event()
    out_port, out_name = system.open_output(port_out)
    in_port = None
    try:
        clock = EventClock()
        session = LiveSession(
            out_port.send_message, answer, clock=clock.now, report=report, **session_options
        )
        in_port, in_name = system.open_input(port_in)
        report(f"listening on {in_name}, answering on {out_name} ({system.name}); Ctrl-C stops")
        try:
            while not stop.wait(poll_seconds):
                while (event := in_port.get_message()) is not None:
                    session.feed(event[0], clock.stamp(event[1]))
                session.poll()
        except KeyboardInterrupt:
            pass
        finally:
            session.close()
        count = len(session.answers)
        report(f"stopped after {count} answer{'' if count == 1 else 's'}")
        return session.answers
    finally:
        close_ports(in_port, out_port)


def close_ports(in_port, out_port) -> None:
    """Closes and deletes an input and an output (python-rtmidi's; either may be None) in the order
    python-rtmidi's JACK backend survives (1.5.8, RtMidi 5.0.0). Its process callback reads the port twice
    without a lock, and MidiOut's destructor frees the ring buffer that callback drains before it closes the
    JACK client that runs it: a MidiOut deleted right after close_port() can lose the buffer under a callback
    that saw the port still open (libjack prints "jack_port_get_buffer called with an incorrect port 0", then
    SIGSEGV: 2 crashes in 1,200 closes on a loaded 2-core machine). So the input goes first (nothing more
    comes in); the output stays open OUTPUT_LINGER_SECONDS, so its last note-offs leave in the next cycles
    and reach the synth before the port goes; and it is deleted CLOSE_SETTLE_SECONDS after its close_port(),
    when a callback that saw it open has long finished. What libjack prints about that race meanwhile is
    silenced."""
    with _quiet_stderr():
        if in_port is not None:
            in_port.close_port()
            in_port.delete()
        if out_port is not None:
            time.sleep(OUTPUT_LINGER_SECONDS)
            out_port.close_port()
            time.sleep(CLOSE_SETTLE_SECONDS)
            out_port.delete()


def continue_answer(
    temperature: float, seed: int, load_model: Callable[[str], object] | None = None
) -> Answer:
    """Continue as an answer: the melody model (the drums model for a phrase on channel 10) primed on the
    phrase as a clip that ends on the first step after it at start_step's place in the bar (the bar line
    after the phrase when start_step is one), and its `bars` new bars moved on by whole bars to begin at
    start_step (the wait for the pause is not rest the model must continue: after two silent beats the
    likeliest continuation is silence). At the phrase's median velocity; answer k is drawn with seed + k. load_model(kind) gives the model of kind 'melody' or 'drums' (default
    tonemorph.engine.midi.load_event_model: the user's, else the bundled one, opened once); a missing one is
    a ValueError when a phrase needs it."""
    from tonemorph.engine import _core
    from tonemorph.engine.midi import load_event_model

    if not temperature >= 0:
        raise ValueError(f"--temperature {temperature:g}: 0 or more (0: always the likeliest note)")
    if not 0 <= seed < 2**62:
        raise ValueError(f"--seed {seed}: a whole number from 0 to 2**62 - 1")
    load = load_model or load_event_model
    midi = _core.midi
    count = iter(range(1 << 62))

    def answer(phrase: Phrase, start_step: int, bars: int) -> list[StepNote]:
        model = load("drums" if phrase.drums else "melody")
        clip_steps = start_step - STEPS_PER_BAR * ((start_step - phrase.steps) // STEPS_PER_BAR)
        clip = midi.Clip(
            [midi.Note(n.start, n.end, n.pitch, n.velocity) for n in phrase.notes],
            clip_steps,
            phrase.grid.bpm,
            phrase.drums,
        )
        result = midi.continue_clip(
            model, clip, bars=bars, variations=1, temperature=temperature, seed=seed + next(count)
        )
        velocity = int(np.median([n.velocity for n in phrase.notes]))
        first = result["new_from_step"]
        shift = start_step - first
        return [
            StepNote(n.start_step + shift, n.end_step + shift, n.pitch, velocity)
            for n in result["clips"][0].notes
            if n.start_step >= first
        ]

    return answer
