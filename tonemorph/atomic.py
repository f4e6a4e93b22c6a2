"""The one way tonemorph writes a file: whole or not at all.

A temporary file beside the target (same folder, so the rename cannot cross file systems) is written,
flushed and fsynced, then renamed over the target, and the folder is fsynced so the rename survives a power
cut. On any failure, Ctrl-C included, the temporary file is removed and an older file at the target is left
as it was. The temporary file is created with the umask's mode (not mkstemp's 0600, which would stick to
the result) and ends in the target's suffix, so writers that choose a format by extension (pedalboard,
matplotlib, numpy) choose the right one. Importable without torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable where the platform can (not on Windows, nor every file system)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        _fsync_path(folder, os.O_RDONLY | os.O_DIRECTORY)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to (by name, as pedalboard or onnx.save do); when the block
    ends without an exception it becomes `path`. The temporary file already exists, empty."""
    path = Path(path)
    folder = path.parent
    tmp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp{path.suffix}"
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # 0o666 & ~umask
    except OSError as e:
        message = f"cannot write '{path}' ({e.strerror}); choose a folder you can write to"
        raise OSError(e.errno, message) from None
    try:
        yield tmp
        _fsync_path(tmp, os.O_RDWR)  # Windows only fsyncs a writable descriptor
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs: Any) -> Iterator[IO]:
    """open(path, mode) for writing, atomically (see the module docstring)."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path: str | os.PathLike, content: Any) -> None:
    """Indented JSON and a final newline (NaN and inf written as JavaScript's NaN and Infinity)."""
    write_text(path, json.dumps(content, indent=2) + "\n")
