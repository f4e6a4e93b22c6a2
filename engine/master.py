"""Mastering: a track matched to a reference (loudness, tonal balance of mid and side, width) or to a loudness
target, under a true-peak ceiling. The work runs in the C++ core (cpp/actions/master), the same code as the
plugin's Master panel; this module opens the files, writes the result atomically and draws the report.

    from tonemorph.engine.master import master
    report = master("mix.wav", "mix-mastered.wav", reference="favourite.flac")
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tonemorph.atomic import atomic_path, write_json
from tonemorph.paths import not_a_file, output_problem

from . import _core

READABLE_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".aiff", ".aif")
WRITABLE_SUFFIXES = (".wav", ".flac")
BITS = (16, 24, 32)  # 32: float WAV, no dither
GRID_HZ = tuple(_core.master.GRID_HZ)


@dataclass(frozen=True)
class Preset:
    target_lufs: float
    ceiling_dbtp: float
    description: str


# Loudness targets without a reference; each aims at the neutral balance (see neutral_balance in the README).
PRESETS = {
    "streaming": Preset(-14.0, -1.0, "Spotify, YouTube, Tidal, Amazon normalise to about -14 LUFS"),
    "cd": Preset(-9.0, -0.3, "loud enough to sit beside commercial CDs"),
    "podcast": Preset(-16.0, -1.0, "spoken word, the -16 LUFS most podcast platforms ask for"),
    "club": Preset(-7.0, -0.3, "as loud as dance music for DJs and club systems"),
}


class MasterError(ValueError):
    """Audio that cannot be mastered, or settings that do not fit: the message says which file and what to do."""


class _Sink:
    """Writes the core's blocks into one file; begin() starts the file over (a later pass replaces it)."""

    def __init__(self, path: Path, samplerate: int, channels: int, bits: int):
        import soundfile as sf

        self._sf = sf
        self._path = path
        self._args = {
            "samplerate": samplerate,
            "channels": channels,
            "format": "FLAC" if path.suffix.lower() == ".flac" else "WAV",
            "subtype": {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}[bits],
        }
        self._file = None

    def begin(self) -> None:
        self.close()
        self._file = self._sf.SoundFile(self._path, "w", **self._args)

    def write(self, block) -> None:
        self._file.write(block)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ArrayAudio:
    """Audio in memory, float32 [frames, channels] (or [frames]), with the reading interface of
    soundfile.SoundFile that the core reads through (samplerate, channels, seek, read with out=). `chunk` caps what one
    read returns, to check that results do not depend on how a file is read."""

    def __init__(self, audio, samplerate: float, chunk: int | None = None):
        import numpy as np

        self._audio = np.ascontiguousarray(np.asarray(audio, dtype=np.float32).reshape(len(audio), -1))
        self.samplerate = samplerate
        self.channels = self._audio.shape[1]
        self._chunk = chunk
        self._position = 0

    def seek(self, frame: int) -> None:
        self._position = frame

    def read(self, frames: int, dtype: str = "float32", always_2d: bool = True, out=None):
        frames = min(frames, self._chunk or frames)
        block = self._audio[self._position : self._position + frames]
        self._position += len(block)
        if out is None:
            return block
        out[: len(block)] = block
        return out[: len(block)]


class _ArraySink:
    def __init__(self):
        self.blocks = []

    def begin(self) -> None:
        self.blocks = []

    def write(self, block) -> None:
        self.blocks.append(block.copy())


def master_arrays(track: ArrayAudio, reference: ArrayAudio | None = None, **settings):
    """The core on audio in memory: (float32 [frames, channels] at the track's rate, the core's result dict).
    settings: the keywords of _core.master.run (match_reference, target_lufs, strength, ceiling_dbtp, phase,
    bits, ...); 16 and 24-bit results come back as floats on their grid."""
    import numpy as np

    sink = _ArraySink()
    try:
        result = _core.master.run(
            track, reference, sink, **{"match_reference": reference is not None, **settings}
        )
    except ValueError as e:
        raise MasterError(str(e)) from None
    audio = np.concatenate(sink.blocks) if sink.blocks else np.zeros((0, track.channels), np.float32)
    if audio.dtype == np.int32:
        audio = (audio / 2.0**31).astype(np.float32)
    return audio, result


def open_audio(path: Path, what: str):
    """A soundfile.SoundFile for reading, or MasterError naming the file."""
    import soundfile as sf

    if reason := not_a_file(path, what):
        raise MasterError(reason)
    try:
        return sf.SoundFile(path)
    except Exception as e:  # noqa: BLE001 -- libsndfile reports every unreadable file its own way
        raise MasterError(
            f"cannot read '{path}' as audio ({e}). Supported: "
            f"{', '.join(s[1:].upper() for s in READABLE_SUFFIXES)}."
        ) from None


def report_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """Where master() writes its report beside `out`: (NAME.report.json, NAME.report.png)."""
    out = Path(out)
    return out.with_name(f"{out.stem}.report.json"), out.with_name(f"{out.stem}.report.png")


def _check_output(out: Path, inputs: list[Path], bits: int, overwrite: bool) -> None:
    if reason := output_problem(out, inputs, WRITABLE_SUFFIXES, "mastered.wav", overwrite, report_paths(out)):
        raise MasterError(reason)
    if bits not in BITS:
        raise MasterError(f"bits must be 16 or 24 (dithered integers) or 32 (float WAV), got {bits}.")
    if bits == 32 and out.suffix.lower() == ".flac":
        raise MasterError(
            "FLAC holds 16 or 24-bit integers; use --bits 16 or 24, or a .wav output for 32-bit float."
        )


def master(
    track: str | os.PathLike,
    out: str | os.PathLike,
    reference: str | os.PathLike | None = None,
    *,
    target_lufs: float | None = None,
    preset: str | None = None,
    strength: float = 1.0,
    ceiling_dbtp: float | None = None,
    bits: int = 24,
    phase: str = "linear",
    overwrite: bool = False,
    report: bool = True,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Master `track` into `out` (WAV or FLAC at the track's rate and channel count).

    With `reference`: its loudness, mid/side tonal balance (and so width) are matched. Without: `target_lufs`
    (or a preset's) and the neutral balance. `strength` (0..1) scales the match EQ; `ceiling_dbtp` (default
    -1, or the preset's) is the true-peak limit; `phase` is "linear" (default) or "minimum". Writes the
    report (NAME.report.json and NAME.report.png) beside `out` unless report=False.
    Returns the report as a dict. Raises MasterError with a message for bad input; nothing is written then.
    """
    track, out = Path(track).expanduser(), Path(out).expanduser()
    reference = Path(reference).expanduser() if reference is not None else None
    if reference is not None and (preset or target_lufs is not None):
        raise MasterError("give a reference or a loudness target (--target-lufs / --preset), not both.")
    if preset is not None and preset not in PRESETS:
        raise MasterError(f"unknown preset '{preset}'; choose one of {', '.join(PRESETS)}.")
    chosen = PRESETS[preset] if preset else PRESETS["streaming"]
    if target_lufs is None:
        target_lufs = chosen.target_lufs
    if ceiling_dbtp is None:
        ceiling_dbtp = chosen.ceiling_dbtp if reference is None else -1.0
    _check_output(out, [track] + ([reference] if reference else []), bits, overwrite)

    files = [open_audio(track, "a track to master")]
    try:
        if reference is not None:
            files.append(open_audio(reference, "a reference track"))
        source = files[0]
        with atomic_path(out) as tmp:
            sink = _Sink(tmp, source.samplerate, source.channels, bits)
            try:
                result = _core.master.run(
                    source,
                    files[1] if reference is not None else None,
                    sink,
                    match_reference=reference is not None,
                    target_lufs=target_lufs,
                    strength=strength,
                    max_eq_db=12.0 if reference is not None else 6.0,
                    ceiling_dbtp=ceiling_dbtp,
                    phase=phase,
                    bits=bits,
                    track_name=f"'{track}'",
                    reference_name=f"'{reference}'",
                    progress=progress,
                )
            except ValueError as e:
                raise MasterError(str(e)) from None
            finally:
                sink.close()
    finally:
        for f in files:
            f.close()
    summary = _report(
        result,
        track,
        reference,
        out,
        {
            "target_lufs": target_lufs if reference is None else None,
            "preset": preset,
            "strength": strength,
            "ceiling_dbtp": ceiling_dbtp,
            "bits": bits,
            "phase": phase,
        },
    )
    if report:
        json_path, png_path = report_paths(out)
        write_json(json_path, summary)
        draw_report(summary, png_path)
    return summary


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _report(result: dict, track: Path, reference: Path | None, out: Path, settings: dict) -> dict[str, Any]:
    def describe(a: dict | None, path: Path | None) -> dict | None:
        if a is None:
            return None
        return {
            "file": str(path),
            "sample_rate": a["sample_rate"],
            "channels": a["channels"],
            "seconds": a["frames"] / a["sample_rate"],
            "integrated_lufs": _finite(a["integrated_lufs"]),
            "loudness_range_lu": a["loudness_range_lu"],
            "true_peak_dbtp": _finite(a["true_peak_dbtp"]),
            "sample_peak_dbfs": _finite(a["sample_peak_dbfs"]),
            "width_db": _finite(a["width_db"]),
            "clipped_runs": a["clipped_runs"],
            "spectrum_mid_db": [_finite(v) for v in a["mid_db"]],
            "spectrum_side_db": [_finite(v) for v in a["side_db"]],
        }

    return {
        "settings": settings,
        "target_lufs": result["target_lufs"],
        "track": describe(result["track"], track),
        "reference": describe(result["reference"], reference),
        "result": describe(result["result"], out),
        "frequencies_hz": list(GRID_HZ),
        "eq_mid_db": result["eq_mid_db"],
        "eq_side_db": result["eq_side_db"],
        "gain_db": result["gain_db"],
        "passes": result["passes"],
        "gain_reduction_step_s": result["gain_reduction_step_s"],
        "gain_reduction_db": result["gain_reduction_db"],
        "warnings": result["warnings"],
    }


_WIDTH, _PANEL_HEIGHT, _MARGIN = 900, 260, (70, 30, 20, 40)  # left, top, right, bottom
_COLOURS = {
    "track": (31, 119, 180),
    "reference": (255, 127, 14),
    "result": (44, 160, 44),
    "mid": (148, 103, 189),
    "side": (127, 127, 127),
    "limiter": (214, 39, 40),
}


def _panel(draw, top: int, title: str, x_range, y_range, log_x: bool, x_ticks, y_step: float, x_unit: str):
    """Axes of one panel; returns a function mapping (x, y) data to pixels."""
    left, right = _MARGIN[0], _WIDTH - _MARGIN[2]
    y0, y1 = top + _MARGIN[1], top + _PANEL_HEIGHT - _MARGIN[3]
    fx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    a, b = fx(x_range[0]), fx(x_range[1])

    def to_pixel(x, y):
        px = left + (fx(x) - a) / (b - a) * (right - left)
        py = y1 - (y - y_range[0]) / (y_range[1] - y_range[0]) * (y1 - y0)
        return px, min(max(py, y0), y1)

    draw.rectangle([left, y0, right, y1], outline=(0, 0, 0))
    draw.text((left, top + 8), title, fill=(0, 0, 0))
    for x in x_ticks:
        px, _ = to_pixel(x, y_range[0])
        draw.line([px, y0, px, y1], fill=(225, 225, 225))
        label = f"{x / 1000:g}k" if log_x and x >= 1000 else f"{x:g}" if log_x else f"{x:.3g}"
        draw.text((px - 8, y1 + 4), label, fill=(0, 0, 0))
    draw.text((right - 30, y1 + 18), x_unit, fill=(0, 0, 0))
    y = math.ceil(y_range[0] / y_step) * y_step
    while y <= y_range[1]:
        _, py = to_pixel(x_range[0], y)
        draw.line([left, py, right, py], fill=(225, 225, 225))
        draw.text((8, py - 6), f"{y:g} dB", fill=(0, 0, 0))
        y += y_step
    return to_pixel


def _curve(draw, to_pixel, xs, ys, colour, label: str, legend_row: int, top: int) -> None:
    points = [to_pixel(x, y) for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
    if len(points) > 1:
        draw.line(points, fill=colour, width=2)
    draw.text((_WIDTH - 300, top + _MARGIN[1] + 6 + 14 * legend_row), label, fill=colour)


def draw_report(summary: dict, path: Path) -> None:
    """The report's picture (PNG): the mid spectra of track, reference and result; the EQ curves; the
    limiter's gain reduction over time. Drawn with Pillow (matplotlib would take longer than the mastering)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (_WIDTH, 3 * _PANEL_HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    hz = summary["frequencies_hz"]
    decades = [20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]
    spectra = [(k, summary[k]["spectrum_mid_db"]) for k in ("track", "reference", "result") if summary[k]]
    levels = [v for _, values in spectra for f, v in zip(hz, values) if v is not None and 20 <= f <= 20000]
    high = math.ceil(max(levels) / 10) * 10 if levels else 0
    to_pixel = _panel(
        draw,
        0,
        "Long-term spectrum (mid), dB per Hz",
        (20, 20000),
        (high - 80, high),
        True,
        decades,
        20,
        "Hz",
    )
    for row, (key, values) in enumerate(spectra):
        lufs = summary[key]["integrated_lufs"]
        label = f"{key}: {lufs:.1f} LUFS, {summary[key]['true_peak_dbtp'] or 0:.1f} dBTP" if lufs else key
        _curve(draw, to_pixel, hz, values, _COLOURS[key], label, row, 0)
    curves = [("mid", summary["eq_mid_db"])] + (
        [("side", summary["eq_side_db"])] if summary["eq_side_db"] else []
    )
    reach = max(6.0, max(abs(v) for _, c in curves for v in c))
    to_pixel = _panel(
        draw,
        _PANEL_HEIGHT,
        f"Match EQ, then {summary['gain_db']:+.1f} dB of gain",
        (20, 20000),
        (-reach, reach),
        True,
        decades,
        6,
        "Hz",
    )
    for row, (key, values) in enumerate(curves):
        _curve(draw, to_pixel, hz, values, _COLOURS[key], key, row, _PANEL_HEIGHT)
    reduction = summary["gain_reduction_db"]
    step = summary["gain_reduction_step_s"]
    seconds = max(step * len(reduction), step)
    deepest = max([3.0, *reduction])
    ticks = [t * seconds / 8 for t in range(9)]
    to_pixel = _panel(
        draw,
        2 * _PANEL_HEIGHT,
        "Limiter gain reduction",
        (0, seconds),
        (-math.ceil(deepest), 0),
        False,
        ticks,
        max(1, math.ceil(deepest) // 4),
        "s",
    )
    _curve(
        draw,
        to_pixel,
        [i * step for i in range(len(reduction))],
        [-r for r in reduction],
        _COLOURS["limiter"],
        f"largest {max(reduction, default=0.0):.1f} dB",
        0,
        2 * _PANEL_HEIGHT,
    )
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
