"""Transcribe's real-time factor on 30 s of music, end to end (resampling, the Basic Pitch model in ONNX
Runtime, note extraction, one voice): the C++ path (cpp/actions/midi/Transcribe.h, what the CLI and the
plugin run) and its Python reference (soxr, onnxruntime's Python API, numpy) against their baseline, the
model run alone from Python on the same audio at its rate, in the same run; basic-pitch's own predict() on
the same file where installed.

The material is tests/music.py's unmastered mix (drums, bass, piano chords, a flute lead; 44.1 kHz stereo).
Times are the least CPU seconds of the process (every ONNX Runtime thread counts) over ROUNDS runs: the two
cores are shared with other work, which CPU time sees less of than the wall clock.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
from music import mix  # tests/ is on pytest's pythonpath
from timing import least_cpu_seconds  # benchmarks/timing.py

from tonemorph.midi.transcribe import (
    default_model_path,
    load_engine_model,
    load_model,
    mono_at,
    posteriorgrams,
    transcribe_audio,
)

SR, SECONDS, ROUNDS = 44100, 30.0, 3
OVERHEAD_LIMIT = 1.5  # either path's CPU time over the model's alone (measured 1.04-1.13 for both)


def test_transcribe_real_time_factor(benchmark):
    audio = np.ascontiguousarray(mix(SECONDS, SR, seed=0).T)
    model, engine = load_model(), load_engine_model()
    signal = mono_at(audio, SR, model.sample_rate)

    def measure():
        return (
            least_cpu_seconds(lambda: posteriorgrams(model, signal), ROUNDS),
            least_cpu_seconds(lambda: transcribe_audio(audio, SR, model=engine), ROUNDS),
            least_cpu_seconds(lambda: transcribe_audio(audio, SR, model=engine, mono=True), ROUNDS),
            least_cpu_seconds(lambda: transcribe_audio(audio, SR, model=model, reference=True), ROUNDS),
        )

    model_s, cpp_s, mono_s, python_s = benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(
        {
            "audio_s": SECONDS,
            "model_alone_rtf": round(model_s / SECONDS, 4),
            "transcribe_rtf": round(cpp_s / SECONDS, 4),
            "transcribe_mono_rtf": round(mono_s / SECONDS, 4),
            "python_reference_rtf": round(python_s / SECONDS, 4),
            "overhead": round(cpp_s / model_s, 2),
            "cpp_over_python": round(cpp_s / python_s, 2),
        }
    )
    print(
        f"\nCPU real-time factor on {SECONDS:.0f} s: model alone {model_s / SECONDS:.4f}, transcribe (C++) "
        f"{cpp_s / SECONDS:.4f} (x{cpp_s / model_s:.2f}), --mono {mono_s / SECONDS:.4f}, Python reference "
        f"{python_s / SECONDS:.4f} (x{python_s / model_s:.2f})"
    )
    assert cpp_s / model_s <= OVERHEAD_LIMIT
    assert python_s / model_s <= OVERHEAD_LIMIT


def test_basic_pitch_predict_on_the_same_file(benchmark, tmp_path):
    """For reference: the package's own predict() with the same ONNX file (librosa load and resample,
    pretty_midi), where basic-pitch is installed (`pip install --no-deps basic-pitch==0.4.0`)."""
    logging.disable(logging.WARNING)
    try:
        inference = pytest.importorskip("basic_pitch.inference")
    finally:
        logging.disable(logging.NOTSET)
    path = tmp_path / "mix.wav"
    sf.write(path, mix(SECONDS, SR, seed=0), SR, subtype="FLOAT")
    seconds = benchmark.pedantic(
        least_cpu_seconds,
        args=(lambda: inference.predict(str(path), str(default_model_path())), ROUNDS),
        rounds=1,
        iterations=1,
    )
    benchmark.extra_info["basic_pitch_predict_rtf"] = round(seconds / SECONDS, 4)
    print(f"\nbasic-pitch predict(): CPU real-time factor {seconds / SECONDS:.4f}")
