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
