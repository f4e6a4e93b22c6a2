"""The melody model of the MIDI tools (issue 12, item 8): data, Markov baseline, training, resume, export."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("music21")

from tonemorph.training.midi import melody_data as md
from tonemorph.training.midi.markov import MarkovChain
from tonemorph.training.midi.melody_export import (
    KIND,
    PARITY_TOLERANCE,
    export_melody,
    max_difference,
    read_metadata,
)
from tonemorph.training.midi.melody_model import MelodyRNN
from tonemorph.training.midi.melody_train import (
    MelodyConfig,
    load_checkpoint,
    sequence_nll,
    start_run,
    train,
)

C, D, E, G = 60, 62, 64, 67
TINY = {
    "hidden": 24,
    "layers": 2,
    "embedding": 8,
    "batch_size": 4,
    "crop_steps": 16,
    "lr": 1e-2,
    "validate_every": 1000,
    "checkpoint_every": 2,
    "log_every": 1,
}


def toy_data(tunes: int = 12) -> md.MelodyData:
    """Scales and arpeggios as whole tunes; every fourth one held out."""
    rng = np.random.default_rng(1)
    sequences, names = [], []
    for i in range(tunes):
        root = int(rng.integers(55, 70))
        pitches = [root + d for d in (0, 2, 4, 5, 7, 5, 4, 2, 0, 4, 7, 12)]
        sequences.append(md.encode([(2 * k, 2 * k + 2, p) for k, p in enumerate(pitches)]))
        names.append(f"toy#{i}")
    lengths = [len(s) for s in sequences]
    return md.MelodyData(
        np.concatenate(sequences),
        np.concatenate([[0], np.cumsum(lengths)]),
        names,
        np.array([i % 4 == 0 for i in range(tunes)]),
        {},
    )


def test_encoding_round_trip():
    # a quarter, two eighths (the second a repeat of the pitch), a quarter rest, a half note
    steps = [(0, 4, C), (4, 6, D), (6, 8, D), (12, 20, G)]
    events = md.encode(steps)
    on = md.note_on
    assert events.tolist() == [
        on(C),
        0,
        0,
        0,
        on(D),
        0,
        on(D),
        0,
        md.NOTE_OFF,
        0,
        0,
        0,
        on(G),
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        md.NOTE_OFF,
    ]
    assert md.decode(events) == steps


def test_out_of_range_pitch_is_refused_and_tunes_are_folded_by_octaves():
    with pytest.raises(ValueError, match="outside"):
        md.encode([(0, 1, 100)])
    assert md.fit_range([(0, 1, 96), (1, 2, 100)]) == [(0, 1, 60), (1, 2, 64)]  # near the middle, 66
    assert md.fit_range([(0, 1, 30), (1, 2, 90)]) is None  # five octaves wide
    assert md.transpose(md.encode([(0, 1, md.MAX_PITCH)]), 1) is None


def test_music21_snippet_is_quantised_to_sixteenths():
    from music21 import chord, meter, note, stream

    # 3/4 stays in sixteenth steps (12 a bar); a chord gives its top note; a triplet rounds to the grid
    part = stream.Part(
        [
            meter.TimeSignature("3/4"),
            note.Note("C4", quarterLength=1),
            note.Note("D4", quarterLength=0.5),
            chord.Chord(["E4", "G4"], quarterLength=0.5),
            note.Rest(quarterLength=1),
        ]
    )
    for name in ("G4", "A4", "B4"):
        part.append(note.Note(name, quarterLength=1 / 3))
    part.append(note.Note("C5", quarterLength=2))
    notes = md.top_line(part)
    assert [n[2] for n in notes] == [60, 62, 67, 67, 69, 71, 72]
    steps = md.quantise(notes)
    # quarter c (0-4), eighth d (4-6), chord's top g (6-8), rest, triplet 8-8-8 at 12, 13.33, 14.67 -> 12, 13, 15
    assert steps == [
        (0, 4, 60),
        (4, 6, 62),
        (6, 8, 67),
        (12, 13, 67),
        (13, 15, 69),
        (15, 16, 71),
        (16, 24, 72),
    ]


def test_split_has_no_tune_on_both_sides():
    from tonemorph.training.soundfont import corpus_paths

    paths = corpus_paths()
    files = [p for p in paths if p.startswith("ryansMammoth/")][:6] + [
        p for p in paths if p.startswith("bach/")
    ][:4]
    data = md.build(files)
    assert (
        len(data) >= 8
        and data.meta["parts_read"] == len(data) + data.meta["too_wide"] + data.meta["duplicates"]
    )
    assert len(set(data.names)) == len(data.names)  # transpositions are drawn while training, never stored
    train_names = {n for n, v in zip(data.names, data.validation) if not v}
    validation_names = {n for n, v in zip(data.names, data.validation) if v}
    assert not train_names & validation_names
    assert all(md.is_validation(n) == v for n, v in zip(data.names, data.validation))
    assert all(n.startswith(("bach/", "ryansMammoth/")) for n in data.names)
    bach = [n for n in data.names if n.startswith("bach/")]
    assert all(n.endswith("#0.0") for n in bach)  # the soprano line only
    for i in range(len(data)):
        tune = data.tune(i)
        assert tune.min() >= 0 and tune.max() < md.NUM_EVENTS and tune[-1] == md.NOTE_OFF


def test_duplicate_tunes_in_another_key_are_kept_once(monkeypatch):
    notes = [(float(k), 1.0, 60 + k) for k in range(10)]
    up_a_tone = [(o, d, p + 2) for o, d, p in notes]
    monkeypatch.setattr(md, "tunes_in_file", lambda path: [(path, notes if path == "a/x" else up_a_tone)])
    data = md.build(["a/x", "a/y"])
    assert len(data) == 1 and data.meta["duplicates"] == 1


def test_markov_nll_equals_hand_computation():
    a, b = md.note_on(C), md.note_on(D)
    chain = MarkovChain(order=1, k=1.0).fit([np.array([a, b, a], np.int8)])
    v = md.NUM_EVENTS
    # contexts: START -> a (seen once of 1), a -> b (1 of 1), b -> a (1 of 1); test [a, a]: START -> a, a -> a
    p_start_a = (1 + 1) / (1 + v)
    p_a_a = (0 + 1) / (1 + v)
    expected = -(math.log(p_start_a) + math.log(p_a_a)) / 2
    assert chain.nll([np.array([a, a], np.int8)]) == pytest.approx(expected, rel=1e-12)
    # order 2: (START, START) -> a seen once of 1; (START, a) was followed by b, never a
    chain2 = MarkovChain(order=2, k=0.5).fit([np.array([a, b, a], np.int8)])
    expected2 = -(math.log((1 + 0.5) / (1 + 0.5 * v)) + math.log(0.5 / (1 + 0.5 * v))) / 2
    assert chain2.nll([np.array([a, a], np.int8)]) == pytest.approx(expected2, rel=1e-12)
    # an unseen context is uniform
    assert chain2.log_probs(np.array([b, b, b], np.int8))[2] == pytest.approx(math.log(1 / v), rel=1e-12)


def test_tiny_model_learns(tmp_path):
    data = toy_data()
    validation = data.side(validation=True)
    run = start_run(tmp_path / "run", MelodyConfig(**TINY, steps=60), {})
    before = sequence_nll(MelodyRNN(hidden=24, embedding=8), validation)
    result = train(run, data, show_progress=False)
    losses = [loss for _, loss in result.history["train"]]
    assert np.mean(losses[-10:]) < 0.75 * np.mean(losses[:5])
    after = result.history["validation"][-1][1]
    assert after < 0.75 * before


def test_resume_gives_the_state_of_an_uninterrupted_run(tmp_path):
    data = toy_data()
    config = MelodyConfig(**TINY, steps=6)
    whole = start_run(tmp_path / "whole", config, {})
    train(whole, data, show_progress=False)
    parts = start_run(tmp_path / "parts", config, {})
    first = train(parts, data, show_progress=False, on_step=lambda step, loss: step == 3)
    assert first.interrupted and first.step == 3
    train(parts, data, show_progress=False)
    a, b = load_checkpoint(whole), load_checkpoint(parts)
    assert a["step"] == b["step"] == 6
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert [x[1] for x in a["history"]["train"]] == [x[1] for x in b["history"]["train"]]


def test_export_is_one_small_file_that_matches_torch(tmp_path):
    torch.manual_seed(0)
    model = MelodyRNN()  # the shipped size: 2 x 256
    path = tmp_path / "melody.onnx"
    difference = export_melody(model, path, extra={"validation_nll": "1.0"})
    assert difference <= PARITY_TOLERANCE
    assert path.stat().st_size < 20e6
    meta = read_metadata(path)
    assert meta["kind"] == KIND and int(meta["steps_per_bar"]) == 16
    assert (int(meta["min_pitch"]), int(meta["max_pitch"])) == (md.MIN_PITCH, md.MAX_PITCH)
    assert int(meta["num_events"]) == md.NUM_EVENTS and int(meta["start_token"]) == md.START
    # a melody the model did not see at export: ORT step by step equals torch on the whole sequence
    events = np.concatenate([[md.START], md.encode([(0, 4, C), (4, 6, E), (8, 16, G)])]).astype(np.int64)[
        None
    ]
    assert max_difference(model, path, events) <= PARITY_TOLERANCE


def test_a_wrong_kind_of_model_is_refused(tmp_path):
    import onnx

    model = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))
    onnx.helper.set_model_props(model, {"tonemorph_format": "1", "kind": "instrument"})
    onnx.save(model, tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="not a melody model"):
        read_metadata(tmp_path / "x.onnx")


def test_shipped_model_is_a_melody_model_that_runs_one_step():
    import onnxruntime as ort

    from tonemorph.paths import bundled_models_dir

    path = bundled_models_dir() / "midi" / "melody.onnx"
    if not path.is_file():
        pytest.skip("no melody model is shipped in this tree")
    meta = read_metadata(path)
    assert path.stat().st_size < 20e6 and float(meta["validation_nll"]) < 1.2
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    state = np.zeros((2 * int(meta["layers"]), 1, int(meta["hidden"])), np.float32)
    logits, state_out = session.run(None, {"event": np.array([[md.START]], np.int64), "state": state})
    assert logits.shape == (1, 1, md.NUM_EVENTS) and state_out.shape == state.shape
    assert np.all(np.isfinite(logits))
