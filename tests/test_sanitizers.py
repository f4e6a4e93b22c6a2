"""The C++ real-time checks and the plugin harness built with ThreadSanitizer, and with AddressSanitizer +
UndefinedBehaviorSanitizer (CMake's TONEMORPH_SANITIZE), run clean: no data race between the audio thread,
the model loader, parameter automation and the editor; no out-of-bounds access, use after free, leak or
undefined behaviour.

Each build goes to build-sanitize-<kind>/ in the checkout (ignored by git; a second run only rebuilds what
changed), without the Python binding: the C++ tests (tests/cpp) and the effect's harness
(plugin/tools/PluginTorture.cpp). The models are natively decoded, so ONNX Runtime (not instrumented) never
runs. Under a sanitizer the allocation counters are off (the sanitizer owns the allocator): the harness runs
for what the sanitizer sees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import plugin_host as host
import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("tonemorph_rt_tests", "tonemorph_fx_torture")
OPTIONS = {
    "thread": {"TSAN_OPTIONS": "halt_on_error=1 second_deadlock_stack=1"},
    "address": {"ASAN_OPTIONS": "detect_leaks=1 halt_on_error=1", "UBSAN_OPTIONS": "halt_on_error=1 print_stacktrace=1",
                "LSAN_OPTIONS": f"suppressions={ROOT / 'tests' / 'lsan.supp'}"},
}


@pytest.fixture(scope="module", params=sorted(OPTIONS))
def build(request):
    kind = request.param
    folder = ROOT / f"build-sanitize-{kind}"
    ninja = Path(sys.executable).parent / "ninja"
    configure = ["cmake", "-S", str(ROOT), "-B", str(folder), "-G", "Ninja", f"-DTONEMORPH_SANITIZE={kind}",
                 "-DTONEMORPH_BUILD_PYTHON=OFF", "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                 f"-DONNXRUNTIME_ROOT={ROOT / '.deps' / 'onnxruntime'}", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
    for command in (configure, ["cmake", "--build", str(folder), "--target", *TARGETS]):
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
        assert result.returncode == 0, f"{' '.join(command[:3])} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return kind, folder


def run(build, args, env=None, timeout=600):
    kind, _ = build
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, timeout=timeout,
                            env={**os.environ, **OPTIONS[kind], **(env or {}),
                                 "LD_LIBRARY_PATH": str(ROOT / ".deps" / "onnxruntime" / "lib")})
    report = result.stdout + result.stderr
    assert "Sanitizer" not in report and "runtime error" not in report, report[-6000:]
    assert result.returncode == 0, report[-6000:]
    return result.stdout


def test_the_engine_runs_clean_under_the_sanitizer(build, random_model_path, tone_model_path):
    """tests/cpp/test_realtime.cpp: the audio thread, parameter automation and model swaps, resets included."""
    _, folder = build
    out = run(build, [folder / "tonemorph_rt_tests", random_model_path, tone_model_path])
    assert "0 failed" in out and "FAIL" not in out


def test_the_plugin_runs_clean_under_the_sanitizer(build, random_model_path, tone_model_path):
    """The effect's processBlock with automation and model swaps from other threads, resets and render-mode
    switches on the audio thread, and MIDI runs past 1024 events."""
    _, folder = build
    tool = folder / "plugins" / "tests" / "tonemorph-torture"
    out = run(build, [tool, "realtime", random_model_path, tone_model_path])
    assert '"bad": 0' in out and '"swaps": ' in out


def test_the_editor_opens_and_closes_clean_under_the_sanitizer(build, tone_model_path, tmp_path):
    """The editor opened and closed on the message thread while audio and knob threads run."""
    _, folder = build
    tool = folder / "plugins" / "tests" / "tonemorph-torture"
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(tone_model_path, models / "tone.onnx")
    with host.xvfb() as display:
        out = run(build, [tool, "6"], env={"DISPLAY": display, "TONEMORPH_MODELS": str(models)})
    assert '"opened": 6' in out
