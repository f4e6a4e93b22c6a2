"""Helpers the MIDI tools' tests and benchmarks share (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

from pathlib import Path

import mido

from tonemorph.cli import main

TPQ = 96
# A C major tune of 2 bars: (start step, end step, pitch)
TUNE = [
    (0, 4, 60),
    (4, 8, 64),
    (8, 12, 67),
    (12, 16, 72),
    (16, 18, 71),
    (18, 20, 69),
    (20, 24, 67),
    (24, 32, 65),
]


def length_in_steps(path) -> int:
    """The first track's length in sixteenth steps."""
    song = mido.MidiFile(path)
    return round(sum(m.time for m in song.tracks[0]) / (song.ticks_per_beat / 4))


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """`tonemorph ARGS` in-process: (exit code, stdout, stderr with its whitespace folded)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, " ".join(captured.err.split())


def make_midi(path, notes, *, channel=0, file_type=0, tempi=((0, 500000),), tpq=TPQ, end_step=None):
    """A MIDI file of (start step, end step, pitch[, velocity]) notes; tempi: (step, microseconds per quarter)."""
    song = mido.MidiFile(type=file_type, ticks_per_beat=tpq)
    events = [(s * tpq // 4, 0, mido.MetaMessage("set_tempo", tempo=t)) for s, t in tempi]
    for n in notes:
        start, end, pitch, velocity = (*n, 90)[:4]
        events.append(
            (start * tpq // 4, 2, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity))
        )
        events.append((end * tpq // 4, 1, mido.Message("note_off", channel=channel, note=pitch)))
    events.sort(key=lambda e: (e[0], e[1]))
    track, now = mido.MidiTrack(), 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    if end_step is not None:
        track.append(mido.MetaMessage("end_of_track", time=max(0, end_step * tpq // 4 - now)))
    song.tracks.append(track)
    song.save(path)
    return Path(path)
