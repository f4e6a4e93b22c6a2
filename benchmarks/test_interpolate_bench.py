"""Interpolate's milliseconds per call at its defaults (5 clips, argmax) on 2- and 4-bar clips: the C++ tool
(_core.midi.interpolate, what the plugin runs) against its baseline measured in the same run, the same
encode / slerp / decode loop written in Python over onnxruntime sessions of the same two files (events in,
events out: no clip handling, so the baseline has less to do).

Times are the least CPU seconds of the calling thread over ROUNDS calls, the two contenders taking turns: both
run on that thread (one-thread sessions), and another thread of the process (a BLAS pool spinning after numpy)
counted in the process's time made the first case measured 50 % slower in a CI run.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from timing import least_seconds_in_turns  # benchmarks/timing.py
from tonemorph.engine import _core
from tonemorph.training.midi import melody_data as md

MODELS = Path(__file__).resolve().parents[1] / "models" / "midi"
ROUNDS, STEPS = 5, 5
LIMIT = 1.0  # the C++ tool's time over the Python loop's (measured: see the README's Benchmarks)


class PythonVae:
    """The baseline: the two ONNX files in onnxruntime, one thread, the loop in Python."""

    def __init__(self, stem: Path):
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.encoder, self.decoder = (
            ort.InferenceSession(
                str(stem.with_name(f"{stem.name}_{part}.onnx")), options, providers=["CPUExecutionProvider"]
            )
            for part in ("encoder", "decoder")
        )
        self.state_shape = self.decoder.get_inputs()[2].shape

    def encode(self, events: np.ndarray) -> np.ndarray:
        return self.encoder.run(["mu"], {"events": events[None].astype(np.int64)})[0]

    def decode(self, z: np.ndarray) -> list[int]:
        state = np.zeros(self.state_shape, np.float32)
        event, out = md.START, []
        for _ in range(32):
            logits, state = self.decoder.run(
                ["logits", "state_out"], {"event": np.array([[event]], np.int64), "z": z, "state": state}
            )
            event = int(logits.argmax())
            out.append(event)
        return out


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    cos = float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))
    omega = np.arccos(np.clip(cos, -1, 1))
    if np.sin(omega) < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def python_interpolate(vae: PythonVae, a: np.ndarray, b: np.ndarray, steps: int = STEPS) -> list[list[int]]:
    ends = [(vae.encode(a[c : c + 32]), vae.encode(b[c : c + 32])) for c in range(0, len(a), 32)]
    out = []
    for i in range(steps):
        events = []
        for z_a, z_b in ends:
            events += vae.decode(slerp(z_a, z_b, i / (steps - 1)).astype(np.float32))
        out.append(events)
    return out


def tune(bars: int, pitches: list[int]) -> np.ndarray:
    notes = [(2 * k, 2 * k + 2, pitches[k % len(pitches)]) for k in range(8 * bars)]
    return md.encode(notes)[: 16 * bars].astype(np.int64)


def test_interpolate_ms_per_call(benchmark):
    midi = _core.midi
    vae = midi.MelodyVae(str(MODELS / "melody_vae_decoder.onnx"))
    baseline = PythonVae(MODELS / "melody_vae")

    def clip(events):
        return midi.Clip([midi.Note(s, e, p, 90) for s, e, p in md.decode(events)], steps=len(events))

    cases = {}
    for bars in (2, 4):
        a, b = tune(bars, [60, 62, 64, 65, 67, 69, 71, 72]), tune(bars, [79, 76, 72, 67])
        clip_a, clip_b = clip(a), clip(b)
        cases[bars] = (
            lambda x=clip_a, y=clip_b: midi.interpolate(vae, x, y, steps=STEPS),
            lambda x=a, y=b: python_interpolate(baseline, x, y),
        )

    def measure():
        return {
            bars: tuple(least_seconds_in_turns([ours, base], ROUNDS, time.thread_time))
            for bars, (ours, base) in cases.items()
        }

    times = benchmark.pedantic(measure, rounds=1, iterations=1)
    for bars, (ours, base) in times.items():
        benchmark.extra_info[f"cpp_ms_{bars}_bars"] = round(1000 * ours, 2)
        benchmark.extra_info[f"python_ort_ms_{bars}_bars"] = round(1000 * base, 2)
        print(
            f"\n{bars} bars x {STEPS} clips: C++ {1000 * ours:.1f} ms, Python + onnxruntime {1000 * base:.1f} ms"
        )
    for ours, base in times.values():
        assert ours <= LIMIT * base
