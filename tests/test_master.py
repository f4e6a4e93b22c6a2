"""Mastering (cpp/actions/master through tonemorph.engine.master and `tonemorph master`), against independent
references: pyloudnorm for loudness, scipy's 4x resampling for true peak, numpy FFTs for spectra, EBU Tech 3342's
own test case for loudness range."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf
from music import THIRD_OCTAVE_HZ, band_errors_db, mix, reference, third_octave_levels, true_peak_dbtp
from tonemorph.engine import _core
from tonemorph.engine.master import ArrayAudio, MasterError, master, master_arrays, report_paths

SR = 44100
LOUDNESS_TOLERANCE_LU = 0.5  # the bound on the result against the reference (pyloudnorm)
CEILING_OVERSHOOT_DB = 0.05  # true peak by scipy's interpolator against the limiter's own (TruePeak.h)
SPECTRUM_RMS_DB = 1.0  # 1/3-octave bands 63 Hz .. 12.5 kHz, level-normalised, result against reference
SPECTRUM_MAX_DB = 2.5


def shaped_noise(
    seconds: float,
    sr: int,
    tilt_db_per_octave: float,
    *,
    width: float = 0.3,
    rms: float = 0.1,
    seed: int = 0,
    bass_db: float = 0.0,
) -> np.ndarray:
    """Stereo noise [frames, 2] with a spectral tilt around 1 kHz, +bass_db below 150 Hz, band-limited to
    40 Hz .. 16 kHz; side = width x mid's spectrum, independent."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    f = np.fft.rfftfreq(n, 1 / sr)
    shape = (np.maximum(f, 1.0) / 1000.0) ** (tilt_db_per_octave / (20 * np.log10(2)))
    shape *= np.where(f < 150, 10 ** (bass_db / 20), 1.0) * ((f > 40) & (f < 16000))
    mid, side = (np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * shape, n) for _ in range(2))
    x = np.stack([mid + width * side, mid - width * side], axis=1)
    fade = np.minimum(1.0, np.arange(n) / (0.05 * sr))[:, None]  # no click at the start
    x *= fade * fade[::-1]
    return (x * rms / np.sqrt(np.mean(x**2))).astype(np.float32)


def lufs(x: np.ndarray, sr: int) -> float:
    return float(pyloudnorm.Meter(sr).integrated_loudness(np.asarray(x, np.float64)))


def spectrum_error(
    result: np.ndarray, reference: np.ndarray, sr: int, ref_sr: int | None = None
) -> np.ndarray:
    """Per 1/3-octave band (63 Hz .. 12.5 kHz) dB difference, the mean difference removed (tests/music.py)."""
    bands = (np.array(THIRD_OCTAVE_HZ) >= 63) & (np.array(THIRD_OCTAVE_HZ) <= 12500)
    a, b = third_octave_levels(result, sr)[bands], third_octave_levels(reference, ref_sr or sr)[bands]
    return band_errors_db(a, b)


def write(path, audio, sr=SR, subtype="FLOAT"):
    sf.write(path, audio, sr, subtype=subtype)
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A dark, quiet, narrow track and a bright, loud, wider reference (files), and a mastering of one to the
    other with the report."""
    folder = tmp_path_factory.mktemp("master")
    track = shaped_noise(20, SR, -4.5, width=0.2, rms=0.03, seed=1, bass_db=4)
    reference = shaped_noise(15, SR, -2.5, width=0.5, rms=0.1, seed=2)
    reference *= 10 ** ((-1.5 - true_peak_dbtp(reference, SR)) / 20)  # mastered: under -1.5 dBTP
    paths = write(folder / "track.wav", track), write(folder / "reference.wav", reference)
    out = folder / "out.wav"
    summary = master(paths[0], out, paths[1])
    result, rate = sf.read(out, dtype="float32", always_2d=True)
    return {
        "track": track,
        "reference": reference,
        "paths": paths,
        "out": out,
        "summary": summary,
        "result": result,
        "rate": rate,
    }


# --- the measures, against their references ----------------------------------------------------------


def analyse(audio: np.ndarray, sr: int) -> dict:
    return _core.master.analyse(ArrayAudio(audio, sr))


@pytest.mark.parametrize("sr", [22050, 44100, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2])
def test_integrated_loudness_matches_pyloudnorm(sr, channels):
    x = shaped_noise(8, sr, -3.0, rms=0.05, seed=sr)[:, :channels]
    x[: 2 * sr] *= 0.1  # a quiet start, so the relative gate has something to drop
    assert analyse(x, sr)["integrated_lufs"] == pytest.approx(lufs(x, sr), abs=0.1)


def test_loudness_range_of_ebu_tech_3342_case_1():
    """EBU Tech 3342 test 1: 20 s of 1 kHz at -20 LUFS then 20 s at -30 LUFS (stereo): LRA 10 +- 1 LU."""
    t = np.arange(20 * SR) / SR
    tone = np.sin(2 * np.pi * 1000 * t)
    level = lambda target: tone * (10 ** ((target - lufs(np.stack([tone, tone], 1), SR)) / 20))
    x = np.concatenate([level(-20), level(-30)])
    a = analyse(np.stack([x, x], 1), SR)
    assert a["loudness_range_lu"] == pytest.approx(10.0, abs=1.0)
    assert analyse(np.stack([tone, tone], 1) * 0.1, SR)["loudness_range_lu"] < 0.1


def test_true_peak_finds_the_peak_between_samples():
    """A sine at a quarter of the rate sampled 45 degrees off its crests: samples at 0.707, true peak 1 (3 dB)."""
    n = np.arange(SR)
    fade = np.minimum(1.0, np.minimum(n, n[::-1]) / (0.1 * SR))  # an abrupt start would ring past 1
    x = (0.5 * fade * np.sin(2 * np.pi * n / 4 + np.pi / 4)).astype(np.float32)
    a = analyse(x, SR)
    assert a["sample_peak_dbfs"] == pytest.approx(20 * np.log10(0.5 * np.sqrt(0.5)), abs=0.01)
    assert a["true_peak_dbtp"] == pytest.approx(20 * np.log10(0.5), abs=0.05)
    noise = shaped_noise(5, SR, 0.0, rms=0.2)
    assert analyse(noise, SR)["true_peak_dbtp"] == pytest.approx(true_peak_dbtp(noise, SR), abs=0.05)


def test_spectrum_is_power_per_hz_on_a_shared_grid():
    """White noise of variance s2 has a one-sided PSD of s2 / (rate / 2) per Hz, at any rate."""
    for sr in (32000, 48000):
        x = np.random.default_rng(0).standard_normal((10 * sr, 1)).astype(np.float32) * 0.1
        mid = np.array(analyse(x, sr)["mid_db"])
        grid = np.array(_core.master.GRID_HZ)
        inside = (grid > 100) & (grid < 0.4 * sr)
        assert np.nanmedian(mid[inside]) == pytest.approx(10 * np.log10(0.01 / (sr / 2)), abs=0.3)
        assert np.all(np.isnan(mid[grid > 0.49 * sr]))


def test_width_is_side_over_mid_power():
    x = shaped_noise(5, SR, 0.0, width=0.5)
    assert analyse(x, SR)["width_db"] == pytest.approx(20 * np.log10(0.5), abs=0.3)
    assert analyse(x[:, :1], SR)["width_db"] == -np.inf


# --- mastering to a reference --------------------------------------------------------------------------


def test_result_has_the_references_loudness(pair):
    assert lufs(pair["result"], SR) == pytest.approx(lufs(pair["reference"], SR), abs=LOUDNESS_TOLERANCE_LU)
    assert pair["summary"]["result"]["integrated_lufs"] == pytest.approx(lufs(pair["result"], SR), abs=0.1)


def test_result_has_the_references_tonal_balance(pair):
    before = spectrum_error(pair["track"], pair["reference"], SR)
    after = spectrum_error(pair["result"], pair["reference"], SR)
    assert np.sqrt(np.mean(before**2)) > 4.0  # the pair differs to begin with
    assert np.sqrt(np.mean(after**2)) < SPECTRUM_RMS_DB, np.round(after, 1)
    assert np.max(np.abs(after)) < SPECTRUM_MAX_DB, np.round(after, 1)


def test_result_has_the_references_width(pair):
    widths = {k: analyse(pair[k], SR)["width_db"] for k in ("track", "reference", "result")}
    assert widths["result"] == pytest.approx(widths["reference"], abs=1.0), widths


def test_true_peak_stays_under_the_ceiling(pair):
    assert true_peak_dbtp(pair["result"], SR) <= -1.0 + CEILING_OVERSHOOT_DB


def test_output_has_the_tracks_rate_length_and_channels(pair):
    assert pair["rate"] == SR
    assert pair["result"].shape == pair["track"].shape
    assert sf.info(pair["out"]).subtype == "PCM_24"


def test_output_is_aligned_with_the_track_channel_for_channel(pair):
    """No delay, no swapped channels, no flipped polarity: each output channel correlates best with its own
    input channel at lag 0 (the EQ is linear phase, its delay removed)."""
    track, result = pair["track"], pair["result"]
    for c in range(2):
        n = 1 << 16
        a, b = track[SR : SR + n, c], result[SR : SR + n, c]
        xc = np.fft.irfft(np.fft.rfft(b, 2 * n) * np.conj(np.fft.rfft(a, 2 * n)))
        assert np.argmax(xc) == 0
        assert np.corrcoef(result[:, c], track[:, c])[0, 1] > np.corrcoef(result[:, c], track[:, 1 - c])[0, 1]


def test_report_is_written_beside_the_output(pair):
    json_path, png_path = report_paths(pair["out"])
    report = json.loads(json_path.read_text())
    assert report["result"]["integrated_lufs"] == pytest.approx(pair["summary"]["result"]["integrated_lufs"])
    assert len(report["eq_mid_db"]) == len(report["frequencies_hz"]) == len(_core.master.GRID_HZ)
    assert report["reference"]["file"] == str(pair["paths"][1])
    assert len(report["gain_reduction_db"]) > 0
    assert png_path.stat().st_size > 10_000


def test_a_track_already_like_the_reference_comes_out_nearly_unchanged():
    x = shaped_noise(12, SR, -3.0, rms=0.05, seed=3)
    x *= 10 ** ((-3.0 - true_peak_dbtp(x, SR)) / 20)
    y, result = master_arrays(ArrayAudio(x, SR), ArrayAudio(x, SR), bits=32)
    assert abs(result["gain_db"]) < 0.1
    assert np.max(np.abs(result["eq_mid_db"])) < 0.3
    assert 20 * np.log10(np.sqrt(np.mean((y - x) ** 2) / np.mean(x**2))) < -30


def test_streamed_and_whole_file_processing_agree(pair):
    """The file read in blocks of the reader's choosing, and an array in memory read 1000 frames at a time,
    give the same samples."""
    y, _ = master_arrays(
        ArrayAudio(pair["track"], SR, chunk=1000), ArrayAudio(pair["reference"], SR), bits=24
    )
    np.testing.assert_array_equal(y, pair["result"])


def test_the_same_request_gives_the_same_file(pair, tmp_path):
    again = master(*pair["paths"][:1], tmp_path / "again.wav", pair["paths"][1], report=False)
    assert again["passes"] == pair["summary"]["passes"]
    np.testing.assert_array_equal(sf.read(tmp_path / "again.wav", dtype="float32")[0], pair["result"])


def test_minimum_phase_matches_too_without_delay(pair):
    y, _ = master_arrays(ArrayAudio(pair["track"], SR), ArrayAudio(pair["reference"], SR), phase="minimum")
    after = spectrum_error(y, pair["reference"], SR)
    assert np.sqrt(np.mean(after**2)) < SPECTRUM_RMS_DB
    assert true_peak_dbtp(y, SR) <= -1.0 + CEILING_OVERSHOOT_DB
    # The filter's energy arrives first: the output leads no later than the linear-phase one (lag 0).
    n = 1 << 16
    a, b = pair["track"][SR : SR + n, 0], y[SR : SR + n, 0]
    lag = np.argmax(np.fft.irfft(np.fft.rfft(b, 2 * n) * np.conj(np.fft.rfft(a, 2 * n))))
    assert lag < 64


def test_strength_scales_the_eq(pair):
    half = master_arrays(ArrayAudio(pair["track"], SR), ArrayAudio(pair["reference"], SR), strength=0.5)[1]
    none = master_arrays(ArrayAudio(pair["track"], SR), ArrayAudio(pair["reference"], SR), strength=0.0)[1]
    np.testing.assert_allclose(half["eq_mid_db"], 0.5 * np.array(pair["summary"]["eq_mid_db"]), atol=1e-9)
    assert np.all(np.array(none["eq_mid_db"]) == 0.0)


def test_reference_at_another_rate_and_channel_count(pair):
    ref48 = shaped_noise(15, 48000, -2.5, rms=0.1, seed=2)[:, :1]
    y, result = master_arrays(ArrayAudio(pair["track"], SR), ArrayAudio(ref48, 48000))
    assert y.shape == pair["track"].shape
    assert lufs(y, SR) == pytest.approx(lufs(ref48, 48000), abs=LOUDNESS_TOLERANCE_LU)
    after = spectrum_error(y, np.repeat(ref48, 2, axis=1), SR, 48000)
    assert np.sqrt(np.mean(after**2)) < SPECTRUM_RMS_DB
    assert any("mono" in w for w in result["warnings"])  # the width is kept, and it says so


def test_mono_in_gives_mono_out(pair, tmp_path):
    path = write(tmp_path / "mono.wav", pair["track"][:, :1])
    master(path, tmp_path / "mono-out.flac", pair["paths"][1], bits=16)
    info = sf.info(tmp_path / "mono-out.flac")
    assert (info.channels, info.format, info.subtype) == (1, "FLAC", "PCM_16")


def test_dither_is_tpdf_at_the_output_bit_depth(pair):
    wide, _ = master_arrays(ArrayAudio(pair["track"], SR), ArrayAudio(pair["reference"], SR), bits=32)
    y16, _ = master_arrays(ArrayAudio(pair["track"], SR), ArrayAudio(pair["reference"], SR), bits=16)
    lsb = 2.0**-15
    steps = y16 / lsb
    np.testing.assert_array_equal(steps, np.round(steps))
    error = (y16 - wide) / lsb  # rounding (1/12) plus triangular dither (1/6): variance 1/4 LSB^2
    assert np.var(error) == pytest.approx(0.25, rel=0.05)
    assert abs(np.mean(error)) < 0.01


# --- without a reference -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "preset,target,ceiling", [("streaming", -14, -1.0), ("podcast", -16, -1.0), ("cd", -9, -0.3)]
)
def test_presets_reach_their_loudness_under_their_ceiling(pair, tmp_path, preset, target, ceiling):
    out = tmp_path / f"{preset}.wav"
    master(pair["paths"][0], out, preset=preset, report=False)
    y, _ = sf.read(out, dtype="float32")
    assert lufs(y, SR) == pytest.approx(target, abs=LOUDNESS_TOLERANCE_LU)
    assert true_peak_dbtp(y, SR) <= ceiling + CEILING_OVERSHOOT_DB


def test_target_lufs_tilts_toward_the_neutral_balance(pair):
    """A dark track gains treble toward the neutral balance (pink to 4 kHz, -6 dB per octave above), within
    the presets' 6 dB."""
    _, result = master_arrays(
        ArrayAudio(pair["track"], SR), match_reference=False, target_lufs=-16.0, max_eq_db=6.0
    )
    eq = dict(zip(_core.master.GRID_HZ, result["eq_mid_db"]))
    at = lambda hz: eq[min(eq, key=lambda f: abs(f - hz))]
    assert at(3000) > at(300) > at(100) - 1
    assert max(abs(v) for v in eq.values()) <= 6.0 + 1e-9


# --- what bad input gets ---------------------------------------------------------------------------------


def test_a_silent_reference_is_refused(pair, tmp_path):
    silent = write(tmp_path / "silent.wav", np.zeros((5 * SR, 2), np.float32))
    with pytest.raises(MasterError, match="silent.wav' is silent"):
        master(pair["paths"][0], tmp_path / "x.wav", silent)
    assert not list(tmp_path.glob("x*"))


def test_a_one_second_reference_is_refused(pair, tmp_path):
    short = write(tmp_path / "short.wav", pair["reference"][:SR])
    with pytest.raises(MasterError, match="short.wav' is 1 s long; a reference needs at least 3 s"):
        master(pair["paths"][0], tmp_path / "x.wav", short)
    assert not list(tmp_path.glob("x*"))


def test_a_clipped_track_is_mastered_and_said_to_be_clipped(pair, tmp_path):
    clipped = write(tmp_path / "clipped.wav", np.clip(pair["track"] * 60, -1, 1), subtype="PCM_16")
    summary = master(clipped, tmp_path / "x.wav", pair["paths"][1], report=False)
    assert any("clipped" in w for w in summary["warnings"])
    assert (tmp_path / "x.wav").exists()


@pytest.mark.parametrize(
    "content,message", [(b"RIFF\x00\x00garbage" * 10, "cannot read"), (b"", "cannot read")]
)
def test_a_corrupt_or_empty_file_is_refused(pair, tmp_path, content, message):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    for args in ((bad, tmp_path / "x.wav", pair["paths"][1]), (pair["paths"][0], tmp_path / "x.wav", bad)):
        with pytest.raises(MasterError, match=message):
            master(*args)
    assert not (tmp_path / "x.wav").exists()


def test_a_file_of_no_samples_is_refused(pair, tmp_path):
    empty = write(tmp_path / "empty.wav", np.zeros((0, 2), np.float32))
    with pytest.raises(MasterError, match="contains no audio"):
        master(empty, tmp_path / "x.wav", pair["paths"][1])


def test_an_input_is_never_overwritten(pair, tmp_path):
    track, reference = pair["paths"]
    before = track.read_bytes()
    for out in (track, reference):
        with pytest.raises(MasterError, match="is an input file"):
            master(track, out, reference, overwrite=True)
    assert track.read_bytes() == before
    existing = tmp_path / "existing.wav"
    existing.write_bytes(b"keep")
    with pytest.raises(MasterError, match="already exists"):
        master(track, existing, reference)
    assert existing.read_bytes() == b"keep"


def test_interrupting_leaves_nothing_behind(pair, tmp_path):
    calls = []

    def progress(fraction, stage):
        calls.append(stage)
        if stage == "mastering" and len(calls) > 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        master(pair["paths"][0], tmp_path / "x.wav", pair["paths"][1], progress=progress)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"strength": 1.5}, "strength"),
        ({"ceiling_dbtp": 3.0}, "ceiling"),
        ({"bits": 8}, "bits"),
        ({"phase": "mixed"}, "phase"),
    ],
)
def test_bad_settings_are_refused(pair, tmp_path, settings, message):
    with pytest.raises(MasterError, match=message):
        master(pair["paths"][0], tmp_path / "x.wav", pair["paths"][1], **settings)
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("suffix,fmt", [(".flac", {}), (".ogg", {}), (".aiff", {}), (".mp3", {})])
def test_every_readable_format_masters(pair, tmp_path, suffix, fmt):
    path = tmp_path / f"track{suffix}"
    sf.write(path, pair["track"][: 6 * SR], SR, **fmt)
    out = tmp_path / "x.wav"
    master(path, out, pair["paths"][1], report=False)
    y, rate = sf.read(out, dtype="float32")
    assert rate == SR and y.shape[1] == 2 and abs(len(y) - 6 * SR) <= 2 * 1152  # MP3 frames pad the ends
    assert lufs(y, SR) == pytest.approx(lufs(pair["reference"], SR), abs=LOUDNESS_TOLERANCE_LU)


# --- the command ---------------------------------------------------------------------------------------


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tonemorph.cli", "master", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_masters_and_prints_the_numbers(pair, tmp_path):
    out = tmp_path / "cli.wav"
    proc = run_cli(pair["paths"][0], "--reference", pair["paths"][1], "-o", out, "--bits", "16")
    assert proc.returncode == 0, proc.stderr
    assert "result" in proc.stdout and "LUFS" in proc.stdout
    assert sf.info(out).subtype == "PCM_16"
    assert all(p.exists() for p in report_paths(out))


def test_cli_errors_exit_non_zero_with_a_message(pair, tmp_path):
    proc = run_cli(pair["paths"][0], "--reference", tmp_path / "missing.wav", "-o", tmp_path / "x.wav")
    assert proc.returncode == 2
    assert "missing.wav' does not exist" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli(
        pair["paths"][0], "--reference", pair["paths"][1], "--preset", "cd", "-o", tmp_path / "x.wav"
    )
    assert proc.returncode == 2 and "not both" in proc.stderr
    assert not (tmp_path / "x.wav").exists()


def test_the_limiter_does_not_pump_a_steady_pad():
    """A held chord under a kick twice a second, driven 19 dB into the limiter: after each kick the chord
    comes back within a tenth of a second; over 50-450 ms after a kick it sits at most 2 dB under its level
    before the kick (a single 150 ms release, which pumps audibly, left it 3.5 dB under)."""
    n = 20 * SR
    t = np.arange(n) / SR
    pad = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * 0.03
    kick = np.zeros(n)
    hit = np.arange(int(0.08 * SR)) / SR
    for start in range(0, n - len(hit), SR // 2):
        kick[start : start + len(hit)] += 0.9 * np.sin(2 * np.pi * 55 * hit) * np.exp(-hit / 0.03)
    x = np.stack([pad + kick] * 2, axis=1).astype(np.float32)
    y, result = master_arrays(
        ArrayAudio(x, SR), match_reference=False, target_lufs=-9.0, strength=0.0, bits=32
    )
    assert max(result["gain_reduction_db"]) > 15

    def pad_level_db(z):
        b, a = scipy.signal.butter(4, [180, 420], "bandpass", fs=SR)
        e = scipy.signal.filtfilt(b, a, z[:, 0])
        w = int(0.02 * SR)
        return 20 * np.log10(np.sqrt(np.convolve(e**2, np.ones(w) / w, "same")) + 1e-9)

    gain = pad_level_db(y) - pad_level_db(x)  # what the limiter did to the chord, dB
    dips = []
    for start in range(2 * SR, n - SR, SR // 2):
        before = np.median(gain[start - int(0.06 * SR) : start - int(0.02 * SR)])
        dips.append(before - np.mean(gain[start + int(0.05 * SR) : start + int(0.45 * SR)]))
    assert np.mean(dips) < 2.0, np.round(dips, 2)


def test_a_rendered_mix_takes_a_mastered_references_sound():
    """Music rendered through FluidSynth (tests/music.py): an unmastered mix of one arrangement matched to a
    mastered-sounding reference of another: loudness, 1/3-octave balance (63 Hz .. 12.5 kHz) and ceiling."""
    track, ref = mix(20, SR, seed=0), reference(20, SR, seed=1)
    y, _ = master_arrays(ArrayAudio(track, SR), ArrayAudio(ref, SR))
    assert lufs(y, SR) == pytest.approx(lufs(ref, SR), abs=LOUDNESS_TOLERANCE_LU)
    assert true_peak_dbtp(y, SR) <= -1.0 + CEILING_OVERSHOOT_DB
    before, after = spectrum_error(track, ref, SR), spectrum_error(y, ref, SR)
    # Different arrangements: their bass notes differ in the lowest bands, which a smooth EQ cannot match.
    assert np.sqrt(np.mean(after**2)) < 0.4 * np.sqrt(np.mean(before**2)), (
        np.round(before, 1),
        np.round(after, 1),
    )
    assert np.sqrt(np.mean(after**2)) < 1.5
