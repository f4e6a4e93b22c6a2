"""Shared fixtures: small models exported through the real export path, once per test session."""

from __future__ import annotations

import pytest
from model_fixtures import export_random_model, export_tone_model


@pytest.fixture(scope="session")
def tone_model_path(tmp_path_factory):
    return export_tone_model(tmp_path_factory.mktemp("models") / "tone.onnx")


@pytest.fixture(scope="session")
def random_model_path(tmp_path_factory):
    return export_random_model(tmp_path_factory.mktemp("models") / "random.onnx")
