"""Groove and Drumify (issue 12 items 4 and 5): the C++ core (cpp/actions/midi/Groove) through the binding, the
Python wrapper (tonemorph.engine.midi_groove) and the CLI; the C++ against the numpy/ONNX Runtime reference
(training/midi/groove_reference.py); the data, humaniser, training and export (training/midi/groove_*.py)."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
from midi_helpers import length_in_steps, run_cli
from midi_helpers import make_midi as midi_file  # tests/ is on pytest's pythonpath
from tonemorph.engine import _core
from tonemorph.engine.midi_groove import drumify_midi, groove_midi
from tonemorph.training.midi import groove_data as gd
from tonemorph.training.midi import groove_reference as ref
from tonemorph.training.midi.groove_export import DRUM_CLASSES

midi = _core.midi
SHIPPED = Path(__file__).resolve().parents[1] / "models" / "midi" / "groove.onnx"
TPQ = 96
STEP_TICKS = TPQ // 4
KICK, SNARE, HAT, OPEN_HAT, CRASH = 36, 38, 42, 46, 49
UNMAPPED = 25  # not a General MIDI drum of the nine classes
# 2 bars of rock: kick on 1 and the "and" of 3, snare on 2 and 4, eighth hats, a crash, a note of no class
BEAT = (
    [(s, KICK) for s in (0, 10, 16, 26)]
    + [(s, SNARE) for s in (4, 12, 20, 28)]
    + [(s, HAT) for s in range(0, 32, 2) if s not in (0, 30)]
    + [(30, OPEN_HAT), (0, CRASH), (7, UNMAPPED)]
)


# --- helpers ---------------------------------------------------------------------------------------------


def make_midi(path, notes, *, channel=9, tpq=TPQ, end_step=None):
    """notes: (step, pitch[, velocity[, length in steps]]) -> a type 0 MIDI file."""
    spans = [(n[0], n[0] + (n[3] if len(n) > 3 else 1), n[1], n[2] if len(n) > 2 else 90) for n in notes]
    return midi_file(path, spans, channel=channel, tpq=tpq, end_step=end_step)


def onsets_of(path) -> list[tuple[float, int, int, int]]:
    """(onset in steps, pitch, velocity, channel) of a written file, read with mido (not our reader)."""
    song = mido.MidiFile(path)
    step = song.ticks_per_beat / 4
    now, out = 0, []
    for message in mido.merge_tracks(song.tracks):
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            out.append((now / step, message.note, message.velocity, message.channel))
    return sorted(out)


def drum_clip(notes, steps=32) -> _core.midi.Clip:
    return midi.Clip([midi.Note(s, s + 1, p, v) for s, p, v in notes], steps, 120.0, True)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A small random-weight model exported by the real export (kind midi-groove): Groove's and Drumify's
    mechanics do not depend on what a model learned."""
    torch = pytest.importorskip("torch")
    from tonemorph.training.midi.groove_export import export_groove
    from tonemorph.training.midi.groove_model import GrooveVAE

    torch.manual_seed(0)
    model = GrooveVAE(hidden=16, latent=8, layers=1, dropout=0.0)
    with torch.no_grad():
        model.out.bias[: gd.NUM_CLASSES] = 0.0  # hits at about even odds, so Drumify's draws matter
    path = tmp_path_factory.mktemp("models") / "groove.onnx"
    export_groove(model, path, name="tiny-test-groove")
    return path


@pytest.fixture(scope="module")
def beat_file(tmp_path_factory):
    return make_midi(tmp_path_factory.mktemp("clips") / "beat.mid", BEAT)


# --- Groove ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["tiny", "shipped"])
def test_groove_changes_only_timing_and_velocity(tmp_path, beat_file, tiny_model, which):
    model = tiny_model if which == "tiny" else SHIPPED
    summary = groove_midi(beat_file, tmp_path / "out", variations=3, seed=5, model=model)
    assert [Path(f).name for f in summary["files"]] == ["groove-01.mid", "groove-02.mid", "groove-03.mid"]
    before = onsets_of(beat_file)
    want = sorted((round(t), p) for t, p, _, _ in before)
    velocities = set()
    for path in summary["files"]:
        after = onsets_of(path)
        assert sorted((round(t), p) for t, p, _, _ in after) == want  # the same drums on the same steps
        assert all(c == 9 for *_, c in after)
        assert all(abs(t - round(t)) <= 0.5 for t, *_ in after)  # within half a step of its own step
        assert length_in_steps(path) == 32
        moved = [t for t, p, _, _ in after if p != UNMAPPED and t != round(t)]
        assert len(moved) > len(after) // 2  # timing changed (a note on step 0 cannot move earlier)
        velocities |= {v for _, p, v, _ in after if p != UNMAPPED}
        assert [(t, v) for t, p, v, _ in after if p == UNMAPPED] == [(7.0, 90)]  # kept as played
    assert len(velocities) > 3  # the input's flat 90 replaced by the model's dynamics
    assert any("not one of the nine drum kinds" in m for m in summary["messages"])


def test_groove_offsets_stay_within_half_a_step_in_the_core(tiny_model):
    model = midi.GrooveModel(str(tiny_model))
    clip = drum_clip([(s, HAT, 90) for s in range(32)] + [(s, KICK, 90) for s in range(0, 32, 4)])
    for temperature in (0.0, 1.0, 10.0):
        result = midi.groove(model, clip, variations=4, temperature=temperature, seed=1)
        for out in result["clips"]:
            assert [(n.start_step, n.end_step, n.pitch) for n in out.notes] == [
                (n.start_step, n.end_step, n.pitch) for n in clip.notes
            ]
            assert all(abs(n.start_offset) <= midi.GROOVE_MAX_OFFSET + 1e-7 for n in out.notes)
            assert all(n.start_offset == n.end_offset for n in out.notes)
            assert all(1 <= n.velocity <= 127 for n in out.notes)


def test_groove_and_drumify_match_the_python_reference(tiny_model):
    session = ref.GrooveSession(tiny_model)
    model = midi.GrooveModel(str(tiny_model))
    notes = [(s, p, v) for s, p in BEAT for v in [70 + (s * 7) % 50]]
    clip = drum_clip(notes, steps=48)  # 3 bars: two windows, the second padded
    ref_notes = [ref.RefNote(s, s + 1, p, v) for s, p, v in notes]
    for seed, temperature in ((3, 1.0), (9, 0.0), (11, 2.5)):
        got = midi.groove(model, clip, variations=2, temperature=temperature, seed=seed)["clips"]
        for v, out in enumerate(got):
            want = ref.groove(session, ref_notes, 48, variation_seed=seed + v, temperature=temperature)
            want = sorted(want, key=lambda n: (n.start_step, n.pitch))
            assert [(n.start_step, n.pitch) for n in out.notes] == [(n.start_step, n.pitch) for n in want]
            assert max(abs(a.velocity - b.velocity) for a, b in zip(out.notes, want)) <= 1
            assert max(abs(a.start_offset - b.start_offset) for a, b in zip(out.notes, want)) < 1e-4
        got = midi.drumify(model, clip, variations=2, temperature=temperature, seed=seed)["clips"]
        for v, out in enumerate(got):
            want = ref.drumify(session, ref_notes, 48, variation_seed=seed + v, temperature=temperature)
            got_cells = {(n.start_step, n.pitch) for n in out.notes}
            want_cells = {(n.start_step, n.pitch) for n in want}
            assert len(got_cells ^ want_cells) <= 1  # a logit on a draw's edge may round either way
            assert len(want_cells) > 10
            assert out.steps == 48


def test_latent_draws_match_box_muller_on_the_shared_generator():
    got = np.array(midi.groove_latent(42, 7, 1.5))
    want = ref.normals(midi.Pcg32(42), 7) * 1.5
    assert np.allclose(got, want, atol=1e-6)
    assert np.all(np.array(midi.groove_latent(42, 7, 0.0)) == 0)


def test_seeds_reproduce_and_variation_k_does_not_depend_on_the_count(tmp_path, beat_file, tiny_model):
    a = groove_midi(beat_file, tmp_path / "a", variations=2, seed=7, model=tiny_model)
    b = groove_midi(beat_file, tmp_path / "b", variations=3, seed=7, model=tiny_model)
    c = groove_midi(beat_file, tmp_path / "c", variations=2, seed=8, model=tiny_model)
    read = [[Path(f).read_bytes() for f in s["files"]] for s in (a, b, c)]
    assert read[0] == read[1][:2]
    assert read[0][0] != read[0][1] and read[0] != read[2]
    sidecar = json.loads(Path(a["sidecar"]).read_text())
    assert sidecar["seeds"] == [7, 8] and sidecar["model"]["kind"] == "midi-groove"
    d = drumify_midi(beat_file, tmp_path / "d", variations=2, seed=7, model=tiny_model)
    e = drumify_midi(beat_file, tmp_path / "e", variations=2, seed=7, model=tiny_model)
    assert [Path(f).read_bytes() for f in d["files"]] == [Path(f).read_bytes() for f in e["files"]]


def test_temperature_zero_is_the_same_whatever_the_seed(tmp_path, beat_file, tiny_model):
    a = groove_midi(beat_file, tmp_path / "a", variations=1, seed=1, temperature=0, model=tiny_model)
    b = groove_midi(beat_file, tmp_path / "b", variations=1, seed=99, temperature=0, model=tiny_model)
    assert Path(a["files"][0]).read_bytes() == Path(b["files"][0]).read_bytes()


# --- Drumify ---------------------------------------------------------------------------------------------


def accent_alignment(model, rng, clips=12, variations=4):
    """Of the kicks and snares Drumify places on the input's onsets, the fraction on its accents; and the same
    fraction for accents shuffled among the onsets (a permutation baseline), 200 shuffles per clip."""
    hits, accented, baseline = 0, 0, []
    for k in range(clips):
        steps = np.sort(rng.choice(32, size=14, replace=False))
        accents = set(rng.choice(steps, size=5, replace=False).tolist())
        notes = [(int(s), 40, 120 if s in accents else 55) for s in steps]
        clip = midi.Clip([midi.Note(s, s + 1, p, v) for s, p, v in notes], 32, 120.0, False)
        out = midi.drumify(model, clip, variations=variations, temperature=1.0, seed=100 * k)["clips"]
        placed = [n.start_step for c in out for n in c.notes if n.pitch in (KICK, SNARE)]
        on_onsets = [s for s in placed if s in set(steps.tolist())]
        hits += len(on_onsets)
        accented += sum(s in accents for s in on_onsets)
        for _ in range(200):
            shuffled = set(rng.choice(steps, size=5, replace=False).tolist())
            baseline.append(sum(s in shuffled for s in on_onsets))
    baseline = np.array(baseline).reshape(clips, 200).sum(axis=0)
    return accented / max(hits, 1), baseline / max(hits, 1), hits


def test_drumify_kicks_and_snares_fall_on_the_accents_above_chance():
    model = midi.GrooveModel(str(SHIPPED))
    observed, baseline, hits = accent_alignment(model, np.random.default_rng(0))
    assert hits > 50
    assert observed > np.quantile(baseline, 0.99), (observed, baseline.mean())


def test_drumify_writes_drums_as_long_as_the_clip(tmp_path, tiny_model):
    bass = make_midi(
        tmp_path / "bass.mid", [(s, 40, 100, 2) for s in range(0, 48, 3)], channel=0, end_step=48
    )
    summary = drumify_midi(bass, tmp_path / "out", variations=3, seed=2, model=tiny_model)
    assert [Path(f).name for f in summary["files"]] == ["drumify-01.mid", "drumify-02.mid", "drumify-03.mid"]
    first_notes = {notes[0] for notes in DRUM_CLASSES}
    for path in summary["files"]:
        after = onsets_of(path)
        assert after and all(c == 9 and p in first_notes for _, p, _, c in after)
        assert all(0 <= t < 48 and abs(t - round(t)) <= 0.5 for t, *_ in after)
        assert length_in_steps(path) == 48


def test_a_long_clip_is_worked_in_two_bar_windows_and_says_so(tiny_model):
    model = midi.GrooveModel(str(tiny_model))
    clip = drum_clip([(s, KICK, 100) for s in range(0, 16 * 9, 4)], steps=16 * 9)
    result = midi.groove(model, clip, variations=1, temperature=1.0, seed=0)
    assert result["clips"][0].steps == 16 * 9 and len(result["clips"][0].notes) == 36
    assert any("5 windows of 2 bars" in m for m in result["messages"])
    too_long = drum_clip([(16 * 64, KICK, 100)], steps=16 * 65)
    with pytest.raises(ValueError, match="longer than 64 bars"):
        midi.groove(model, too_long, variations=1)


# --- bad input -------------------------------------------------------------------------------------------


def test_a_melody_given_to_groove_is_refused_and_nothing_written(tmp_path, capsys, tiny_model):
    melody = make_midi(tmp_path / "tune.mid", [(s, 60 + s % 12) for s in range(0, 32, 2)], channel=0)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "midi", "groove", melody, "--out", out, "--model", tiny_model)
    assert code != 0 and "not a drum clip" in err and "drumify" in err and "tune.mid" in err
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--variations", "0"], "--variations must be 1..64"),
        (["--temperature", "-1"], "--temperature must be 0..10"),
        (["--seed", "-3"], "--seed must be a whole number"),
    ],
)
def test_bad_settings_get_a_message(tmp_path, capsys, beat_file, tiny_model, args, message):
    code, _, err = run_cli(
        capsys, "midi", "drumify", beat_file, "--out", tmp_path / "o", "--model", tiny_model, *args
    )
    assert code != 0 and message in err
    assert not (tmp_path / "o").exists()


def test_empty_files_and_wrong_models_are_named(tmp_path, capsys, beat_file, tiny_model):
    empty = make_midi(tmp_path / "empty.mid", [], end_step=16)
    for tool in ("groove", "drumify"):
        code, _, err = run_cli(capsys, "midi", tool, empty, "--out", tmp_path / tool, "--model", tiny_model)
        assert code != 0 and "empty.mid" in err and "no note" in err.lower()
        assert not (tmp_path / tool).exists()
    melody_model = Path(__file__).resolve().parents[1] / "models" / "midi" / "melody.onnx"
    code, _, err = run_cli(
        capsys, "midi", "groove", beat_file, "--out", tmp_path / "m", "--model", melody_model
    )
    assert code != 0 and "'midi-melody' model, not a midi-groove model" in err


def test_existing_outputs_are_kept_without_overwrite(tmp_path, capsys, beat_file, tiny_model):
    out = tmp_path / "out"
    assert (
        run_cli(capsys, "midi", "groove", beat_file, "--out", out, "--model", tiny_model, "--seed", "1")[0]
        == 0
    )
    before = (out / "groove-01.mid").read_bytes()
    code, _, err = run_cli(
        capsys, "midi", "groove", beat_file, "--out", out, "--model", tiny_model, "--seed", "2"
    )
    assert code != 0 and "--overwrite" in err and (out / "groove-01.mid").read_bytes() == before
    assert (
        run_cli(
            capsys,
            "midi",
            "groove",
            beat_file,
            "-o",
            out,
            "--model",
            tiny_model,
            "--seed",
            "2",
            "--overwrite",
        )[0]
        == 0
    )
    assert (out / "groove-01.mid").read_bytes() != before


def test_the_shipped_model_is_found_and_described():
    model = midi.GrooveModel(str(SHIPPED))
    info = model.info
    assert info["kind"] == "midi-groove" and info["latent"] == 32
    assert "humaniser" in info["description"]
    assert SHIPPED.stat().st_size < 20e6 and SHIPPED.with_suffix(".pt").is_file()


# --- data, training, export ------------------------------------------------------------------------------


def test_humaniser_keeps_offsets_in_range_and_makes_backbeats_late_and_loud():
    rng = np.random.default_rng(0)
    hits = np.zeros((32, 9), bool)
    hits[::2, gd.CLOSED_HAT] = True
    hits[[4, 12, 20, 28], gd.SNARE] = True
    hits[[6, 22], gd.SNARE] = True  # ghost notes
    lags, ghosts, backbeats = [], [], []
    for _ in range(300):
        vel, off = gd.humanise(hits, np.where(hits, 0.8, 0), rng)
        assert np.all(np.abs(off) <= gd.MAX_OFFSET) and np.all(off[~hits] == 0) and np.all(vel[~hits] == 0)
        assert np.all((vel[hits] >= 1 / 127) & (vel[hits] <= 1))
        lags.append(off[[4, 12], gd.SNARE].mean() - off[0:32:4, gd.CLOSED_HAT].mean())
        ghosts.append(vel[[6, 22], gd.SNARE].mean())
        backbeats.append(vel[[4, 12, 20, 28], gd.SNARE].mean())
    assert np.mean(lags) > 0.05  # the backbeat laid back against the hats (8 + 4 ms at 70..150 bpm)
    assert np.mean(ghosts) < np.mean(backbeats) - 0.3


def test_tap_track_is_the_loudest_note_of_each_step():
    hits = np.zeros((4, 9), bool)
    hits[0, [0, 2]] = True
    hits[2, 1] = True
    vel = np.where(hits, 0.5, 0).astype(np.float32)
    vel[0, 0] = 0.9
    off = np.where(hits, 0.1, 0).astype(np.float32)
    off[0, 0] = -0.2
    track = gd.tap(hits, vel, off)
    assert np.allclose(track, [[1, 0.9, -0.2], [0, 0, 0], [1, 0.5, 0.1], [0, 0, 0]])


def test_patterns_become_two_bar_windows_split_by_pattern():
    one_bar = np.zeros((16, 9), bool)
    one_bar[0, 0] = True
    five_bars = np.zeros((80, 9), bool)
    five_bars[::4, 2] = True
    grids = gd.grids_from_patterns(
        [
            ("a", one_bar, one_bar * 0.8, np.zeros((16, 9)), False),
            ("b", five_bars, five_bars * 0.7, np.zeros((80, 9)), True),
        ]
    )
    # a: repeated to 2 bars; b: bars 1-2 and 3-4 identical (kept once), bar 5 repeated
    assert len(grids) == 2 and grids.hits.shape == (2, 32, 9)
    assert grids.hits[0, [0, 16], 0].all() and grids.validation.tolist() == [False, True]


def test_training_resumes_to_the_same_weights(tmp_path):
    torch = pytest.importorskip("torch")
    from tonemorph.training.midi import groove_train as gt

    grids = gd.grids_from_patterns(gd.synthetic_patterns(30))
    config = gt.GrooveConfig(hidden=16, latent=4, layers=1, steps=6, batch_size=8, validate_every=3)
    gt.start_run(tmp_path / "a", config, {})
    gt.train(tmp_path / "a", grids, show_progress=False)
    gt.start_run(tmp_path / "b", config, {})
    gt.train(tmp_path / "b", grids, steps=3, show_progress=False)
    gt.train(tmp_path / "b", grids, steps=6, show_progress=False)
    a = gt.load_checkpoint(tmp_path / "a")["model"]
    b = gt.load_checkpoint(tmp_path / "b")["model"]
    assert gt.load_checkpoint(tmp_path / "b")["step"] == 6
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="already holds a training run"):
        gt.start_run(tmp_path / "a", config, {})
    weights = gt.save_weights(tmp_path / "a", tmp_path / "groove.pt")
    assert all(
        torch.equal(a[k], v)
        for k, v in gt.model_from_checkpoint(gt.load_checkpoint(weights, weights=True)).state_dict().items()
    )
    with pytest.raises(ValueError, match="is not a groove training run"):
        gt.load_checkpoint(weights)  # a weights file cannot be resumed


def test_export_metadata_and_parity(tiny_model):
    from tonemorph.training.midi.groove_export import read_metadata

    meta = read_metadata(tiny_model)
    assert meta["kind"] == "midi-groove" and meta["steps"] == "32" and meta["condition_size"] == "14"
    assert json.loads(meta["drum_classes"])[0] == [36, 35]
    with pytest.raises(ValueError, match="not a groove model"):
        read_metadata(Path(__file__).resolve().parents[1] / "models" / "midi" / "melody.onnx")
