"""The eval metrics on cases with known answers, and `tonemorph eval` through the real engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from tonemorph.training import evaluate as ev

SR = 24000
SEMITONE_CENTS = 100.0
# swift-f0 reads a pure tone up to ~5 cents off (its bins are ~70 cents apart, interpolated); between two
# different pitches the offsets need not cancel.
TRACKER_TOLERANCE_CENTS = 8.0


def tone(f0_hz, seconds=1.5, harmonics=(1.0, 0.5, 0.3, 0.2), decay=0.0, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    x = sum(a * np.sin(2 * np.pi * f0_hz * (k + 1) * t) for k, a in enumerate(harmonics)) * np.exp(-decay * t)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def melody(notes_hz, note_seconds=0.5, **kwargs):
    return np.concatenate([tone(f, note_seconds, **kwargs) for f in notes_hz])


BRIGHT = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)
PLUCKED = (1.0, 0.05, 0.02)


def test_identical_audio_has_no_pitch_error():
    audio = melody((220.0, 330.0, 440.0))
    cents, voiced, _ = ev.pitch_errors_cents(audio, audio, SR)
    assert len(cents) > 50 and voiced == 1.0
    assert ev.median_abs_cents(cents) == 0.0


@pytest.mark.parametrize("base_hz", [220.0, 440.0])
def test_a_semitone_up_is_100_cents(base_hz):
    cents, _, _ = ev.pitch_errors_cents(tone(base_hz), tone(base_hz * 2 ** (1 / 12)), SR)
    assert np.median(cents) == pytest.approx(SEMITONE_CENTS, abs=TRACKER_TOLERANCE_CENTS)  # sign: output higher
    assert ev.median_abs_cents(cents) == pytest.approx(SEMITONE_CENTS, abs=TRACKER_TOLERANCE_CENTS)


def test_pitch_error_counts_only_frames_voiced_in_both():
    audio = melody((220.0, 330.0))
    half_silent = audio.copy()
    half_silent[len(audio) // 2 :] = 0.0
    cents, voiced, _ = ev.pitch_errors_cents(audio, half_silent, SR)
    assert 0.4 < voiced < 0.6 and ev.median_abs_cents(cents) == 0.0


def test_an_octave_slip_counts_as_a_gross_error_that_the_median_hides():
    notes = (220.0, 220.0, 330.0, 330.0, 440.0, 440.0, 294.0, 294.0)
    slipped = list(notes)
    slipped[2] /= 2.0  # one note of eight an octave low
    cents, _, steady = ev.pitch_errors_cents(melody(notes), melody(tuple(slipped)), SR)
    assert ev.median_abs_cents(cents) < TRACKER_TOLERANCE_CENTS
    assert ev.gross_error_fraction(cents[steady]) == pytest.approx(1 / 8, abs=0.03)


def test_note_changes_heard_late_are_not_counted_as_slips():
    notes = (220.0, 330.0, 247.0, 392.0, 294.0, 440.0)
    played = melody(notes)
    late = np.concatenate([np.zeros(int(0.02 * SR), np.float32), played[: -int(0.02 * SR)]])  # 20 ms behind
    cents, _, steady = ev.pitch_errors_cents(played, late, SR)
    assert ev.gross_error_fraction(cents) > 0.03  # the frames at the five note changes
    assert ev.gross_error_fraction(cents[steady]) == 0.0
    assert ev.gross_error_fraction(np.zeros(0)) != ev.gross_error_fraction(np.zeros(0))  # NaN: nothing voiced

def test_envelope_ratio_is_0_for_the_reference_and_1_for_the_input():
    guitar = melody((220.0, 330.0), harmonics=PLUCKED, decay=3.0)
    trumpet = melody((220.0, 330.0), harmonics=BRIGHT)
    ratio, pairs = ev.envelope_ratio([trumpet], [guitar], [trumpet], SR)
    assert ratio == 0.0 and pairs[0][1] > 1.0
    ratio, _ = ev.envelope_ratio([guitar], [guitar], [trumpet], SR)
    assert ratio == pytest.approx(1.0)
    halfway = melody((220.0, 330.0), harmonics=tuple((a + b) / 2 for a, b in zip(BRIGHT, PLUCKED + (0,) * 4)))
    ratio, _ = ev.envelope_ratio([halfway], [guitar], [trumpet], SR)
    assert 0.1 < ratio < 0.9


def test_envelope_ignores_level():
    trumpet = melody((220.0, 330.0), harmonics=BRIGHT)
    assert ev.envelope_distance(trumpet, 0.1 * trumpet, SR) < 1e-3


def test_heldout_pairs_follow_the_manifest(tmp_path):
    folder = tmp_path / "heldout" / "trumpet"
    files = [{"kind": "melody", "audio": {"trumpet": f"trumpet/melody-00{i}.wav", "guitar": f"guitar/melody-00{i}.wav"}}
             for i in range(2)]
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"instrument": "trumpet", "guitar": "guitar", "files": files}))
    expected = [(folder / "trumpet/melody-000.wav", folder / "guitar/melody-000.wav"),
                (folder / "trumpet/melody-001.wav", folder / "guitar/melody-001.wav")]
    assert ev.heldout_pairs(folder, "trumpet") == expected
    assert ev.heldout_pairs(tmp_path / "heldout", "trumpet") == expected  # the folder of all held-out sets
    with pytest.raises(ValueError, match="has no held-out audio of 'violin'.*guitar, trumpet"):
        ev.heldout_pairs(folder, "violin")


def test_heldout_pairs_without_a_manifest_match_file_names(tmp_path):
    for path in ("flute/a.wav", "flute/b.wav", "guitar/a.wav", "flute/notes.txt"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"")
    assert ev.heldout_pairs(tmp_path, "flute") == [(tmp_path / "flute/a.wav", tmp_path / "guitar/a.wav"),
                                                   (tmp_path / "flute/b.wav", None)]


# --- through the engine ----------------------------------------------------------------------------------


@pytest.fixture
def heldout(tmp_path, tone_model_path):
    """guitar/m1.wav, a plucked melody; tone/m1.wav, what the engine makes of it with the tone model, so that the
    output of (b) is the reference itself (ratio 0) and (a) resynthesises a perfect pitch follower's output."""
    from tonemorph.engine import Engine

    folder = tmp_path / "heldout"
    for sub in ("guitar", "tone"):
        (folder / sub).mkdir(parents=True)
    guitar = melody((196.0, 246.9, 293.7, 392.0), note_seconds=0.6, harmonics=PLUCKED, decay=2.0)
    sf.write(folder / "guitar" / "m1.wav", guitar, SR)
    sf.write(folder / "tone" / "m1.wav", ev.render_through(Engine(tone_model_path), guitar[None], SR), SR)
    (folder / "manifest.json").write_text(json.dumps({"instrument": "tone", "guitar": "guitar", "files": [
        {"kind": "melody", "audio": {"tone": "tone/m1.wav", "guitar": "guitar/m1.wav"}}]}))
    return folder


def test_evaluate_through_the_engine(heldout, tone_model_path, tmp_path):
    results = ev.evaluate(tone_model_path, heldout, out_json=tmp_path / "eval.json")
    assert results["instrument"] == "tone"
    assert results["resynthesis"]["median_abs_cents"] < ev.PITCH_TARGET_CENTS
    assert results["resynthesis"]["frames"] > 50
    guitar = results["guitar"]
    assert len(guitar["melodies"]) == 1
    assert guitar["envelope_ratio"] == pytest.approx(0.0, abs=0.05)
    assert results["resynthesis"]["envelope_ratio"] < 0.2  # the tone model remakes its own output
    assert guitar["median_abs_cents"] < ev.PITCH_TARGET_CENTS
    assert guitar["gross_error_fraction"] < 0.05 and results["resynthesis"]["gross_error_fraction"] < 0.05
    assert all(results["passed"].values())
    assert json.loads((tmp_path / "eval.json").read_text())["guitar"]["envelope_ratio"] == guitar["envelope_ratio"]


def run_eval(*args):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "tonemorph.cli", "eval", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300, check=False)


def test_eval_command_prints_a_table_and_writes_json(heldout, tone_model_path, tmp_path):
    result = run_eval(tone_model_path, "--heldout", heldout, "--json", tmp_path / "out.json")
    assert result.returncode == 0, result.stderr
    assert "envelope ratio" in result.stdout and "pitch" in result.stdout
    assert (tmp_path / "out.json").is_file()


def test_eval_command_names_what_the_folder_has(heldout, tone_model_path):
    result = run_eval(tone_model_path, "--heldout", heldout, "--instrument", "tuba")
    assert result.returncode != 0 and "tuba" in result.stderr and "guitar" in result.stderr
    assert "Traceback" not in result.stderr
