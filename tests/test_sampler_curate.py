"""Keeping the best of generated sounds: the embedding (noise bursts land far from real drums, gain does not
matter, flatness as the maths says), the kind classifier, scores and keep_best, the curation stored in the
exported model, `generate --keep-best` and `train --add`.

The drums are test_sampler_data's (kicks, snares, hats of known shape), the model test_sampler_model's tiny
one (trained a few steps, so its sounds are noise-like: what is checked with it is the plumbing).
"""

from __future__ import annotations

import json
from dataclasses import replace

import librosa
import numpy as np
import pytest
import soundfile
from test_sampler_data import hat, kick, snare
from test_sampler_model import drums, exported, samples, tiny_config, trained_run  # noqa: F401 (fixtures)
from tonemorph.training.sampler import classifier, evaluate
from tonemorph.training.sampler import train as training
from tonemorph.training.sampler.export import export_sampler, read_metadata
from tonemorph.training.sampler.model import condition_row

from tonemorph.cli import main
from tonemorph.sampler import curate

SR = 24000
EULER_GAMMA = 0.5772156649
NOISE_FLATNESS_DB = (
    -10 * np.log10(np.e) * EULER_GAMMA
)  # E[log geometric / arithmetic mean] of exponential power


def pad(sound: np.ndarray) -> np.ndarray:
    out = np.zeros(SR, np.float32)
    out[: min(len(sound), SR)] = sound[:SR]
    return out


def kit(seed: int, per_kind: int = 6) -> tuple[np.ndarray, list[str]]:
    """per_kind kicks, snares and hats of random decay, pitch noise and level: ([3 per_kind, SR], kinds)."""
    rng = np.random.default_rng(seed)
    sounds, kinds = [], []
    for _ in range(per_kind):
        sounds.append(pad(kick(SR, rng.uniform(0.3, 0.8)) * rng.uniform(0.5, 1.0)))
        sounds.append(pad(snare(SR, int(rng.integers(10**6)), rng.uniform(0.2, 0.5))))
        sounds.append(pad(hat(SR, int(rng.integers(10**6)), rng.uniform(0.08, 0.3))))
        kinds += ["kick", "snare", "hat"]
    return np.stack(sounds), kinds


@pytest.fixture(scope="module")
def kits():
    """(training sounds, their kinds, their embeddings, held-out sounds, their kinds, their embeddings)."""
    train, train_kinds = kit(1)
    held, held_kinds = kit(2)
    return train, train_kinds, curate.embeddings(train, SR), held, held_kinds, curate.embeddings(held, SR)


@pytest.fixture(scope="module")
def curation(kits):
    _, train_kinds, embedded, _, held_kinds, held_embedded = kits
    files = [f"{k}{i}.wav" for i, k in enumerate(train_kinds)]
    return classifier.build_curation(embedded, train_kinds, files, held_embedded, held_kinds)


def test_mel_filters_are_librosas():
    for rate in (SR, 44100):
        want = librosa.filters.mel(sr=rate, n_fft=curate.N_FFT, n_mels=curate.EMBED_MELS, fmin=20.0)
        np.testing.assert_allclose(curate.mel_filters(rate), want, atol=1e-8)


def test_embedding_size_and_gain_invariance():
    sound = pad(snare(SR, 3))
    e = curate.embedding(sound, SR)
    assert e.shape == (curate.EMBED_DIMS,) and e.dtype == np.float32 and np.all(np.isfinite(e))
    np.testing.assert_allclose(curate.embedding(0.05 * sound, SR), e, atol=1e-3)
    assert curate.embeddings(np.zeros((0, SR)), SR).shape == (0, curate.EMBED_DIMS)
    short = curate.embedding(snare(SR, 3, 0.05), SR)  # shorter than the last stretch's start
    assert short.shape == e.shape and np.all(np.isfinite(short))
    silence = curate.embedding(np.zeros(SR), SR)
    assert np.all(np.isfinite(silence))


def test_flatness_is_euler_gamma_for_noise_and_low_for_a_tone():
    tone_dims = len(curate.SHAPE_EDGES_S) * (len(curate.TONE_OCTAVES_HZ) - 1)
    octaves = len(curate.TONE_OCTAVES_HZ) - 1
    noise = curate.embedding(np.random.default_rng(0).standard_normal(SR), SR)[-tone_dims:]
    late_tail = noise[-octaves:]  # the longest stretch; its top three octaves hold 64 .. 256 bins
    np.testing.assert_allclose(late_tail[-3:], NOISE_FLATNESS_DB, atol=0.2)
    t = np.arange(SR) / SR
    sine = curate.embedding(np.sin(2 * np.pi * 440 * t), SR)[-tone_dims:]
    octave_of_440 = 2  # 375 .. 750 Hz
    assert sine[-octaves + octave_of_440] < -20.0


def test_noise_bursts_land_far_from_real_drums(kits):
    _, _, embedded, held, _, held_embedded = kits
    bursts = curate.embeddings(evaluate.noise_bursts(held), SR)
    floor = evaluate.frechet_distance(embedded, held_embedded)
    assert evaluate.frechet_distance(bursts, held_embedded) > 10 * floor
    near_real, _ = curate.nearest_distance(held_embedded, embedded)
    near_burst, _ = curate.nearest_distance(bursts, embedded)
    assert np.median(near_burst) > 2 * np.median(near_real)


def test_neighbourhood_distance(kits):
    _, _, embedded, _, _, held_embedded = kits
    brute = np.sort(np.sqrt(((held_embedded[:, None] - embedded[None]) ** 2).mean(axis=2)), axis=1)
    np.testing.assert_allclose(
        curate.neighbourhood_distance(held_embedded, embedded, 3), brute[:, :3].mean(1), rtol=1e-5
    )
    itself = curate.neighbourhood_distance(embedded, embedded, 1, skip=1)
    assert np.all(itself > 0)  # the sound itself (distance 0) left out
    with pytest.raises(ValueError, match="more than 18"):
        curate.neighbourhood_distance(embedded, embedded, 1, skip=len(embedded))


def test_classifier_learns_separable_kinds(kits):
    _, train_kinds, embedded, _, held_kinds, held_embedded = kits
    model = classifier.train_classifier(embedded, train_kinds + [])
    assert model.kinds == ["kick", "snare", "hat"]  # words.KINDS order
    p = model.probabilities(held_embedded)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert model.predict(held_embedded) == held_kinds
    result = classifier.accuracy(model, held_embedded, held_kinds + [])
    assert result["accuracy"] == 1.0 and result["per_kind"]["hat"] == [6, 6]
    unnamed = [None] * 3 + train_kinds[3:]  # sounds without a kind are left out
    assert classifier.train_classifier(embedded, unnamed).kinds == ["kick", "snare", "hat"]
    with pytest.raises(ValueError, match="two or more kinds"):
        classifier.train_classifier(embedded, ["kick"] * len(embedded))


def test_curation_round_trips_through_json(curation, kits):
    again = curate.Curation.from_json(curation.to_json())
    np.testing.assert_allclose(again.train_embeddings, curation.train_embeddings, rtol=1e-6)
    held_embedded = kits[5]
    np.testing.assert_allclose(
        again.classifier.probabilities(held_embedded),
        curation.classifier.probabilities(held_embedded),
        atol=1e-5,
    )
    assert again.train_files == curation.train_files and again.held_out == curation.held_out
    assert curation.held_out["accuracy"] == 1.0 and curation.copy_distance == pytest.approx(
        curate.COPY_FRACTION * curation.typical_distance
    )
    blind = curate.Curation.from_json(replace(curation, classifier=None).to_json())
    assert blind.classifier is None
    with pytest.raises(ValueError, match="Re-export"):
        curate.Curation.from_json(json.dumps({"format": 0}))


def test_scores_reject_silence_clipping_and_copies(curation, kits):
    train, _, _, held, _, _ = kits
    new_kick = held[0]
    sounds = np.stack(
        [
            np.zeros(SR),
            np.clip(3 * train[1], -1, 1),
            0.7 * train[0],
            new_kick,
            new_kick,
            new_kick[::-1].copy(),
        ]
    )
    scores = curate.score_sounds(sounds, SR, curation, [None, None, "kick", "kick", "hat", "kick"])
    assert [s.rejected for s in scores] == ["silent", "clipped", "near-copy", None, None, None]
    assert [s.score for s in scores[:3]] == [0.0, 0.0, 0.0]
    assert scores[2].nearest_distance < 0.1 and scores[2].nearest_file == "kick0.wav"
    kick_asked, hat_asked, reversed_kick = scores[3:]
    assert kick_asked.heard_as == "kick" and kick_asked.kind_probability > 0.5
    assert hat_asked.kind_probability < 0.5 and hat_asked.score < kick_asked.score
    assert reversed_kick.closeness < kick_asked.closeness  # no training sound swells up to its attack
    assert 0 < kick_asked.score <= 1 and kick_asked.as_dict()["heard_as"] == "kick"
    blind = curate.score_sounds(sounds[3:4], SR, replace(curation, classifier=None), ["kick"])[0]
    assert blind.kind_probability is None and blind.score == pytest.approx(blind.closeness)
    with pytest.raises(ValueError, match="2 sounds but 1 kinds"):
        curate.score_sounds(sounds[:2], SR, curation, ["kick"])


def test_keep_best_picks_the_best_k():
    def score(value: float, rejected: str | None = None) -> curate.Score:
        return curate.Score(value, rejected, False, False, False, 3.0, "a.wav", "kick", 0.5, 0.5)

    scores = [score(0.2), score(0.0, "silent"), score(0.9), score(0.5), score(0.9), score(0.1)]
    assert curate.keep_best(scores, 3) == [2, 4, 3]  # the earlier of two equal scores first
    assert curate.keep_best(scores, 10) == [2, 4, 3, 0, 5]  # rejected never kept
    with pytest.raises(ValueError, match="1 or more"):
        curate.keep_best(scores, 0)


def test_export_stores_the_curation(exported, trained_run):  # noqa: F811
    onnx_path, _ = exported
    assert "curation" in read_metadata(onnx_path)
    stored = curate.load_curation(onnx_path)
    data = training.load_run_data(trained_run[0])
    assert stored.classifier.kinds == ["kick", "snare", "hat"]
    assert len(stored.train_embeddings) == len(data["train_audio"]) == len(stored.train_files)
    np.testing.assert_allclose(
        stored.train_embeddings, curate.embeddings(data["train_audio"], SR), rtol=1e-4, atol=1e-4
    )


def test_export_keeps_the_classifiers_sounds_in_the_weights(exported, trained_run):  # noqa: F811
    data = training.load_run_data(trained_run[0])
    kept = training.load_checkpoint(exported[1])[training.CLASSIFIER_SOUNDS]
    np.testing.assert_allclose(
        kept["embeddings"].numpy(), curate.embeddings(data["train_audio"], SR), rtol=1e-4, atol=1e-4
    )
    assert kept["kinds"] == classifier.kind_names(data["train_conditions"])  # kick / snare / hat each


def test_a_fine_tunes_classifier_learns_its_bases_kinds_too(exported, samples, tmp_path):  # noqa: F811
    no_kicks = training._subset(samples, np.array([i for i, k in enumerate(samples.kinds) if k != "kick"]))
    base = training.load_checkpoint(exported[1])
    run = training.start_run(tmp_path / "ft", no_kicks, tiny_config(), name="ft", init=base)
    data = training.load_run_data(run)
    assert len(data["base_embeddings"]) == len(base[training.CLASSIFIER_SOUNDS]["kinds"]) == 12
    assert classifier.curation_of_run(run).classifier.kinds == ["kick", "snare", "hat"]
    onnx_path, weights = export_sampler(run, tmp_path / "ft.onnx")
    assert curate.load_curation(onnx_path).classifier.kinds == ["kick", "snare", "hat"]
    chained = training.load_checkpoint(weights)[training.CLASSIFIER_SOUNDS]  # for the next fine-tune
    assert sorted(chained["kinds"]) == sorted(["snare", "hat"] * 4 + ["kick", "snare", "hat"] * 4)
    # a weights file from before the base's sounds were kept: the fine-tune's own sounds alone
    older = {k: v for k, v in base.items() if k != training.CLASSIFIER_SOUNDS}
    alone = training.start_run(tmp_path / "alone", no_kicks, tiny_config(), name="a", init=older)
    assert len(training.load_run_data(alone)["base_embeddings"]) == 0
    assert classifier.curation_of_run(alone).classifier.kinds == ["snare", "hat"]


def test_a_fine_tune_keeps_training_on_its_bases_own_sounds(exported, samples, tmp_path):  # noqa: F811
    no_kicks = training._subset(samples, np.array([i for i, k in enumerate(samples.kinds) if k != "kick"]))
    base = training.load_checkpoint(exported[1])
    config = tiny_config(prior_per_kind=2)
    run = training.start_run(tmp_path / "ft", no_kicks, config, name="ft", init=base)
    data = training.load_run_data(run)
    prior = [str(f) for f in data["train_files"] if str(f).startswith(training.PRIOR_PREFIX)]
    assert prior == [f"prior/{k}-0{i}.wav" for k in ("kick", "snare", "hat") for i in (1, 2)]
    assert training.load_checkpoint(run)["info"]["prior_chunks"] == 6
    first_kick = data["train_files"].tolist().index("prior/kick-01.wav")
    assert classifier.kind_names(data["train_conditions"][first_kick : first_kick + 1]) == ["kick"]
    # the base's own sound, asked by kind alone at its settings from PRIOR_SEED, finished as generate finishes it
    want = evaluate.generate(
        training.model_from_checkpoint(base),
        np.stack([condition_row({"kind": "kick"})]),
        SR,
        training.SamplerConfig.from_dict(base["config"]),
        first_seed=training.PRIOR_SEED,
    )[0]
    np.testing.assert_allclose(data["train_audio"][first_kick], np.clip(want, -1, 1), atol=1e-6)
    # they train, and nothing measures against them: curation and measures see the folder's sounds alone
    own = training.without_prior(data)
    assert len(own["train_audio"]) == len(no_kicks) and not any(
        str(f).startswith(training.PRIOR_PREFIX) for f in own["train_files"]
    )
    assert classifier.curation_of_run(run).train_files == [str(f) for f in own["train_files"]]
    # too few sounds of your own is still refused: the base's do not count
    with pytest.raises(training.SamplerDataError, match="only 3 sounds"):
        training.start_run(
            tmp_path / "few", training._subset(samples, np.arange(3)), config, name="f", init=base
        )


def test_a_model_without_curation_is_refused(trained_run, tmp_path, capsys):  # noqa: F811
    onnx_path, _ = export_sampler(training.load_checkpoint(trained_run[0]), tmp_path / "bare.onnx")
    with pytest.raises(ValueError, match="no curation data"):
        curate.load_curation(onnx_path)
    code = main(
        ["sampler", "generate", str(onnx_path), "--count", "2", "--keep-best", "1"]
        + ["--out", str(tmp_path / "o")]
    )
    assert code == 2 and "no curation data" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_prompt_adherence_counts_each_kind(trained_run):  # noqa: F811
    saved = training.load_checkpoint(trained_run[0])
    stored = classifier.curation_of_run(trained_run[0])
    model = training.model_from_checkpoint(saved)
    config = training.SamplerConfig.from_dict(saved["config"])
    result = evaluate.prompt_adherence(model, stored, config, saved["length"], SR, per_kind=2)
    assert {k: n for k, (_, n) in result["per_kind"].items()} == {"kick": 2, "snare": 2, "hat": 2}
    assert 0.0 <= result["accuracy"] <= 1.0
    assert (
        evaluate.prompt_adherence(model, replace(stored, classifier=None), config, saved["length"], SR)
        is None
    )


@pytest.fixture(scope="module")
def kept(exported, tmp_path_factory):  # noqa: F811
    """generate --count 6 --keep-best 2 --prompt snare: (the out folder, the exit code)."""
    out = tmp_path_factory.mktemp("kept") / "best"
    code = main(
        ["sampler", "generate", str(exported[0]), "--count", "6", "--keep-best", "2", "--seed", "3"]
        + ["--prompt", "snare", "--out", str(out)]
    )
    return out, code


def test_keep_best_writes_the_best_k_with_their_scores(kept, exported, tmp_path, capsys):  # noqa: F811
    out, code = kept
    assert code == 0
    assert sorted(p.suffix for p in out.iterdir()) == [".json", ".json", ".wav", ".wav"]  # no staging left
    facts = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    ranked = sorted(facts, key=lambda stem: facts[stem]["score"]["rank"])
    assert [facts[s]["score"]["rank"] for s in ranked] == [1, 2] and facts[ranked[0]]["score"]["of"] == 6
    assert facts[ranked[0]]["score"]["score"] >= facts[ranked[1]]["score"]["score"]
    # the same six without --keep-best, scored: the kept two are their best two
    assert (
        main(
            [
                "sampler",
                "generate",
                str(exported[0]),
                "--count",
                "6",
                "--seed",
                "3",
                "--prompt",
                "snare",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    wavs = sorted(tmp_path.glob("*.wav"))
    scores = curate.score_files(wavs, curate.load_curation(exported[0]))
    assert [wavs[i].stem for i in curate.keep_best(scores, 2)] == ranked
    audio, rate = soundfile.read(out / f"{ranked[0]}.wav")
    assert rate == SR and len(audio) == SR


@pytest.mark.parametrize(
    ("keep", "message"), [("0", "--keep-best must be 1..--count"), ("7", "--keep-best must be 1..--count")]
)
def test_keep_best_out_of_range_is_refused(exported, tmp_path, capsys, keep, message):  # noqa: F811
    code = main(
        [
            "sampler",
            "generate",
            str(exported[0]),
            "--count",
            "6",
            "--keep-best",
            keep,
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def train_args(drums, weights, tmp_path, *extra):  # noqa: F811
    return ["sampler", "train", str(drums), "--name", "ft", "--from", str(weights), "--steps", "2"] + [
        "--run-dir",
        str(tmp_path / "run"),
        "--out",
        str(tmp_path / "ft.onnx"),
        *extra,
    ]


@pytest.mark.parametrize(
    ("folder", "message"),
    [("missing", "--add: '.*missing' is not a folder"), ("empty", "--add: no audio files in '.*empty'")],
)
def test_add_refuses_a_missing_or_empty_folder(drums, exported, tmp_path, capsys, folder, message):  # noqa: F811
    (tmp_path / "empty").mkdir()
    code = main(train_args(drums, exported[1], tmp_path, "--add", str(tmp_path / folder)))
    assert code == 2
    assert pytest.importorskip("re").search(message, capsys.readouterr().err)
    assert not (tmp_path / "run").exists() and not (tmp_path / "ft.onnx").exists()


def test_add_needs_a_base_to_fine_tune(drums, kept, tmp_path, capsys):  # noqa: F811
    code = main(
        [
            "sampler",
            "train",
            str(drums),
            "--name",
            "x",
            "--add",
            str(kept[0]),
            "--run-dir",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2 and "--add folds kept sounds into a fine-tune" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_add_fine_tunes_on_the_kept_sounds_and_reports_scores(
    drums,  # noqa: F811
    exported,  # noqa: F811
    kept,
    tmp_path,
    capsys,
    monkeypatch,
):
    monkeypatch.setattr(classifier, "REPORT_PER_KIND", 1)
    assert main(train_args(drums, exported[1], tmp_path, "--add", str(kept[0]))) == 0
    printed = capsys.readouterr().err
    assert (
        "2 kept sounds" in printed and "before the fine-tune" in printed and "after the fine-tune" in printed
    )
    data = training.load_run_data(tmp_path / "run")
    added = [i for i, f in enumerate(data["train_files"]) if str(f).startswith("added/")]
    assert len(added) == 2
    kinds = classifier.kind_names(data["train_conditions"])
    assert [kinds[i] for i in added] == ["snare", "snare"]  # from their sidecars, not their names
    report = json.loads((tmp_path / "run" / training.REPORT_DIR / classifier.SCORES_NAME).read_text())
    assert report["before"]["step"] == 0 and report["after"]["step"] == 2
    for stage in ("before", "after"):
        assert report[stage]["sounds"] == 3  # one per kind
        assert set(report[stage]["score_quantiles"]) == {str(q) for q in classifier.REPORT_QUANTILES}
    assert (tmp_path / "ft.onnx").is_file()
    own = training.without_prior(data)  # the base's own sounds (8 per kind) trained too, but are not data
    assert (
        len(data["train_audio"])
        == len(own["train_audio"]) + 3 * training.FINETUNE_OVERRIDES["prior_per_kind"]
    )
    assert len(curate.load_curation(tmp_path / "ft.onnx").train_files) == len(own["train_audio"])


def test_load_kept_reads_kinds_from_sidecars(tmp_path):
    folder = tmp_path / "kept"
    folder.mkdir()
    for i, (name, facts) in enumerate(
        [("0001-seed1", {"conditions": {"kind": "hat"}}), ("0002-seed2", {"prompt": "loud kick"})]
    ):
        soundfile.write(folder / f"{name}.wav", kick(SR, 0.3 + 0.1 * i), SR)  # not duplicates
        (folder / f"{name}.json").write_text(json.dumps(facts))
    soundfile.write(folder / "snare-x.wav", snare(SR, 1), SR)  # no sidecar: its name says
    kept_set = training.load_kept(folder)
    assert dict(zip(kept_set.files, kept_set.kinds)) == {
        "added/0001-seed1.wav": "hat",
        "added/0002-seed2.wav": "kick",
        "added/snare-x.wav": "snare",
    }


def test_evaluate_reports_adherence_scores_and_copies(samples, tmp_path):  # noqa: F811
    held = replace(samples, audio=0.5 * samples.audio, kits=["held"] * len(samples))  # 4 of each kind
    both = training._concat(replace(samples, kits=["train"] * len(samples)), held)
    run = training.start_run(tmp_path / "run", both, tiny_config(steps=1), name="e", validation_kits=["held"])
    training.train(run, show_progress=False, report=False)
    result = evaluate.evaluate(run, per_kind=1)
    adherence = result["prompt_adherence"]
    assert {k: n for k, (_, n) in adherence["per_kind"].items()} == {"kick": 1, "snare": 1, "hat": 1}
    assert adherence["held_out_accuracy"] is not None
    assert set(result["score_median"]) == {
        "generated",
        "untrained network",
        "noise bursts with drum envelopes",
        "held-out sounds",
    }
    assert all(0.0 <= v <= 1.0 for v in result["score_median"].values())
    assert 0 <= result["near_copies_generated"] <= 3 and result["copy_distance_db"] > 0


def test_keep_best_interrupted_leaves_nothing(exported, tmp_path, monkeypatch):  # noqa: F811
    from tonemorph.engine.sampler import GenerateSettings

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(curate, "score_files", interrupted)
    settings = GenerateSettings(count=3, seed=1)
    with pytest.raises(KeyboardInterrupt):
        curate.generate_best(exported[0], tmp_path / "new", settings, 2)
    assert not (tmp_path / "new").exists()  # made by the call, so removed
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "mine.wav").write_bytes(b"x")
    with pytest.raises(KeyboardInterrupt):
        curate.generate_best(exported[0], tmp_path / "old", settings, 2)
    assert [p.name for p in (tmp_path / "old").iterdir()] == ["mine.wav"]  # no staging folder, nothing kept
