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

# The longest files first (their builds and soaks), so that the two parallel workers end together instead of
# one finishing a sanitizer build alone after the other ran dry (pytest-xdist's --dist loadfile hands out
# files in collection order). The rest keep their order.
LONGEST_FIRST = (
    "test_sanitize_address.py",
    "test_sanitize_thread.py",
    "test_plugin_torture.py",
    "test_soak.py",
    "test_fuzz_models.py",
    "test_native_decoder.py",
    "test_train.py",
    "test_soundfont.py",
    "test_fuzz_states.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))


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
