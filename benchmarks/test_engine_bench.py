"""Engine benchmarks: latency per block size, CPU as a real-time factor per shipped model (native int8, native
float32, the ONNX Runtime worker path and torch eager, in one run), the decoder alone, memory.

Speed targets are ratios against a baseline measured in the same run (the machines are noisy); the absolute
real-time factors are reported in extra_info and in the README. The latency and memory figures are
properties of the build, not timings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from model_fixtures import export_worker_model  # tests/ is on pytest's pythonpath
from timing import least_cpu_seconds, least_seconds_in_turns  # benchmarks/timing.py
from tonemorph.engine import Engine, load_model
from tonemorph.engine._core import Decoder as CppDecoder
from tonemorph.engine._core import matrix_kernels, use_matrix_kernels
from tonemorph.training.synths import filtered_noise, harmonic_synth
from tonemorph.training.train import load_checkpoint, model_from_checkpoint

SR, BLOCK, SECONDS = 48000, 128, 5.0
MODELS = Path(__file__).resolve().parents[1] / "models"
SHIPPED = ("trumpet", "violin", "flute", "saxophone")


def guitar_like(sr, seconds):
    t = np.arange(int(sr * seconds)) / sr
    f0 = 196.0 * 2 ** (np.floor(t * 2) % 5 / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    env = np.exp(-2.0 * (t % 0.5))
    return (0.3 * env * sum(np.sin(h * phase) / h for h in range(1, 9))).astype(np.float32)


def engine_run(model, x, realtime: bool = False):
    """The whole engine over x at SR in BLOCK-sample blocks, as a host calls it: a callable to time."""
    engine = Engine(model, realtime=realtime)

    def run():
        engine.prepare(SR, BLOCK, 1)
        for i in range(0, len(x), BLOCK):
            engine.process(x[i : i + BLOCK])

    return run


def torch_eager_seconds(name: str, frames: int) -> float:
    """The same decoder and synths frame by frame in torch eager from Python (no analysis, no resampling)."""
    decoder = model_from_checkpoint(load_checkpoint(MODELS / f"{name}.pt")).decoder.eval()
    hop = decoder.hop

    def run():
        state = decoder.initial_state()
        with torch.no_grad():
            for _ in range(frames):
                f0 = torch.full((1, 1, 1), 220.0)
                amp, dist, noise, state = decoder(f0, torch.full((1, 1, 1), -30.0), state)
                harmonic_synth(f0[..., 0], amp[..., 0], dist, decoder.sample_rate, hop)
                filtered_noise(noise, hop)

    return least_cpu_seconds(run, rounds=2)


@pytest.mark.parametrize("sr", [44100, 48000])
def test_latency_per_block_size(benchmark, sr):
    """Target: at most 6 ms at 44.1 and 48 kHz, the same for every largest block from 32 to 8192."""
    engine = Engine(load_model("trumpet"))
    blocks = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)

    def prepare_all():
        return {block: (engine.prepare(sr, block, 2), engine.latency_samples())[1] for block in blocks}

    latencies = benchmark.pedantic(prepare_all, rounds=1, iterations=1)
    benchmark.extra_info["latency_ms"] = {b: round(1000.0 * n / sr, 2) for b, n in latencies.items()}
    assert len(set(latencies.values())) == 1
    assert 1000.0 * latencies[32] / sr <= 6.0


@pytest.fixture(scope="module")
def worker_copies(tmp_path_factory):
    """Each shipped model with one operator the native runner does not know: decoded by ONNX Runtime on the
    worker thread, which is how the engine ran every model before the native runner."""
    folder = tmp_path_factory.mktemp("worker")
    return {name: export_worker_model(folder / f"{name}.onnx", MODELS / f"{name}.onnx") for name in SHIPPED}


# The native runner's lead over ONNX Runtime by the int8 kernels this CPU runs. The target (2x) is for
# this machine's, AVX-512 VNNI (vpdpwssd multiplies and adds in one instruction). Without VNNI the same products
# run as vpmaddwd + vpaddd on AVX2: measured here with use_matrix_kernels("avx2"), the decoder took 1.4x as long
# and the whole engine led ONNX Runtime by 1.95-2.46x (VNNI: 2.48-2.66x); this benchmark reports both on a VNNI
# CPU. 1.75x is the floor for CPUs without it.
MIN_SPEEDUP_VS_ONNXRUNTIME = {"avx512vnni": 2.0}
MIN_SPEEDUP_OTHER_KERNELS = 1.75


@pytest.mark.parametrize("name", SHIPPED)
def test_realtime_factor_per_model(benchmark, name, worker_copies):
    """48 kHz, 128-sample blocks. Targets: native (int8) at least 2x faster than the ONNX Runtime worker path
    (on AVX-512 VNNI; see MIN_SPEEDUP_VS_ONNXRUNTIME) and than torch eager, measured side by side; float32
    weights reported beside it (README, "CPU")."""
    x = guitar_like(SR, SECONDS)
    path = MODELS / f"{name}.onnx"
    int8 = load_model(path, weights="int8")
    float32 = load_model(path, weights="float32")
    assert int8.native and not load_model(worker_copies[name]).native

    # The worker: offline, it waits for every frame, as a bounce does.
    runs = [engine_run(int8, x), engine_run(float32, x), engine_run(worker_copies[name], x)]
    native, native_f32, worker = benchmark.pedantic(least_seconds_in_turns, args=(runs, 5), rounds=1, iterations=1)
    frames = int(SECONDS * 24000 / 96)
    eager = torch_eager_seconds(name, frames)
    kernels = matrix_kernels()
    benchmark.extra_info.update(
        kernels=kernels, rtf_native_int8=round(native / SECONDS, 4), rtf_native_float32=round(native_f32 / SECONDS, 4),
        rtf_onnxruntime_worker=round(worker / SECONDS, 4), rtf_torch_eager_decoder_and_synths=round(eager / SECONDS, 4),
        speedup_vs_onnxruntime=round(worker / native, 2), speedup_vs_torch_eager=round(eager / native, 2))
    if kernels == "avx512vnni":  # what a CPU without VNNI runs, measured the same way, reported beside
        use_matrix_kernels("avx2")
        try:
            native_avx2, worker_avx2 = least_seconds_in_turns([runs[0], runs[2]], 5)
        finally:
            use_matrix_kernels(kernels)
        benchmark.extra_info.update(rtf_native_int8_avx2=round(native_avx2 / SECONDS, 4),
                                    speedup_vs_onnxruntime_avx2=round(worker_avx2 / native_avx2, 2))
        assert worker_avx2 / native_avx2 >= MIN_SPEEDUP_OTHER_KERNELS
    assert worker / native >= MIN_SPEEDUP_VS_ONNXRUNTIME.get(kernels, MIN_SPEEDUP_OTHER_KERNELS)
    assert eager / native >= 2.0


def test_decoder_alone_native_vs_onnxruntime_vs_torch(benchmark):
    """One frame of the trumpet's decoder: the native runner (int8, float32), ONNX Runtime, torch eager."""
    frames = 500
    f0 = np.full(frames, 220.0, dtype=np.float32)
    loud = np.full(frames, -30.0, dtype=np.float32)
    path = MODELS / "trumpet.onnx"
    native = CppDecoder(load_model(path, weights="int8"), "native")
    int8 = benchmark.pedantic(least_cpu_seconds, args=(lambda: native.run(f0, loud), 5), rounds=1, iterations=1)
    int8 /= frames
    float32_decoder = CppDecoder(load_model(path, weights="float32"), "native")
    float32 = least_cpu_seconds(lambda: float32_decoder.run(f0, loud), rounds=5) / frames
    ort_decoder = CppDecoder(load_model(path, weights="float32"), "onnxruntime")
    ort = least_cpu_seconds(lambda: ort_decoder.run(f0, loud), rounds=5) / frames
    decoder = model_from_checkpoint(load_checkpoint(MODELS / "trumpet.pt")).decoder.eval()

    def eager():
        with torch.no_grad():
            state = decoder.initial_state()
            for _ in range(frames):
                *_, state = decoder(torch.full((1, 1, 1), 220.0), torch.full((1, 1, 1), -30.0), state)

    torch_eager = least_cpu_seconds(eager, rounds=2) / frames
    benchmark.extra_info.update({f"{k}_us_per_frame": round(1e6 * v, 1) for k, v in
                                 {"native_int8": int8, "native_float32": float32, "onnxruntime": ort,
                                      "torch_eager": torch_eager}.items()})
    assert ort / int8 >= 2.0 and torch_eager / int8 >= 2.0


MEMORY_PROBE = """
import json, sys
def rss():
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) * 1024
import numpy as np
from tonemorph.engine import Engine
import tonemorph.engine._core
before = rss()
engine = Engine(sys.argv[1])
engine.prepare(48000, 512, 2)
engine.process(np.zeros((2, 48000), dtype=np.float32))
print(json.dumps({"rss_bytes": rss() - before}))
"""


def test_engine_memory(benchmark):
    """One instance playing the trumpet: the model (int8 weights, no ONNX Runtime session) and its buffers."""

    def probe():
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(MODELS / "trumpet.onnx")], capture_output=True,
                             text=True, check=True)
        return json.loads(out.stdout)["rss_bytes"]

    rss = benchmark.pedantic(probe, rounds=1, iterations=1)
    benchmark.extra_info["engine_rss_mb"] = round(rss / 2**20, 1)
    assert rss < 100 * 2**20
