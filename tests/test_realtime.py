"""The real-time rules, checked in C++ (tests/cpp/test_realtime.cpp): no heap allocation, no free and no lock
on the audio thread during Engine::process and reset, with inline and worker decoding, automation, model swaps
and MIDI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tonemorph.engine._core as core
from model_fixtures import export_random_model

BINARY = Path(core.__file__).parent / "tonemorph_rt_tests"


def run(*args):
    result = subprocess.run([str(BINARY), *map(str, args)], check=False, capture_output=True, text=True,
                            timeout=300)
    return result.returncode, result.stdout + result.stderr


def test_counters_see_allocations_and_locks():
    code, out = run("--self-check")
    assert code == 0, out
    assert "3 passed, 0 failed" in out


def test_no_allocation_or_lock_in_process(random_model_path, tmp_path):
    other = export_random_model(tmp_path / "other.onnx", name="other", seed=5)
    code, out = run(random_model_path, other)
    assert code == 0, out
    assert "no heap allocation on the audio thread in process() (0)" in out
    assert "no heap free on the audio thread in process() (0)" in out
    assert "no mutex lock on the audio thread in process() (0)" in out


def test_no_allocation_or_lock_with_the_onnxruntime_worker(worker_model_path, random_model_path):
    """Swaps between a model on the worker and a native one: neither path allocates, frees or locks."""
    code, out = run(worker_model_path, random_model_path)
    assert code == 0, out
    assert "no heap allocation on the audio thread in process() (0)" in out
    assert "no heap free on the audio thread in process() (0)" in out


@pytest.mark.parametrize("bad", ["missing", "junk"])
def test_binary_reports_a_bad_model(tmp_path, bad):
    path = tmp_path / f"{bad}.onnx"
    if bad == "junk":
        path.write_bytes(b"junk")
    code, out = run(path)
    assert code == 1 and f"{bad}.onnx" in out
