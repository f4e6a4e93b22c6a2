"""The plugin's MIDI panel: how long a run takes from Run to the files listed, for 4 bars x 8 variations (the
issue's one-second target), with the shipped models, while a simulated audio thread keeps calling processBlock
(plugin/tools/PluginTorture.cpp `midi`; the time is the job's own clock: opening the model, the tool, writing
the clips and the sidecar into the run folder).

The baseline, measured in the same run: the same tool through the binding (_core.midi, the same C++ core),
model already open, nothing written. The ratio is what the panel adds (the model opened per run, the files,
the thread hand-over); the absolute limit is the issue's.

Times are medians of ROUNDS rounds, the runs interleaved within each round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tonemorph.engine import _core

from tonemorph.plugins import PLUGINS, plugins_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import plugin_host as host

midi = _core.midi
MODELS = Path(__file__).resolve().parents[1] / "models" / "midi"
ROUNDS = 5
BARS, VARIATIONS = 4, 8
PANEL_LIMIT_MS = 1000.0
# Here the panel's run came out at 1.6-1.8 times the bare call (opening the 3.5 MB melody model and writing 8
# files and the sidecar); the limit catches the panel doing much more than that on a loaded 2-core machine.
PANEL_OVER_CORE_LIMIT = 4.0


def panel_ms(models: Path, *args: str) -> float:
    tool = plugins_dir() / "tests" / f"{PLUGINS[host.SYNTH]}-torture"
    result = subprocess.run(
        [str(tool), "midi", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TONEMORPH_MODELS": str(models)},
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["state"] == "done" and report["allocations"] == 0 and report["locks"] == 0, report
    return 1000.0 * report["seconds"]


def test_the_panel_answers_within_a_second(benchmark, tmp_path):
    if not (MODELS / "melody.onnx").is_file():
        pytest.skip("models/midi/melody.onnx is missing")
    models = tmp_path / "models"
    (models / "midi").mkdir(parents=True)
    (models / "midi" / "melody.onnx").symlink_to(MODELS / "melody.onnx")
    melody = midi.EventModel(str(MODELS / "melody.onnx"), "midi-melody")
    clip = midi.Clip(
        [midi.Note(2 * i, 2 * i + 2, p, 100) for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62])],
        16,
        120.0,
        False,
    )
    clip_file = tmp_path / "melody.mid"
    clip_file.write_bytes(midi.write_clip(clip))
    settings = ["--bars", str(BARS), "--variations", str(VARIATIONS), "--seed", "1"]

    def measure():
        times = {
            "panel_generate_ms": [],
            "panel_continue_ms": [],
            "core_generate_ms": [],
            "core_continue_ms": [],
        }
        for _ in range(ROUNDS):
            times["panel_generate_ms"].append(panel_ms(models, "generate", "--kind", "melody", *settings))
            times["panel_continue_ms"].append(
                panel_ms(models, "continue", "--clip", str(clip_file), *settings)
            )
            start = time.perf_counter()
            midi.generate(melody, bars=BARS, variations=VARIATIONS, seed=1)
            times["core_generate_ms"].append(1000 * (time.perf_counter() - start))
            start = time.perf_counter()
            midi.continue_clip(melody, clip, bars=BARS, variations=VARIATIONS, seed=1)
            times["core_continue_ms"].append(1000 * (time.perf_counter() - start))
        return {name: float(np.median(t)) for name, t in times.items()}

    ms = benchmark.pedantic(measure, rounds=1, iterations=1)
    ratios = {tool: ms[f"panel_{tool}_ms"] / ms[f"core_{tool}_ms"] for tool in ("generate", "continue")}
    benchmark.extra_info.update({k: round(v, 2) for k, v in {**ms, **ratios}.items()})
    print(f"\n{BARS} bars x {VARIATIONS} variations, ms: {ms}; panel over core {ratios}")
    for tool in ("generate", "continue"):
        assert ms[f"panel_{tool}_ms"] <= PANEL_LIMIT_MS
        assert ratios[tool] <= PANEL_OVER_CORE_LIMIT
