"""Transcribe: audio to a MIDI file with pitch bends, through Spotify's Basic Pitch model (ONNX Runtime).

    from tonemorph.midi.transcribe import transcribe
    summary = transcribe("riff.wav", "riff.mid", mono=True)

The audio is mixed to mono and resampled to the model's rate (22.05 kHz, soxr HQ as librosa does), cut into
windows of `window_samples` that overlap by OVERLAP_FRAMES hops (the first one starts half an overlap
early, on zeros), and each window's posteriorgrams lose OVERLAP_FRAMES / 2 frames at either end before they
are laid end to end: Basic Pitch's own framing (basic_pitch/inference.py). Notes come from
tonemorph.midi.notes. Model constants travel in the model file's metadata (models/midi/basic_pitch.onnx).

What runs is the C++ port (cpp/actions/midi/Transcribe.h, the plugin's path too): transcribe() and
transcribe_audio() call it through tonemorph.engine._core.transcribe, and this module writes the MIDI file.
The numpy path here (load_model, mono_at, posteriorgrams, frame_times, transcribe_audio(reference=True)
and tonemorph.midi.notes) is its readable reference: tests/test_transcribe.py holds it to the basic-pitch
package's own output, tests/test_transcribe_cpp.py holds the C++ to it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tonemorph.atomic import atomic_path
from tonemorph.paths import bundled_models_dir, output_problem

from .notes import Note, extract_notes, one_voice

MODEL_KIND = "midi-transcribe"
OVERLAP_FRAMES = 30  # hops shared by neighbouring windows; half is trimmed from each side
BATCH_WINDOWS = 4  # windows per model call (about 8 s of audio): progress steps, bounded memory
MIDI_SUFFIXES = (".mid", ".midi")
TICKS_PER_BEAT = 480
TEMPO_BPM = 120.0  # the file's tempo map; note times are seconds, so any tempo would do
PROGRAM = 4  # General MIDI Electric Piano 1 (0-based), as Basic Pitch writes
BEND_RANGE_SEMITONES = 2  # a General MIDI synth's default pitch-bend range

# Basic Pitch's defaults (basic_pitch/inference.py predict).
ONSET_THRESHOLD = 0.5
FRAME_THRESHOLD = 0.3
MIN_NOTE_MS = 127.70


class TranscribeError(ValueError):
    """Audio that cannot be transcribed, or settings that do not fit: the message says what to do."""


def default_model_path() -> Path:
    return bundled_models_dir() / "midi" / "basic_pitch.onnx"


@dataclass(frozen=True)
class Model:
    """The Basic Pitch graph in ONNX Runtime and the constants from its metadata."""

    session: object
    sample_rate: int
    hop: int
    window_samples: int
    frames_per_window: int
    lowest_note: int
    bins_per_semitone: int
    outputs: dict[str, str]  # posteriorgram ("note", "onset", "contour") -> the graph's output name

    @property
    def frame_rate(self) -> int:
        return self.sample_rate // self.hop  # Basic Pitch's ANNOTATIONS_FPS (86), integer on purpose

    def min_frames(self, min_note_ms: float) -> int:
        return round(min_note_ms / 1000.0 * self.sample_rate / self.hop)


def load_engine_model(path: str | os.PathLike | None = None):
    """The transcription model at `path` (default: the bundled Basic Pitch) in the C++ engine
    (_core.transcribe.Model); TranscribeError for a file that is not one."""
    from tonemorph.engine import _core

    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise TranscribeError(f"the transcription model '{path}' is missing; reinstall tonemorph.")
    try:
        return _core.transcribe.Model(os.fspath(path))
    except ValueError as e:
        raise TranscribeError(str(e)) from None


def load_model(path: str | os.PathLike | None = None) -> Model:
    """The reference path's model: `path` (default: the bundled Basic Pitch) in onnxruntime's Python API;
    TranscribeError for a file that is not one."""
    import onnx
    import onnxruntime as ort

    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise TranscribeError(f"the transcription model '{path}' is missing; reinstall tonemorph.")
    try:
        props = {p.key: p.value for p in onnx.load(os.fspath(path), load_external_data=False).metadata_props}
    except Exception as e:  # noqa: BLE001 -- onnx raises several types for a damaged protobuf
        raise TranscribeError(f"'{path}' is not an ONNX model ({e}).") from None
    if props.get("kind") != MODEL_KIND:
        raise TranscribeError(
            f"'{path}' is a {props.get('kind', 'model without a kind')!r} model, not a transcription "
            f"model (kind {MODEL_KIND!r})."
        )
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    return Model(
        session,
        int(props["sample_rate"]),
        int(props["hop_size"]),
        int(props["window_samples"]),
        int(props["frames_per_window"]),
        int(props["lowest_midi_note"]),
        int(props["contour_bins_per_semitone"]),
        {key: props[f"output_{key}"] for key in ("note", "onset", "contour")},
    )


def mono_at(audio: np.ndarray, rate: float, model_rate: int) -> np.ndarray:
    """[channels, samples] at `rate` to mono float32 at `model_rate` (channel mean, soxr HQ, length
    ceil(samples * ratio)), as librosa.load(sr=model_rate, mono=True) gives it."""
    import soxr

    mono = np.mean(audio, axis=0, dtype=np.float32) if audio.ndim == 2 else audio.astype(np.float32)
    if rate == model_rate:
        return mono
    out = soxr.resample(mono, rate, model_rate, quality="soxr_hq").astype(np.float32)
    n = math.ceil(len(mono) * model_rate / rate)
    return np.pad(out, (0, max(n - len(out), 0)))[:n]


def posteriorgrams(
    model: Model, audio: np.ndarray, progress: Callable[[float], None] | None = None
) -> dict[str, np.ndarray]:
    """Mono audio [samples] at the model rate -> {"note": [frames, 88], "onset": [frames, 88],
    "contour": [frames, 264]}, frames = floor(samples * frame_rate / sample_rate)."""
    overlap = OVERLAP_FRAMES * model.hop
    step = model.window_samples - overlap
    padded = np.concatenate([np.zeros(overlap // 2, np.float32), audio.astype(np.float32)])
    starts = range(0, len(padded), step)
    trim = OVERLAP_FRAMES // 2
    out: dict[str, list[np.ndarray]] = {key: [] for key in model.outputs}
    for first in range(0, len(starts), BATCH_WINDOWS):
        batch = np.zeros((min(BATCH_WINDOWS, len(starts) - first), model.window_samples, 1), np.float32)
        for b, start in enumerate(starts[first : first + len(batch)]):
            chunk = padded[start : start + model.window_samples]
            batch[b, : len(chunk), 0] = chunk
        results = model.session.run(list(model.outputs.values()), {model.session.get_inputs()[0].name: batch})
        for key, value in zip(out, results):
            out[key].append(value[:, trim:-trim].reshape(-1, value.shape[2]))
        if progress is not None:
            progress(min(first + BATCH_WINDOWS, len(starts)) / len(starts))
    n_frames = math.floor(len(audio) * model.frame_rate / model.sample_rate)
    return {key: np.concatenate(value)[:n_frames] for key, value in out.items()}


def frame_times(model: Model, n_frames: int) -> np.ndarray:
    """The time in seconds of each frame that posteriorgrams() returns.

    Window w keeps frames 15..156 of its 172, and windows start `window - overlap` samples apart while the
    kept frames span 142 hops, so frame k = 142 w + j sits at sample 256 k - w (142 * 256 - step) of the
    input. (Basic Pitch fits this with a constant, 0.0103 s per 172 frames; the two agree within 11 ms.)"""
    overlap = OVERLAP_FRAMES * model.hop
    step = model.window_samples - overlap
    kept = model.frames_per_window - OVERLAP_FRAMES
    k = np.arange(n_frames)
    return (k * model.hop - (k // kept) * (kept * model.hop - step)) / model.sample_rate


def engine_notes(notes: list[Note], times: np.ndarray) -> list[tuple]:
    """Notes as the C++ core takes them: (start frame, end frame, pitch, amplitude, bends or None, start s,
    end s)."""
    return [
        (
            n.start,
            n.end,
            n.pitch,
            n.amplitude,
            None if n.bends is None else list(n.bends),
            float(times[n.start]),
            float(times[n.end]),
        )
        for n in notes
    ]


def notes_to_midi(notes: list[Note], times: np.ndarray, bins_per_semitone: int):
    """A mido.MidiFile (type 0): the notes on channel 1 with velocity round(127 amplitude), and each note's
    bends as pitch-wheel events spread evenly from its start to its end (clipped at +-BEND_RANGE_SEMITONES),
    the wheel back at the centre when a bent note ends. The reference for the C++ writer that transcribe() and
    the plugin use (_core.transcribe.midi_file, byte for byte the same file)."""
    import mido

    tempo = mido.bpm2tempo(TEMPO_BPM)

    def tick(seconds: float) -> int:
        return round(mido.second2tick(seconds, TICKS_PER_BEAT, tempo))

    events = []  # (tick, order at the same tick, message); note-offs, then the wheel, then note-ons
    per_bin = 8192 / (BEND_RANGE_SEMITONES * bins_per_semitone)
    for n in notes:
        start, end = float(times[n.start]), float(times[n.end])
        velocity = int(np.clip(round(127 * n.amplitude), 1, 127))
        events.append((tick(start), 2, mido.Message("note_on", note=n.pitch, velocity=velocity)))
        events.append((tick(end), 0, mido.Message("note_off", note=n.pitch, velocity=0)))
        if n.bends:
            for t, b in zip(np.linspace(start, end, len(n.bends)), n.bends):
                pitch = int(np.clip(round(b * per_bin), -8192, 8191))
                events.append((tick(t), 1, mido.Message("pitchwheel", pitch=pitch)))
            events.append((tick(end), 1, mido.Message("pitchwheel", pitch=0)))
    track = mido.MidiTrack(
        [
            mido.MetaMessage("track_name", name="transcribed", time=0),
            mido.MetaMessage("set_tempo", tempo=tempo, time=0),
            mido.Message("program_change", program=PROGRAM, time=0),
        ]
    )
    now = 0
    for t, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=t - now))
        now = t
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    return midi


def _check_output(src: Path, out: Path, overwrite: bool) -> None:
    """Refuse, before any work, to write over the input, a folder, or (without overwrite) any file."""
    if reason := output_problem(out, [src], MIDI_SUFFIXES, "notes.mid", overwrite):
        raise TranscribeError(reason)


def _check_settings(onset_threshold: float, frame_threshold: float, min_note_ms: float) -> None:
    for name, value in (("onset threshold", onset_threshold), ("frame threshold", frame_threshold)):
        if not 0.0 < value < 1.0:
            raise TranscribeError(f"the {name} is a probability between 0 and 1 (exclusive), got {value:g}.")
    if not 0.0 <= min_note_ms <= 10_000.0:
        raise TranscribeError(f"the minimum note length is 0..10000 ms, got {min_note_ms:g}.")


def transcribe_audio(
    audio: np.ndarray,
    rate: float,
    *,
    model=None,
    reference: bool = False,
    mono: bool = False,
    onset_threshold: float = ONSET_THRESHOLD,
    frame_threshold: float = FRAME_THRESHOLD,
    min_note_ms: float = MIN_NOTE_MS,
    pitch_range: tuple[int, int] | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[list[Note], np.ndarray]:
    """Notes of audio [channels, samples] (or [samples]) at `rate`, and the time in seconds of every frame (a
    note's start and end index it). `mono` keeps the loudest line. Through the C++ engine (`model` from
    load_engine_model()); with `reference`, through the numpy reference instead (`model` from load_model();
    soxr resamples there, where the C++ has its own). Ctrl-C ends it (KeyboardInterrupt)."""
    _check_settings(onset_threshold, frame_threshold, min_note_ms)
    audio = np.asarray(audio, np.float32)
    lowest, highest = pitch_range if pitch_range is not None else (0, 127)
    if not reference:
        return _engine_notes(
            audio,
            rate,
            model or load_engine_model(),
            mono,
            onset_threshold,
            frame_threshold,
            min_note_ms,
            lowest,
            highest,
            progress,
        )
    model = model or load_model()
    grams = posteriorgrams(model, mono_at(audio, rate, model.sample_rate), progress)
    min_frames = model.min_frames(min_note_ms)
    found = extract_notes(
        grams["note"],
        grams["onset"],
        grams["contour"],
        onset_threshold=onset_threshold,
        frame_threshold=frame_threshold,
        min_frames=min_frames,
        lowest_note=model.lowest_note,
        bins_per_semitone=model.bins_per_semitone,
        pitch_range=(lowest, highest),
    )
    if mono:
        found = one_voice(found, min_frames)
    return found, frame_times(model, len(grams["note"]))


def _engine_notes(
    audio, rate, model, mono, onset_threshold, frame_threshold, min_note_ms, lowest, highest, progress
) -> tuple[list[Note], np.ndarray]:
    from tonemorph.engine import _core

    try:
        result = _core.transcribe.run(
            model,
            np.ascontiguousarray(audio),
            float(rate),
            mono=mono,
            onset_threshold=onset_threshold,
            frame_threshold=frame_threshold,
            min_note_ms=min_note_ms,
            lowest=lowest,
            highest=highest,
            progress=progress,
        )
    except ValueError as e:
        raise TranscribeError(str(e)) from None
    found = [
        Note(start, end, pitch, amplitude, None if bends is None else tuple(bends))
        for start, end, pitch, amplitude, bends, _, _ in result["notes"]
    ]
    return found, np.array([model.frame_time(k) for k in range(result["frames"])])


def transcribe(
    audio_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    mono: bool = False,
    overwrite: bool = False,
    onset_threshold: float = ONSET_THRESHOLD,
    frame_threshold: float = FRAME_THRESHOLD,
    min_note_ms: float = MIN_NOTE_MS,
    pitch_range: tuple[int, int] | None = None,
    model_path: str | os.PathLike | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict:
    """Transcribe an audio file (WAV/FLAC/MP3/OGG/AIFF, any rate, mono or stereo) into a MIDI file, written
    atomically, through the C++ engine. Audio in which no note reaches _core.transcribe.PITCHED_AMPLITUDE is
    an error (nothing is written): a silent or unpitched file gives no clip worth keeping. Returns a summary: notes, seconds, bent notes, lowest and highest pitch."""
    from tonemorph.engine import _core
    from tonemorph.engine.render import AudioFileError, read_audio

    src, out = Path(audio_path), Path(out_path)
    _check_output(src, out, overwrite)
    _check_settings(onset_threshold, frame_threshold, min_note_ms)
    model = load_engine_model(model_path)
    try:
        audio, rate = read_audio(src)
    except AudioFileError as e:
        raise TranscribeError(str(e)) from None
    found, times = transcribe_audio(
        audio,
        rate,
        model=model,
        mono=mono,
        onset_threshold=onset_threshold,
        frame_threshold=frame_threshold,
        min_note_ms=min_note_ms,
        pitch_range=pitch_range,
        progress=progress,
    )
    seconds = audio.shape[-1] / rate
    if not any(n.amplitude >= _core.transcribe.PITCHED_AMPLITUDE for n in found):
        faint = f" (only {len(found)} faint ones, as the model hears in noise)" if found else ""
        raise TranscribeError(
            f"no notes found in '{src}' ({seconds:.1f} s){faint}: it sounds silent or unpitched (noise, "
            "drums) to the model. Nothing was written."
        )
    data = _core.transcribe.midi_file(engine_notes(found, times), model.info["bins_per_semitone"])
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return {
        "notes": len(found),
        "seconds": seconds,
        "bent_notes": sum(1 for n in found if n.bends and any(n.bends)),
        "lowest": min(n.pitch for n in found),
        "highest": max(n.pitch for n in found),
        "output": str(out),
    }
