"""Engine benchmarks: latency, CPU as a real-time factor, per-frame speed against torch eager, memory.

Speed targets are ratios against a baseline measured in the same run (the machines are noisy); the
latency and memory figures are properties of the build, not timings.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from tonemorph.engine import Engine, load_model
from tonemorph.engine._core import Decoder as CppDecoder
from tonemorph.training.synths import filtered_noise, harmonic_synth

SR, BLOCK, SECONDS = 48000, 128, 5.0


def guitar_like(sr, seconds):
    t = np.arange(int(sr * seconds)) / sr
    f0 = 196.0 * 2 ** (np.floor(t * 2) % 5 / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    env = np.exp(-2.0 * (t % 0.5))
    return (0.3 * env * sum(np.sin(h * phase) / h for h in range(1, 9))).astype(np.float32)


@pytest.mark.parametrize("sr", [44100, 48000])
@pytest.mark.parametrize("block", [64, 128, 512])
def test_reported_latency(benchmark, bundled_size_model, sr, block):
    _, path = bundled_size_model
    engine = Engine(path)
    benchmark.pedantic(engine.prepare, args=(sr, block, 2), rounds=1, iterations=1)
    latency_ms = 1000.0 * engine.latency_samples() / sr
    benchmark.extra_info["latency_ms"] = round(latency_ms, 2)
    # Target <= 10 ms; a host block longer than that (512 at 44.1 kHz = 11.6 ms) is itself beyond it,
    # because inference for one block runs on the worker while the host plays the previous one.
    if block <= 128:
        assert latency_ms <= 10.0


def test_engine_realtime_factor(benchmark, sized_model):
    """Per model size (GRU hidden 128 / 256 / 512); the bundled instruments use 256."""
    _, path = sized_model
    x = guitar_like(SR, SECONDS)
    engine = Engine(path)

    def run():
        engine.prepare(SR, BLOCK, 1)
        for i in range(0, len(x), BLOCK):
            engine.process(x[i : i + BLOCK])

    benchmark.pedantic(run, rounds=3, iterations=1)
    rtf = benchmark.stats.stats.min / SECONDS
    benchmark.extra_info["realtime_factor"] = round(rtf, 4)
    assert rtf < 1.0  # it runs in real time at all; the 0.05 target is reported in the README


def test_engine_frame_vs_torch_eager(benchmark, bundled_size_model):
    """One frame of the whole engine (analysis, inference, synthesis) vs the same decoder and synths
    run frame by frame in torch eager from Python, side by side."""
    ddsp, path = bundled_size_model
    decoder = ddsp.decoder.eval()
    frames = 250
    hop = decoder.hop

    def torch_frames():
        state = decoder.initial_state()
        with torch.no_grad():
            for _ in range(frames):
                f0 = torch.full((1, 1, 1), 220.0)
                loud = torch.full((1, 1, 1), -30.0)
                amp, dist, noise, state = decoder(f0, loud, state)
                harmonic_synth(f0[..., 0], amp[..., 0], dist, decoder.sample_rate, hop)
                filtered_noise(noise, hop)

    start = time.perf_counter()
    for _ in range(3):
        torch_frames()
    torch_per_frame = (time.perf_counter() - start) / (3 * frames)

    x = guitar_like(decoder.sample_rate, frames * hop / decoder.sample_rate)
    engine = Engine(path)

    def engine_frames():
        engine.prepare(decoder.sample_rate, hop, 1)
        for i in range(0, len(x), hop):
            engine.process(x[i : i + hop])

    benchmark.pedantic(engine_frames, rounds=3, iterations=1)
    engine_per_frame = benchmark.stats.stats.min / frames
    speedup = torch_per_frame / engine_per_frame
    benchmark.extra_info.update(torch_ms_per_frame=round(1e3 * torch_per_frame, 4),
                                engine_ms_per_frame=round(1e3 * engine_per_frame, 4), speedup=round(speedup, 2))
    assert speedup > 1.0


def test_decoder_inference_vs_torch_eager(benchmark, bundled_size_model):
    ddsp, path = bundled_size_model
    decoder = ddsp.decoder.eval()
    frames = 250
    cpp = CppDecoder(load_model(path))
    f0 = np.full(frames, 220.0, dtype=np.float32)
    loud = np.full(frames, -30.0, dtype=np.float32)

    start = time.perf_counter()
    with torch.no_grad():
        state = decoder.initial_state()
        for _ in range(frames):
            *_, state = decoder(torch.full((1, 1, 1), 220.0), torch.full((1, 1, 1), -30.0), state)
    torch_per_frame = (time.perf_counter() - start) / frames
    benchmark.pedantic(cpp.run, args=(f0, loud), rounds=3, iterations=1)
    ort_per_frame = benchmark.stats.stats.min / frames
    benchmark.extra_info.update(torch_ms_per_frame=round(1e3 * torch_per_frame, 4),
                                onnxruntime_ms_per_frame=round(1e3 * ort_per_frame, 4),
                                speedup=round(torch_per_frame / ort_per_frame, 2))
    assert ort_per_frame < torch_per_frame


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


def test_engine_memory(benchmark, bundled_size_model):
    _, path = bundled_size_model

    def probe():
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path)], capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout)["rss_bytes"]

    rss = benchmark.pedantic(probe, rounds=1, iterations=1)
    benchmark.extra_info["engine_rss_mb"] = round(rss / 2**20, 1)
    assert rss < 300 * 2**20
