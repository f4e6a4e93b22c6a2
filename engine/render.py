"""Offline rendering: audio files through the engine (inference inline, so it is deterministic)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tonemorph.atomic import atomic_path
from tonemorph.paths import not_a_file

from . import _core

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".aiff", ".aif")
WRITABLE_SUFFIXES = (".wav", ".flac", ".aiff", ".aif")


class AudioFileError(ValueError):
    """An audio file that cannot be read or written; the message names it and says what to do."""


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read any WAV/FLAC/MP3/OGG/AIFF file. Returns (float32 [channels, samples], sample_rate)."""
    from pedalboard.io import AudioFile

    path = Path(path)
    if reason := not_a_file(path, "an audio file"):
        raise AudioFileError(reason)
    try:
        with AudioFile(str(path)) as f:
            if f.frames == 0:
                raise AudioFileError(f"'{path}' contains no audio (0 samples).")
            audio = f.read(f.frames)
            rate = float(f.samplerate)
    except AudioFileError:
        raise
    except Exception as e:  # noqa: BLE001 -- pedalboard raises several types for unreadable files
        raise AudioFileError(
            f"cannot read '{path}' as audio ({e}). Supported: {', '.join(s[1:].upper() for s in AUDIO_SUFFIXES)}."
        ) from None
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise AudioFileError(f"'{path}' contains no audio (0 samples).")
    return audio, rate


def check_writable(path: str | os.PathLike) -> Path:
    """`path` if write_audio can write there (a known extension, a folder that exists), checked before a long
    render; else AudioFileError saying what to change."""
    path = Path(path)
    if path.suffix.lower() not in WRITABLE_SUFFIXES:
        raise AudioFileError(
            f"cannot write '{path}': use one of {', '.join(WRITABLE_SUFFIXES)} as the output file's extension."
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise AudioFileError(f"cannot write '{path}': the folder '{folder}' does not exist.")
    return path


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: float) -> None:
    """Write float32 [channels, samples] atomically (tonemorph.atomic)."""
    from pedalboard.io import AudioFile

    path = check_writable(path)
    with (
        atomic_path(path) as tmp,
        AudioFile(str(tmp), "w", samplerate=sample_rate, num_channels=audio.shape[0]) as f,
    ):
        f.write(np.ascontiguousarray(audio, dtype=np.float32))


def render(
    engine: _core.Engine,
    audio: np.ndarray,
    sample_rate: float,
    block: int = 512,
    tail_seconds: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
    midi: list[tuple[int, list[int]]] | None = None,
) -> np.ndarray:
    """Render float32 [channels, samples] through a (non-real-time) engine, latency removed.

    The output has the input's length plus `tail_seconds` of reverb and release tail.
    midi: [(sample_offset_in_file, [status, data1, data2]), ...] for the MIDI mode.
    """
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))  # a view where it can be (silence for MIDI)
    channels, n = audio.shape
    engine.prepare(sample_rate, block, channels)
    latency = engine.latency_samples()
    total = n + latency + int(tail_seconds * sample_rate)
    silence = np.zeros((channels, block), dtype=np.float32)
    out = np.empty((channels, total), dtype=np.float32)
    events = sorted(midi or [], key=lambda e: e[0])
    e = 0
    for start in range(0, total, block):
        end = min(start + block, total)
        block_events = []
        while e < len(events) and events[e][0] < end:
            block_events.append((max(0, events[e][0] - start), list(events[e][1])))
            e += 1
        x = audio[:, start:end]
        if x.shape[1] < end - start:  # past the input: the latency and the tail
            x = np.concatenate([x, silence[:, : end - start - x.shape[1]]], axis=1)
        out[:, start:end] = engine.process(np.ascontiguousarray(x), block_events)
        if progress:
            progress(end, total)
    return out[:, latency:]
