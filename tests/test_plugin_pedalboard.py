"""The built VST3 plugins in a real host, Spotify's pedalboard: parameters, pitch following, the Synth
from MIDI, state, latency, rates and block sizes, bad input, automation, broken and missing models."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pedalboard
import plugin_host as host
import pytest
from plugin_host import (
    EFFECT,
    SYNTH,
    assert_sane,
    cents,
    host_name,
    load_with_model,
    median_f0,
    onset,
    render,
    set_param,
    tone,
)
from signals import fluidsynth_notes, midi_to_hz
from tonemorph.engine import PARAMETERS, Engine

SPECS = {p["name"]: p for p in PARAMETERS}
# What each plugin shows a musician (the Synth has no audio input; the effect no MIDI envelope).
EFFECT_PARAMS = [
    "input_gain_db",
    "semitones",
    "octave",
    "gate_db",
    "confidence_threshold",
    "loudness_offset_db",
    "auto_adjust",
    "harmonic_gain",
    "noise_gain",
    "reverb_mix",
    "dry_wet",
    "output_gain_db",
]
SYNTH_PARAMS = [
    "semitones",
    "octave",
    "loudness_offset_db",
    "harmonic_gain",
    "noise_gain",
    "reverb_mix",
    "output_gain_db",
    "glide_ms",
    "attack_ms",
    "release_ms",
    "pitch_bend_range",
]


@pytest.fixture(scope="module", autouse=True)
def tone_as_default_model(tone_model_path, tmp_path_factory):
    """With no instrument bundled yet, a new instance plays nothing until given a model, and pedalboard
    waits seconds for an instrument to warm up: give every instance the tone model as its default."""
    with host.user_model_folder(tmp_path_factory.mktemp("user-models"), tone_model_path):
        yield


@pytest.fixture(scope="module")
def effect(tone_model_path):
    return load_with_model(tone_model_path)


@pytest.mark.parametrize("name,expected", [(EFFECT, EFFECT_PARAMS), (SYNTH, SYNTH_PARAMS)])
def test_parameters_are_listed_with_names_and_ranges(name, expected):
    plugin = pedalboard.load_plugin(str(host.vst3(name)))
    assert plugin.is_instrument == (name == SYNTH)
    # JUCE's VST3 wrapper adds the host's bypass switch (bypassed, the effect passes its input delayed).
    assert sorted(plugin.parameters) == sorted([host_name(p) for p in expected] + ["bypass"])
    for param_id in expected:
        spec, param = SPECS[param_id], plugin.parameters[host_name(param_id)]
        assert param.min_value == pytest.approx(spec["min"]) and param.max_value == pytest.approx(spec["max"])
        assert (param.label or "") == spec["unit"], param_id
        value = getattr(plugin, host_name(param_id))  # pedalboard's wrapped float or bool
        assert value == spec["default"] or pytest.approx(spec["default"], abs=1e-3) == value, param_id
        assert param.is_automatable


def test_guitar_in_gives_instrument_out_at_the_guitar_pitch(effect):
    sr = 48000
    guitar = fluidsynth_notes("steel_guitar", sr)
    y = render(effect, guitar.audio, sr, 512)
    assert_sane(y)
    f0, centres = host.pitch_track(y, sr)
    centres = np.minimum(centres, len(y) - 1)
    truth = guitar.f0_hz[centres]
    known = guitar.known[centres]
    level = np.array([np.sqrt(np.mean(y[max(0, c - 256) : c + 256] ** 2)) for c in centres])
    scored = known & (truth > 0) & (level > 1e-3)
    assert scored.sum() > 100
    error = np.median(np.abs(cents(f0[scored], truth[scored])))
    print(f"guitar -> tone model: median |pitch error| {error:.1f} cents over {scored.sum()} frames")
    assert error < 20.0
    # Between notes the instrument falls silent (the input gate and the pitch confidence).
    gaps = (truth == 0) & known
    assert np.median(level[gaps]) < 1e-3


def test_synth_plays_midi_notes_at_their_pitch(tone_model_path):
    synth = load_with_model(tone_model_path, SYNTH)
    sr, notes, length = 48000, [48, 55, 60, 64, 69, 76], 0.5
    events = []
    for i, note in enumerate(notes):
        events += [(bytes([0x90, note, 100]), i * length), (bytes([0x80, note, 0]), (i + 0.8) * length)]
    y = synth(events, duration=len(notes) * length + 0.5, sample_rate=sr, num_channels=2, buffer_size=256)
    assert_sane(y)
    assert np.allclose(y[0], y[1])
    for i, note in enumerate(notes):
        start, stop = int((i + 0.25) * length * sr), int((i + 0.75) * length * sr)
        measured = median_f0(y[0, start:stop], sr)
        assert abs(cents(measured, midi_to_hz(note))) < 20, (note, measured)
    tail = y[0, int((len(notes) - 0.2 + 0.5) * length * sr) :]
    assert np.abs(tail).max() < 1e-3  # released notes fall silent


def test_synth_pitch_bend_and_semitones(tone_model_path):
    synth = load_with_model(tone_model_path, SYNTH)
    set_param(synth, "semitones", 12.0)
    sr = 48000
    events = [(bytes([0x90, 57, 100]), 0.0), (bytes([0xE0, 0x7F, 0x7F]), 0.5), (bytes([0x80, 57, 0]), 1.4)]
    y = synth(events, duration=1.5, sample_rate=sr, buffer_size=128)[0]
    assert abs(cents(median_f0(y[int(0.1 * sr) : int(0.45 * sr)], sr), 440.0)) < 20
    # bend +2 semitones (the default range) on top of +12
    assert abs(cents(median_f0(y[int(0.8 * sr) : int(1.3 * sr)], sr), 440.0 * 2 ** (2 / 12))) < 20


def test_raw_state_round_trips(tone_model_path):
    sr = 48000
    x = tone(sr, 1.0, 196.0)
    first = load_with_model(tone_model_path)
    rng = np.random.default_rng(3)
    raw_values = {key: float(rng.uniform()) for key in first.parameters if key != "bypass"}
    for key, value in raw_values.items():
        first.parameters[key].raw_value = value
    raw = first.raw_state
    state = host.plugin_state(raw)
    assert state.get("model") == str(tone_model_path) and state.get("modelName") == "tone"
    assert {p.get("id") for p in state.iter("PARAM")} == set(EFFECT_PARAMS)

    second = pedalboard.load_plugin(str(host.vst3()))
    second.raw_state = raw
    restored = host.plugin_state(second.raw_state)
    assert restored.attrib == state.attrib
    assert {p.get("id"): p.get("value") for p in restored.iter("PARAM")} == {
        p.get("id"): p.get("value") for p in state.iter("PARAM")
    }
    for key, value in raw_values.items():  # as the host sees them; stepped ones snap (values compared above)
        if key not in ("octave_oct", "auto_adjust"):
            assert second.parameters[key].raw_value == pytest.approx(value, abs=1e-6), key
    np.testing.assert_allclose(render(second, x, sr, 256), render(first, x, sr, 256), atol=1e-6)


@pytest.mark.parametrize("sr", [44100, 48000])
def test_reported_latency_matches_the_measured_delay(tone_model_path, sr):
    """pedalboard drops the first reported_latency_samples of the output. With the reported figure right,
    the dry path (delayed inside the plugin by its latency) comes back sample-exact, and the instrument's
    onset lands at the same place whatever the block size (the latency grows with it), within one hop."""
    plugin = load_with_model(tone_model_path)
    x = tone(sr, 1.0, 220.0, amp=0.5, start=0.5)
    onsets = {}
    for block in (64, 128, 512):
        engine = Engine(tone_model_path)
        engine.prepare(sr, block, 2)
        plugin.dry_wet = 0.0
        dry = render(plugin, x, sr, block)
        assert plugin.reported_latency_samples == engine.latency_samples()
        np.testing.assert_allclose(dry, x, atol=1e-6)
        plugin.dry_wet = 1.0
        wet = render(plugin, x, sr, block)
        onsets[block] = onset(wet, 0.01) - onset(x, 1e-3)
        print(
            f"{sr} Hz, block {block}: reported {plugin.reported_latency_samples} samples "
            f"({1000 * plugin.reported_latency_samples / sr:.1f} ms); instrument onset after compensation "
            f"{onsets[block]:+d} samples"
        )
    # The onset itself comes after the loudness window (21 ms) and the voicing decision, as in the engine.
    assert all(0 <= d <= 3 * host.model_hop(sr) + 0.021 * sr for d in onsets.values())
    assert max(onsets.values()) - min(onsets.values()) <= host.model_hop(sr)


def test_bypass_passes_the_input_in_time(tone_model_path):
    """Bypassed (the host's switch), the effect passes its input at unity gain, still delayed by the latency
    it reports, so the host's compensation lines it up exactly (after the engine's 10 ms gain smoothing)."""
    plugin = load_with_model(tone_model_path)
    set_param(plugin, "output_gain_db", -12.0)
    plugin.bypass = True
    x = tone(48000, 0.5, 330.0)
    settled = 7200  # 150 ms: the smoothing has come within 3e-7 of the target
    np.testing.assert_allclose(render(plugin, x, 48000, 128)[settled:], x[settled:], atol=1e-5)


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
@pytest.mark.parametrize("block", [32, 4096])
def test_sample_rates_and_block_sizes(effect, sr, block):
    y = render(effect, tone(sr, 1.2, 220.0), sr, block)
    assert y.shape == (int(1.2 * sr),)
    assert_sane(y)
    assert abs(cents(median_f0(y[int(0.4 * sr) :], sr), 220.0)) < 20


def bad_inputs(sr: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    t = tone(sr, 1.0, 330.0)
    nan = t.copy()
    nan[sr // 4 : sr // 4 + 500] = np.nan
    inf = t.copy()
    inf[sr // 2 :: 997] = np.inf
    return {
        "silence": np.zeros(sr, np.float32),
        "dc": np.full(sr, 0.5, np.float32),
        "nan": nan,
        "inf": inf,
        "full_scale_noise": rng.uniform(-1, 1, sr).astype(np.float32),
        "overs": (8 * t).astype(np.float32),
    }


@pytest.mark.parametrize("kind", ["silence", "dc", "nan", "inf", "full_scale_noise", "overs"])
def test_bad_input_never_gives_nan_or_overs(effect, kind):
    sr = 48000
    x = bad_inputs(sr)[kind]
    y = render(effect, x, sr, 256)
    assert_sane(y, kind)
    # assert_sane passes by the output clamp alone; these would not. Measured: a peak of 0.135 (the tone model
    # at its loudest) for every kind that plays, and NaN and inf give exactly what zeros in their place give.
    assert np.abs(y).max() < host.OUTPUT_LIMIT / 4, kind
    if not np.isfinite(x).all():
        zeroed = np.where(np.isfinite(x), x, 0).astype(np.float32)
        np.testing.assert_allclose(y, render(effect, zeroed, sr, 256), rtol=0, atol=1e-6, err_msg=kind)
    if kind in ("silence", "dc"):
        assert np.abs(y).max() < 1e-3, kind  # nothing pitched in: nothing out


@pytest.mark.parametrize("name,params", [(EFFECT, EFFECT_PARAMS), (SYNTH, SYNTH_PARAMS)])
def test_automation_sweeps_on_every_parameter(tone_model_path, name, params):
    """Each parameter swept min -> max -> min in steps between 256-sample blocks while a note plays."""
    plugin = load_with_model(tone_model_path, name)
    sr, block, steps = 48000, 256, 40
    sweep = np.concatenate([np.linspace(0, 1, steps), np.linspace(1, 0, steps)])
    x = tone(sr, len(sweep) * block / sr, 262.0, amp=0.5)
    events = [(bytes([0x90, 60, 127]), 0.0)]
    for param_id in params:
        param = plugin.parameters[host_name(param_id)]
        plugin.reset()
        outputs = []
        for k, value in enumerate(sweep):
            param.raw_value = float(value)
            if name == SYNTH:
                out = plugin(
                    events if k == 0 else [],
                    duration=block / sr,
                    sample_rate=sr,
                    buffer_size=block,
                    reset=False,
                )
            else:
                out = plugin.process(x[k * block : (k + 1) * block], sr, buffer_size=block, reset=False)
            outputs.append(out)
        assert_sane(np.concatenate(outputs, axis=-1), f"{name}: {param_id} sweep")
        set_param(plugin, param_id, SPECS[param_id]["default"])


CORRUPT_MODEL_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    import plugin_host as host

    sr = 48000
    x = host.tone(sr, 1.0, 220.0)
    plugin = host.load_with_model({tone!r})
    before = host.render(plugin, x, sr, 256)
    plugin.raw_state = host.state_with_model(plugin.raw_state, {bad!r})
    after = host.render(plugin, x, sr, 256)
    print(json.dumps({{"state_model": host.plugin_state(plugin.raw_state).get("model"),
                      "same_output": bool(np.allclose(before, after, atol=1e-6)),
                      "finite": bool(np.isfinite(after).all())}}))
""")


@pytest.mark.parametrize("content", [b"", b"not an onnx file at all" * 100, "truncated"])
def test_corrupt_model_in_the_state_keeps_the_running_model(tone_model_path, tmp_path, content):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(tone_model_path.read_bytes()[:3000] if content == "truncated" else content)
    script = CORRUPT_MODEL_SCRIPT.format(tests=str(host.TESTS_DIR), tone=str(tone_model_path), bad=str(bad))
    result = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"the host died: {result.returncode}\n{result.stderr[-2000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"state_model": str(tone_model_path), "same_output": True, "finite": True}


def test_missing_model_on_restore_falls_back_to_the_default(tone_model_path, tmp_path, monkeypatch):
    user = tmp_path / "user-models"
    user.mkdir()
    (user / "mytone.onnx").write_bytes(tone_model_path.read_bytes())
    monkeypatch.setenv("TONEMORPH_MODELS", str(user))
    plugin = pedalboard.load_plugin(str(host.vst3()))
    missing = tmp_path / "gone" / "horn.onnx"
    plugin.raw_state = host.state_with_model(plugin.raw_state, missing)
    y = render(plugin, tone(48000, 1.0, 220.0), 48000, 256)
    assert_sane(y)
    expected = host.default_model(user)
    assert host.plugin_state(plugin.raw_state).get("model") == str(expected)
    if expected.parent == user:  # the tone model plays
        assert abs(cents(median_f0(y[24000:], 48000), 220.0)) < 20


def test_missing_file_found_by_name_in_the_user_folder(tone_model_path, tmp_path, monkeypatch):
    user = tmp_path / "user-models"
    user.mkdir()
    (user / "horn.onnx").write_bytes(tone_model_path.read_bytes())
    monkeypatch.setenv("TONEMORPH_MODELS", str(user))
    plugin = pedalboard.load_plugin(str(host.vst3()))
    plugin.raw_state = host.state_with_model(plugin.raw_state, tmp_path / "elsewhere" / "horn.onnx")
    plugin(tone(48000, 0.2), 48000)
    assert host.plugin_state(plugin.raw_state).get("model") == str(user / "horn.onnx")
