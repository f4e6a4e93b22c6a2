"""Helpers for the plugin tests: the built bundles, the plugin's state as the hosts carry it, an Xvfb
display, and the signal checks the suites share.

State: a JUCE host (pedalboard, DawDreamer) stores a VST3's state as JUCE binary XML <VST3PluginState>
whose <IComponent> holds the plugin's own getStateInformation bytes in JUCE's base64 dialect; ours is
binary XML <tonemorph model=... modelName=...> with one <PARAM id value/> per parameter.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tonemorph.plugins import PLUGINS, bundle, plugins_dir

OUTPUT_LIMIT = 10 ** (6 / 20)  # +6 dBFS, the most the engine emits
EFFECT, SYNTH = "tonemorph", "tonemorph Synth"
TESTS_DIR = Path(__file__).resolve().parent

_JUCE_XML_MAGIC = 0x21324356
_JUCE_B64_ALPHABET = np.frombuffer(b".ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+", np.uint8)
_JUCE_B64_INDEX = np.full(256, 255, np.uint8)
_JUCE_B64_INDEX[_JUCE_B64_ALPHABET] = np.arange(64)


def vst3(name: str = EFFECT) -> Path:
    return bundle(name, "vst3")


def lv2(name: str = EFFECT) -> Path:
    return bundle(name, "lv2")


def standalone(name: str = EFFECT) -> Path:
    return bundle(name, "standalone")


def model_hop(sr: int) -> int:
    """The test models' hop (tests/model_fixtures.py) in samples at the host rate, rounded up."""
    from model_fixtures import HOP, SAMPLE_RATE  # imports torch: only where needed

    return int(np.ceil(HOP * sr / SAMPLE_RATE))


def bundled_models(name: str = EFFECT) -> list[Path]:
    return sorted((vst3(name) / "Contents" / "Resources" / "models").glob("*.onnx"))


def default_model(user_dir: Path) -> Path:
    """The plugin's rule: the bundled trumpet, else the first bundled model, else the first user model."""
    bundled = bundled_models()
    for path in bundled:
        if path.stem.lower() == "trumpet":
            return path
    candidates = bundled or sorted(user_dir.glob("*.onnx"))
    assert candidates, "no model to fall back to"
    return candidates[0]


# --- JUCE's binary XML and base64 dialect (juce_AudioProcessor.cpp, juce_MemoryBlock.cpp) ---------------------


def xml_from_binary(data: bytes) -> ET.Element:
    magic, length = struct.unpack("<II", data[:8])
    assert magic == _JUCE_XML_MAGIC, "not JUCE binary XML"
    return ET.fromstring(data[8 : 8 + length].rstrip(b"\0").decode("utf-8"))


def xml_to_binary(element: ET.Element) -> bytes:
    text = ET.tostring(element, encoding="utf-8")
    return struct.pack("<II", _JUCE_XML_MAGIC, len(text) + 1) + text + b"\0"


def juce_b64decode(text: str) -> bytes:
    size, _, chars = text.strip().partition(".")
    values = _JUCE_B64_INDEX[np.frombuffer(chars.encode(), np.uint8)].astype(np.uint32)
    if (values > 63).any():
        raise ValueError("not JUCE base64")
    values = np.concatenate([values, np.zeros(-len(values) % 4, np.uint32)]).reshape(-1, 4)
    value = values[:, 0] | values[:, 1] << 6 | values[:, 2] << 12 | values[:, 3] << 18
    data = np.stack([value & 255, value >> 8 & 255, value >> 16 & 255], axis=1).astype(np.uint8)
    return data.tobytes()[: int(size)]


def juce_b64encode(data: bytes) -> str:
    """JUCE's dialect: the bytes as one little-endian number, written 6 bits at a time from the lowest."""
    groups = np.frombuffer(data + bytes(-len(data) % 3), np.uint8).reshape(-1, 3).astype(np.uint32)
    value = groups[:, 0] | groups[:, 1] << 8 | groups[:, 2] << 16
    chars = (value[:, None] >> np.array([0, 6, 12, 18], np.uint32)) & 63
    return f"{len(data)}." + _JUCE_B64_ALPHABET[chars.reshape(-1)[: (len(data) * 8 + 5) // 6]].tobytes().decode()


def plugin_state(raw_state: bytes) -> ET.Element:
    """The plugin's own <tonemorph> state inside a JUCE host's VST3 state."""
    host = xml_from_binary(raw_state)
    return xml_from_binary(juce_b64decode(host.find("IComponent").text))


def with_plugin_state(raw_state: bytes, state: ET.Element) -> bytes:
    host = xml_from_binary(raw_state)
    host.find("IComponent").text = juce_b64encode(xml_to_binary(state))
    return xml_to_binary(host)


def state_with_model(raw_state: bytes, model: Path | str, name: str | None = None) -> bytes:
    state = plugin_state(raw_state)
    state.set("model", str(model))
    state.set("modelName", name if name is not None else Path(model).stem)
    return with_plugin_state(raw_state, state)


def host_name(param_id: str) -> str:
    """pedalboard's key for a parameter: its display name and unit ("Input gain", dB -> "input_gain_db")."""
    from tonemorph.engine import PARAMETERS

    base = param_id
    for suffix in ("_db", "_ms"):
        base = base.removesuffix(suffix)
    unit = next(p["unit"] for p in PARAMETERS if p["name"] == param_id).lower()
    return f"{base}_{unit}" if unit else base


def set_param(plugin, param_id: str, value: float) -> None:
    """Set by value in the parameter's units (pedalboard finds the raw value from the displayed text)."""
    setattr(plugin, host_name(param_id), bool(value) if param_id == "auto_adjust" else value)


def render(plugin, x: np.ndarray, sr: int, block: int) -> np.ndarray:
    """pedalboard's render, after one short render at the same rate and block size.

    A VST3 host reads the plugin's latency after IComponent::setupProcessing, before setActive, where
    JUCE's wrapper calls prepareToPlay; the plugin reports its new latency from prepareToPlay through
    restartComponent(kLatencyChanged), which reaches the host on its message loop. DAWs run that loop;
    pedalboard does not, so its latency compensation at a new rate or block size is right from the second
    render on. The first render here is that warm-up.
    """
    plugin(x[..., :block], sr, buffer_size=block)
    return plugin(x, sr, buffer_size=block)


@contextlib.contextmanager
def user_model_folder(folder: Path, *models: Path):
    """$TONEMORPH_MODELS pointing at `folder` holding copies of `models`, for plugins made meanwhile."""
    folder.mkdir(parents=True, exist_ok=True)
    for model in models:
        (folder / model.name).write_bytes(model.read_bytes())
    old = os.environ.get("TONEMORPH_MODELS")
    os.environ["TONEMORPH_MODELS"] = str(folder)
    try:
        yield folder
    finally:
        if old is None:
            del os.environ["TONEMORPH_MODELS"]
        else:
            os.environ["TONEMORPH_MODELS"] = old


def load_with_model(model: Path | None, name: str = EFFECT):
    """pedalboard's VST3 host with the plugin playing `model` (restored through the state)."""
    import pedalboard

    plugin = pedalboard.load_plugin(str(vst3(name)))
    if model is not None:
        plugin.raw_state = state_with_model(plugin.raw_state, model)
    return plugin


# --- signals ---------------------------------------------------------------------------------------------------


def tone(
    sr: int, seconds: float = 1.0, f0: float = 220.0, amp: float = 0.3, start: float = 0.0
) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = amp * np.sin(2 * np.pi * f0 * t) + 0.3 * amp * np.sin(2 * np.pi * 2 * f0 * t)
    x[: int(start * sr)] = 0.0
    return x.astype(np.float32)


def pitch_track(y: np.ndarray, sr: int, fmin: float = 60.0, fmax: float = 1500.0, hop: int = 256):
    """librosa's pYIN-free YIN track [frames] and each frame's centre sample."""
    import librosa

    frame = int(2 ** np.ceil(np.log2(2.5 * sr / fmin)))
    f = librosa.yin(y.astype(np.float64), fmin=fmin, fmax=fmax, sr=sr, frame_length=frame, hop_length=hop)
    return f, np.arange(len(f)) * hop


def median_f0(y: np.ndarray, sr: int) -> float:
    return float(np.median(pitch_track(y, sr)[0]))


def cents(a, b):
    return 1200.0 * np.log2(np.asarray(a) / np.asarray(b))


def assert_sane(y: np.ndarray, what: str = "output") -> None:
    assert np.all(np.isfinite(y)), f"{what}: NaN or inf"
    peak = float(np.abs(y).max()) if y.size else 0.0
    assert peak <= OUTPUT_LIMIT, f"{what}: peak {peak:.3f} above +6 dBFS"


def onset(y: np.ndarray, threshold: float) -> int:
    above = np.flatnonzero(np.abs(y) > threshold)
    assert len(above), "no onset"
    return int(above[0])


# --- an X display ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def xvfb(size: str = "1280x800x24"):
    """A private Xvfb display; yields its DISPLAY string."""
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is not installed (scripts/setup.sh installs xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", size, "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    try:
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- PluginTorture (plugin/tools/PluginTorture.cpp) --------------------------------------------------------


def torture_tool(name: str = EFFECT) -> Path:
    """The plugin's torture tool, built beside the plugins with TONEMORPH_BUILD_TESTS."""
    tool = plugins_dir() / "tests" / f"{PLUGINS[name]}-torture"
    assert tool.is_file(), f"{tool} was not built (TONEMORPH_BUILD_TESTS)"
    return tool


def torture_report(name: str, *args: str, env: dict[str, str] | None = None, timeout: float) -> dict:
    """Runs the torture tool with `args` (env None: this process's); its JSON report (the last line it prints),
    once it exited 0."""
    result = subprocess.run(
        [str(torture_tool(name)), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert result.returncode == 0, f"crashed ({result.returncode}):\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def job_report(name: str, *args: str, env: dict[str, str], timeout: float) -> dict:
    """A job mode's report (`midi`, `sampler`), checked: its audio thread ran all along and never allocated,
    freed or locked."""
    report = torture_report(name, *args, env=env, timeout=timeout)
    assert report["counting"] and all(n >= 1 for n in report["probe"]), report
    assert report["blocks"] > 0 and report["bad"] == 0, report
    assert (report["allocations"], report["frees"], report["locks"]) == (0, 0, 0), report
    return report


def editor_snapshot(name: str, out: Path, *args: str, env: dict[str, str]) -> np.ndarray:
    """The editor as the `snapshot` mode draws it into `out` (args: the tabs to show, then options), in grey
    levels (int16, to take differences)."""
    from PIL import Image

    assert torture_report(name, "snapshot", str(out), *args, env=env, timeout=60)["written"]
    return np.asarray(Image.open(out).convert("L"), dtype=np.int16)
