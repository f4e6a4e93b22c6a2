"""tonemorph.atomic, the one writer every command uses: a file is written whole or not at all, reaches the
disk before it replaces the old one, and gets the umask's mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tonemorph import atomic


def fsync_log(monkeypatch) -> list[str]:
    """Every fsync (as the path of the descriptor) and os.replace (as 'replace'), in order."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def replace(src, dst):
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def write_audio(path):
    from tonemorph.engine.render import write_audio

    write_audio(path, np.zeros((1, 480), np.float32), 48000)


def save_dataset(path):
    from tonemorph.training.dataset import PreparedDataset

    zeros = np.zeros((1, 4), np.float32)
    PreparedDataset(
        np.zeros((1, 384), np.float32), zeros, zeros, zeros, np.zeros(1, np.int32), 24000, 96, ["a.wav"], {}
    ).save(path)


def save_checkpoint(path):
    from tonemorph.training.train import atomic_save

    atomic_save({"step": 1}, path)


def write_manifest(path):
    from tonemorph.training.soundfont import _write_json

    _write_json(path, {"files": [[1, 2]]})


# Every command's writer: `tonemorph render`, `prepare --out`, training checkpoints, held-out manifests, eval.
WRITERS = {
    "audio.wav": write_audio,
    "prepared.npz": save_dataset,
    "checkpoint.pt": save_checkpoint,
    "manifest.json": write_manifest,
    "eval.json": lambda path: atomic.write_json(path, {"cents": 3.0}),
}


@pytest.mark.parametrize("name", WRITERS)
def test_the_file_reaches_the_disk_before_it_replaces_the_old_one(tmp_path, monkeypatch, name):
    events = fsync_log(monkeypatch)
    WRITERS[name](tmp_path / name)
    assert (tmp_path / name).stat().st_size > 0
    tmp_fsyncs = [e for e in events[: events.index("replace")] if Path(e).name.startswith(f".{name}.")]
    assert tmp_fsyncs, events  # the written temporary file, before the rename
    assert events[events.index("replace") + 1 :] == [str(tmp_path)], events  # then the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("name", WRITERS)
def test_a_failed_write_leaves_the_old_file_and_no_other(tmp_path, monkeypatch, name):
    path = tmp_path / name
    path.write_bytes(b"the take you kept")

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        WRITERS[name](path)
    assert path.read_bytes() == b"the take you kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_an_exception_while_writing_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic.atomic_open(tmp_path / "half.json", "w") as f:
        f.write("{")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
@pytest.mark.parametrize("name", WRITERS)
def test_the_file_gets_the_umasks_mode(tmp_path, name, umask):
    old = os.umask(umask)
    try:
        WRITERS[name](tmp_path / name)
    finally:
        os.umask(old)
    assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_unwritable_folder_names_the_file_not_the_temporary(tmp_path):
    missing = tmp_path / "gone" / "out.json"
    with pytest.raises(OSError) as error:
        atomic.write_json(missing, {})
    assert str(missing) in str(error.value) and ".tmp" not in str(error.value)


def test_json_round_trips_with_non_finite_numbers(tmp_path):
    atomic.write_json(tmp_path / "n.json", {"a": [1.5, float("nan")], "b": float("inf")})
    text = (tmp_path / "n.json").read_text()
    assert text.endswith("}\n")
    loaded = json.loads(text)
    assert loaded["a"][0] == 1.5 and np.isnan(loaded["a"][1]) and loaded["b"] == float("inf")


def test_importable_without_torch():
    code = "import sys, tonemorph.atomic; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
