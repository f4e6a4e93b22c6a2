"""Models for engine tests, exported through the real export path.

`ToneDecoder` is a decoder whose output is known in closed form, so that tests can check what the
engine does with pitch and loudness: harmonic k at amplitude 1/k, loudness mapped to amplitude by
amplitude = 0.3 * clamp((loudness_db + 70) / 60, 0, 1), a faint constant noise floor, and a state that
counts frames (state_out = state + 1), which makes the state handling visible too.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tonemorph.training.export import export_onnx
from tonemorph.training.models import DDSP, Decoder
from torch import nn

SAMPLE_RATE = 24000
HOP = 96


class ToneDecoder(Decoder):
    def __init__(self, n_harmonics: int = 30, n_noise_bands: int = 17, noise: float = 1e-4):
        nn.Module.__init__(self)
        self.n_harmonics, self.n_noise_bands = n_harmonics, n_noise_bands
        self.hidden, self.gru_layers = 4, 1
        self.sample_rate, self.hop = SAMPLE_RATE, HOP
        self.loudness_mean, self.loudness_std = -30.0, 12.0
        self.head = nn.Linear(1, 1)  # only so that initial_state() finds a device
        self.register_buffer("distribution", 1.0 / torch.arange(1, n_harmonics + 1, dtype=torch.float32))
        self.noise = noise

    def forward(self, f0_hz, loudness_db, state=None):
        if state is None:
            state = self.initial_state(f0_hz.shape[0])
        amplitude = 0.3 * torch.clamp((loudness_db + 70.0) / 60.0, 0.0, 1.0)
        distribution = self.distribution.expand(*f0_hz.shape[:2], self.n_harmonics) + 0.0 * f0_hz
        noise = torch.full((*f0_hz.shape[:2], self.n_noise_bands), self.noise) + 0.0 * loudness_db
        return amplitude, distribution, noise, state + 1.0


def export_tone_model(path: Path, name: str = "tone", f0_range=(50.0, 2000.0), **kwargs) -> Path:
    export_onnx(ToneDecoder(**kwargs), path, name=name, version=1, f0_range=f0_range)
    return path


def random_ddsp(hidden: int = 32, seed: int = 0) -> DDSP:
    """An untrained DDSP with reproducible weights (the torch side of parity tests)."""
    torch.manual_seed(seed)
    return DDSP(Decoder(hidden=hidden, loudness_mean=-40.0, loudness_std=15.0, n_harmonics=40, n_noise_bands=33),
                reverb_seconds=0.25)


def export_random_model(path: Path, name: str = "random", hidden: int = 32, seed: int = 0) -> Path:
    export_onnx(random_ddsp(hidden, seed), path, name=name, version=1, f0_range=(80.0, 1200.0))
    return path


def export_worker_model(path: Path, source: Path, loop_iterations: int = 0) -> Path:
    """`source` (a tonemorph model) with an operator the native runner does not know spliced into its amplitude
    path, so that the engine decodes it in ONNX Runtime on a worker thread: amplitude * (1 + 0 * erf(amplitude)).
    loop_iterations > 0 also runs an ONNX Loop of that many trips per frame, a decoder that takes as long as
    its trip count says (about a microsecond a trip), to make the worker late on purpose."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(source))
    graph = model.graph
    for node in graph.node:  # the amplitude is now computed under another name
        node.output[:] = ["amplitude_raw" if o == "amplitude" else o for o in node.output]
    zero = helper.make_tensor("worker_zero", TensorProto.FLOAT, [], [0.0])
    one = helper.make_tensor("worker_one", TensorProto.FLOAT, [], [1.0])
    graph.initializer.extend([zero, one])
    extra = "worker_erf_scaled"
    nodes = [helper.make_node("Erf", ["amplitude_raw"], ["worker_erf"]),
             helper.make_node("Mul", ["worker_erf", "worker_zero"], [extra])]
    if loop_iterations:
        body = helper.make_graph(
            [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
             helper.make_node("Add", ["v_in", "one_in_body"], ["v_out"])],
            "slow_body",
            [helper.make_tensor_value_info("i", TensorProto.INT64, []),
             helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
             helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [])],
            [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
             helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [])],
            [helper.make_tensor("one_in_body", TensorProto.FLOAT, [], [1.0])])
        graph.initializer.extend([helper.make_tensor("worker_trips", TensorProto.INT64, [], [loop_iterations]),
                                  helper.make_tensor("worker_true", TensorProto.BOOL, [], [True])])
        nodes += [helper.make_node("Loop", ["worker_trips", "worker_true", "worker_zero"], ["worker_count"], body=body),
                  helper.make_node("Mul", ["worker_count", "worker_zero"], ["worker_loop_zero"]),
                  helper.make_node("Add", ["worker_erf_scaled", "worker_loop_zero"], ["worker_extra"])]
        extra = "worker_extra"
    nodes += [helper.make_node("Add", [extra, "worker_one"], ["worker_gain"]),
              helper.make_node("Mul", ["amplitude_raw", "worker_gain"], ["amplitude"])]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
