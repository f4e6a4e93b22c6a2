"""The sampler's generator on one core: CPU seconds for one 1-second one-shot of the shipped `drums` at its
default settings (16 Euler steps, guided: batch 2 per step), through the C++ loop (_core.sampler.generate,
what the CLI and the plugin run) and through torch (training/sampler/model.py's sample), and the design
choice behind it: one network call (batch 2) and one training step (batch 16) of the chosen filterbank
network against a waveform U-Net in the manner of Dance Diffusion with the same conditioning and a similar
parameter count, measured in the same run.

The torch loop and the design comparison use random weights (time does not depend on them). Times are the
least CPU seconds of the process over ROUNDS calls (the two cores are shared with other work). Run alone:
`pytest benchmarks/test_sampler_bench.py -s`.
"""

from __future__ import annotations

import io

import numpy as np
import onnxruntime as ort
import pytest
import torch
from timing import least_cpu_seconds  # benchmarks/timing.py
from tonemorph.engine import _core
from tonemorph.training.sampler.export import read_metadata
from tonemorph.training.sampler.model import ResidualBlock, VelocityNet, condition_row, sample, time_features
from tonemorph.training.sampler.train import SamplerConfig
from torch import nn
from torch.nn import functional as F

from tonemorph.paths import bundled_models_dir

SR = 24000
ROUNDS = 3
TRAIN_BATCH = 16
ONE_SHOT_LIMIT_S = 1.0  # the target: one 1-second one-shot in at most 1 s on one core


class WaveUNet(nn.Module):
    """The other candidate: a 1-D U-Net on the waveform (strides 4, 4, 4, 5 from 24 kHz to 75 Hz, channels
    16..192, one FiLM residual block per level each way and two at the bottom), with VelocityNet's conditioning."""

    def __init__(self, channels=(16, 32, 64, 128, 192), strides=(4, 4, 4, 5), condition_dim: int = 128):
        super().__init__()
        reference = VelocityNet(channels=8, blocks=1, condition_dim=condition_dim)
        self.time_mlp, self.condition_table = reference.time_mlp, reference.condition_table
        self.register_buffer("condition_offsets", reference.condition_offsets)
        self.inp = nn.Conv1d(1, channels[0], 7, padding=3)
        self.encoder = nn.ModuleList(ResidualBlock(c, condition_dim, 1) for c in channels[:-1])
        self.down = nn.ModuleList(
            nn.Conv1d(channels[i], channels[i + 1], s + 2 * (s // 2), stride=s, padding=s // 2)
            for i, s in enumerate(strides)
        )
        self.middle = nn.ModuleList(ResidualBlock(channels[-1], condition_dim, d) for d in (1, 2))
        self.up = nn.ModuleList(
            nn.ConvTranspose1d(channels[i + 1], channels[i], s + 2 * (s // 2), stride=s, padding=s // 2)
            for i, s in reversed(list(enumerate(strides)))
        )
        self.decoder = nn.ModuleList(ResidualBlock(c, condition_dim, 1) for c in reversed(channels[:-1]))
        self.out = nn.Conv1d(channels[0], 1, 7, padding=3)

    def forward(self, x, t, conditions):
        e = self.time_mlp(time_features(t)) + self.condition_table(conditions + self.condition_offsets).sum(1)
        e = F.silu(e)
        h, skips = self.inp(x[:, None]), []
        for block, down in zip(self.encoder, self.down):
            h = block(h, e)
            skips.append(h)
            h = down(h)
        for block in self.middle:
            h = block(h, e)
        for up, block in zip(self.up, self.decoder):
            h = block(up(h) + skips.pop(), e)
        return self.out(h)[:, 0]


def ort_session(net: nn.Module) -> ort.InferenceSession:
    buffer = io.BytesIO()
    feed = guided_inputs()
    torch.onnx.export(
        net,
        tuple(torch.from_numpy(v) for v in feed.values()),
        buffer,
        dynamo=False,
        input_names=list(feed),
        output_names=["velocity"],
        opset_version=17,
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


def guided_inputs() -> dict[str, np.ndarray]:
    row = condition_row({"kind": "snare"})
    return {
        "x": np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32),
        "t": np.array([0.5, 0.5], np.float32),
        "conditions": np.stack([row, condition_row({})]),
    }


def train_step_seconds(net: nn.Module) -> float:
    optimizer = torch.optim.Adam(net.parameters())
    audio = torch.randn(TRAIN_BATCH, SR)
    conditions = torch.from_numpy(np.repeat(condition_row({"kind": "kick"})[None], TRAIN_BATCH, 0))

    def step():
        optimizer.zero_grad()
        loss = F.mse_loss(net(audio, torch.rand(TRAIN_BATCH), conditions), audio)
        loss.backward()
        optimizer.step()

    return least_cpu_seconds(step, 2)


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_one_shot_seconds_cpp_and_torch(one_thread):
    """The shipped `drums` at its own defaults (what `sampler generate drums` and the plugin run), beside
    torch's loop on a network of its size with random weights at the same steps and guidance."""
    shipped = bundled_models_dir() / "sampler" / "drums.onnx"
    props = read_metadata(shipped)
    steps, guidance = int(props["default_steps"]), float(props["default_guidance"])
    torch.manual_seed(0)
    net = VelocityNet(**SamplerConfig().model_args(), audio_scale=0.1).eval()
    model = _core.sampler.SamplerModel(str(shipped))
    conditions = condition_row({"kind": "snare"})
    cpp = least_cpu_seconds(
        lambda: _core.sampler.generate(model, conditions=conditions.tolist(), seed=1), ROUNDS
    )
    noise = torch.from_numpy(_core.sampler.noise(1, SR))[None]
    row = torch.from_numpy(conditions)[None]
    shift = float(props["time_shift"])
    python = least_cpu_seconds(
        lambda: sample(net, noise, row, steps=steps, guidance=guidance, shift=shift), ROUNDS
    )
    print(
        f"\none 1-second one-shot of drums, {steps} guided steps, one core: C++ {cpp:.3f} s, torch "
        f"{python:.3f} s ({cpp / python:.2f}x)"
    )
    assert cpp < ONE_SHOT_LIMIT_S
    assert cpp < 1.5 * python  # the C++ loop adds nothing to the network's cost


def test_design_choice_filterbank_against_waveform_unet(one_thread):
    torch.manual_seed(0)
    chosen = VelocityNet(**SamplerConfig().model_args()).eval()
    unet = WaveUNet().eval()
    feed = guided_inputs()
    rows = {}
    for name, net in (("filterbank (chosen)", chosen), ("waveform U-Net", unet)):
        session = ort_session(net)
        call = least_cpu_seconds(lambda s=session: s.run(None, feed), ROUNDS)
        rows[name] = (sum(p.numel() for p in net.parameters()) / 1e6, call, train_step_seconds(net.train()))
    print()
    for name, (params, call, step) in rows.items():
        print(
            f"{name}: {params:.2f} M parameters, {call * 1000:.0f} ms per guided call (ONNX Runtime, batch 2), "
            f"{step:.2f} s per training step (batch {TRAIN_BATCH})"
        )
    (_, chosen_call, chosen_step), (_, unet_call, unet_step) = rows.values()
    assert chosen_call < unet_call and chosen_step < unet_step
