"""Finishing a generated sound: the C++ noise-floor expander and peak ceiling (NoiseFloor.cpp) against their
numpy reference (tonemorph/sampler/noise_floor.py) and against what they must do to analytic sounds; and
generate() applying them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tonemorph.engine import _core
from tonemorph.training.sampler.evaluate import quiet_floor_db
from tonemorph.training.sampler.model import condition_row

from tonemorph.sampler import noise_floor

SR = 24000
ROOT = Path(__file__).resolve().parents[1]


def db(x) -> float:
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2))


def drum(floor_db: float = -60.0, seed: int = 0, decay_s: float = 0.08, length: int = SR) -> np.ndarray:
    """A 180 Hz decaying sine (peak 0.8) after 2 ms of floor, over white noise at floor_db RMS."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / SR
    onset = round(0.002 * SR)
    tone = np.zeros(length)
    tone[onset:] = (
        0.8 * np.sin(2 * np.pi * 180 * t[: length - onset]) * np.exp(-t[: length - onset] / decay_s)
    )
    return (tone + 10 ** (floor_db / 20) * rng.standard_normal(length)).astype(np.float32)


def cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    tail_silent = drum()
    tail_silent[SR // 2 :] = 0
    return {
        "drum": drum(),
        "drum, floor at -65 dB": drum(-65.0, seed=1, decay_s=0.2),
        "odd length": drum(length=SR - 77),
        "digital silence at the end": tail_silent,
        "a sustain at -30 dBFS": (10 ** (-30 / 20) * rng.standard_normal(SR)).astype(np.float32),
        "steady hiss, peak 13 dB over its floor": (1e-3 * rng.standard_normal(SR)).astype(np.float32),
        "silence": np.zeros(SR, np.float32),
        "too short": drum(length=100),
    }


@pytest.mark.parametrize("name", list(cases()))
def test_cpp_equals_the_numpy_reference(name):
    audio = cases()[name]
    want, want_gain = noise_floor.clear_noise_floor(audio, SR)
    got, gain = _core.sampler.clear_noise_floor(audio, SR)
    assert gain == want_gain
    assert np.abs(got - want).max() <= 1e-7 + 1e-6 * np.abs(want).max()


def test_the_floor_goes_24_db_down_and_the_sound_stays():
    audio = drum()
    cleared, gain = noise_floor.clear_noise_floor(audio, SR)
    assert gain == -24.0
    assert quiet_floor_db(audio[None], SR)[0] > -62
    assert quiet_floor_db(cleared[None], SR)[0] < -80  # 20 dB under it (24 at the quietest frames)
    attack = slice(round(0.002 * SR), round(0.15 * SR))  # the tone 30 dB and more above the floor
    assert np.array_equal(cleared[attack], audio[attack])
    # the decay is followed down, not chopped: 250-300 ms, where the tone (-37 dB) is 23 dB over the floor
    part = slice(round(0.25 * SR), round(0.3 * SR))
    assert abs(db(cleared[part]) - db(audio[part])) < 0.5


def test_sounds_without_a_floor_to_clear_are_left_as_they_are():
    for name in (
        "digital silence at the end",
        "a sustain at -30 dBFS",
        "steady hiss, peak 13 dB over its floor",
        "silence",
    ):
        audio = cases()[name]
        cleared, gain = noise_floor.clear_noise_floor(audio, SR)
        assert gain == 0.0 and np.array_equal(cleared, audio), name


def test_an_attack_after_the_floor_is_never_dimmed():
    audio = (1e-3 * np.random.default_rng(5).standard_normal(SR)).astype(np.float32)  # -60 dB floor
    at = SR // 2 + 37  # a click in the middle of a frame
    audio[at : at + 240] += 0.9 * np.exp(-np.arange(240) / 40.0).astype(np.float32)
    cleared, gain = noise_floor.clear_noise_floor(audio, SR)
    assert gain < 0
    assert np.array_equal(cleared[at : at + 120], audio[at : at + 120])
    assert db(cleared[: SR // 4]) < db(audio[: SR // 4]) - 20


@pytest.mark.parametrize("peak", [1.5, 1.0, 0.98])
def test_a_sound_over_the_ceiling_is_turned_down_to_peak_there(peak):
    audio = drum()
    audio *= np.float32(peak / np.abs(audio).max())
    gain_db = 20 * np.log10(noise_floor.PEAK_CEILING / np.abs(audio).max())
    for turned, gain in (
        noise_floor.keep_under_full_scale(audio),
        _core.sampler.keep_under_full_scale(audio),
    ):
        assert gain == pytest.approx(gain_db, abs=1e-6)
        assert np.abs(turned).max() == pytest.approx(noise_floor.PEAK_CEILING, abs=1e-6)
        np.testing.assert_allclose(turned, audio * 10 ** (gain_db / 20), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(
        noise_floor.keep_under_full_scale(audio)[0], _core.sampler.keep_under_full_scale(audio)[0]
    )


def test_a_sound_under_the_ceiling_is_left_as_it_is():
    for audio in (drum(), np.zeros(SR, np.float32), np.full(8, noise_floor.PEAK_CEILING, np.float32)):
        for kept, gain in (
            noise_floor.keep_under_full_scale(audio),
            _core.sampler.keep_under_full_scale(audio),
        ):
            assert gain == 0.0 and np.array_equal(kept, audio)


def test_generate_finishes_the_sounds_of_the_shipped_drums():
    model = _core.sampler.SamplerModel(str(ROOT / "models" / "sampler" / "drums.onnx"))
    raw = _core.sampler.generate(model, seed=1, finish=False)
    cleared = _core.sampler.generate(model, seed=1)
    want = noise_floor.finish_sounds(raw[None], model.info["sample_rate"])[0]
    _, gain = noise_floor.clear_noise_floor(raw, model.info["sample_rate"])
    assert gain < 0 and np.abs(cleared - want).max() <= 1e-6
    raw_floor, cleared_floor = quiet_floor_db(np.stack([raw, cleared]), model.info["sample_rate"])
    assert (
        raw_floor > -85 and cleared_floor < raw_floor - 18
    )  # the network's hiss (-77 dBFS here), 18 dB down
    loud = condition_row({"kind": "kick"}).tolist()  # seed 7: a kick peaking at 1.13 unfinished
    raw = _core.sampler.generate(model, conditions=loud, seed=7, finish=False)
    finished = _core.sampler.generate(model, conditions=loud, seed=7)
    assert np.abs(raw).max() > 1.0 and np.abs(finished).max() == pytest.approx(noise_floor.PEAK_CEILING)
    want = noise_floor.finish_sounds(raw[None], model.info["sample_rate"])[0]
    assert np.abs(finished - want).max() <= 1e-6
