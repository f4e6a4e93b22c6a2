"""Transcribe in C++ (cpp/actions/midi/Transcribe.h through tonemorph.engine._core.transcribe) against its
Python reference (tonemorph.midi.transcribe's numpy path and tonemorph.midi.notes) and the basic-pitch
package: the same posteriorgrams from the same audio, the same notes from the same posteriorgrams, the same
notes end to end with the C++ resampler, cancel, bad input.

Material: tests/test_transcribe.py's FluidR3 renders (four guitar melodies, the polyphonic piece), rendered
in a fresh process so that the audio is the same every run.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
import soxr
from test_transcribe import SR, basic_pitch, guitar_melodies, polyphonic_piece, render  # noqa: F401
from tonemorph.engine import _core

from tonemorph.midi import notes as notes_module
from tonemorph.midi.transcribe import (
    MIN_NOTE_MS,
    TranscribeError,
    default_model_path,
    frame_times,
    load_engine_model,
    load_model,
    mono_at,
    posteriorgrams,
    transcribe_audio,
)

core = _core.transcribe
# End to end the two paths hear slightly different audio: soxr's HQ resampler in Python, the C++'s own
# (TranscribeAudio.h, 1e-6 to 1.2e-5 RMS from soxr's output on these renders). Note amplitudes moved by at
# most 6.9e-5 on the five renders (0 from the same posteriorgrams).
END_TO_END_AMPLITUDE = 1e-4


@pytest.fixture(scope="module")
def renders() -> list[tuple[str, np.ndarray]]:
    """(name, mono float32 audio at SR): the polyphonic piece and the four guitar melodies."""
    return [
        ("piece", render(polyphonic_piece())),
        *((name, render(midi)) for name, midi in guitar_melodies()),
    ]


@pytest.fixture(scope="module")
def models():
    return load_model(), load_engine_model()


@pytest.fixture(scope="module")
def grams(renders, models) -> list[dict[str, np.ndarray]]:
    """The Python path's posteriorgrams of each render (soxr to 22.05 kHz)."""
    model, _ = models
    return [posteriorgrams(model, mono_at(audio, SR, model.sample_rate)) for _, audio in renders]


def as_tuples(notes) -> list[tuple]:
    """notes.Note objects or the binding's tuples -> (start, end, pitch, amplitude, bends or None)."""
    out = []
    for n in notes:
        if isinstance(n, notes_module.Note):
            out.append((n.start, n.end, n.pitch, n.amplitude, n.bends))
        else:
            out.append((n[0], n[1], n[2], n[3], None if n[4] is None else tuple(n[4])))
    return out


def assert_same_notes(cpp, python, amplitude_tolerance: float) -> float:
    """Same frames, pitches and bends, amplitudes within the tolerance; returns the largest difference."""
    a, b = as_tuples(cpp), as_tuples(python)
    assert len(a) == len(b)
    worst = 0.0
    for x, y in zip(a, b):
        assert (x[0], x[1], x[2]) == (y[0], y[1], y[2]), (x[:3], y[:3])
        assert x[4] == y[4], (x[:3], x[4], y[4])
        worst = max(worst, abs(x[3] - y[3]))
    assert worst <= amplitude_tolerance
    return worst


# --- the same computation ------------------------------------------------------------------------------


def test_posteriorgrams_equal_the_python_paths(renders, models, grams):
    """The same 22.05 kHz audio through the C++ window loop and the Python one: within 1e-5 (ONNX Runtime
    runs the same graph on the same batches of four windows)."""
    model, engine = models
    for (_, audio), theirs in zip(renders[:2], grams[:2]):
        ours = engine.posteriorgrams(mono_at(audio, SR, model.sample_rate))
        for key in ("note", "onset", "contour"):
            assert ours[key].shape == theirs[key].shape
            assert np.max(np.abs(ours[key] - theirs[key])) <= 1e-5, key


@pytest.mark.parametrize(
    "settings",
    [
        {"onset_threshold": 0.5, "frame_threshold": 0.3, "min_frames": 11},
        {"onset_threshold": 0.3, "frame_threshold": 0.2, "min_frames": 3, "pitch_range": (40, 80)},
        {"onset_threshold": 0.7, "frame_threshold": 0.5, "min_frames": 20},
    ],
)
def test_notes_from_the_same_posteriorgrams_are_identical(grams, models, settings):
    """notes.extract_notes and the C++ port on the same posteriorgrams: frames, pitches and bends equal,
    amplitudes within 1e-12; and one voice of them the same."""
    model, _ = models
    settings = dict(settings)
    pitch_range = settings.pop("pitch_range", None)
    fixed = {"lowest_note": model.lowest_note, "bins_per_semitone": model.bins_per_semitone}
    total = 0
    for g in grams:
        python = notes_module.extract_notes(
            g["note"], g["onset"], g["contour"], **settings, **fixed, pitch_range=pitch_range
        )
        lowest, highest = pitch_range or (0, 127)
        cpp = core.extract_notes(
            g["note"], g["onset"], g["contour"], **settings, **fixed, lowest=lowest, highest=highest
        )
        assert_same_notes(cpp, python, 1e-12)
        one = notes_module.one_voice(python, settings["min_frames"])
        assert_same_notes(core.loudest_line(as_tuples(cpp), settings["min_frames"]), one, 1e-12)
        total += len(python)
    assert total > 100


def test_notes_equal_basic_pitchs_note_creation(basic_pitch, grams, models):  # noqa: F811
    """The C++ notes from the model's output against basic-pitch's own note_creation
    (output_to_notes_polyphonic + get_pitch_bends + drop_overlapping_pitch_bends) on the same output."""
    _, nc = basic_pitch
    model, _ = models
    min_frames = model.min_frames(MIN_NOTE_MS)
    for g in grams:
        theirs = nc.output_to_notes_polyphonic(
            g["note"].copy(), g["onset"].copy(), 0.5, 0.3, min_frames, True, None, None
        )
        theirs = nc.drop_overlapping_pitch_bends(nc.get_pitch_bends(g["contour"], theirs))
        cpp = core.extract_notes(
            g["note"],
            g["onset"],
            g["contour"],
            onset_threshold=0.5,
            frame_threshold=0.3,
            min_frames=min_frames,
            lowest_note=model.lowest_note,
            bins_per_semitone=model.bins_per_semitone,
        )
        python = [(s, e, p, a, None if b is None else tuple(int(x) for x in b)) for s, e, p, a, b in theirs]
        assert_same_notes(cpp, python, 1e-6)


def test_end_to_end_notes_equal_the_python_reference(renders, models):
    """transcribe_audio (C++: its resampler, the model, the notes) against its reference=True path (soxr,
    onnxruntime's Python API, numpy) on the piece as 48 kHz stereo and two melodies at 44.1 kHz: the same
    notes and bends, frame times equal, amplitudes within END_TO_END_AMPLITUDE; with --mono on two."""
    model, engine = models
    worst = 0.0
    for i, (_, audio) in enumerate(renders[:3]):
        if i == 0:
            audio, rate = soxr.resample(np.stack([audio, 0.7 * audio], axis=1), SR, 48000).T.copy(), 48000
        else:
            rate = SR
        for mono in (False, True) if i < 2 else (False,):
            cpp, cpp_times = transcribe_audio(audio, rate, model=engine, mono=mono)
            python, times = transcribe_audio(audio, rate, model=model, reference=True, mono=mono)
            worst = max(worst, assert_same_notes(cpp, python, END_TO_END_AMPLITUDE))
            np.testing.assert_array_equal(cpp_times, times)
    print(f"\nend to end: the same notes; amplitudes within {worst:.2e}")


def test_transcribe_runs_the_cpp_engine(renders, models, monkeypatch, tmp_path):
    """transcribe() (what `tonemorph midi transcribe` calls) goes through _core.transcribe.run once and
    writes the notes it found."""
    import soundfile as sf

    from tonemorph.midi.transcribe import transcribe

    _, engine = models
    calls, run = [], core.run
    monkeypatch.setattr(core, "run", lambda *args, **kwargs: calls.append(args[2]) or run(*args, **kwargs))
    sf.write(tmp_path / "in.wav", renders[1][1], SR, subtype="FLOAT")
    summary = transcribe(tmp_path / "in.wav", tmp_path / "out.mid")
    assert calls == [SR]
    assert summary["notes"] == len(run(engine, renders[1][1], SR)["notes"]) > 0


def test_frame_times_equal_the_python_arithmetic(models):
    model, engine = models
    expected = frame_times(model, 1000)
    assert [engine.frame_time(k) for k in range(1000)] == list(expected)


def test_resampler_is_close_to_soxr_hq(renders):
    """The piece from 44.1, 48, 16 and 96 kHz, and from 44101 Hz (22050 phases, more than the converter's
    4096) to 22.05 kHz: within 5e-6 RMS of soxr HQ (the music at 0.1 RMS; measured 3e-7 to 2.5e-6), each
    ceil(n out / in) samples long."""
    _, audio = renders[0]
    for rate in (SR, 48000, 16000, 96000, 44101):
        signal = audio if rate == SR else soxr.resample(audio, SR, rate, quality="VHQ").astype(np.float32)
        ours = core.resample(signal, rate, 22050)
        theirs = mono_at(signal, rate, 22050)
        assert len(ours) == len(theirs) == -(-len(signal) * 22050 // rate)
        error = np.sqrt(np.mean((ours - theirs) ** 2))
        assert error <= 5e-6, (rate, error)
        assert np.sqrt(np.mean(theirs**2)) > 0.05


# --- progress and cancel -------------------------------------------------------------------------------


def test_progress_rises_to_one(renders, models):
    _, engine = models
    seen = []
    core.run(engine, renders[1][1], SR, progress=seen.append)
    assert seen[-1] == 1.0 and len(seen) >= 4
    assert all(b >= a for a, b in itertools.pairwise(seen))


def test_cancel_stops_a_run(renders, models):
    """A set flag stops the run before the model, mid-way (set from the progress callback) and from
    another thread; Cancelled is raised and no notes come back."""
    _, engine = models
    audio = np.tile(renders[0][1], 3)  # 60 s: many batches of windows
    flag = core.CancelFlag()
    flag.set()
    with pytest.raises(core.Cancelled):
        core.run(engine, audio, SR, cancel=flag)

    flag, seen = core.CancelFlag(), []

    def progress(fraction):
        seen.append(fraction)
        if fraction > 0.3:
            flag.set()

    with pytest.raises(core.Cancelled):
        core.run(engine, audio, SR, progress=progress, cancel=flag)
    assert flag.is_set and seen[-1] < 0.9

    flag = core.CancelFlag()
    timer = threading.Timer(0.2, flag.set)
    timer.start()
    with pytest.raises(core.Cancelled):
        core.run(engine, np.tile(audio, 4), SR, cancel=flag)
    timer.join()


# --- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_unpitched_audio_gives_no_pitched_notes(kind, models):
    _, engine = models
    rng = np.random.default_rng(0)
    audio = np.zeros(3 * SR, np.float32) if kind == "silence" else 0.3 * rng.standard_normal(3 * SR)
    result = core.run(engine, audio.astype(np.float32), SR)
    assert not result["pitched"]
    assert all(n[3] < core.PITCHED_AMPLITUDE for n in result["notes"])
    if kind == "silence":
        assert result["notes"] == []


def test_short_and_empty_audio(models):
    _, engine = models
    for samples in (0, 1, 100, 22050):
        result = core.run(engine, np.zeros(samples, np.float32), SR)
        assert result["notes"] == [] and result["frames"] == samples * 86 // 44100


def test_a_model_of_another_kind_is_refused(tmp_path):
    instrument = default_model_path().parents[1] / "trumpet.onnx"
    with pytest.raises(ValueError, match="not a transcription model"):
        core.Model(str(instrument))
    with pytest.raises(TranscribeError, match="not a transcription model"):
        load_engine_model(instrument)
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07" + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="junk.onnx"):
        core.Model(str(tmp_path / "junk.onnx"))
    with pytest.raises(TranscribeError, match="missing"):
        load_engine_model(tmp_path / "absent.onnx")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"onset_threshold": 1.5}, "between 0 and 1"),
        ({"frame_threshold": 0.0}, "between 0 and 1"),
        ({"min_note_ms": -1.0}, "minimum note length"),
        ({"lowest": 80, "highest": 60}, "range of MIDI notes"),
    ],
)
def test_settings_out_of_range_are_refused(kwargs, message, models):
    _, engine = models
    with pytest.raises(ValueError, match=message):
        core.run(engine, np.zeros(SR, np.float32), SR, **kwargs)


def test_audio_of_the_wrong_shape_or_rate_is_refused(models):
    _, engine = models
    with pytest.raises(ValueError, match="channels, samples"):
        core.run(engine, np.zeros((1, 2, 3), np.float32), SR)
    with pytest.raises(ValueError, match="sample rate"):
        core.run(engine, np.zeros(100, np.float32), 0.0)
    with pytest.raises(ValueError, match="channels"):
        core.run(engine, np.zeros((100, 10), np.float32), SR)


def test_the_cpp_midi_writer_writes_the_reference_file(renders, models):
    """_core.transcribe.midi_file (what transcribe() and the plugin write) gives byte for byte the file that
    notes_to_midi (mido) makes of the same notes: times, velocities, every pitch-wheel event."""
    import io

    from tonemorph.midi.transcribe import engine_notes, notes_to_midi

    _, engine = models
    bent = 0
    for _, audio in renders:
        found, times = transcribe_audio(audio, SR, model=engine)
        reference = io.BytesIO()
        notes_to_midi(found, times, engine.info["bins_per_semitone"]).save(file=reference)
        ours = core.midi_file(engine_notes(found, times), engine.info["bins_per_semitone"])
        assert ours == reference.getvalue()
        bent += sum(1 for n in found if n.bends and any(n.bends))
    assert bent >= 5  # the wheel events were compared, not only notes (9 bent notes here)
