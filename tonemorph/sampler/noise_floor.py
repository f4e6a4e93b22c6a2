"""Finishing a generated sound (clearing its noise floor, keeping its peak under full scale): the reference in
numpy of cpp/actions/sampler/NoiseFloor.cpp (whose header says what it does and why); the C++ core applies it
to every generated sound, the evaluation applies this to the torch sampler's sounds."""

from __future__ import annotations

import numpy as np

FRAME_S = 0.005
FLOOR_FRAMES = 4
MAX_FLOOR_DB = -50.0
MIN_RANGE_DB = 20.0
ABOVE_FLOOR_DB = 12.0
RATIO = 3.0
MIN_GAIN_DB = -60.0
RELEASE_DB_PER_S = 200.0
PEAK_CEILING = 0.977  # -0.2 dBFS: a sound peaking above is turned down to peak here


def clear_noise_floor(audio: np.ndarray, rate: int) -> tuple[np.ndarray, float]:
    """(audio [samples] with its noise floor cleared, float32; the gain at the floor in dB, 0 if untouched)."""
    x = np.asarray(audio, np.float64)
    frame = max(1, round(FRAME_S * rate))
    n = len(x)
    frames = -(-n // frame)
    if frames < FLOOR_FRAMES + 1:
        return np.asarray(audio, np.float32).copy(), 0.0
    padded = np.zeros(frames * frame)
    padded[:n] = x
    counts = np.full(frames, frame, np.float64)
    counts[-1] = n - (frames - 1) * frame
    power = np.sum(padded.reshape(frames, frame) ** 2, axis=1) / counts
    floor = np.convolve(power, np.ones(FLOOR_FRAMES), mode="valid").min() / FLOOR_FRAMES
    peak = np.abs(x).max()
    if (
        not floor > 0
        or 10 * np.log10(floor) > MAX_FLOOR_DB
        or 20 * np.log10(peak) - 10 * np.log10(floor) < MIN_RANGE_DB
    ):
        return np.asarray(audio, np.float32).copy(), 0.0
    threshold = 10 * np.log10(floor) + ABOVE_FLOOR_DB
    with np.errstate(divide="ignore"):
        level = np.where(power > 0, 10 * np.log10(np.maximum(power, 1e-300)), threshold + MIN_GAIN_DB)
    gain = np.where(level >= threshold, 0.0, np.maximum(MIN_GAIN_DB, (RATIO - 1) * (level - threshold)))
    release = RELEASE_DB_PER_S * FRAME_S
    for j in range(1, frames):
        gain[j] = max(gain[j], gain[j - 1] - release)
    gain[:-1] = np.maximum(gain[:-1], gain[1:])  # opens one frame early
    position = (np.arange(n) - 0.5 * frame) / frame
    db = np.interp(position, np.arange(frames), gain)  # held at the ends
    return (x * 10 ** (db / 20)).astype(np.float32), (RATIO - 1) * -ABOVE_FLOOR_DB


def keep_under_full_scale(audio: np.ndarray) -> tuple[np.ndarray, float]:
    """(audio [samples] turned down to peak at PEAK_CEILING if it peaked above it, float32; the gain in dB, 0 if
    untouched)."""
    x = np.asarray(audio, np.float32)
    peak = float(np.abs(x).max()) if len(x) else 0.0
    if not peak > PEAK_CEILING:
        return x.copy(), 0.0
    gain = PEAK_CEILING / peak
    return (x.astype(np.float64) * gain).astype(np.float32), 20 * np.log10(gain)


def finish_sounds(audio: np.ndarray, rate: int) -> np.ndarray:
    """What the C++ core does to every generated sound, on each row of audio [n, samples]: clear_noise_floor,
    then keep_under_full_scale. float32 [n, samples]."""
    return (
        np.stack([keep_under_full_scale(clear_noise_floor(row, rate)[0])[0] for row in audio])
        if len(audio)
        else np.asarray(audio, np.float32)
    )
