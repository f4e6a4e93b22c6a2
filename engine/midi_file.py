"""A Standard MIDI File as the engine's MIDI events, for `tonemorph render song.mid out.wav`.

The engine plays one voice (the newest held note sounds; the others return when it is released), so a
file is read as one line: every channel's notes, pitch bend, controllers and aftertouch, merged in time
order with the file's tempo map, except General MIDI's drum channel 10 unless it is asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MIDI_SUFFIXES = (".mid", ".midi", ".smf")
GM_DRUM_CHANNEL = 10  # 1-based, as musicians count
_CHANNEL_MESSAGES = ("note_on", "note_off", "pitchwheel", "control_change", "aftertouch", "polytouch")


@dataclass(frozen=True)
class MidiPerformance:
    events: list[tuple[int, list[int]]]  # (sample offset, [status, data1, data2]) for Engine.process / render
    seconds: float  # time of the last event
    notes: int  # note-ons with a velocity above 0


def is_midi_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in MIDI_SUFFIXES


def read_midi(path: str | os.PathLike, sample_rate: float, channel: int | None = None) -> MidiPerformance:
    """The events of a MIDI file at `sample_rate`: every channel but 10, or only `channel` (1-16).

    Raises ValueError naming the file when it cannot be read or holds no notes to play.
    """
    import mido

    path = Path(path)
    if channel is not None and not 1 <= channel <= 16:
        raise ValueError(f"--channel must be 1..16, got {channel}.")
    try:
        song = mido.MidiFile(path)
        messages = list(song)  # merged tracks; .time is seconds since the previous message (tempo map applied)
    except FileNotFoundError:
        raise ValueError(f"'{path}' does not exist.") from None
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as e:
        raise ValueError(f"'{path}' is not a readable MIDI file ({e}); export it again as a Standard MIDI "
                         "File (.mid) from your sequencer.") from None
    events: list[tuple[int, list[int]]] = []
    seconds, notes, skipped = 0.0, 0, 0
    for message in messages:
        seconds += message.time
        if message.type not in _CHANNEL_MESSAGES:
            continue
        wanted = message.channel + 1 == channel if channel else message.channel + 1 != GM_DRUM_CHANNEL
        if not wanted:
            skipped += message.type == "note_on" and message.velocity > 0
            continue
        notes += message.type == "note_on" and message.velocity > 0
        events.append((round(seconds * sample_rate), message.bytes()))
    if notes == 0:
        where = f"on channel {channel}" if channel else f"outside the drum channel {GM_DRUM_CHANNEL}"
        hint = (f" ({skipped} on other channels: choose one with --channel)" if skipped
                else "; nothing to play")
        raise ValueError(f"'{path}' has no notes {where}{hint}.")
    return MidiPerformance(events=events, seconds=seconds, notes=notes)
