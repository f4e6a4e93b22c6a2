"""The drums model of the MIDI tools (issue 12, item 8): data from Hydrogen songs and MMA grooves, split,
Markov baseline, training and resume, export, and `tonemorph midi train drums` without data."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tonemorph.training.midi import drum_data as dd
from tonemorph.training.midi.drums_export import KIND, export_drums, read_drums_metadata
from tonemorph.training.midi.markov import MarkovChain
from tonemorph.training.midi.melody_export import PARITY_TOLERANCE, max_difference, read_metadata
from tonemorph.training.midi.melody_model import MelodyRNN
from tonemorph.training.midi.melody_train import CropSampler, MelodyConfig, load_checkpoint, start_run, train

DEMO1 = Path("/usr/share/hydrogen/data/demo_songs/GM_kit_demo1.h2song")
needs_hydrogen = pytest.mark.skipif(not DEMO1.is_file(), reason="Debian's hydrogen-data is not installed")
needs_mma = pytest.mark.skipif(
    shutil.which("mma") is None or not dd.MMA_LIBRARY.is_dir(), reason="Debian's mma is not installed"
)
KICK, SNARE, CLOSED, OPEN, LOW_TOM, MID_TOM, HIGH_TOM, CRASH, RIDE = range(9)
TINY = {
    "task": "drums",
    "hidden": 16,
    "layers": 2,
    "embedding": 8,
    "batch_size": 4,
    "crop_steps": 16,
    "validate_every": 1000,
    "checkpoint_every": 2,
    "log_every": 1,
}


def pattern(name: str, group: str, hits: dict[int, list[int]], steps: int = 16) -> dd.DrumPattern:
    """A pattern with velocity 100 at each (class: steps) hit."""
    velocity = np.zeros((steps, dd.NUM_CLASSES), np.uint8)
    for cls, at in hits.items():
        velocity[at, cls] = 100
    return dd.DrumPattern(name, group, velocity, np.zeros(velocity.shape, np.float32), 120.0, 16)


def toy_data(n: int = 12) -> dd.DrumData:
    """Rock beats with a fill every few bars, one group each; the split is crc32's."""
    patterns = []
    for i in range(n):
        bars = [{KICK: [0, 8, 10], SNARE: [4, 12], CLOSED: list(range(0, 16, 2))}] * 3
        bars.append({KICK: [0], SNARE: [4, 5, 6, 7], HIGH_TOM: [8, 9], LOW_TOM: [12 - i % 3, 14]})
        velocity = np.concatenate([pattern("", "", b).velocity for b in bars])
        patterns.append(
            dd.DrumPattern(
                f"toy{i}", f"toy-style-{i}", velocity, np.zeros(velocity.shape, np.float32), 100, 16
            )
        )
    return dd.collect(patterns, {})


# --- encoding -------------------------------------------------------------------------------------------


def test_classes_are_the_contracts_and_events_round_trip():
    assert dd.NUM_EVENTS == 512 and dd.START == 512 and dd.NUM_INPUTS == 513
    assert [notes[0] for notes in dd.CLASS_NOTES] == [36, 38, 42, 46, 45, 48, 50, 49, 51]
    assert dd.drum_class(35) == KICK and dd.drum_class(44) == CLOSED and dd.drum_class(43) == HIGH_TOM
    assert dd.drum_class(82) == RIDE and dd.drum_class(60) == MID_TOM and dd.drum_class(100) is None
    velocity = pattern("x", "x", {KICK: [0], SNARE: [1], RIDE: [1, 3]}, steps=4).velocity
    events = dd.encode(velocity)
    assert events.tolist() == [1, 2 | 256, 0, 256]
    assert np.array_equal(dd.decode(events), velocity > 0)
    with pytest.raises(ValueError, match="0..511"):
        dd.decode([512])


def test_hydrogen_instrument_names_win_over_their_midi_notes():
    # the TR-808 kit's notes are 36, 37, ... in kit order: its conga sits on 49, which is a crash
    assert dd.NOTE_CLASS[dd.instrument_note("Conga", 49)] == MID_TOM
    assert dd.NOTE_CLASS[dd.instrument_note("Kick Short", 37)] == KICK
    assert dd.NOTE_CLASS[dd.instrument_note("Tom 1", 45)] == HIGH_TOM  # the high rack tom, whatever its note
    assert dd.NOTE_CLASS[dd.instrument_note("Floor Tom", 41)] == LOW_TOM
    assert dd.NOTE_CLASS[dd.instrument_note("Hat Semi-Open", 82)] == OPEN
    assert dd.NOTE_CLASS[dd.instrument_note("ride-crash20inch", None)] == RIDE
    assert dd.NOTE_CLASS[dd.instrument_note("Pedal HH", None)] == CLOSED
    assert dd.NOTE_CLASS[dd.instrument_note("Cowbell", 56)] == SNARE  # as drums_rnn maps GM 56
    assert dd.instrument_note("19", None) is None and dd.NOTE_CLASS[dd.instrument_note("19", 38)] == SNARE


def test_grid_keeps_the_louder_hit_and_its_offset_and_drops_hits_past_the_end():
    velocity, offset, dropped = dd.grid(
        [(0.0, KICK, 90), (1.25, SNARE, 60), (0.8, SNARE, 100), (3.6, CLOSED, 50), (-0.7, KICK, 80)], steps=4
    )
    assert velocity[:, SNARE].tolist() == [0, 100, 0, 0] and offset[1, SNARE] == pytest.approx(-0.2)
    assert velocity[0, KICK] == 90 and dropped == 2  # 3.6 rounds to step 4, -0.7 to step -1


# --- Hydrogen -------------------------------------------------------------------------------------------


@needs_hydrogen
def test_a_real_hydrogen_song_is_read_with_its_classes_and_a_known_hit():
    song = dd.read_h2song(DEMO1)
    assert song.bpm == 115 and len(song.patterns) == 11 and len(song.sequence) == 11
    assert sum(len(notes) for _, notes in song.patterns.values()) == 238
    # GMRockKit's instruments by id: Kick, Stick, Snare, ..., Floor Tom, Hat Closed, Tom 2, Hat Pedal, Tom 1
    assert [song.instruments[str(i)] for i in range(11)] == [
        KICK, SNARE, SNARE, SNARE, SNARE, LOW_TOM, CLOSED, MID_TOM, CLOSED, HIGH_TOM, OPEN
    ]  # fmt: skip
    assert [song.instruments[str(i)] for i in (12, 13, 15, 17)] == [RIDE, CRASH, CRASH, RIDE]
    first = dd.h2song_patterns(DEMO1)[0]
    assert first.name == "GM kit demo #1/main 1-1" and first.velocity.shape == (16, 9)
    # main 1-1: kick on 1 (velocity 0.8 -> 102) with the closed hat, snare on the second beat
    assert (
        first.velocity[0, KICK] == 102 and first.velocity[0, CLOSED] > 0 and first.velocity[4, SNARE] == 102
    )
    assert first.events().tolist()[:4] == [1 | 4, 0, 4, 4]
    whole = dd.h2song_arrangement(DEMO1)
    assert whole.velocity.shape == (11 * 16, 9) and whole.group == "hydrogen:GM kit demo #1"
    assert np.array_equal(whole.velocity[:16], first.velocity)  # the song opens with main 1-1
    # lead/lag 0 everywhere: every offset is a whole number of Hydrogen's ticks (12 a step), mostly 0
    ticks = whole.offset[whole.velocity > 0] * 12
    assert np.array_equal(ticks, np.round(ticks)) and (ticks == 0).mean() > 0.9


def test_old_hydrogen_songs_and_lead_lag_are_read(tmp_path):
    # 0.9.x keeps notes in sequenceList/sequence/noteList; 1.x notes carry a lead/lag of up to 5 ticks
    path = tmp_path / "old.h2song"
    path.write_text(
        """<?xml version="1.0"?><song><name>old</name><bpm>90</bpm>
        <instrumentList><instrument><id>0</id><name>BassDrum</name></instrument>
        <instrument><id>1</id><name>mystery</name></instrument>
        <instrument><id>2</id><name>Snare</name></instrument></instrumentList>
        <patternList><pattern><name>p</name><size>192</size><sequenceList><sequence><noteList>
          <note><position>0</position><velocity>1</velocity><instrument>0</instrument></note>
          <note><position>24</position><velocity>0.5</velocity><instrument>1</instrument></note>
          <note><position>48</position><leadlag>0.6</leadlag><velocity>0.5</velocity><instrument>2</instrument></note>
        </noteList></sequence></sequenceList></pattern></patternList>
        <patternSequence><group><patternID>p</patternID></group><group><patternID>p</patternID></group>
        </patternSequence></song>"""
    )
    counts: dict = {}
    song = dd.h2song_arrangement(path, counts)
    assert song.velocity.shape == (32, 9) and song.bpm == 90
    assert song.velocity[[0, 16], KICK].tolist() == [127, 127] and counts["unmapped_notes"] == 2
    assert song.velocity[4, SNARE] == 64 and song.offset[4, SNARE] == pytest.approx(0.6 * 5 / 12)
    (tmp_path / "not.h2song").write_text("<drumkit_info/>")
    with pytest.raises(ValueError, match="not a Hydrogen song"):
        dd.read_h2song(tmp_path / "not.h2song")


# --- MMA and MIDI ---------------------------------------------------------------------------------------


def test_midi_drums_are_cut_at_groove_markers_with_their_swing(tmp_path):
    import mido

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("marker", text="groove:A", time=0))
    for tick, note in ((0, 36), (96, 38), (192 + 64, 42)):  # 192 per quarter: a kick, a snare, a late hat
        track.append(
            mido.Message("note_on", channel=9, note=note, velocity=90, time=tick - sum(m.time for m in track))
        )
    track.append(mido.Message("note_on", channel=0, note=60, velocity=90, time=0))  # not a drum
    track.append(mido.MetaMessage("marker", text="groove:B", time=768 - sum(m.time for m in track)))
    track.append(mido.Message("note_on", channel=9, note=49, velocity=70, time=0))
    track.append(mido.MetaMessage("end_of_track", time=768))
    midi = mido.MidiFile(ticks_per_beat=192)
    midi.tracks.append(track)
    midi.save(tmp_path / "g.mid")
    a, b = dd.midi_drum_patterns(tmp_path / "g.mid", "mma:x")
    assert (a.name, b.name, a.group) == ("mma:x:A", "mma:x:B", "mma:x") and len(a.velocity) == len(
        b.velocity
    ) == 16
    assert a.velocity[0, KICK] == 90 and a.velocity[2, SNARE] == 90 and b.velocity[0, CRASH] == 70
    # 64 ticks past the second beat is 1.33 sixteenths: step 5, a third of a step late
    assert a.velocity[5, CLOSED] == 90 and a.offset[5, CLOSED] == pytest.approx(1 / 3)


@needs_mma
def test_an_mma_style_renders_to_grooves():
    styles = dd.mma_styles()
    assert len(styles) > 200 and styles["stdlib/50srock"][:2] == ["50sRock", "50sRockSus"]
    grooves = dd.render_mma_style("stdlib/50srock", styles["stdlib/50srock"][:2], bars=2)
    assert [g.name for g in grooves] == ["mma:stdlib/50srock:50sRock", "mma:stdlib/50srock:50sRockSus"]
    rock = grooves[0]
    assert rock.velocity.shape == (32, 9) and rock.steps_per_bar == 16
    # 50sRock: the kick on every beat, snare (and clap) on 2 and 4, hats on the beats and the 'a' of 2 and 4
    assert (rock.velocity[::4, KICK] > 0).all() and (rock.velocity[4::8, SNARE] > 0).all()
    assert (rock.velocity[[0, 4, 7, 8, 12, 15], CLOSED] > 0).all() and not rock.offset.any()


# --- the data set ---------------------------------------------------------------------------------------


@needs_hydrogen
def test_split_has_no_song_or_style_on_both_sides_and_repeats_are_kept_once():
    songs = dd.hydrogen_song_files()
    data = dd.build(dd.Sources(tuple(songs), ()))
    assert len(data) == len(songs) >= 7 and data.meta["hydrogen_songs"] == len(songs)
    assert all(dd.is_validation(g) == v for g, v in zip(data.groups, data.validation))
    train = {g for g, v in zip(data.groups, data.validation) if not v}
    assert not train & {g for g, v in zip(data.groups, data.validation) if v}
    assert sum(len(s) for s in data.side(False)) + sum(len(s) for s in data.side(True)) == len(data.velocity)
    first = data.pattern(0)
    again = dd.collect([first, first, pattern("e", "e", {})], {})
    assert len(again) == 1 and again.meta["duplicates"] == 1 and again.meta["empty"] == 1
    summary = data.summary()
    assert summary["train_patterns"] + summary["validation_patterns"] == len(data)


def test_no_sources_is_a_clear_error():
    with pytest.raises(ValueError, match="no drum data found.*hydrogen-data.*mma"):
        dd.build(dd.Sources((), ()))


def test_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("TONEMORPH_CACHE", str(tmp_path))
    data = toy_data(4)
    path = tmp_path / "d.npz"
    dd.save(data, path)
    back = dd.load(path)
    assert (
        back.names == data.names
        and back.groups == data.groups
        and np.array_equal(back.velocity, data.velocity)
    )
    assert np.array_equal(back.bounds, data.bounds) and np.array_equal(back.validation, data.validation)


@needs_hydrogen
def test_the_data_set_is_built_once_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TONEMORPH_CACHE", str(tmp_path))
    sources = dd.Sources((str(DEMO1),), ())
    built = dd.drum_data(sources)
    assert Path(built.meta["cache"]).parent == tmp_path and len(built) == 1

    def no_build(*args):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(dd, "build", no_build)
    again = dd.drum_data(sources)
    assert again.names == built.names and np.array_equal(again.velocity, built.velocity)
    Path(built.meta["cache"]).write_bytes(b"damaged")
    with pytest.raises(AssertionError, match="cache was not used"):  # a damaged cache is built again
        dd.drum_data(sources)


# --- the Markov baseline, training, export -------------------------------------------------------------


def test_markov_chain_over_drum_events_equals_hand_computation():
    a, b = 1 | 4, 2 | 4  # kick + hat, snare + hat
    chain = MarkovChain(order=2, k=0.5, num_events=dd.NUM_EVENTS).fit([np.array([a, b, a, b], np.int16)])
    v = dd.NUM_EVENTS
    # (START, START) -> a once; (START, a) -> b once; test [a, a]: the second a after (START, a) is unseen
    expected = -(math.log(1.5 / (1 + 0.5 * v)) + math.log(0.5 / (1 + 0.5 * v))) / 2
    assert chain.nll([np.array([a, a], np.int16)]) == pytest.approx(expected, rel=1e-12)
    # (a, b) was followed by a, once
    assert chain.log_probs(np.array([a, b, a], np.int16))[2] == pytest.approx(math.log(1.5 / (1 + 0.5 * v)))


def test_markov_numbers_for_the_metadata_come_from_the_same_split():
    from tonemorph.training.midi.drums_export import markov_extra
    from tonemorph.training.midi.melody_eval import SMOOTHING

    data = toy_data()
    extra = markov_extra(data)
    assert set(extra) == {"markov1_nll", "markov2_nll"}
    chain = MarkovChain(1, num_events=dd.NUM_EVENTS).fit(data.side(False))
    scores = []
    for k in SMOOTHING:
        chain.k = k
        scores.append(chain.nll(data.side(True)))
    best = min(scores)
    assert float(extra["markov1_nll"]) == pytest.approx(best, abs=1e-4)


def test_crops_are_drum_sequences_as_they_are():
    data = toy_data()
    sequences = data.side(validation=False)
    sampler = CropSampler(sequences, 16, seed=3, keys=None, start=dd.START)
    inputs, targets = sampler.sample(8)
    whole = [s.tolist() for s in sequences]
    for x, y in zip(inputs.tolist(), targets.tolist()):
        assert any(any(s[k : k + 16] == y for k in range(len(s) - 15)) for s in whole)  # never shifted
        assert x[1:] == y[:-1] and (x[0] == dd.START or 0 <= x[0] < dd.NUM_EVENTS)


def test_tiny_drums_model_learns_and_resumes_where_it_stopped(tmp_path):
    data = toy_data()
    config = MelodyConfig(**TINY, steps=40, lr=1e-2)
    whole = start_run(tmp_path / "whole", config, {})
    result = train(whole, data, show_progress=False)
    losses = [loss for _, loss in result.history["train"]]
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3])
    parts = start_run(tmp_path / "parts", config, {})
    first = train(parts, data, show_progress=False, on_step=lambda step, loss: step == 15)
    assert first.interrupted and first.step == 15
    train(parts, data, show_progress=False)
    a, b = load_checkpoint(whole, "drums"), load_checkpoint(parts, "drums")
    assert a["step"] == b["step"] == 40 and a["model_args"]["num_events"] == dd.NUM_EVENTS
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    with pytest.raises(ValueError, match="not a melody training run"):
        load_checkpoint(whole, "melody")


def test_export_matches_torch_and_carries_the_contracts_metadata(tmp_path):
    torch.manual_seed(0)
    model = MelodyRNN(hidden=128, layers=2, embedding=32, num_inputs=dd.NUM_INPUTS, num_events=dd.NUM_EVENTS)
    path = tmp_path / "drums.onnx"
    assert export_drums(model, path, extra={"validation_nll": "1.0"}) <= PARITY_TOLERANCE
    assert path.stat().st_size < 20e6
    meta = read_drums_metadata(path)
    assert meta["kind"] == KIND == "midi-drums"
    assert (int(meta["num_events"]), int(meta["num_inputs"]), int(meta["start_token"])) == (512, 513, 512)
    assert int(meta["steps_per_bar"]) == 16 and (int(meta["layers"]), int(meta["hidden"])) == (2, 128)
    assert json.loads(meta["drum_classes"]) == [list(n) for n in dd.CLASS_NOTES]
    assert meta["state_layout"].startswith("[2 layers, 1, hidden]")
    beat = toy_data(1).events(0)
    events = np.concatenate([[dd.START], beat]).astype(np.int64)[None]
    assert max_difference(model, path, events) <= PARITY_TOLERANCE
    with pytest.raises(ValueError, match="not a melody model"):
        read_metadata(path)


def test_a_model_of_another_kind_is_refused(tmp_path):
    import onnx

    model = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))
    onnx.helper.set_model_props(model, {"tonemorph_format": "1", "kind": "midi-melody"})
    onnx.save(model, tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="not a drums model .kind 'midi-melody'"):
        read_drums_metadata(tmp_path / "x.onnx")


def test_a_melody_model_is_not_exported_as_drums(tmp_path):
    with pytest.raises(ValueError, match="predicts 512 events"):
        export_drums(MelodyRNN(hidden=8, embedding=4), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_shipped_drums_model_runs_one_step_and_beats_the_markov_chains():
    import onnxruntime as ort

    from tonemorph.paths import bundled_models_dir

    path = bundled_models_dir() / "midi" / "drums.onnx"
    if not path.is_file():
        pytest.skip("no drums model is shipped in this tree")
    meta = read_drums_metadata(path)
    assert path.stat().st_size < 20e6
    assert float(meta["validation_nll"]) < float(meta["markov2_nll"]) < float(meta["markov1_nll"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    state = np.zeros((2 * int(meta["layers"]), 1, int(meta["hidden"])), np.float32)
    logits, state_out = session.run(
        ["logits", "state_out"], {"event": np.array([[dd.START]], np.int64), "state": state}
    )
    assert logits.shape == (1, 1, dd.NUM_EVENTS) and state_out.shape == state.shape
    assert int(np.argmax(logits[0, 0])) & 1  # a groove starts with a kick, the most likely first step


# --- the command ----------------------------------------------------------------------------------------


def test_train_drums_without_data_says_what_to_install(tmp_path, monkeypatch, capsys):
    from tonemorph.cli import main

    monkeypatch.setenv("TONEMORPH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dd.Sources, "installed", classmethod(lambda cls: cls((), ())))
    run, out = tmp_path / "run", tmp_path / "drums.onnx"
    code = main(["midi", "train", "drums", "--run-dir", str(run), "--out", str(out)])
    assert code != 0
    err = capsys.readouterr().err
    assert "no drum data found" in err and "mma" in err and "Traceback" not in err
    assert not out.exists() and not run.exists()
