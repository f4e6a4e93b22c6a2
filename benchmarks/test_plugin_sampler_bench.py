"""The plugin's Sampler panel: how long Generate takes for COUNT 1-second one-shots at the default settings
(guided, the model's default steps) with a sampler of the shipped size (random weights: time does not depend
on them), while a simulated audio thread keeps calling processBlock (plugin/tools/PluginTorture.cpp `sampler`;
the time is the job's own clock: opening the model, the prompt, generating, writing the WAVs and sidecars into
the run folder); and how much audio the audio thread played meanwhile (it runs about four times faster than
real time when nothing holds it up).

The baseline, measured in the same run: the same sounds through the binding (_core.sampler.generate, the same
C++ core), model already open, nothing written. The ratio is what the panel adds.

Times are medians of ROUNDS rounds, the two interleaved within each round.
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
import torch
from tonemorph.engine import _core
from tonemorph.training.sampler.export import export_onnx, metadata
from tonemorph.training.sampler.model import VelocityNet
from tonemorph.training.sampler.train import SamplerConfig

from tonemorph.plugins import PLUGINS, plugins_dir
from tonemorph.sampler.data import MODEL_SAMPLE_RATE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import plugin_host as host

ROUNDS = 3
COUNT = 4
PROMPT = "snare"
BLOCK, HOST_RATE = 256, 48000  # the torture tool's
# Here the panel came out at 0.95 times the bare calls, 0.19 s a sound, at load average 4 on 2 cores; 0.9-1.5 times,
# about 0.4 s a sound, at load 15 (the model opened once, four small files written; timings swing 2x under
# load); the limit catches the panel doing much more than the core on a loaded machine.
PANEL_OVER_CORE_LIMIT = 2.0
# The audio thread must keep playing faster than real time while the job runs (it is not held up by it): 3.8x
# here at load 4 (about its pace with no job, 4x), 2.0x at load 15.
MIN_AUDIO_REALTIME_FACTOR = 1.0


@pytest.fixture(scope="module")
def shipped_size_sampler(tmp_path_factory) -> Path:
    config = SamplerConfig()
    torch.manual_seed(0)
    net = VelocityNet(**config.model_args(), audio_scale=0.1).eval()
    vocabulary = {"words": {PROMPT: ["kind", PROMPT]}, "edges": {}, "kinds": {PROMPT: 1}}
    props = metadata(
        net,
        name="bench",
        sample_rate=MODEL_SAMPLE_RATE,
        length=MODEL_SAMPLE_RATE,
        config=config,
        vocabulary=vocabulary,
    )
    path = tmp_path_factory.mktemp("bench") / "bench.onnx"
    export_onnx(net, path, props, MODEL_SAMPLE_RATE)
    return path


def panel(model: Path, tmp: Path) -> dict:
    tool = plugins_dir() / "tests" / f"{PLUGINS[host.SYNTH]}-torture"
    result = subprocess.run(
        [str(tool), "sampler", str(model), "--prompt", PROMPT, "--count", str(COUNT), "--seed", "1"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["state"] == "done" and report["allocations"] == 0 and report["locks"] == 0, report
    return report


def test_the_panel_adds_little_to_the_core_and_the_audio_keeps_playing(
    benchmark, shipped_size_sampler, tmp_path
):
    model = _core.sampler.SamplerModel(str(shipped_size_sampler))
    conditions = _core.sampler.parse_prompt(model, PROMPT)

    def measure():
        panel_s, core_s, realtime = [], [], []
        for k in range(ROUNDS):
            report = panel(shipped_size_sampler, tmp_path / f"round{k}")
            panel_s.append(report["seconds"])
            realtime.append(report["job_blocks"] * BLOCK / HOST_RATE / report["seconds"])
            start = time.perf_counter()
            for i in range(COUNT):
                _core.sampler.generate(model, conditions=conditions, seed=1 + i)
            core_s.append(time.perf_counter() - start)
        return {
            "panel_s": float(np.median(panel_s)),
            "core_s": float(np.median(core_s)),
            "audio_realtime_factor": float(np.median(realtime)),
        }

    measured = benchmark.pedantic(measure, rounds=1, iterations=1)
    measured["panel_over_core"] = measured["panel_s"] / measured["core_s"]
    measured["panel_s_per_sound"] = measured["panel_s"] / COUNT
    benchmark.extra_info.update({k: round(v, 3) for k, v in measured.items()})
    print(f"\n{COUNT} one-second sounds: {measured}")
    assert measured["panel_over_core"] <= PANEL_OVER_CORE_LIMIT
    assert measured["audio_realtime_factor"] >= MIN_AUDIO_REALTIME_FACTOR
