"""A second host, DawDreamer (JUCE's plugin host in a render graph): the same VST3, state and clip render
the same audio as in pedalboard.

DawDreamer plays a plugin's output as it comes, delayed by the plugin's latency; pedalboard drops the
first reported-latency samples. DawDreamer's own latency figure is not used: like any VST3 host it reads
the latency before JUCE's wrapper calls prepareToPlay, and the plugin's restartComponent(kLatencyChanged)
needs a message loop DawDreamer does not run (a DAW does; see plugin_host.render)."""

from __future__ import annotations

import dawdreamer
import numpy as np
import plugin_host as host
import pytest
from plugin_host import EFFECT, SYNTH, assert_sane, cents, load_with_model, median_f0, render, set_param, tone
from tonemorph.engine import Engine

SR, BLOCK = 48000, 256


@pytest.fixture(scope="module", autouse=True)
def tone_as_default_model(tone_model_path, tmp_path_factory):
    """With no instrument bundled yet, a new instance plays nothing until given a model, and pedalboard
    waits seconds for an instrument to warm up: give every instance the tone model as its default."""
    with host.user_model_folder(tmp_path_factory.mktemp("user-models"), tone_model_path):
        yield


def engine_latency(model) -> int:
    engine = Engine(model)
    engine.prepare(SR, BLOCK, 2)
    return engine.latency_samples()


def dawdreamer_plugin(engine, name: str, state_file):
    plugin = engine.make_plugin_processor("tonemorph", str(host.vst3(name)))
    plugin.load_state(str(state_file))
    return plugin


def test_dawdreamer_renders_the_clip_as_pedalboard_does(tone_model_path, tmp_path):
    x = np.concatenate([tone(SR, 0.6, 196.0), tone(SR, 0.6, 262.0, amp=0.2)])
    reference = load_with_model(tone_model_path)
    set_param(reference, "semitones", 3.0)
    state_file = tmp_path / "state.bin"
    state_file.write_bytes(reference.raw_state)
    expected = render(reference, np.stack([x, x]), SR, BLOCK)

    engine = dawdreamer.RenderEngine(SR, BLOCK)
    plugin = dawdreamer_plugin(engine, EFFECT, state_file)
    playback = engine.make_playback_processor("clip", np.stack([x, x]))
    engine.load_graph([(playback, []), (plugin, ["clip"])])
    engine.render(len(x) / SR)
    got = engine.get_audio()
    assert_sane(got, "dawdreamer")
    latency = reference.reported_latency_samples
    assert latency == engine_latency(tone_model_path) > 0
    n = len(x) - latency  # after that shift the two hosts agree sample by sample
    np.testing.assert_allclose(got[:, latency:], expected[:, :n], atol=1e-5)
    assert (
        abs(cents(median_f0(got[0, latency + SR // 4 : latency + SR // 2], SR), 196.0 * 2 ** (3 / 12))) < 20
    )


def test_dawdreamer_synth_plays_midi_as_pedalboard_does(tone_model_path, tmp_path):
    reference = load_with_model(tone_model_path, SYNTH)
    state_file = tmp_path / "synth.bin"
    state_file.write_bytes(reference.raw_state)
    notes = [(60, 0.0), (67, 0.5)]
    expected = reference(
        [m for note, t in notes for m in ((bytes([0x90, note, 100]), t), (bytes([0x80, note, 0]), t + 0.4))],
        duration=1.0,
        sample_rate=SR,
        buffer_size=BLOCK,
    )

    engine = dawdreamer.RenderEngine(SR, BLOCK)
    plugin = dawdreamer_plugin(engine, SYNTH, state_file)
    for note, t in notes:
        plugin.add_midi_note(note, 100, t, 0.4)
    engine.load_graph([(plugin, [])])
    engine.render(1.0)
    got = engine.get_audio()
    assert_sane(got, "dawdreamer synth")
    # pedalboard renders MIDI without latency compensation, so here the two line up as they are.
    np.testing.assert_allclose(got, expected, atol=1e-5)
    latency = engine_latency(tone_model_path)
    assert abs(cents(median_f0(got[0, latency + 6000 : latency + 18000], SR), 261.63)) < 20
