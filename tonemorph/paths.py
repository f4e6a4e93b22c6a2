"""Where tonemorph finds models: the bundled instruments and the per-user model folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

MODEL_SUFFIX = ".onnx"


def bundled_models_dir() -> Path:
    """The instruments that ship with tonemorph (inside the package, or the repository's models/)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "models", here.parent / "models"):
        if candidate.is_dir():
            return candidate
    return here / "models"


def user_models_dir() -> Path:
    """The per-user model folder: `tonemorph train` writes here; render, models and the plugin read it.

    $TONEMORPH_MODELS overrides it.
    """
    if env := os.environ.get("TONEMORPH_MODELS"):
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "tonemorph" / "models"
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "tonemorph" / "models"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "tonemorph" / "models"


def output_problem(
    out: Path,
    inputs: list[Path],
    suffixes: tuple[str, ...],
    example: str,
    overwrite: bool,
    also: tuple[Path, ...] = (),
) -> str | None:
    """Why `out` cannot be written, checked before any work, in words a musician can act on; None if it can.
    Never an input (by path or through a link), a known suffix, not a folder, a folder that exists, and no
    existing file at `out` or at the paths `also` written beside it unless `overwrite`. `example`: a file
    name to suggest inside a folder given as the output."""
    for path in inputs:
        if out.resolve() == path.resolve() or (
            out.exists() and path.exists() and os.path.samefile(out, path)
        ):
            return f"the output '{out}' is an input file; choose another name so nothing is overwritten."
    if out.suffix.lower() not in suffixes:
        return f"cannot write '{out}': name the output {' or '.join(suffixes)}."
    if out.is_dir():
        return f"the output '{out}' is a folder; give a file name such as '{out / example}'."
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        return f"cannot write '{out}': the folder '{folder}' does not exist."
    if not overwrite:
        for path in (out, *also):
            if path.exists():
                return f"'{path}' already exists; choose another output name, or add --overwrite."
    return None


def not_a_file(path: Path, kind: str) -> str | None:
    """Why `path` cannot be read as `kind` ("an audio file"), in words a musician can act on; None if it can.
    A folder, a FIFO or a device is named as such: reading one would fail, or wait forever."""
    if path.is_file():
        return None
    if not path.exists():
        return f"'{path}' does not exist."
    return f"'{path}' is a folder or a device, not {kind}; give the path of {kind}."


def model_dirs() -> list[Path]:
    """Search order: the user's models first (a user model may shadow a bundled one), then bundled."""
    return [user_models_dir(), bundled_models_dir()]


SAMPLER_FOLDER = "sampler"  # samplers live in models/sampler/ and the user model folder's sampler/


def sampler_dirs() -> list[Path]:
    """Where samplers are looked for by name: the user's folder first, then the bundled ones."""
    return [folder / SAMPLER_FOLDER for folder in model_dirs()]
