"""Benchmark fixtures: a decoder of the bundled size (GRU 256, 60 harmonics, 65 bands, 1 s reverb)."""

from __future__ import annotations

import pytest
import torch

from tonemorph.training.export import export_onnx
from tonemorph.training.models import DDSP, Decoder


def bundled_size_ddsp(seed: int = 0) -> DDSP:
    torch.manual_seed(seed)
    return DDSP(Decoder(loudness_mean=-40.0, loudness_std=15.0), reverb_seconds=1.0)


@pytest.fixture(scope="session")
def bundled_size_model(tmp_path_factory):
    ddsp = bundled_size_ddsp()
    path = tmp_path_factory.mktemp("bench") / "bundled_size.onnx"
    export_onnx(ddsp, path, name="bundled_size", version=1, f0_range=(80.0, 1200.0))
    return ddsp, path
