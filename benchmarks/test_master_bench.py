"""Mastering benchmarks: `tonemorph master` against Matchering 2.0 on the same files in one run, and the memory
of a 10-minute against a 60-minute track.

Both tools run end to end as child processes, so each pays its interpreter start, its imports and its file
I/O: the `tonemorph master` console script with default settings (report included) and a `python -c` that
imports matchering and calls `matchering.process(target, reference, results=[pcm24(out)])`. Times are CPU
seconds of each child, all its threads (the speed ratio), and wall seconds beside; peak memory is each child's
ru_maxrss (os.wait4).
Errors are measured here, on the files each tool wrote, the same way for both (tests/music.py):
1/3-octave spectral error to the reference after level normalisation, integrated loudness error (pyloudnorm),
true peak above -1 dBTP. The material is FluidSynth music from tests/music.py: a 61 s unmastered mix and a
mastered-sounding reference of another arrangement, 44.1 kHz stereo float WAVs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from children import run_child  # benchmarks/children.py
from music import mix, reference, spectral_error_db, true_peak_dbtp  # tests/ is on pytest's pythonpath

SR, TRACK_S, CEILING_DBTP = 44100, 61.0, -1.0
TONEMORPH = Path(sys.executable).with_name("tonemorph")
MATCHERING = """
import sys
import matchering
matchering.process(target=sys.argv[1], reference=sys.argv[2], results=[matchering.pcm24(sys.argv[3])])
"""


def master_cli(track: Path, ref: Path, out: Path) -> tuple[float, float, int]:
    return run_child(
        [str(TONEMORPH), "master", str(track), "--reference", str(ref), "-o", str(out)],
        out.with_suffix(".log"),
    )


def errors(result: Path, ref: np.ndarray) -> dict[str, float]:
    audio, sr = sf.read(result, dtype="float32")
    assert sr == SR and audio.shape[1] == 2
    meter = pyloudnorm.Meter(SR)
    return {
        "spectral_error_db": spectral_error_db(audio, ref, SR),
        "loudness_error_lu": abs(meter.integrated_loudness(audio) - meter.integrated_loudness(ref)),
        "true_peak_overshoot_db": max(true_peak_dbtp(audio, SR) - CEILING_DBTP, 0.0),
    }


def write_looped(path: Path, audio: np.ndarray, seconds: float) -> None:
    """`seconds` of `audio` repeated, written 16-bit in chunks of the material's length."""
    with sf.SoundFile(path, "w", SR, audio.shape[1], "PCM_16") as f:
        left = round(seconds * SR)
        while left:
            chunk = audio[: min(left, len(audio))]
            f.write(chunk)
            left -= len(chunk)


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    folder = tmp_path_factory.mktemp("master")
    track, ref = folder / "mix.wav", folder / "reference.wav"
    sf.write(track, mix(TRACK_S, SR, seed=0), SR, subtype="FLOAT")
    sf.write(ref, reference(TRACK_S, SR, seed=1), SR, subtype="FLOAT")
    return folder, track, ref


def test_master_closer_and_faster_than_matchering(benchmark, material, capsys):
    """Targets (issue 14): spectral, loudness and true-peak errors each at most Matchering's; at least 3x faster
    end to end. The speed ratio is of CPU seconds (all threads of each child); wall seconds are recorded beside
    it. Each side runs twice, in turns, and keeps its run of least CPU: one CI run measured ours at 1.75 s where
    the one before had 1.32 s (a child's start-up, Python's imports, is most of the difference), with
    Matchering's single run unchanged, and the ratio fell to 2.97."""
    folder, track, ref = material
    runs = {"ours": [], "theirs": []}

    def both_twice():
        for i in range(2):
            runs["ours"].append(master_cli(track, ref, folder / ("ours.wav" if i == 0 else "ours2.wav")))
            runs["theirs"].append(
                run_child(
                    [sys.executable, "-c", MATCHERING, str(track), str(ref), str(folder / "matchering.wav")],
                    folder / "matchering.log",
                )
            )

    benchmark.pedantic(both_twice, rounds=1, iterations=1)
    ours, theirs = (min(runs[side], key=lambda run: run[1]) for side in ("ours", "theirs"))
    reference_audio = sf.read(ref, dtype="float32")[0]
    rows = {"wall seconds": (ours[0], theirs[0]), "CPU seconds": (ours[1], theirs[1])}
    ours_errors = errors(folder / "ours.wav", reference_audio)
    theirs_errors = errors(folder / "matchering.wav", reference_audio)
    rows.update({key: (ours_errors[key], theirs_errors[key]) for key in ours_errors})
    rows["peak memory, MB"] = (ours[2] / 2**20, theirs[2] / 2**20)
    for key, (a, b) in rows.items():
        name = key.replace(" ", "_").replace(",", "")
        benchmark.extra_info.update({f"tonemorph_{name}": round(a, 3), f"matchering_{name}": round(b, 3)})
    speedup = theirs[1] / ours[1]
    benchmark.extra_info.update(
        track_seconds=TRACK_S,
        speedup_cpu=round(speedup, 2),
        speedup_wall=round(theirs[0] / ours[0], 2),
        tonemorph_cpu_seconds_per_minute=round(ours[1] * 60.0 / TRACK_S, 3),
    )
    with capsys.disabled():
        print(f"\n{'61 s, 44.1 kHz stereo':24} {'tonemorph':>10} {'matchering':>11}")
        for key, (a, b) in rows.items():
            print(f"{key:24} {a:10.2f} {b:11.2f}")
        print(f"{'speed-up (CPU)':24} {speedup:10.2f}")
    assert ours_errors["spectral_error_db"] <= theirs_errors["spectral_error_db"]
    assert ours_errors["loudness_error_lu"] <= theirs_errors["loudness_error_lu"]
    assert ours_errors["true_peak_overshoot_db"] <= theirs_errors["true_peak_overshoot_db"]
    assert speedup >= 3.0


def test_master_memory_does_not_grow_with_length(benchmark, material, capsys):
    """A 10-minute and a 60-minute track (the 61 s mix looped, 16-bit) mastered to the same reference by the
    CLI: peak memory of the 60-minute run under the 10-minute run's + 50 MB; seconds per minute of audio."""
    folder, track, ref = material
    looped = sf.read(track, dtype="float32")[0]
    runs = {}
    for minutes in (10, 60):
        long_track, out = folder / f"mix-{minutes}min.wav", folder / f"mastered-{minutes}min.wav"
        write_looped(long_track, looped, 60.0 * minutes)
        try:
            if minutes == 60:
                runs[minutes] = benchmark.pedantic(
                    master_cli, args=(long_track, ref, out), rounds=1, iterations=1
                )
            else:
                runs[minutes] = master_cli(long_track, ref, out)
        finally:
            for path in folder.glob(f"*-{minutes}min*.wav"):
                path.unlink()
    for m, (wall, cpu, rss) in runs.items():
        benchmark.extra_info.update(
            {
                f"{m}min_wall_seconds": round(wall, 2),
                f"{m}min_cpu_seconds": round(cpu, 2),
                f"{m}min_cpu_seconds_per_minute": round(cpu / m, 3),
                f"{m}min_peak_rss_mb": round(rss / 2**20, 1),
            }
        )
    with capsys.disabled():
        for m, (wall, cpu, rss) in runs.items():
            print(
                f"\n{m:2d} min: {wall:6.1f} s wall, {cpu:6.1f} s CPU ({cpu / m:.2f} s per minute), "
                f"peak memory {rss / 2**20:.0f} MB",
                end="",
            )
        print()
    assert runs[60][2] < runs[10][2] + 50 * 2**20
