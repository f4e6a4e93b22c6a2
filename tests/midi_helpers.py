"""Helpers the MIDI tools' tests and benchmarks share (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import mido

from tonemorph.cli import main

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
