"""Milliseconds per Continue and Generate call at the default settings (Continue: a 2-bar clip, 2 new bars,
4 variations; Generate: 4 bars, 8 variations), with the shipped melody model:

- the C++ core through the binding (_core.midi.continue_clip / generate: what the plugin's panel runs),
- Python end to end (the CLI function: read the file, run, write the clips and the sidecar),
- the baseline, measured in the same run: the same sampling (the same number of model steps and draws) as a
  Python loop over onnxruntime (tests/midi_reference.py, one thread like the C++ session).

Times are the least CPU seconds of the calling thread over ROUNDS rounds in which all six take turns (each runs
on that thread: one-thread sessions), so a slow spell of the machine, or another thread of the process, falls
on none of them alone (wall-clock times, one contender after the other, failed the C++ loop once here).
"""

from __future__ import annotations

import time
from pathlib import Path

from midi_helpers import TUNE  # tests/ is on pytest's pythonpath
from midi_reference import open_session, reference_sample
from timing import least_seconds_in_turns  # benchmarks/timing.py
from tonemorph.engine import _core

from tonemorph.cli import main

midi = _core.midi
MELODY = Path(__file__).resolve().parents[1] / "models" / "midi" / "melody.onnx"
ROUNDS = 5
CORE_OVER_BASELINE_LIMIT = 1.0  # the C++ loop must not be slower than Python's over the same ONNX Runtime


def test_continue_and_generate_ms_per_call(benchmark, tmp_path):
    model = midi.EventModel(str(MELODY), "midi-melody")
    session = open_session(MELODY)
    clip = midi.Clip([midi.Note(*n) for n in TUNE], 32)
    clip_file = tmp_path / "tune.mid"
    clip_file.write_bytes(midi.write_clip(clip))
    primer = model.encode(clip)[0]

    def core_continue():
        midi.continue_clip(model, clip, seed=1)

    def core_generate():
        midi.generate(model, seed=1)

    def python_continue():
        assert (
            main(
                [
                    "midi",
                    "continue",
                    str(clip_file),
                    "--out",
                    str(tmp_path / "c"),
                    "--seed",
                    "1",
                    "--overwrite",
                ]
            )
            == 0
        )

    def python_generate():
        assert (
            main(
                [
                    "midi",
                    "generate",
                    "--kind",
                    "melody",
                    "--out",
                    str(tmp_path / "g"),
                    "--seed",
                    "1",
                    "--overwrite",
                ]
            )
            == 0
        )

    def baseline_continue():
        for v in range(4):
            reference_sample(session, primer, 32, 1.0, 1 + v)

    def baseline_generate():
        for v in range(8):
            reference_sample(session, [], 64, 1.0, 1 + v)

    contenders = {
        "core_continue_ms": core_continue,
        "core_generate_ms": core_generate,
        "python_continue_ms": python_continue,
        "python_generate_ms": python_generate,
        "baseline_continue_ms": baseline_continue,
        "baseline_generate_ms": baseline_generate,
    }

    def measure():
        best = least_seconds_in_turns(list(contenders.values()), ROUNDS, time.thread_time)
        return {name: 1000 * seconds for name, seconds in zip(contenders, best)}

    ms = benchmark.pedantic(measure, rounds=1, iterations=1)
    ratios = {
        "continue_core_over_baseline": ms["core_continue_ms"] / ms["baseline_continue_ms"],
        "generate_core_over_baseline": ms["core_generate_ms"] / ms["baseline_generate_ms"],
    }
    benchmark.extra_info.update({k: round(v, 2) for k, v in {**ms, **ratios}.items()})
    print(
        "\nms per call (continue 2 bars x 4 / generate 4 bars x 8): "
        f"C++ {ms['core_continue_ms']:.1f} / {ms['core_generate_ms']:.1f}, "
        f"Python end to end {ms['python_continue_ms']:.1f} / {ms['python_generate_ms']:.1f}, "
        f"Python onnxruntime loop {ms['baseline_continue_ms']:.1f} / {ms['baseline_generate_ms']:.1f}"
    )
    assert ratios["continue_core_over_baseline"] <= CORE_OVER_BASELINE_LIMIT
    assert ratios["generate_core_over_baseline"] <= CORE_OVER_BASELINE_LIMIT
