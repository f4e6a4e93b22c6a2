"""Benchmark fixtures: a decoder of the bundled size (GRU 256, 60 harmonics, 65 bands, 1 s reverb)."""

from __future__ import annotations

import pytest
import torch
from tonemorph.training.export import export_onnx
from tonemorph.training.models import DDSP, Decoder


def bundled_size_ddsp(seed: int = 0, hidden: int = 256) -> DDSP:
    torch.manual_seed(seed)
    return DDSP(Decoder(hidden=hidden, loudness_mean=-40.0, loudness_std=15.0), reverb_seconds=1.0)


@pytest.fixture(scope="session")
def bundled_size_model(tmp_path_factory):
    ddsp = bundled_size_ddsp()
    path = tmp_path_factory.mktemp("bench") / "bundled_size.onnx"
    export_onnx(ddsp, path, name="bundled_size", version=1, f0_range=(80.0, 1200.0))
    return ddsp, path


@pytest.fixture(scope="session", params=[128, 256, 512], ids=lambda h: f"gru{h}")
def sized_model(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / f"gru{request.param}.onnx"
    export_onnx(bundled_size_ddsp(hidden=request.param), path, name=f"gru{request.param}", version=1,
                f0_range=(80.0, 1200.0))
    return request.param, path
