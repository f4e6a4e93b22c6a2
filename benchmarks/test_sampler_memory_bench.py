"""Peak memory of training a sampler and of generating with one (issue 13's benchmarks), each a child process
measured by GNU time, against a baseline measured in the same run: the interpreter with what each needs
imported and nothing done (torch for training; numpy and the engine's core for generating).

Training: `tonemorph sampler train` on 60 test-made one-shots (kicks, snares, hats in named folders), the
default network (2.35 M parameters, batch 16), 4 steps; its peak is the data, the network, Adam's moments,
the activations of one batch and the export at the end. Generating: `tonemorph sampler generate --count 8`
with the model it wrote (C++ loop, ONNX Runtime). Run alone: `pytest benchmarks/test_sampler_memory_bench.py -s`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from children import run_child  # benchmarks/children.py
from test_sampler_data import hat, kick, snare, write  # tests/ is on pytest's pythonpath

SR = 24000
TONEMORPH = Path(sys.executable).with_name("tonemorph")
SOUNDS_PER_KIND = 20
TRAIN_STEPS = 4
COUNT = 8
# Targets: a laptop with 8 GB trains a sampler beside a DAW; generating inside a plugin adds little to it.
TRAIN_EXTRA_LIMIT = 1.5 * 2**30  # training's peak above the torch interpreter's
GENERATE_EXTRA_LIMIT = 300 * 2**20  # generating's peak above the engine interpreter's


def baseline(imports: str, log: Path) -> int:
    return run_child([sys.executable, "-c", f"import {imports}"], log)[2]


def test_training_and_generating_peak_memory(tmp_path):
    sounds = tmp_path / "sounds"
    for i in range(SOUNDS_PER_KIND):
        rng = np.random.default_rng(i)
        write(sounds / "kick" / f"kick{i}.wav", kick(SR, 0.4 + 0.4 * rng.random()), SR)
        write(sounds / "snare" / f"snare{i}.wav", snare(SR, i), SR)
        write(sounds / "hat" / f"hat{i}.wav", hat(SR, i), SR)
    model = tmp_path / "bench.onnx"
    train = run_child(
        [
            str(TONEMORPH),
            "sampler",
            "train",
            str(sounds),
            "--name",
            "bench",
            "--steps",
            str(TRAIN_STEPS),
            "--run-dir",
            str(tmp_path / "run"),
            "--out",
            str(model),
        ],
        tmp_path / "train.log",
    )
    assert model.is_file()
    out = tmp_path / "generated"
    generate = run_child(
        [
            str(TONEMORPH),
            "sampler",
            "generate",
            str(model),
            "--count",
            str(COUNT),
            "--out",
            str(out),
            "--prompt",
            "kick",
        ],
        tmp_path / "generate.log",
    )
    assert len(list(out.glob("*.wav"))) == COUNT
    torch_floor = baseline("torch, tonemorph.cli", tmp_path / "torch.log")
    engine_floor = baseline("numpy, tonemorph.cli, tonemorph.engine._core", tmp_path / "engine.log")
    mb = 2**20
    print(
        f"\nsampler peak memory: training {train[2] / mb:.0f} MB ({train[2] / torch_floor:.2f}x the torch "
        f"interpreter's {torch_floor / mb:.0f} MB; {3 * SOUNDS_PER_KIND} sounds, {TRAIN_STEPS} steps, "
        f"{train[0]:.0f} s), generating {COUNT} sounds {generate[2] / mb:.0f} MB "
        f"({generate[2] / engine_floor:.2f}x the engine interpreter's {engine_floor / mb:.0f} MB; "
        f"{generate[0]:.1f} s)"
    )
    assert train[2] - torch_floor <= TRAIN_EXTRA_LIMIT
    assert generate[2] - engine_floor <= GENERATE_EXTRA_LIMIT
