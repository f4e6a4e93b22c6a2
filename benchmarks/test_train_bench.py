"""Training speed: one step of the bundled-size model (GRU 256, 60 harmonics, 65 bands, 1 s reverb, 8 crops of
1 s, six FFT scales), torch.compile against the eager baseline, timed alternately in the same run so that
other jobs on the machine slow both alike.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from timing import least_seconds_in_turns  # benchmarks/timing.py
from tonemorph.training.config import TrainConfig
from tonemorph.training.dataset import PreparedDataset
from tonemorph.training.spectral import SPECTRAL_LOSS_FFT_SIZES, multiscale_spectral_loss
from tonemorph.training.train import CropSampler, build_model, build_optimizer

ROUNDS = 8
MIN_COMPILE_SPEEDUP = 1.05  # measured: 1.7-1.8x on this 2-core machine, 1.16x on the CI machine


def random_set(config: TrainConfig, chunks: int = 8, seconds: float = 2.0) -> PreparedDataset:
    rng = np.random.default_rng(0)
    frames = int(seconds * config.sample_rate) // config.hop
    f0 = rng.uniform(150.0, 900.0, (chunks, frames)).astype(np.float32)
    return PreparedDataset(rng.uniform(-0.3, 0.3, (chunks, frames * config.hop)).astype(np.float32), f0,
                           np.ones_like(f0), rng.uniform(-60.0, -10.0, f0.shape).astype(np.float32),
                           np.arange(chunks, dtype=np.int32), config.sample_rate, config.hop, ["random"])


def training_step(config: TrainConfig, dataset: PreparedDataset, compiled: bool):
    torch.manual_seed(0)
    model = build_model(config.model_args(), -35.0, 12.0)
    optimizer, _ = build_optimizer(model, config)
    sampler = CropSampler(dataset, round(config.crop_seconds * config.sample_rate / config.hop), (0, 0),
                          torch.device("cpu"))
    forward = torch.compile(model) if compiled else model

    def step():
        f0, loudness, audio = sampler.sample(config.batch_size)
        optimizer.zero_grad(set_to_none=True)
        multiscale_spectral_loss(forward(f0, loudness), audio, SPECTRAL_LOSS_FFT_SIZES).backward()
        optimizer.step()

    return step


def test_compiled_training_step_is_faster_than_eager(benchmark):
    config = TrainConfig()
    dataset = random_set(config)
    steps = {"eager": training_step(config, dataset, False), "compiled": training_step(config, dataset, True)}
    started = time.perf_counter()
    steps["compiled"]()
    compile_seconds = time.perf_counter() - started
    steps["eager"]()
    # The least wall seconds of each over rounds in turns (benchmarks/timing.py): a slow spell of the machine
    # falls on both, and the least of each is what the step costs without it. A CI run measured the medians
    # at 1.02x where this machine's are 1.3-1.8x; the assertion prints both rates.
    least = dict(zip(steps, least_seconds_in_turns(list(steps.values()), ROUNDS, time.perf_counter)))
    benchmark.pedantic(steps["compiled"], rounds=1, iterations=1)
    frames = config.batch_size * round(config.crop_seconds * config.sample_rate / config.hop)
    for name, seconds in least.items():
        benchmark.extra_info[f"{name}_steps_per_second"] = round(1.0 / seconds, 2)
        benchmark.extra_info[f"{name}_frames_per_second"] = round(frames / seconds)
    benchmark.extra_info["compile_seconds"] = round(compile_seconds, 1)
    speedup = least["eager"] / least["compiled"]
    benchmark.extra_info["compile_speedup"] = round(speedup, 2)
    assert speedup >= MIN_COMPILE_SPEEDUP, (
        f"torch.compile gives {speedup:.2f}x over eager "
        f"({1 / least['compiled']:.2f} against {1 / least['eager']:.2f} steps a second)"
    )
