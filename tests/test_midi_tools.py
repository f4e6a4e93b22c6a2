"""Continue and Generate (issue 12 items 1 and 2): the C++ core (cpp/actions/midi) through the binding, the
Python wrapper (tonemorph.engine.midi) and the CLI (`tonemorph midi continue|generate`); the hardened MIDI
file reader; the sampler against a Python reference with the same random numbers; the in-key measure."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import mido
import numpy as np
import pytest
from midi_helpers import TUNE, length_in_steps, make_midi, run_cli  # tests/ is on pytest's pythonpath
from midi_reference import Pcg32, reference_sample
from tonemorph.engine import _core
from tonemorph.engine.midi import MidiToolError, continue_midi, generate_midi, read_clip, write_clip

midi = _core.midi
MELODY = Path(__file__).resolve().parents[1] / "models" / "midi" / "melody.onnx"
TPQ = 96
STEP_TICKS = TPQ // 4


# --- helpers ---------------------------------------------------------------------------------------------


def notes_of(path) -> list[tuple[int, int, int]]:
    """(start step, end step, pitch) of a written file, read with mido (not our reader)."""
    song = mido.MidiFile(path)
    step = song.ticks_per_beat / 4
    now, on, out = 0, {}, []
    for message in mido.merge_tracks(song.tracks):
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            on[message.note] = now
        elif message.type in ("note_on", "note_off") and message.note in on:
            out.append((round(on.pop(message.note) / step), round(now / step), message.note))
    return sorted(out)


@pytest.fixture(scope="module")
def melody_model():
    return midi.EventModel(str(MELODY), "midi-melody")


@pytest.fixture(scope="module")
def tune_file(tmp_path_factory):
    return make_midi(tmp_path_factory.mktemp("clips") / "tune.mid", TUNE)


@pytest.fixture(scope="module")
def drums_model_path(tmp_path_factory):
    """A tiny random-weight drums model, exported by the drums model's own export (kind midi-drums)."""
    torch = pytest.importorskip("torch")
    from tonemorph.training.midi.drums_export import export_drums
    from tonemorph.training.midi.melody_model import MelodyRNN

    torch.manual_seed(0)
    model = MelodyRNN(hidden=16, layers=1, embedding=8, dropout=0.0, num_inputs=513, num_events=512)
    path = tmp_path_factory.mktemp("models") / "drums.onnx"
    export_drums(model, path, name="tiny-test-drums")
    return path


# --- the sampler -----------------------------------------------------------------------------------------


def test_pcg32_draws_the_same_numbers_as_the_python_reference():
    for seed in (0, 1, 2**63 - 1, 123456789):
        ours, theirs = midi.Pcg32(seed), Pcg32(seed)
        assert [ours.next() for _ in range(200)] == [theirs.next() for _ in range(200)]
        assert [ours.uniform() for _ in range(50)] == [theirs.uniform() for _ in range(50)]


def test_sample_event_follows_the_temperature():
    logits = np.array([0.0, 1.0, 3.0, 2.0], np.float32)
    rng = midi.Pcg32(5)
    assert {midi.sample_event(logits, 0.0, rng) for _ in range(20)} == {2}
    counts = np.bincount([midi.sample_event(logits, 1.0, rng) for _ in range(20000)], minlength=4)
    expected = np.exp(logits) / np.exp(logits).sum()
    assert np.allclose(counts / counts.sum(), expected, atol=0.015)
    hot = np.bincount([midi.sample_event(logits, 5.0, rng) for _ in range(20000)], minlength=4)
    assert hot[0] / hot.sum() > counts[0] / counts.sum() + 0.05  # hotter: flatter


def test_cpp_sampling_matches_the_python_reference_step_for_step(melody_model):
    primer = melody_model.encode(midi.Clip([midi.Note(*n) for n in TUNE], 32))[0]
    for seed, temperature in ((3, 1.0), (11, 0.7), (5, 0.0)):
        ours = midi.sample(melody_model, primer, 48, temperature, seed)
        assert ours == reference_sample(MELODY, primer, 48, temperature, seed)


def test_continue_is_the_sampler_on_the_encoded_clip(melody_model):
    clip = midi.Clip([midi.Note(*n) for n in TUNE], 32)
    result = midi.continue_clip(melody_model, clip, bars=2, variations=3, seed=40)
    primer, transpose, _ = melody_model.encode(clip)
    for v, out in enumerate(result["clips"]):
        events = midi.sample(melody_model, primer, 32, 1.0, 40 + v)
        new = [(n.start_step, n.end_step, n.pitch) for n in out.notes if n.start_step >= 32]
        decoded = melody_model.decode(events, 32, transpose)
        assert new == [(n.start_step, n.end_step, n.pitch) for n in decoded]


def test_cancelling_through_progress_stops_the_run(melody_model):
    def stop(fraction):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        midi.generate(melody_model, bars=4, variations=8, progress=stop)


def test_progress_returning_false_cancels_through_the_cores_flag(melody_model):
    seen = []

    def stop_after_first(fraction):
        seen.append(fraction)
        return False

    with pytest.raises(midi.Cancelled):
        midi.continue_clip(
            melody_model,
            midi.Clip([midi.Note(*n) for n in TUNE], 32),
            variations=8,
            progress=stop_after_first,
        )
    assert len(seen) == 1 and seen[0] < 0.2  # stopped at the next step, not at the end


def test_progress_reaches_one(melody_model):
    seen = []
    midi.generate(melody_model, bars=1, variations=2, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


# --- the tools through the CLI ---------------------------------------------------------------------------


def test_generate_writes_the_asked_count_of_clips_of_the_asked_length(tmp_path, capsys):
    code, out, _ = run_cli(
        capsys,
        "midi",
        "generate",
        "--kind",
        "melody",
        "--bars",
        3,
        "--variations",
        5,
        "--seed",
        1,
        "--out",
        tmp_path / "gen",
    )
    assert code == 0
    files = sorted((tmp_path / "gen").glob("*.mid"))
    assert [f.name for f in files] == [f"generate-{i:02d}.mid" for i in range(1, 6)]
    for f in files:
        assert mido.MidiFile(f).type == 0
        assert length_in_steps(f) == 3 * 16
        notes = notes_of(f)
        assert notes and all(48 <= p <= 84 and 0 <= a < b <= 48 for a, b, p in notes)
        starts = [a for a, _, _ in notes]
        assert len(set(starts)) == len(starts)  # one voice
    sidecar = json.loads((tmp_path / "gen" / "generate.json").read_text())
    assert sidecar["settings"] == {
        "bars": 3,
        "variations": 5,
        "temperature": 1.0,
        "seed": 1,
        "kind": "melody",
        "bpm": 120.0,
    }
    assert sidecar["seeds"] == [1, 2, 3, 4, 5] and sidecar["model"]["kind"] == "midi-melody"
    assert "generate-05.mid" in out


def test_continue_keeps_the_clip_and_appends_the_new_bars(tmp_path, capsys, tune_file):
    code, _, _ = run_cli(
        capsys,
        "midi",
        "continue",
        tune_file,
        "--out",
        tmp_path / "c",
        "--bars",
        2,
        "--variations",
        4,
        "--seed",
        9,
    )
    assert code == 0
    files = sorted((tmp_path / "c").glob("continue-*.mid"))
    assert len(files) == 4
    for f in files:
        notes = notes_of(f)
        assert length_in_steps(f) == 32 + 32
        assert [n for n in notes if n[0] < 32][:-1] == TUNE[:-1]  # the last may be held on by the model
        assert any(a >= 32 for a, _, _ in notes)
        assert all(b <= 64 for _, b, _ in notes)


def test_same_seed_same_files_other_seed_other_files(tmp_path, tune_file):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        continue_midi(tune_file, tmp_path / name, seed=seed, variations=2)
    read = {n: [(tmp_path / n / f"continue-0{i}.mid").read_bytes() for i in (1, 2)] for n in "abc"}
    assert read["a"] == read["b"]
    assert read["a"][0] != read["c"][0] and read["a"][1] != read["c"][1]
    assert read["a"][0] != read["a"][1]  # variations differ from each other


def test_variation_k_does_not_depend_on_how_many_are_asked(tmp_path):
    few = generate_midi(tmp_path / "few", variations=2, seed=30, bars=2)
    many = generate_midi(tmp_path / "many", variations=6, seed=30, bars=2)
    assert Path(few["files"][1]).read_bytes() == Path(many["files"][1]).read_bytes()


def test_temperature_zero_is_deterministic_whatever_the_seed(tmp_path, tune_file):
    a = continue_midi(tune_file, tmp_path / "a", temperature=0, seed=1, variations=3)
    b = continue_midi(tune_file, tmp_path / "b", temperature=0, seed=99, variations=1)
    clips = [Path(f).read_bytes() for f in a["files"] + b["files"]]
    assert len(set(clips)) == 1


def test_drums_continue_and_generate_with_a_drums_model(tmp_path, capsys, drums_model_path):
    beat = [(s, s + 1, 36) for s in (0, 8, 16, 24)] + [(s, s + 1, 38) for s in (4, 12, 20, 28)]
    beat += [(s, s + 1, 42) for s in range(0, 32, 2)]
    clip = make_midi(tmp_path / "beat.mid", beat, channel=9)
    code, _, err = run_cli(
        capsys,
        "midi",
        "continue",
        clip,
        "--out",
        tmp_path / "d",
        "--model",
        drums_model_path,
        "--seed",
        2,
        "--variations",
        2,
    )
    assert code == 0, err
    sidecar = json.loads((tmp_path / "d" / "continue.json").read_text())
    assert sidecar["settings"]["kind"] == "drums" and sidecar["model"]["name"] == "tiny-test-drums"
    classes = {36, 38, 42, 46, 45, 48, 50, 49, 51}  # the first GM note of each of the nine classes
    for f in sidecar["files"]:
        song = mido.MidiFile(f)
        hits = [m for m in song.tracks[0] if m.type == "note_on" and m.velocity > 0]
        assert hits and all(m.channel == 9 for m in hits)
        new = [(a, p) for a, _, p in notes_of(f) if a >= 32]
        assert new and all(p in classes for _, p in new)
    code, _, err = run_cli(
        capsys,
        "midi",
        "generate",
        "--kind",
        "drums",
        "--model",
        drums_model_path,
        "--out",
        tmp_path / "g",
        "--bars",
        1,
        "--variations",
        2,
    )
    assert code == 0, err
    assert len(list((tmp_path / "g").glob("generate-*.mid"))) == 2


def test_drums_without_an_installed_drums_model_say_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TONEMORPH_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setattr("tonemorph.engine.midi.bundled_models_dir", lambda: tmp_path / "none")
    code, _, err = run_cli(capsys, "midi", "generate", "--kind", "drums", "--out", tmp_path / "g")
    assert code == 2 and "the drums model is not installed" in err and "--model" in err
    assert not (tmp_path / "g").exists()


def test_a_model_of_the_wrong_kind_is_named(tmp_path, capsys, tune_file, drums_model_path):
    code, _, err = run_cli(
        capsys, "midi", "continue", tune_file, "--out", tmp_path / "x", "--model", drums_model_path
    )
    assert code == 2 and "is a 'midi-drums' model, not a midi-melody model" in err


# --- what bad input gets ---------------------------------------------------------------------------------


def test_polyphonic_clip_keeps_the_top_voice_and_says_so(tmp_path, capsys):
    chords = [(s, s + 4, p) for s in (0, 4, 8, 12) for p in (60, 64, 67)]
    clip = make_midi(tmp_path / "chords.mid", chords)
    code, _, err = run_cli(capsys, "midi", "continue", clip, "--out", tmp_path / "o", "--seed", 1)
    assert code == 0
    assert "highest note at each onset is kept (8 notes left out)" in err
    for f in sorted((tmp_path / "o").glob("*.mid")):
        kept = [n for n in notes_of(f) if n[0] < 16]  # the last may be held on by the model
        assert [(a, p) for a, _, p in kept] == [(s, 67) for s in (0, 4, 8, 12)] and kept[2][1] == 12


def test_a_30_bar_clip_primes_on_its_last_4_bars_and_says_so(tmp_path, capsys, melody_model):
    notes = [(s, s + 2, 60 + (s // 2) % 12) for s in range(0, 30 * 16, 2)]
    clip = make_midi(tmp_path / "long.mid", notes)
    code, _, err = run_cli(
        capsys, "midi", "continue", clip, "--out", tmp_path / "o", "--variations", 1, "--seed", 4
    )
    assert (
        code == 0 and "the clip is 30 bars long: the model is primed on its last 4 bars (bars 27-30)" in err
    )
    sidecar = json.loads((tmp_path / "o" / "continue.json").read_text())
    assert sidecar["primed_steps"] == 64 and sidecar["new_from_step"] == 480
    # the new bars are what the last 4 bars alone prime
    tail = midi.Clip([midi.Note(a - 416, b - 416, p) for a, b, p in notes if a >= 416], 64)
    events = midi.sample(melody_model, melody_model.encode(tail)[0], 32, 1.0, 4)
    expected = [(n.start_step + 416, n.end_step + 416, n.pitch) for n in melody_model.decode(events, 64)]
    got = [n for n in notes_of(sidecar["files"][0]) if n[0] >= 480]
    assert got == [n for n in expected if n[0] >= 480]


def test_a_melody_out_of_range_is_moved_by_octaves_and_back(tmp_path, capsys):
    low = [(a, b, p - 24) for a, b, p in TUNE]  # 36..48: below the model's 48..84
    clip = make_midi(tmp_path / "bass.mid", low)
    code, _, err = run_cli(
        capsys, "midi", "continue", clip, "--out", tmp_path / "o", "--seed", 3, "--temperature", 0.5
    )
    assert code == 0 and "moved up an octave" in err
    new = [p for f in sorted((tmp_path / "o").glob("*.mid")) for a, _, p in notes_of(f) if a >= 32]
    assert new and np.median(new) < 60


def _damaged_files(tmp_path, tune_file) -> dict[str, tuple[Path, str]]:
    good = tune_file.read_bytes()
    type2 = bytearray(good)
    type2[9] = 2
    files = {
        "empty": (b"", "is empty (0 bytes)"),
        "truncated": (good[: len(good) - 20], "the file is truncated"),
        "type 2": (bytes(type2), "is a type 2 MIDI file"),
        "not MIDI": (b"RIFF....WAVEfmt " + bytes(40), "does not start with a MIDI file header"),
        "SMPTE": (good[:12] + b"\xe7\x28" + good[14:], "is timed in SMPTE frames"),
    }
    out = {}
    for name, (data, message) in files.items():
        path = tmp_path / f"{name.replace(' ', '_')}.mid"
        path.write_bytes(data)
        out[name] = (path, message)
    out["no notes"] = (make_midi(tmp_path / "silent.mid", [], end_step=32), "has no notes")
    return out


def test_bad_files_get_a_message_and_nothing_is_written(tmp_path, capsys, tune_file):
    for name, (path, message) in _damaged_files(tmp_path, tune_file).items():
        code, _, err = run_cli(capsys, "midi", "continue", path, "--out", tmp_path / "out")
        assert code == 2, name
        assert message in err and str(path) in err, (name, err)
        assert not (tmp_path / "out").exists(), name


@pytest.mark.parametrize(
    "args, message",
    [
        (["--variations", "0"], "--variations must be 1..64, not 0"),
        (["--temperature", "-0.5"], "--temperature must be 0 or more"),
        (["--bars", "0"], "--bars must be 1..64, not 0"),
        (["--bars", "65"], "--bars must be 1..64, not 65"),
        (["--seed", "-1"], "--seed must be a whole number"),
    ],
)
def test_bad_settings_get_a_message(tmp_path, capsys, tune_file, args, message):
    code, _, err = run_cli(capsys, "midi", "continue", tune_file, "--out", tmp_path / "o", *args)
    assert code == 2 and message in err
    assert not (tmp_path / "o").exists()
    code, _, err = run_cli(capsys, "midi", "generate", "--kind", "melody", "--out", tmp_path / "o", *args)
    assert code == 2 and message in err


def test_an_output_that_is_a_file_is_refused(tmp_path, capsys, tune_file):
    (tmp_path / "taken").write_text("keep")
    code, _, err = run_cli(capsys, "midi", "continue", tune_file, "--out", tmp_path / "taken")
    assert code == 2 and "is a file, not a folder" in err
    assert (tmp_path / "taken").read_text() == "keep"


def test_existing_outputs_are_kept_without_overwrite(tmp_path, capsys, tune_file):
    out = tmp_path / "o"
    continue_midi(tune_file, out, seed=1, variations=2)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, err = run_cli(
        capsys, "midi", "continue", tune_file, "--out", out, "--seed", 2, "--variations", 2
    )
    assert code == 2 and "already holds continue-01.mid" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    code, _, _ = run_cli(
        capsys, "midi", "continue", tune_file, "--out", out, "--seed", 2, "--variations", 2, "--overwrite"
    )
    assert code == 0 and (out / "continue-01.mid").read_bytes() != before["continue-01.mid"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_a_clip_given_as_both_input_and_output_is_refused(tmp_path, tune_file):
    out = tmp_path / "o"
    out.mkdir()
    inside = out / "continue-01.mid"
    inside.write_bytes(tune_file.read_bytes())
    with pytest.raises(MidiToolError, match="would be overwritten"):
        continue_midi(inside, out, overwrite=True)
    assert inside.read_bytes() == tune_file.read_bytes()


# --- the MIDI file reader and writer ---------------------------------------------------------------------


def test_reader_quantises_to_sixteenths_and_keeps_the_offsets(tmp_path):
    song = mido.MidiFile(type=0, ticks_per_beat=TPQ)
    track = mido.MidiTrack(
        [
            mido.Message("note_on", note=60, velocity=80, time=5),  # 5 ticks late: step 0, offset 5/24
            mido.Message("note_off", note=60, time=83),  # tick 88: step 4, 8 ticks early
            mido.Message("note_on", note=62, velocity=70, time=2),  # tick 90: step 4, 6 ticks early
            mido.Message("note_off", note=62, time=54),  # tick 144: step 6 exactly
        ]
    )
    song.tracks.append(track)
    song.save(tmp_path / "late.mid")
    clip = read_clip(tmp_path / "late.mid")["clip"]
    a, b = clip.notes
    assert (a.start_step, a.end_step, a.pitch, a.velocity) == (0, 4, 60, 80)
    assert a.start_offset == pytest.approx(5 / 24) and a.end_offset == pytest.approx(-8 / 24)
    assert (b.start_step, b.end_step, b.pitch) == (4, 6, 62) and b.start_offset == pytest.approx(-6 / 24)
    assert b.end_offset == 0
    assert clip.steps == 16 and not clip.drums


def test_tempo_changes_do_not_move_notes_off_the_beat_grid(tmp_path):
    path = make_midi(tmp_path / "tempo.mid", TUNE, tempi=((0, 400000), (8, 1000000), (20, 300000)))
    read = read_clip(path)
    assert [(n.start_step, n.end_step, n.pitch) for n in read["clip"].notes] == TUNE
    assert read["clip"].bpm == pytest.approx(150.0) and read["tempo_changes"] == 2
    assert any("tempo changes" in m for m in read["messages"])


def test_type_1_tracks_are_merged_and_channel_10_alone_is_drums(tmp_path):
    song = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    song.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=600000)]))
    for pitch, at in ((36, 0), (38, 4 * STEP_TICKS)):
        song.tracks.append(
            mido.MidiTrack(
                [
                    mido.Message("note_on", channel=9, note=pitch, velocity=100, time=at),
                    mido.Message("note_off", channel=9, note=pitch, time=STEP_TICKS),
                ]
            )
        )
    song.save(tmp_path / "drums.mid")
    read = read_clip(tmp_path / "drums.mid")
    assert read["format"] == 1 and read["clip"].drums and read["clip"].bpm == pytest.approx(100.0)
    assert [(n.start_step, n.pitch) for n in read["clip"].notes] == [(0, 36), (4, 38)]
    with pytest.raises(MidiToolError, match="has only drums"):
        read_clip(tmp_path / "drums.mid", "melody")


def test_a_melody_beside_drums_is_the_melody_and_the_drums_are_named(tmp_path):
    song = mido.MidiFile(type=0, ticks_per_beat=TPQ)
    song.tracks.append(
        mido.MidiTrack(
            [
                mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
                mido.Message("note_on", channel=0, note=67, velocity=100, time=0),
                mido.Message("note_off", channel=9, note=36, time=STEP_TICKS),
                mido.Message("note_off", channel=0, note=67, time=STEP_TICKS),
            ]
        )
    )
    song.save(tmp_path / "both.mid")
    read = read_clip(tmp_path / "both.mid")
    assert not read["clip"].drums and [n.pitch for n in read["clip"].notes] == [67]
    assert "1 drum note on channel 10 left out" in read["messages"]
    assert [n.pitch for n in read_clip(tmp_path / "both.mid", "drums")["clip"].notes] == [36]


def test_written_clips_read_back_the_same(tmp_path):
    notes = [
        midi.Note(0, 3, 60, 90, 0.25, -0.125),
        midi.Note(4, 8, 72, 31),
        midi.Note(8, 9, 48, 127, -0.5, 0.0),
    ]
    for drums in (False, True):
        clip = midi.Clip(notes, 32, 97.0, drums)
        write_clip(tmp_path / "c.mid", clip)
        back = read_clip(tmp_path / "c.mid", "drums" if drums else "melody")["clip"]
        assert (back.steps, back.drums) == (32, drums) and back.bpm == pytest.approx(97.0, abs=0.01)
        for a, b in zip(back.notes, notes, strict=True):
            assert (a.start_step, a.end_step, a.pitch, a.velocity) == (
                b.start_step,
                b.end_step,
                b.pitch,
                b.velocity,
            )
            assert a.start_offset == pytest.approx(b.start_offset, abs=1 / 120)
            assert a.end_offset == pytest.approx(b.end_offset, abs=1 / 120)


def test_writer_refuses_a_note_it_cannot_write():
    with pytest.raises(midi.MidiError, match="cannot be written"):
        midi.write_clip(midi.Clip([midi.Note(4, 2, 60)], 16))
    with pytest.raises(midi.MidiError, match="cannot be written"):
        midi.write_clip(midi.Clip([midi.Note(0, 2, 130)], 16))


def test_one_voice_keeps_the_highest_note_at_each_onset():
    clip = midi.Clip([midi.Note(0, 8, 60), midi.Note(0, 4, 64), midi.Note(2, 6, 55), midi.Note(6, 8, 50)], 16)
    voice, dropped, shortened = midi.one_voice(clip)
    assert [(n.start_step, n.end_step, n.pitch) for n in voice.notes] == [(0, 2, 64), (2, 6, 55), (6, 8, 50)]
    assert (dropped, shortened) == (1, 1)


def test_hostile_files_end_in_an_error_or_a_clip_never_a_hang(tmp_path, tune_file):
    """Mutated and cut copies of a valid file: each read ends quickly with a clip or MidiError."""
    good = tune_file.read_bytes()
    rng = random.Random(0)
    outcomes = {"clip": 0, "error": 0}
    for i in range(3000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if i % 3 == 0:
            data = data[: rng.randrange(len(data))]
        try:
            read = midi.read_clip(bytes(data), "'fuzz.mid'")
            assert 0 < read["clip"].steps <= 4096 * 16
            outcomes["clip"] += 1
        except midi.MidiError as e:
            assert "'fuzz.mid'" in str(e)
            outcomes["error"] += 1
    assert outcomes["clip"] > 100 and outcomes["error"] > 100


def test_absurd_sizes_are_refused_before_work(tmp_path):
    header = b"MThd\x00\x00\x00\x06\x00\x01\xff\xff\x00\x60"
    with pytest.raises(midi.MidiError, match="says it has 4294967295 bytes"):
        midi.read_clip(header + b"MTrk\xff\xff\xff\xff" + bytes(10), "'huge.mid'")
    with pytest.raises(
        midi.MidiError, match="longer than tonemorph's MIDI tools take"
    ):  # a note 10^5 bars in
        midi.read_clip(
            header + b"MTrk\x00\x00\x00\x0c\xff\xff\xff\x7f\x90\x3c\x40\x00\x80\x3c\x00\x00", "'far.mid'"
        )
    big = tmp_path / "big.mid"
    with open(big, "wb") as f:
        f.truncate(midi.MAX_SMF_BYTES + 1)
    with pytest.raises(MidiToolError, match="MIDI tools read files of up to 16 MB"):
        read_clip(big)


def test_a_folder_or_missing_file_is_named(tmp_path):
    with pytest.raises(MidiToolError, match="does not exist"):
        read_clip(tmp_path / "missing.mid")
    with pytest.raises(MidiToolError, match="is a folder"):
        read_clip(tmp_path)


# --- quality: continuations in the prompt's key -----------------------------------------------------------


def test_continuations_stay_in_the_prompts_key_on_held_out_tunes():
    """40 held-out fiddle and folk tunes (melody_data's split, read from the corpus here: about 5 s). The
    README's number is over all 468 usable held-out tunes (continuation_eval): 0.962; chance is about 0.58."""
    pytest.importorskip("music21")
    from tonemorph.training.midi import continuation_eval
    from tonemorph.training.midi import melody_data as md

    files = [
        f
        for f in md.corpus_files()
        if f.split("/")[0] in ("ryansMammoth", "oneills1850")
        and md.is_validation(f.rsplit(".", 1)[0] + "#0.0")
    ][:40]
    data = md.build(files)
    assert data.validation.all()
    result = continuation_eval.evaluate(str(MELODY), data.side(validation=True))
    assert result["tunes"] >= 30
    assert result["random"] < 0.7
    assert result["model"] > 0.85
    assert result["model"] > result["random"] + 0.2


def test_find_key_names_c_major_and_a_minor():
    from tonemorph.training.midi.continuation_eval import find_key

    c_major = [(i * 4, i * 4 + 4, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])]
    a_minor = [(i * 4, i * 4 + 4, p) for i, p in enumerate([57, 60, 64, 69, 64, 60, 57, 59, 60, 62, 64, 57])]
    assert find_key(c_major) == (0, True)
    assert find_key(a_minor) == (9, False)


def test_the_shipped_melody_model_is_found_and_described():
    from tonemorph.engine.midi import find_event_model, load_event_model

    assert find_event_model("melody").name == "melody.onnx"
    info = load_event_model("melody").info
    assert (info["kind"], info["num_events"], info["start_token"]) == ("midi-melody", 39, 39)
    assert (info["min_pitch"], info["max_pitch"], info["layers"], info["hidden"]) == (48, 84, 2, 256)


def test_reader_is_clean_under_address_and_undefined_behaviour_sanitizers(tmp_path, tune_file):
    """tests/midi_smf_fuzz.cpp: the reader alone, built with ASan + UBSan, on 3 files and 5,000 mutated and cut
    copies of each (a type 1 file with running status, system exclusive and an unknown chunk among them)."""
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no g++ to build the sanitizer harness")
    root = Path(__file__).resolve().parents[1]
    harness = tmp_path / "smf_fuzz"
    sources = [
        root / "cpp/actions/midi/SmfReader.cpp",
        root / "cpp/actions/midi/Clip.cpp",
        root / "tests/midi_smf_fuzz.cpp",
    ]
    subprocess.run(
        [
            compiler,
            "-std=c++17",
            "-O1",
            "-g",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=undefined",
            f"-I{root / 'cpp/actions'}",
            *map(str, sources),
            "-o",
            str(harness),
        ],
        check=True,
        timeout=300,
    )
    track = (
        b"\x00\xff\x51\x03\x07\xa1\x20"  # tempo
        b"\x00\xf0\x03\x43\x12\xf7"  # system exclusive
        b"\x00\x90\x3c\x64\x18\x3e\x64\x18\x3c\x00\x18\x3e\x00"  # running status, note-on velocity 0 as off
        b"\x00\xb0\x07\x64\x00\xc0\x05\x00\xe0\x00\x40\x00\xff\x2f\x00"
    )
    rich = (
        b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x00\x60"
        + b"XTRA\x00\x00\x00\x02ab"
        + b"MTrk"
        + len(track).to_bytes(4, "big")
        + track
        + b"MTrk"
        + len(track).to_bytes(4, "big")
        + track
    )
    (tmp_path / "rich.mid").write_bytes(rich)
    assert [n.pitch for n in midi.read_clip(rich)["clip"].notes] == [60, 60, 62, 62]
    drums = make_midi(tmp_path / "drums.mid", [(s, s + 1, 36 + s % 3) for s in range(16)], channel=9)
    result = subprocess.run(
        [str(harness), "5000", str(tune_file), str(tmp_path / "rich.mid"), str(drums)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={
            **os.environ,
            "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1",
            "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    clips, errors = (int(w) for w in result.stdout.split()[::2])
    assert clips > 500 and errors > 500 and clips + errors == 3 * 5001


def test_continue_refuses_an_unplayable_note_and_starts_after_the_last(melody_model):
    with pytest.raises(midi.MidiError, match="cannot be played"):
        midi.continue_clip(melody_model, midi.Clip([midi.Note(-2, 4, 60)], 16))
    result = midi.continue_clip(melody_model, midi.Clip([midi.Note(0, 20, 60)], 16), bars=1, variations=1)
    assert result["new_from_step"] == 20 and result["clips"][0].steps == 36
    with pytest.raises(midi.MidiError, match="no notes to continue"):
        midi.continue_clip(melody_model, midi.Clip([], 16))


def test_a_damaged_or_incomplete_model_file_is_refused_with_the_reason(tmp_path):
    import onnx

    (tmp_path / "noise.onnx").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(midi.MidiError, match="noise.onnx' cannot be used as a MIDI model"):
        midi.EventModel(str(tmp_path / "noise.onnx"), "midi-melody")
    graph = onnx.load(str(MELODY))
    for key, value, message in (
        ("num_events", None, "metadata 'num_events' is missing"),
        ("hidden", "lots", "metadata 'hidden' is 'lots', not a whole number 1..4096"),
        ("max_pitch", "90", "its note range does not match its number of events"),
    ):
        edited = onnx.ModelProto()
        edited.CopyFrom(graph)
        props = {p.key: p.value for p in edited.metadata_props if p.key != key}
        if value is not None:
            props[key] = value
        onnx.helper.set_model_props(edited, props)
        onnx.save(edited, str(tmp_path / "edited.onnx"))
        with pytest.raises(midi.MidiError, match=message):
            midi.EventModel(str(tmp_path / "edited.onnx"), "midi-melody")
