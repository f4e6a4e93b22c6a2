"""training/soundfont.py: FluidR3 renders are reproducible, sound at the pitches the manifest lists, stay in
each instrument's range, and held-out melodies never reach a training set."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import swift_f0
from tonemorph.engine.render import read_audio
from tonemorph.training import soundfont as sf
from tonemorph.training.prepare import VOICED_THRESHOLD, track_pitch

pytestmark = pytest.mark.skipif(not sf.SOUNDFONT.is_file(), reason="needs Debian's fluid-soundfont-gm")

REPO = Path(__file__).resolve().parents[1]
KINDS = {"melody", "scale", "arpeggio", "long_tone"}
MAX_NOTE_CENTS = 25.0  # a note's median tracked pitch against its MIDI pitch (FluidR3 samples are tuned)


@pytest.fixture(scope="module")
def detector():
    return swift_f0.SwiftF0()


@pytest.fixture(scope="module")
def trumpet_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("trumpet")
    return out, sf.render_training_set("trumpet", out, minutes=0.5, seed=7)


def midi_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def note_errors(detector, audio: np.ndarray, rate: float, notes: list) -> np.ndarray:
    """Median pitch of each note (from 60 ms after note-on to note-off) as prepare labels it (swift-f0 with
    its octave check) against its MIDI pitch, in cents; NaN for a note with too few voiced frames to say."""
    hop = int(rate) // 200
    f0, confidence = track_pitch(audio, int(rate), hop, detector)
    times = hop * np.arange(1, len(f0) + 1) / rate
    errors = []
    for pitch, start, end, _ in notes:
        inside = (times > start + 0.06) & (times < end) & (confidence >= VOICED_THRESHOLD)
        estimate = np.median(f0[inside]) if inside.sum() >= 5 else np.nan
        errors.append(1200.0 * np.log2(estimate / midi_hz(pitch)))
    return np.array(errors)


@pytest.mark.parametrize("name", sorted(sf.INSTRUMENTS))
def test_notes_sound_at_their_pitch_across_the_range(name, detector):
    inst = sf.INSTRUMENTS[name]
    pitches = [inst.low, (inst.low + inst.high) // 2, inst.high]
    notes = [sf.Note(p, 0.2 + 0.9 * i, 0.2 + 0.9 * i + 0.6, 100) for i, p in enumerate(pitches)]
    performance = sf.Performance(notes, [(0.0, 127.0)])
    audio = sf.FluidRenderer(24000).render(performance, inst)
    assert len(audio) == round(performance.seconds * 24000)
    assert 0.05 < np.max(np.abs(audio)) <= 1.0
    errors = note_errors(detector, audio, 24000, [[n.pitch, n.start, n.end, n.velocity] for n in notes])
    assert np.all(np.abs(errors) < MAX_NOTE_CENTS), f"{name}: {dict(zip(pitches, errors.round(1)))}"


def test_program_is_the_instrument_asked_for():
    renderer = sf.FluidRenderer(24000)
    presets = {name: renderer.preset_name(inst.program) for name, inst in sf.INSTRUMENTS.items()}
    assert presets["trumpet"] == "Trumpet" and presets["violin"] == "Violin" and presets["flute"] == "Flute"
    assert presets["alto_sax"] == "Alto Sax" and presets["tenor_sax"] == "Tenor Sax"
    assert presets["guitar"] == "Nylon String Guitar"


def test_training_set_has_every_kind_in_range_and_on_pitch(trumpet_set, detector):
    out, manifest = trumpet_set
    inst = sf.INSTRUMENTS["trumpet"]
    assert manifest["instrument"] == "trumpet" and manifest["seed"] == 7
    assert manifest["instruments"]["trumpet"]["program"] == 56 and manifest["instruments"]["trumpet"]["gm_program"] == 57
    assert {f["kind"] for f in manifest["files"]} == KINDS
    assert json.loads((out / sf.MANIFEST).read_text()) == manifest
    for entry in manifest["files"]:
        audio, rate = read_audio(out / entry["file"])
        assert audio.shape[0] == 1 and rate == sf.DATA_SAMPLE_RATE
        assert sf.FILE_SECONDS[0] <= audio.shape[1] / rate <= sf.FILE_SECONDS[1]
        assert abs(audio.shape[1] / rate - entry["seconds"]) < 1e-3
        pitches = [n[0] for n in entry["notes"]]
        assert inst.low <= min(pitches) and max(pitches) <= inst.high
        starts = [n[1] for n in entry["notes"]]
        assert starts == sorted(starts) and all(n[1] < n[2] for n in entry["notes"])
        # vibrato (up to 40 cents) moves a short note's median a little; a wrong note moves it 100 cents
        errors = note_errors(detector, audio[0], rate, entry["notes"])
        scored = errors[~np.isnan(errors)]
        assert len(scored) >= 0.9 * len(errors), entry["file"]
        assert np.mean(np.abs(scored) < 50.0) >= 0.95, entry["file"]


def test_manifest_lists_the_pieces(trumpet_set):
    _, manifest = trumpet_set
    melodies = [f for f in manifest["files"] if f["kind"] == "melody"]
    assert melodies and manifest["pieces"] == sorted({f["piece"] for f in melodies})
    corpus = set(sf.corpus_paths())
    for f in melodies:
        assert f["piece"] in corpus and not sf.is_heldout(f["piece"])
        assert sf.TRAINING_SOURCES[f["piece"].split("/")[0]]
        assert isinstance(f["transpose"], int) and f["bpm"] > 0


def test_same_seed_same_files_in_another_process(trumpet_set, tmp_path):
    """The command line in a fresh interpreter (its own hash seed) renders the same bytes."""
    out, manifest = trumpet_set
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-m", "tonemorph.training.soundfont", "trumpet", str(tmp_path / "again"),
                    "--minutes", "0.5", "--seed", "7"], check=True, env=env, capture_output=True)
    again = json.loads((tmp_path / "again" / sf.MANIFEST).read_text())
    assert again["files"] == manifest["files"]
    for entry in manifest["files"]:
        assert (tmp_path / "again" / entry["file"]).read_bytes() == (out / entry["file"]).read_bytes()


def test_another_seed_renders_other_material(trumpet_set):
    _, manifest = trumpet_set
    other = list(sf.training_performances(sf.INSTRUMENTS["trumpet"], 0.5, seed=8))
    assert [p.notes for _, p in other] != [p.notes for _, p in sf.training_performances(
        sf.INSTRUMENTS["trumpet"], 0.5, seed=7)]
    assert [f["notes"] for f in manifest["files"]] == [
        sf._notes_json(p, sf.DATA_SAMPLE_RATE) for _, p in sf.training_performances(sf.INSTRUMENTS["trumpet"], 0.5, 7)]


def test_heldout_pools_are_disjoint_from_training_pools():
    training = {sf.piece_key(p) for paths in sf.corpus_pool(heldout=False).values() for p in paths}
    heldout = {sf.piece_key(p) for paths in sf.corpus_pool(heldout=True).values() for p in paths}
    assert len(heldout) > 50 and len(training) > 10 * len(heldout) / 2
    assert not training & heldout
    # Palestrina is split by mass, so no movement of a held-out mass is trained on
    assert any(k.startswith("palestrina/") for k in heldout)


def test_heldout_set_pairs_instrument_and_guitar_note_for_note(trumpet_set, tmp_path, detector):
    _, training = trumpet_set
    manifest = sf.render_heldout_set("trumpet", tmp_path, minutes=0.2, seed=0)
    assert manifest["files"] and manifest["pieces"]
    assert not set(manifest["pieces"]) & set(training["pieces"])
    assert all(sf.is_heldout(p) for p in manifest["pieces"])
    low = max(sf.INSTRUMENTS["trumpet"].low, sf.INSTRUMENTS["guitar"].low)
    high = min(sf.INSTRUMENTS["trumpet"].high, sf.INSTRUMENTS["guitar"].high)
    for entry in manifest["files"]:
        assert set(entry["audio"]) == {"trumpet", "guitar"}
        assert all(low <= n[0] <= high for n in entry["notes"])
        lengths = set()
        for voice, name in entry["audio"].items():
            audio, rate = read_audio(tmp_path / name)
            lengths.add(audio.shape[1])
            errors = note_errors(detector, audio[0], rate, entry["notes"])
            scored = errors[~np.isnan(errors)]
            assert len(scored) >= 0.9 * len(errors) and np.median(np.abs(scored)) < 10.0, voice
            assert np.mean(np.abs(scored) < MAX_NOTE_CENTS) >= 0.95, voice  # no vibrato: MIDI is the truth
        assert len(lengths) == 1


def test_rendering_again_replaces_the_earlier_render(tmp_path):
    first = sf.render_training_set("flute", tmp_path, minutes=0.5, seed=1)
    (tmp_path / "melody-099.wav").write_bytes((tmp_path / first["files"][0]["file"]).read_bytes())
    with pytest.raises(ValueError, match="already holds audio that this script did not render"):
        sf.render_training_set("flute", tmp_path, minutes=0.5, seed=2)
    (tmp_path / "melody-099.wav").unlink()
    second = sf.render_training_set("flute", tmp_path, minutes=0.5, seed=2)
    on_disk = sorted(p.name for p in tmp_path.glob("*.wav"))
    assert on_disk == sorted(f["file"] for f in second["files"])


def test_demo_clip_is_the_committed_one(tmp_path):
    committed = json.loads((REPO / "examples" / "guitar.json").read_text())
    manifest = sf.render_demo(tmp_path / "guitar.wav", seed=0)
    (clip,) = manifest["files"]
    assert manifest["files"] == committed["files"]
    assert sf.is_heldout(clip["piece"]) and sf.DEMO_SECONDS[0] <= clip["seconds"] <= sf.DEMO_SECONDS[1]
    audio, rate = read_audio(tmp_path / "guitar.wav")
    assert audio.shape[0] == 1 and rate == 44100
    assert (REPO / "examples" / "guitar.wav").stat().st_size < 2_000_000
    if committed["fluidsynth"] == manifest["fluidsynth"]:
        assert (tmp_path / "guitar.wav").read_bytes() == (REPO / "examples" / "guitar.wav").read_bytes()


def test_melodies_are_transposed_into_the_range():
    low, high = 60, 79  # narrower than most corpus lines allow, so that the transposition has to be right
    drawn = list(zip(sf.draw_melodies(False, np.random.default_rng(0), low, high), range(6)))
    assert len(drawn) == 6
    for (melody, transpose), _ in drawn:
        pitches = [n[2] + transpose for n in melody.notes]
        assert low <= min(pitches) and max(pitches) <= high, melody.piece
