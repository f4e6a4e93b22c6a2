"""The Standalone app under Xvfb: it starts, its window with the editor appears, and a screenshot of it
shows the editor (docs/plugin-editor.png in the README was taken this way)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import plugin_host as host
import pytest
from plugin_host import EFFECT, SYNTH

EDITOR_COLOURS = [(0x16, 0x18, 0x1D), (0x1F, 0x23, 0x2B)]  # plugin/EditorParts.h: background, panel


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (scripts/setup.sh installs xdotool, x11-utils and imagemagick)")
    return path


def wait_for_window(display: str, title: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            [tool("xdotool"), "search", "--onlyvisible", "--name", f"^{title}$"],
            check=False,
            env={**os.environ, "DISPLAY": display},
            capture_output=True,
            text=True,
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.split()[0]
        time.sleep(0.25)
    raise AssertionError(f"no window named '{title}' appeared within {timeout:.0f} s")


@pytest.mark.parametrize("name", [EFFECT, SYNTH])
def test_standalone_opens_the_editor(name, tmp_path, tone_model_path):
    user = tmp_path / "models"
    user.mkdir()
    (user / "tone.onnx").write_bytes(tone_model_path.read_bytes())
    with host.xvfb() as display:
        env = {**os.environ, "DISPLAY": display, "HOME": str(tmp_path), "TONEMORPH_MODELS": str(user)}
        app = subprocess.Popen(
            [str(host.standalone(name))], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            window = wait_for_window(display, name)
            time.sleep(1.5)  # the model loads and the editor's timer paints its status
            info = subprocess.run(
                [tool("xwininfo"), "-id", window], check=False, env=env, capture_output=True, text=True
            ).stdout
            assert "Map State: IsViewable" in info
            width = int(info.split("Width:")[1].split()[0])
            height = int(info.split("Height:")[1].split()[0])
            assert width >= 620 and height >= 420, (width, height)
            shot = tmp_path / "editor.png"
            subprocess.run(
                [tool("import"), "-display", display, "-window", window, str(shot)],
                env=env,
                check=True,
                timeout=60,
            )
            assert app.poll() is None, "the app exited"
        finally:
            app.terminate()
            try:
                app.wait(timeout=15)
            except subprocess.TimeoutExpired:
                app.kill()
                app.wait()
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    dark = float(
        np.any([np.all(np.abs(pixels.astype(int) - c) <= 2, axis=1) for c in EDITOR_COLOURS], axis=0).mean()
    )
    assert 0.3 < dark < 0.97, f"{dark:.0%} of the window is the editor's background and panels"
    assert len(np.unique(pixels, axis=0)) > 50  # text, knobs and meters, not a blank window
    if target := os.environ.get("TONEMORPH_SCREENSHOT_DIR"):  # how the README's screenshot is made
        suffix = "-synth" if name == SYNTH else ""
        shutil.copy(shot, Path(target) / f"plugin-editor{suffix}.png")
