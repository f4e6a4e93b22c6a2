"""The MIDI tools' sampling loop written again in Python (onnxruntime), with the same random numbers as the C++
(cpp/actions/midi/Sampler.h): the reference tests/test_midi_tools.py checks the C++ against, and the baseline
benchmarks/test_midi_tools_bench.py times it against."""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort

M64 = (1 << 64) - 1


def splitmix64(x: int) -> tuple[int, int]:
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


class Pcg32:
    def __init__(self, seed: int):
        x, initstate = splitmix64(seed)
        _, initseq = splitmix64(x)
        self.state, self.inc = 0, ((initseq << 1) | 1) & M64
        self.next()
        self.state = (self.state + initstate) & M64
        self.next()

    def next(self) -> int:
        old = self.state
        self.state = (old * 6364136223846793005 + self.inc) & M64
        xorshifted = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xorshifted >> rot) | (xorshifted << ((32 - rot) & 31))) & 0xFFFFFFFF

    def uniform(self) -> float:
        return (self.next() >> 8) * 2.0**-24


def draw(logits, temperature: float, rng: Pcg32) -> int:
    best = int(np.argmax(logits))
    if temperature <= 0:
        return best
    top = float(logits[best])
    weights = [math.exp((float(v) - top) / temperature) for v in logits]
    target, running = rng.uniform() * sum(weights), 0.0
    for i, w in enumerate(weights):
        running += w
        if running > target:
            return i
    return best


def open_session(path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def reference_sample(path_or_session, primer, steps, temperature, seed) -> list[int]:
    """The sampling loop in Python with onnxruntime: START, the primer, then draws fed back."""
    session = path_or_session
    if not isinstance(session, ort.InferenceSession):
        session = open_session(path_or_session)
    meta = session.get_modelmeta().custom_metadata_map
    state = np.zeros((2 * int(meta["layers"]), 1, int(meta["hidden"])), np.float32)
    rng = Pcg32(seed)

    def feed(event):
        nonlocal state
        logits, state = session.run(None, {"event": np.array([[event]], np.int64), "state": state})
        return logits[0, 0]

    logits = feed(int(meta["start_token"]))
    for event in primer:
        logits = feed(event)
    out = []
    for i in range(steps):
        out.append(draw(logits, temperature, rng))
        if i + 1 < steps:
            logits = feed(out[-1])
    return out
