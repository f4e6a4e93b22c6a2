"""A Standard MIDI File as the engine's MIDI events, for `tonemorph render song.mid out.wav`.

The engine plays one voice (the newest held note sounds; the others return when it is released), so one
channel of the file is played, with its notes, pitch bend, controllers and aftertouch in time order under
the file's tempo map: the channel asked for, else the one with the most notes outside General MIDI's drum
channel 10. Other channels' controllers would otherwise reach the voice (a CC1 of 0 meant for a pad
would silence the melody).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tonemorph.paths import not_a_file

MIDI_SUFFIXES = (".mid", ".midi", ".smf")
MAX_MIDI_SECONDS = 2 * 60 * 60  # longer is refused before anything is allocated for it
GM_DRUM_CHANNEL = 10  # 1-based, as musicians count
_CHANNEL_MESSAGES = ("note_on", "note_off", "pitchwheel", "control_change", "aftertouch", "polytouch")


@dataclass(frozen=True)
class MidiPerformance:
    events: list[tuple[int, list[int]]]  # (sample offset, [status, data1, data2]) for Engine.process / render
    seconds: float  # time of the channel's last event
    channel: int  # 1-16, the channel played
    notes: int  # its note-ons with a velocity above 0
    other_channels: dict[int, int] = field(default_factory=dict)  # channel -> notes, those not played


def is_midi_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in MIDI_SUFFIXES


def _is_note(message) -> bool:
    return message.type == "note_on" and message.velocity > 0


def describe_channels(counts: dict[int, int]) -> str:
    """'channel 1 (12 notes), channel 10 (40 notes)'."""
    return ", ".join(f"channel {c} ({n} notes)" for c, n in sorted(counts.items()))


def _unreadable(path: Path, detail: str) -> ValueError:
    return ValueError(f"'{path}' is not a readable MIDI file ({detail}); export it again as a Standard MIDI "
                      "File (.mid) from your sequencer.")


def _channel_messages(path: Path) -> list[tuple[float, object]]:
    """(seconds, message) of every channel message of every track, in time order, under the tempo map."""
    import mido

    if reason := not_a_file(path, "a MIDI file"):
        raise ValueError(reason)
    try:
        song = mido.MidiFile(path)
    except EOFError as e:
        raise _unreadable(path, str(e) or "it ends in the middle of a track") from None
    except Exception as e:  # noqa: BLE001 -- mido raises many types (KeySignatureError...) for damaged files
        raise _unreadable(path, str(e) or type(e).__name__) from None
    if song.type == 2:
        raise ValueError(f"'{path}' is a type 2 MIDI file (several independent sequences), which tonemorph does "
                         "not play; export the song as type 0 or 1.")
    if song.ticks_per_beat <= 0:
        raise _unreadable(path, f"its time division {song.ticks_per_beat} is not ticks per beat (SMPTE time "
                                "code is not read)")
    timed, now = [], 0.0
    for message in song:  # all tracks merged; .time is seconds since the previous message, tempo map applied
        now += message.time
        if message.type in _CHANNEL_MESSAGES:
            if now > MAX_MIDI_SECONDS:
                raise ValueError(f"'{path}' has events {now / 3600:.1f} hours in, and tonemorph plays MIDI files "
                                 f"of up to {MAX_MIDI_SECONDS // 3600} hours; check the file's tempo and event "
                                 "times in your sequencer, or split the song.")
            timed.append((now, message))
    return timed


def read_midi(path: str | os.PathLike, sample_rate: float, channel: int | None = None) -> MidiPerformance:
    """The events of one channel of a MIDI file at `sample_rate` (see the module docstring).

    Raises ValueError naming the file when it cannot be read, has no notes to play or lasts longer than
    MAX_MIDI_SECONDS.
    """
    path = Path(path)
    if channel is not None and not 1 <= channel <= 16:
        raise ValueError(f"--channel must be 1..16, got {channel}.")
    timed = _channel_messages(path)
    counts = Counter(m.channel + 1 for _, m in timed if _is_note(m))
    if channel is None:
        melodic = {c: n for c, n in counts.items() if c != GM_DRUM_CHANNEL}
        if not melodic:
            hint = (f" (drums on channel {GM_DRUM_CHANNEL}: {counts[GM_DRUM_CHANNEL]} notes; play them with "
                    f"--channel {GM_DRUM_CHANNEL})" if counts else "; nothing to play")
            raise ValueError(f"'{path}' has no notes outside the drum channel{hint}.")
        channel = min(melodic, key=lambda c: (-melodic[c], c))
    elif counts[channel] == 0:
        hint = f" (it has: {describe_channels(counts)}; choose one with --channel)" if counts else "; nothing to play"
        raise ValueError(f"'{path}' has no notes on channel {channel}{hint}.")
    mine = [(t, m) for t, m in timed if m.channel + 1 == channel]
    return MidiPerformance(events=[(round(t * sample_rate), m.bytes()) for t, m in mine], seconds=mine[-1][0],
                           channel=channel, notes=counts[channel],
                           other_channels={c: n for c, n in counts.items() if c != channel})
