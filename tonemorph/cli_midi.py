"""`tonemorph midi ...`: the MIDI tools (issue 12). Transcribe so far (tonemorph.midi.transcribe)."""

from __future__ import annotations

import argparse


def cmd_transcribe(args: argparse.Namespace) -> int:
    from tonemorph.cli import _progress
    from tonemorph.midi.transcribe import transcribe

    pitch_range = None
    if args.lowest is not None or args.highest is not None:
        pitch_range = (
            args.lowest if args.lowest is not None else 0,
            args.highest if args.highest is not None else 127,
        )
    with _progress("transcribe") as bar:
        task = bar.add_task("transcribing", total=1.0)
        summary = transcribe(
            args.audio,
            args.out,
            mono=args.mono,
            overwrite=args.overwrite,
            onset_threshold=args.onset_threshold,
            frame_threshold=args.frame_threshold,
            min_note_ms=args.min_note_ms,
            pitch_range=pitch_range,
            progress=lambda fraction: bar.update(task, completed=fraction),
        )
    print(
        f"{summary['notes']} notes in {summary['seconds']:.1f} s (MIDI {summary['lowest']}..{summary['highest']}, "
        f"{summary['bent_notes']} with pitch bends){', one voice' if args.mono else ''}: {summary['output']}"
    )
    return 0


def _midi_note(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 127:
        raise argparse.ArgumentTypeError(f"'{text}' is not a MIDI note number (0..127)")
    return value


def add_midi_commands(sub) -> None:
    from tonemorph.cli import _number
    from tonemorph.midi.transcribe import FRAME_THRESHOLD, MIN_NOTE_MS, ONSET_THRESHOLD

    p = sub.add_parser(
        "midi",
        help="MIDI tools: transcribe audio to MIDI",
        description="MIDI tools. Transcribe turns a recording into a MIDI clip; Continue, Generate, "
        "Interpolate, Groove and Drumify are not built yet.",
    )
    midi_sub = p.add_subparsers(dest="midi_command", required=True, metavar="TOOL")
    p = midi_sub.add_parser(
        "transcribe",
        help="audio to a MIDI file with pitch bends (Basic Pitch)",
        description="Transcribe AUDIO (WAV/FLAC/MP3/OGG/AIFF, any rate, mono or stereo; a played riff, a "
        "sung line, chords) into a MIDI file: the notes with their velocity, and pitch bends (within +-2 "
        "semitones) on notes that do not overlap another. Spotify's Basic Pitch model, bundled (Apache-2.0). "
        "Audio with no note in it (silence, noise, drums) is an error and writes nothing.",
    )
    p.add_argument("audio", help="the recording to transcribe")
    p.add_argument("--out", "-o", required=True, help="the MIDI file to write (.mid)")
    p.add_argument(
        "--mono",
        action="store_true",
        help="keep one voice, for the melody tools: the loudest line (of notes struck together the "
        "strongest; a new note replaces the sounding one if at least 0.7 times as strong). Meant for a "
        "single line, a riff or a melody; on chords it follows the strongest note, not always the top one",
    )
    p.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    p.add_argument(
        "--onset-threshold",
        type=_number,
        default=ONSET_THRESHOLD,
        help=f"how sure the model must be that a note starts, 0..1 (default {ONSET_THRESHOLD}; lower finds "
        "more notes)",
    )
    p.add_argument(
        "--frame-threshold",
        type=_number,
        default=FRAME_THRESHOLD,
        help=f"how sure it must be that a note still sounds, 0..1 (default {FRAME_THRESHOLD}; lower makes "
        "notes longer)",
    )
    p.add_argument(
        "--min-note-ms",
        type=_number,
        default=MIN_NOTE_MS,
        help=f"shortest note kept, in milliseconds (default {MIN_NOTE_MS})",
    )
    p.add_argument(
        "--lowest", type=_midi_note, default=None, help="lowest MIDI note to keep (default 21, A0)"
    )
    p.add_argument(
        "--highest", type=_midi_note, default=None, help="highest MIDI note to keep (default 108, C8)"
    )
    p.set_defaults(func=cmd_transcribe)
