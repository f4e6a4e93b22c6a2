"""The LV2 bundles, checked with Debian's LV2 tools: lilv's lv2ls and lv2info find both plugins with their
ports, latency port and required features; their Turtle declares every parameter with its range; and
lv2_validate (the LV2 specification checker, run by sord_validate) finds nothing wrong beyond what JUCE's
Turtle generator itself writes.

No LV2 host that Debian 12 packages runs JUCE plugins offline: lilv's lv2apply refuses their atom ports and
lv2file lacks the options and block-length features they require. So audio through the LV2 build is not
tested here; it shares every line of the processor with the VST3, which is.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import plugin_host as host
import pytest
from plugin_host import EFFECT, SYNTH
from tonemorph.engine import PARAMETERS

from tonemorph.plugins import PLUGINS

URIS = {name: f"https://github.com/tonemorph/tonemorph/{stem}" for name, stem in PLUGINS.items()}
SPECS = {p["name"]: p for p in PARAMETERS}
EFFECT_ONLY = {"input_gain_db", "gate_db", "confidence_threshold", "auto_adjust", "dry_wet"}
SYNTH_ONLY = {"glide_ms", "attack_ms", "release_ms", "pitch_bend_range"}
REQUIRED_FEATURES = (
    "http://lv2plug.in/ns/ext/urid#map",
    "http://lv2plug.in/ns/ext/options#options",
    "http://lv2plug.in/ns/ext/buf-size#boundedBlockLength",
)

# What lv2_validate reports on the Turtle that JUCE 7.0.5 writes for any plugin (not ours to change):
# doap properties on the plugin subject, the UI's extension data and optional feature typed loosely,
# toggled/enumeration port properties on a boolean patch parameter, and the unlabelled program property.
JUCE_GENERATOR_ERRORS = (
    r"Subject not in domain <http://usefulinc.com/ns/doap#Project>",
    r"Object not in range <http://lv2plug.in/ns/lv2core#ExtensionData>",
    r"Object not in range <http://lv2plug.in/ns/lv2core#Feature>",
    r"Subject not in domain <http://lv2plug.in/ns/lv2core#Port>",
    r"Use of undefined property",
    r"Property <[^>]*:Program> has no label",
)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (scripts/setup.sh installs lilv-utils, lv2-dev and sordi)")
    return path


@pytest.fixture(scope="module")
def lv2_env():
    """Only our two bundles on the LV2 path."""
    return {**os.environ, "LV2_PATH": str(host.lv2(EFFECT).parent)}


def test_lv2ls_lists_both_plugins(lv2_env):
    out = subprocess.run(
        [tool("lv2ls")], check=False, env=lv2_env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split()) == sorted(URIS.values())


@pytest.mark.parametrize("name", [EFFECT, SYNTH])
def test_lv2info_shows_ports_latency_and_features(lv2_env, name):
    out = subprocess.run(
        [tool("lv2info"), URIS[name]], check=False, env=lv2_env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert f"Name:              {name}\n" in text
    assert f"Bundle:            file://{host.lv2(name)}" in text.replace("/../" + host.lv2(name).name, "")
    audio_in = len(re.findall(r"AudioPort\s+http://lv2plug.in/ns/lv2core#InputPort", text))
    audio_out = len(re.findall(r"AudioPort\s+http://lv2plug.in/ns/lv2core#OutputPort", text))
    assert (audio_in, audio_out) == ((0, 2) if name == SYNTH else (2, 2))
    assert "Has latency:       yes" in text
    dsp = (host.lv2(name) / "dsp.ttl").read_text()
    assert ("a lv2:InstrumentPlugin ;" in dsp) == (name == SYNTH)
    for feature in REQUIRED_FEATURES:
        assert feature in text


@pytest.mark.parametrize("name", [EFFECT, SYNTH])
def test_turtle_declares_every_parameter_with_its_range(name):
    dsp = (host.lv2(name) / "dsp.ttl").read_text()
    exposed = set(SPECS) - {"midi_mode"} - (SYNTH_ONLY if name == EFFECT else EFFECT_ONLY)
    declared = set(re.findall(r"^plug:(\w+)\n\ta lv2:Parameter", dsp, re.MULTILINE))
    assert declared == exposed
    for param_id in exposed:
        block = dsp.split(f"plug:{param_id}\n", 1)[1].split(" .\n", 1)[0]
        spec = SPECS[param_id]
        if "atom:Bool" in block:
            continue
        assert float(re.search(r"lv2:minimum (\S+)", block)[1]) == pytest.approx(spec["min"]), param_id
        assert float(re.search(r"lv2:maximum (\S+)", block)[1]) == pytest.approx(spec["max"]), param_id
        assert float(re.search(r"lv2:default (\S+)", block)[1]) == pytest.approx(spec["default"]), param_id


@pytest.mark.parametrize("name", [EFFECT, SYNTH])
def test_lv2_validate_finds_only_what_juce_writes(name):
    tool("sord_validate")
    ttl = sorted(str(p) for p in host.lv2(name).glob("*.ttl"))
    assert len(ttl) == 3, ttl  # manifest, dsp, ui
    out = subprocess.run(
        [tool("lv2_validate"), *ttl], check=False, capture_output=True, text=True, timeout=300
    )
    report = out.stdout + out.stderr
    assert "Skipping file" not in report.replace("Skipping file /usr/", "")  # all our files were read
    errors = [line.removeprefix("error: ") for line in report.splitlines() if line.startswith("error:")]
    unexpected = [e for e in errors if not any(re.fullmatch(p, e) for p in JUCE_GENERATOR_ERRORS)]
    assert not unexpected, "\n".join(unexpected)
    assert re.search(r"Found \d+ errors among \d+ files", report), report[-2000:]
