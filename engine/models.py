"""Finding and loading models by name or path."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tonemorph.paths import MODEL_SUFFIX, bundled_models_dir, model_dirs, user_models_dir

from . import _core

ModelError = _core.ModelError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    source: str  # "user" or "bundled"


def list_models() -> list[ModelEntry]:
    """Every .onnx file in the user and bundled model folders (user first; files only, not validated)."""
    entries: list[ModelEntry] = []
    for folder, source in ((user_models_dir(), "user"), (bundled_models_dir(), "bundled")):
        if folder.is_dir():
            for path in sorted(folder.glob(f"*{MODEL_SUFFIX}")):
                entries.append(ModelEntry(path.stem, path, source))
    return entries


def find_model(name_or_path: str | os.PathLike) -> Path:
    """Resolve a model name (as `tonemorph models` lists it) or a file path to a file."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise ModelError(f"'{path}' is a folder or a device, not a model file; give the path of an .onnx file.")
    if path.suffix == MODEL_SUFFIX or path.parent != Path("."):
        raise ModelError(f"'{path}' does not exist. Check the path, or give a model name (see `tonemorph models`).")
    wanted = str(name_or_path).lower()
    for folder in model_dirs():
        if folder.is_dir():
            for candidate in folder.glob(f"*{MODEL_SUFFIX}"):
                if candidate.stem.lower() == wanted:
                    return candidate
    known = ", ".join(sorted({e.name for e in list_models()})) or "none installed"
    raise ModelError(
        f"no model named '{name_or_path}' (known: {known}). "
        f"Give a path to an .onnx file, or put it in {user_models_dir()}."
    )


def load_model(name_or_path: str | os.PathLike | _core.Model, weights: str = "int8") -> _core.Model:
    """Load and validate a model by name or path. Raises ModelError that names the file and the problem.

    weights: "int8" (the engine's default) or "float32" (ONNX Runtime's numbers within rounding); see
    `_core.Model.load`.
    """
    if isinstance(name_or_path, _core.Model):
        return name_or_path
    return _core.Model.load(str(find_model(name_or_path)), weights)
