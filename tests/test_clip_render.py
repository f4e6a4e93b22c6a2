"""A clip played through an instrument in the C++ core (cpp/actions/midi/ClipRender), what the plugin's MIDI
panel auditions: the same audio as `tonemorph render` of the clip written as a MIDI file (the Python path
through mido and the same Engine), its settings applied, bad requests refused."""

from __future__ import annotations

import numpy as np
import pytest
from tonemorph.engine import Engine, _core
from tonemorph.engine.midi_file import read_midi
from tonemorph.engine.models import load_model
from tonemorph.engine.render import render

RATE = 48000.0
TAIL_S = 1.0


def melody() -> _core.midi.Clip:
    """Two bars at 100 bpm: a phrase with a repeated note (struck again where the first ends), a rest, a leap."""
    n = _core.midi.Note
    notes = [
        n(0, 4, 67, 100),
        n(4, 6, 67, 80),
        n(6, 8, 69, 90),
        n(10, 14, 74, 110),
        n(14, 16, 72, 60),
        n(16, 28, 62, 100),
    ]
    return _core.midi.Clip(notes, steps=32, bpm=100.0)


def file_render(clip, model, tmp_path, **params) -> np.ndarray:
    """The clip through `tonemorph render`'s path: written as a file, read by mido, rendered block by block."""
    path = tmp_path / "clip.mid"
    path.write_bytes(_core.midi.write_clip(clip))
    performance = read_midi(path, RATE)
    engine = Engine(model)
    engine.set_param("midi_mode", 1)
    for name, value in params.items():
        engine.set_param(name, value)
    frames = round(clip.steps * 60.0 / (clip.bpm * 4) * RATE)
    silence = np.broadcast_to(np.zeros((1, 1), np.float32), (2, frames))
    return render(engine, silence, RATE, block=512, midi=performance.events, tail_seconds=TAIL_S)


@pytest.fixture(scope="module")
def trumpet():
    return load_model("trumpet")


def test_a_clip_sounds_as_its_midi_file_renders(trumpet, tmp_path):
    ours = _core.midi.render_clip(trumpet, melody(), RATE, 2, TAIL_S)
    theirs = file_render(melody(), trumpet, tmp_path)
    assert ours.shape == theirs.shape == (2, round(32 * 60 / 400 * RATE) + round(TAIL_S * RATE))
    assert np.sqrt(np.mean(ours**2)) > 0.01  # it plays
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_settings_are_played_with(trumpet, tmp_path):
    ours = _core.midi.render_clip(trumpet, melody(), RATE, 2, TAIL_S, {"octave": -1.0, "release_ms": 400.0})
    np.testing.assert_allclose(
        ours, file_render(melody(), trumpet, tmp_path, octave=-1.0, release_ms=400.0), atol=1e-5
    )
    assert np.max(np.abs(ours - _core.midi.render_clip(trumpet, melody(), RATE, 2, TAIL_S))) > 0.01


def test_micro_timing_moves_the_notes(trumpet):
    """Groove's offsets are heard: a quarter of a step late is a quarter of a step later in the audio."""
    n = _core.midi.Note
    on_grid = _core.midi.Clip([n(4, 8, 67, 100)], steps=16, bpm=120.0)
    late = _core.midi.Clip([n(4, 8, 67, 100, 0.25, 0.25)], steps=16, bpm=120.0)
    a, b = (_core.midi.render_clip(trumpet, c, RATE, 1, 0.5)[0] for c in (on_grid, late))
    onset = [int(np.argmax(np.abs(x) > 0.01 * np.max(np.abs(x)))) for x in (a, b)]
    quarter_step = 0.25 * 60 / (120 * 4) * RATE
    assert abs((onset[1] - onset[0]) - quarter_step) < 0.1 * quarter_step, onset


def test_no_instrument_or_an_endless_clip_is_refused(trumpet):
    with pytest.raises(ValueError, match="No instrument is loaded"):
        _core.midi.render_clip(None, melody())
    endless = _core.midi.Clip([_core.midi.Note(0, 4, 60)], steps=16 * 4000, bpm=30.0)
    with pytest.raises(ValueError, match="over an hour"):
        _core.midi.render_clip(trumpet, endless)
    with pytest.raises(KeyError, match="unknown parameter"):
        _core.midi.render_clip(trumpet, melody(), settings={"loudness": 1.0})
