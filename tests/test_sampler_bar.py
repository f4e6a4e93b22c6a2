"""The sampler's quality bar (evaluate.quality_bar, quiet_floor_db) and the time-to-bar measurement
(time_to_bar.measure) on a tiny model."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from test_sampler_model import drums, exported, samples, tiny_config, trained_run  # noqa: F401 (fixtures)
from tonemorph.training.sampler import evaluate, time_to_bar
from tonemorph.training.sampler import train as training

SR = 24000


def test_quiet_floor_of_silence_noise_and_a_decay():
    rng = np.random.default_rng(0)
    length = SR
    tail_silent = np.zeros(length)
    tail_silent[: SR // 2] = np.sin(2 * np.pi * 440 * np.arange(SR // 2) / SR)
    noise = 10 ** (-55 / 20) * rng.standard_normal(length)
    t = np.arange(length) / SR
    decay = np.exp(-t / 0.1)  # -86.9 dB per second: the last 20 ms window's RMS is known
    floors = evaluate.quiet_floor_db(np.stack([tail_silent, noise, decay]), SR)
    assert floors[0] == evaluate.SILENCE_DB
    assert -56.5 < floors[1] < -54.5  # white noise at -55 dBFS RMS: every window near it
    window = round(evaluate.QUIET_WINDOW_S * SR)
    hop = window // 2
    last = hop * ((length - window) // hop)
    expected = 10 * np.log10(np.mean(decay[last : last + window] ** 2))
    assert floors[2] == pytest.approx(expected, abs=1e-6)


def passing_result() -> dict:
    return {
        "frechet_distance": {
            "generated": 2000.0,
            "training sounds (floor)": 1000.0,
            "noise bursts with drum envelopes": 9000.0,
        },
        "prompt_adherence": {"accuracy": 0.7, "held_out_accuracy": 0.9},
        "median_nearest_training_db": {"generated": 4.0, "held-out": 4.5},
        "generated_sounds": 100,
        "near_copies_generated": 5,
        "silent_generated": 0,
        "clipped_generated": 5,
        "quiet_floor_db": {"generated": -75.0, "held-out": -120.0},
    }


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({"frechet_distance": {"generated": 2600.0}}, "distance_vs_floor"),
        ({"frechet_distance": {"noise bursts with drum envelopes": 5900.0}}, "distance_vs_noise"),
        ({"prompt_adherence": {"accuracy": 0.6, "held_out_accuracy": 0.9}}, "prompt_adherence"),
        ({"near_copies_generated": 6}, "no_replay"),
        ({"median_nearest_training_db": {"generated": 3.5, "held-out": 4.5}}, "no_replay"),
        ({"silent_generated": 1}, "not_silent_or_clipped"),
        ({"clipped_generated": 6}, "not_silent_or_clipped"),
        ({"quiet_floor_db": {"generated": -65.0, "held-out": -120.0}}, "noise_floor"),
    ],
)
def test_quality_bar_fails_exactly_the_test_that_is_missed(change, failed):
    result = passing_result()
    assert all(evaluate.quality_bar(result).values())
    for key, value in change.items():
        result[key] = {**result[key], **value} if isinstance(value, dict) else value
    bar = evaluate.quality_bar(result)
    assert [name for name, ok in bar.items() if not ok] == [failed]
    assert evaluate.bar_line(bar) == f"quality bar: not passed ({failed})"


def test_quality_bar_without_a_classifier_does_not_ask_for_adherence():
    result = {**passing_result(), "prompt_adherence": None}
    assert evaluate.quality_bar(result)["prompt_adherence"]


@pytest.fixture
def folder_of_48(samples):  # noqa: F811
    """48 sounds (the 12 test one-shots at 4 gains): enough for a random held-out share."""
    parts = [
        replace(samples, audio=g * samples.audio, files=[f"{g}/{f}" for f in samples.files])
        for g in (1, 0.8, 0.6, 0.4)
    ]
    whole = parts[0]
    for part in parts[1:]:
        whole = training._concat(whole, part)
    return whole


def measure_tiny(weights, samples, config, tmp_path, **settings) -> dict:  # noqa: F811
    """time_to_bar.measure on `samples` in tmp_path/work, evaluating every 2 steps, 1 sound per kind."""
    return time_to_bar.measure(
        "folder",
        tmp_path / "work",
        init_from=weights,
        config=config,
        every=2,
        per_kind=1,
        show_progress=False,
        load_samples=lambda _: samples,
        **settings,
    )


def test_time_to_bar_evaluates_the_base_and_every_n_steps(exported, folder_of_48, tmp_path):  # noqa: F811
    _, weights = exported
    config = training.SamplerConfig.from_dict(
        {**training.FINETUNE_OVERRIDES, **tiny_config().__dict__, "steps": 4, "validation_fraction": 0.25}
    )
    out = tmp_path / "bar.json"
    result = measure_tiny(weights, folder_of_48, config, tmp_path, per_sound=2, out_json=out)
    assert result["train_sounds"] == 36 and result["held_out_sounds"] == 12
    assert [c["step"] for c in result["checkpoints"]] == [0, 2, 4]
    seconds = [c["seconds"] for c in result["checkpoints"]]
    assert seconds == sorted(seconds) and seconds[0] >= result["read_seconds"]
    for c in result["checkpoints"]:
        assert set(c["quality_bar"]) == set(evaluate.quality_bar(passing_result()))
        assert c["passed"] == all(c["quality_bar"].values())
        assert c["frechet_distance"]["generated"] > 0
    assert json.loads(out.read_text())["checkpoints"] == json.loads(json.dumps(result["checkpoints"]))
    report = tmp_path / "work" / "run" / training.REPORT_DIR / "evaluation-step-000004-per_sound2.json"
    assert json.loads(report.read_text())["generated_sounds"] == 24


def test_time_to_bar_stops_at_the_first_step_that_passes(exported, folder_of_48, tmp_path, monkeypatch):  # noqa: F811
    _, weights = exported
    measured = []

    def bar_from_step_2(result):
        measured.append(result["step"])
        return {"everything": result["step"] >= 2}

    monkeypatch.setattr(evaluate, "quality_bar", bar_from_step_2)
    config = training.SamplerConfig.from_dict(
        {**tiny_config().__dict__, "steps": 8, "validation_fraction": 0.25}
    )
    result = measure_tiny(weights, folder_of_48, config, tmp_path, per_sound=1)
    assert measured == [0, 2] and result["passed_step"] == 2
    assert result["passed_seconds"] == result["checkpoints"][-1]["seconds"]
    assert training.load_checkpoint(tmp_path / "work" / "run")["step"] == 2
