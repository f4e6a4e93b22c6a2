"""The effect's Master panel without its GUI: plugin/tools/PluginTorture.cpp `master` drives the processor's
MasterJob (the panel's own API) while a simulated audio thread keeps processing blocks, then A/Bs the result
through the plugin's output; `realtime` with a track and a reference counts processBlock's allocations and
locks while jobs and auditions run. The material is made here: a dark, quiet stereo track of shaped noise
and a chord at 44.1 kHz, and a louder, brighter reference at 48 kHz."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import plugin_host as host
import pyloudnorm
import pytest
import soundfile as sf
from scipy.signal import resample_poly

TRACK_SR, REFERENCE_SR = 44100, 48000
CEILING_DBTP = -1.0


def shaped_noise(rng: np.random.Generator, frames: int, sr: int, tilt_db_per_octave: float) -> np.ndarray:
    """Stereo noise whose spectrum falls by `tilt_db_per_octave` from 1 kHz, partly correlated. [frames, 2]"""
    common = rng.standard_normal(frames)
    white = np.stack(
        [common + 0.5 * rng.standard_normal(frames), common + 0.5 * rng.standard_normal(frames)], 1
    )
    spectrum = np.fft.rfft(white, axis=0)
    f = np.maximum(np.fft.rfftfreq(frames, 1.0 / sr), 20.0)
    spectrum *= ((f / 1000.0) ** (tilt_db_per_octave / 6.02))[:, None]
    return np.fft.irfft(spectrum, frames, axis=0)


def material(seconds: float, sr: int, tilt: float, lufs: float, seed: int) -> np.ndarray:
    """Shaped noise under a tremolo chord (110/220/330 Hz), at `lufs` or lower if that would clip. [frames, 2]"""
    rng = np.random.default_rng(seed)
    frames = int(seconds * sr)
    t = np.arange(frames) / sr
    chord = sum(np.sin(2 * np.pi * f * t + k) / (k + 1) for k, f in enumerate((110.0, 220.0, 330.0)))
    x = (
        shaped_noise(rng, frames, sr, tilt)
        + 3.0 * (0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t))[:, None] * chord[:, None]
    )
    meter = pyloudnorm.Meter(sr)
    x = x * 10 ** ((lufs - meter.integrated_loudness(x)) / 20)
    return (x * min(1.0, 0.9 / np.abs(x).max())).astype(np.float32)


def loudness(x: np.ndarray, sr: int) -> float:
    return pyloudnorm.Meter(sr).integrated_loudness(x)


def true_peak_dbtp(x: np.ndarray) -> float:
    """4x oversampled peak (BS.1770's true peak)."""
    return 20 * np.log10(np.abs(resample_poly(x, 4, 1, axis=0)).max())


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("master-inputs")
    paths = {
        "track": folder / "track.wav",
        "reference": folder / "reference.wav",
        "long": folder / "long.wav",
        "corrupt": folder / "corrupt.wav",
    }
    sf.write(paths["track"], material(12.0, TRACK_SR, -4.5, -22.0, 1), TRACK_SR, subtype="PCM_24")
    sf.write(paths["reference"], material(15.0, REFERENCE_SR, -1.0, -12.0, 2), REFERENCE_SR, subtype="PCM_16")
    sf.write(paths["long"], material(240.0, TRACK_SR, -4.5, -22.0, 3), TRACK_SR, subtype="PCM_16")
    paths["corrupt"].write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + np.random.default_rng(4).bytes(4000))
    return paths


def run_master(track: Path, reference: Path, out: Path, *options: str, timeout: float = 300) -> dict:
    return host.torture_report(
        host.EFFECT, "master", str(track), str(reference), str(out), *options, timeout=timeout
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_master_matches_the_reference_under_the_ceiling_while_audio_plays(inputs, tmp_path):
    out = tmp_path / "out" / "mastered.wav"
    report = run_master(inputs["track"], inputs["reference"], out, "--ab-seconds", "2")
    assert report["state"] == "done", report
    assert out.is_file() and report["output_exists"]
    assert [p.name for p in out.parent.iterdir()] == ["mastered.wav"]  # no temporary file left beside it

    x, sr = sf.read(inputs["track"], dtype="float32")
    ref, ref_sr = sf.read(inputs["reference"], dtype="float32")
    y, y_sr = sf.read(out, dtype="float32")
    info = sf.info(out)
    assert (y_sr, y.shape) == (sr, x.shape) and info.subtype == "PCM_24"

    ref_lufs, y_lufs, y_tp = loudness(ref, ref_sr), loudness(y, y_sr), true_peak_dbtp(y)
    print(
        f"track {loudness(x, sr):.2f} LUFS -> result {y_lufs:.2f} LUFS (reference {ref_lufs:.2f}), "
        f"true peak {y_tp:.2f} dBTP, {report['passes']} passes in {report['seconds']:.2f} s, "
        f"{report['blocks']} audio blocks meanwhile; A/B heard at {report['ab_lufs']} LUFS"
    )
    assert abs(y_lufs - ref_lufs) <= 0.5
    assert y_tp <= CEILING_DBTP + 0.05
    assert abs(report["result"]["lufs"] - y_lufs) <= 0.2  # the panel's numbers are the file's
    assert report["blocks"] > 0 and report["bad"] == 0  # the audio thread kept playing

    # A/B at matched loudness: the original and the result both play at the quieter one's loudness (the track's)
    original_lufs, master_lufs = report["ab_lufs"]
    # (2 s of each, at different moments of the loop: within 1 LU; unmatched they would be 10 LU apart)
    assert abs(original_lufs - master_lufs) <= 1.0
    assert abs(original_lufs - report["track"]["lufs"]) <= 1.0


def test_save_copies_the_result_and_never_onto_an_input(inputs, tmp_path):
    out, copy = tmp_path / "result.wav", tmp_path / "saved" / "copy.wav"
    copy.parent.mkdir()
    report = run_master(inputs["track"], inputs["reference"], out, "--save-to", str(copy))
    assert report["save"] == "saved" and digest(copy) == digest(out)
    assert [p.name for p in copy.parent.iterdir()] == ["copy.wav"]  # no temporary file left beside it

    before = digest(inputs["track"])
    report = run_master(inputs["track"], inputs["reference"], out, "--save-to", str(inputs["track"]))
    assert "would overwrite 'track.wav'" in report["save"] and digest(inputs["track"]) == before


def test_cancel_leaves_no_file(inputs, tmp_path):
    out = tmp_path / "out" / "mastered.wav"
    out.parent.mkdir()
    report = run_master(inputs["long"], inputs["reference"], out, "--cancel-after", "0.3")
    print(f"cancelled after {report['seconds']:.2f} s")
    assert report["state"] == "cancelled", report
    assert not report["output_exists"] and list(out.parent.iterdir()) == []


@pytest.mark.parametrize("which", ["track", "reference"])
def test_an_input_is_never_the_output(inputs, which):
    before = digest(inputs[which])
    report = run_master(inputs["track"], inputs["reference"], inputs[which])
    assert report["state"] == "failed"
    assert f"would overwrite '{inputs[which].name}'" in report["error"], report["error"]
    assert digest(inputs[which]) == before


def test_a_corrupt_reference_is_a_clear_error(inputs, tmp_path):
    out = tmp_path / "mastered.wav"
    report = run_master(inputs["track"], inputs["corrupt"], out)
    print(report["error"])
    assert report["state"] == "failed"
    assert "'corrupt.wav' is not audio tonemorph can read" in report["error"], report["error"]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_process_block_allocates_nothing_while_mastering_and_auditioning(
    inputs, tone_model_path, random_model_path
):
    """`realtime` with a track and a reference: besides the parameter, model and MIDI load, another thread
    masters the track over and over and A/Bs each result through the plugin's output."""
    command = [str(host.torture_tool()), "realtime", str(tone_model_path), str(random_model_path)]
    result = subprocess.run(
        [*command, str(inputs["track"]), str(inputs["reference"])],
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, f"crashed ({result.returncode}):\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"{report['mastered']} runs mastered, {report['auditioned']} of {report['blocks']} blocks auditioned"
    )
    assert report["counting"] and all(n >= 1 for n in report["probe"]), report
    assert report["mastered"] >= 1 and report["auditioned"] >= 100, report
    assert (report["allocations"], report["frees"], report["locks"]) == (0, 0, 0), report
    assert report["bad"] == 0
