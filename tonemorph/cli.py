"""The `tonemorph` command: one entry, verbs for each job."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _progress(description: str):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(), console=_console(), transient=True,
    )


def _parse_param(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--param takes NAME=VALUE, got '{text}'")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--param {name}: '{value}' is not a number") from None


def cmd_render(args: argparse.Namespace) -> int:
    from tonemorph.engine import Engine
    from tonemorph.engine.render import read_audio, render, write_audio

    src, dst = Path(args.input), Path(args.output)
    if src.resolve() == dst.resolve():
        raise ValueError(f"the output '{dst}' is the input file; choose another name so nothing is overwritten.")
    audio, rate = read_audio(src)
    engine = Engine(args.model)
    engine.set_param("semitones", args.semitones)
    engine.set_param("octave", args.octave)
    for name, value in args.param or []:
        engine.set_param(name, value)
    with _progress("render") as bar:
        task = bar.add_task(f"{src.name} → {engine.model.name}", total=1)
        out = render(engine, audio, rate, block=args.block, progress=lambda done, total: bar.update(
            task, completed=done, total=total))
    write_audio(dst, out, rate)
    print(f"{dst}  ({out.shape[1] / rate:.1f} s, {rate:.0f} Hz, {out.shape[0]} ch, model {engine.model.name})")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rich.table import Table

    from tonemorph.engine import ModelError, list_models, load_model
    from tonemorph.paths import bundled_models_dir, user_models_dir

    table = Table("name", "source", "rate", "harmonics", "path")
    for entry in list_models():
        try:
            info = load_model(entry.path).info
            table.add_row(info["name"], entry.source, f"{info['sample_rate']:.0f}", str(info["n_harmonics"]),
                          str(entry.path))
        except ModelError as e:
            table.add_row(entry.name, entry.source, "-", "-", f"[red]unusable: {e}")
    from rich.console import Console

    Console().print(table)
    print(f"user models:    {user_models_dir()}\nbundled models: {bundled_models_dir()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tonemorph",
        description="A neural instrument: play guitar (or sing, or MIDI) and hear a trumpet, violin, flute...",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("render", help="play an audio file through an instrument model",
                       description="Play an audio file (WAV/FLAC/MP3/OGG, any rate, mono or stereo) through an "
                                   "instrument model and write the result (WAV/FLAC/AIFF).")
    p.add_argument("input", help="the audio file to play")
    p.add_argument("output", help="where to write the result (.wav, .flac or .aiff)")
    p.add_argument("--model", "-m", default="trumpet", help="model name (see `tonemorph models`) or .onnx path")
    p.add_argument("--semitones", "-s", type=float, default=0.0, help="pitch shift in semitones (-24..24)")
    p.add_argument("--octave", type=float, default=0.0, help="pitch shift in octaves (-2..2)")
    p.add_argument("--block", type=int, default=512, help="block size the engine runs at (1..8192)")
    p.add_argument("--param", action="append", type=_parse_param, metavar="NAME=VALUE",
                   help="any engine parameter, e.g. --param dry_wet=0.8 (repeatable)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("models", help="list the installed instrument models",
                       description="List the bundled instruments and those in your user model folder.")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted; nothing was written.", file=sys.stderr)
        return 130
    except (ValueError, KeyError, OSError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {message}", file=sys.stderr)  # unwrapped, so paths stay whole
        return 2


if __name__ == "__main__":
    sys.exit(main())
