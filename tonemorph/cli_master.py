"""`tonemorph master`: a track mastered like a reference, or to a loudness target (tonemorph.engine.master)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def _db(value: float | None, unit: str) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1f} {unit}"


def cmd_master(args: argparse.Namespace) -> int:
    from tonemorph.cli import _console, _progress
    from tonemorph.engine.master import master, report_paths

    console = _console()
    with _progress("master") as bar:
        task = bar.add_task("mastering", total=1.0)
        summary = master(
            args.track,
            args.output,
            args.reference,
            target_lufs=args.target_lufs,
            preset=args.preset,
            strength=args.strength,
            ceiling_dbtp=args.ceiling,
            bits=args.bits,
            phase=args.phase,
            overwrite=args.overwrite,
            report=not args.no_report,
            progress=lambda fraction, stage: bar.update(task, completed=fraction, description=stage),
        )
    rows = [("track", summary["track"]), ("reference", summary["reference"]), ("result", summary["result"])]
    print(f"{'':10} {'loudness':>12} {'range':>8} {'true peak':>11} {'width':>9}")
    for name, a in rows:
        if a is not None:
            print(
                f"{name:10} {_db(a['integrated_lufs'], 'LUFS'):>12} {_db(a['loudness_range_lu'], 'LU'):>8} "
                f"{_db(a['true_peak_dbtp'], 'dBTP'):>11} {_db(a['width_db'], 'dB'):>9}"
            )
    for warning in summary["warnings"]:
        console.print(f"[yellow]warning: {warning}", soft_wrap=True)
    print(f"mastered: {args.output}")
    if not args.no_report:
        json_path, png_path = report_paths(args.output)
        print(f"report: {json_path}" + (f", {png_path}" if Path(png_path).exists() else ""))
    return 0


def add_master_command(sub) -> None:
    from tonemorph.cli import _number
    from tonemorph.engine.master import PRESETS

    presets = "; ".join(
        f"{name}: {p.target_lufs:g} LUFS, {p.ceiling_dbtp:g} dBTP" for name, p in PRESETS.items()
    )
    p = sub.add_parser(
        "master",
        help="master a track like a reference track, or to a loudness target",
        description="Master TRACK (WAV/FLAC/MP3/OGG/AIFF, any rate, mono or stereo) like REFERENCE: its "
        "loudness, its tonal balance (a smoothed match EQ on mid and side) and its stereo width, "
        "under a true-peak ceiling. Without a reference, master to --target-lufs or a --preset with "
        f"a neutral balance ({presets}). Writes OUTPUT (.wav or .flac, dithered 16/24-bit or 32-bit "
        "float WAV, at the track's rate) and a report beside it (NAME.report.json, NAME.report.png).",
    )
    p.add_argument("track", help="the track to master")
    p.add_argument("--reference", "-r", help="a finished track whose sound you want")
    p.add_argument("--output", "-o", required=True, help="where to write the mastered track (.wav or .flac)")
    p.add_argument(
        "--target-lufs",
        type=_number,
        default=None,
        help="without a reference: the integrated loudness to reach (-40..-3; default -14)",
    )
    p.add_argument(
        "--preset", choices=list(PRESETS), help="without a reference: a loudness target and ceiling"
    )
    p.add_argument(
        "--strength",
        type=_number,
        default=1.0,
        help="how much of the match EQ to apply, 0 (none) .. 1 (all; default)",
    )
    p.add_argument(
        "--ceiling",
        type=_number,
        default=None,
        help="true-peak ceiling in dBTP (default -1, or the preset's)",
    )
    p.add_argument(
        "--bits",
        type=int,
        default=24,
        choices=[16, 24, 32],
        help="output: 16 or 24-bit (TPDF dither) or 32-bit float WAV (default 24)",
    )
    p.add_argument(
        "--phase",
        choices=["linear", "minimum"],
        default="linear",
        help="the match EQ's phase (default linear: no phase shift between bands)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace the output and its report if they exist")
    p.add_argument("--no-report", action="store_true", help="write the audio only")
    p.set_defaults(func=cmd_master)
