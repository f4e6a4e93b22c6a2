"""Shared fixtures: small models exported through the real export path, once per test session."""

from __future__ import annotations

import os

import pytest
from model_fixtures import export_random_model, export_tone_model, export_worker_model

# Without DISPLAY, JUCE (inside every plugin a test loads) opens :0, which may be an Xvfb another test started
# (tests run two at a time) and then stops, taking the plugin's process with it. A display that does not exist
# makes JUCE run without one; the tests that need a screen start their own Xvfb and pass its DISPLAY.
if "DISPLAY" not in os.environ:
    os.environ["DISPLAY"] = ":65535"


@pytest.fixture(scope="session")
def tone_model_path(tmp_path_factory):
    return export_tone_model(tmp_path_factory.mktemp("models") / "tone.onnx")


@pytest.fixture(scope="session")
def random_model_path(tmp_path_factory):
    return export_random_model(tmp_path_factory.mktemp("models") / "random.onnx")


@pytest.fixture(scope="session")
def worker_model_path(tmp_path_factory, random_model_path):
    """The random model with an operator the native runner does not know: decoded by ONNX Runtime on a worker."""
    return export_worker_model(tmp_path_factory.mktemp("models") / "worker.onnx", random_model_path)


@pytest.fixture(scope="session")
def slow_worker_model_path(tmp_path_factory, random_model_path):
    """A worker-decoded model that needs about 20 ms per 4 ms frame: the worker is always late."""
    return export_worker_model(tmp_path_factory.mktemp("models") / "slow.onnx", random_model_path,
                               loop_iterations=20000)
