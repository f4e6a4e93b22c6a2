"""Test signals with known ground truth, and the pitch metrics that score a tracker against them.

Every maker returns a `Signal`: audio [samples] float32, the true f0 per sample (0 where unvoiced) and a
`known` mask, False where the truth is uncertain (the attack of a rendered note, its release tail).
Makers take a `numpy.random.Generator` where they draw anything, so a seed reproduces a signal.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")  # Debian's fluid-soundfont-gm

# General MIDI programs (0-based) and notes that sit in each instrument's usual range.
GM_INSTRUMENTS = {
    "trumpet": (56, (55, 60, 65, 70, 76, 82)),
    "violin": (40, (55, 62, 69, 76, 83, 88)),
    "flute": (73, (60, 67, 72, 79, 84, 91)),
    "alto_sax": (65, (49, 54, 61, 68, 73, 80)),
    "nylon_guitar": (24, (40, 45, 52, 57, 64, 71)),
    "steel_guitar": (25, (40, 47, 52, 59, 64, 76)),
}

ONSET_SKIP_S = 0.04  # a rendered note's attack: no pitch truth yet
RELEASE_S = 0.16  # a rendered note's release before it is damped (MIDI all-sound-off)
FADE_S = 0.005  # raised-cosine fade at the ends of synthetic tones, so that they do not click


@dataclass(frozen=True)
class Signal:
    audio: np.ndarray  # [samples] float32
    f0_hz: np.ndarray  # [samples] float64, 0 where unvoiced
    known: np.ndarray  # [samples] bool, False where the truth is uncertain
    sample_rate: int

    def __len__(self) -> int:
        return len(self.audio)


def midi_to_hz(note: float) -> float:
    """Equal temperament, A4 = MIDI 69 = 440 Hz."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def concat(*signals: Signal) -> Signal:
    rates = {s.sample_rate for s in signals}
    assert len(rates) == 1, f"mixed sample rates {rates}"
    return Signal(
        np.concatenate([s.audio for s in signals]).astype(np.float32),
        np.concatenate([s.f0_hz for s in signals]),
        np.concatenate([s.known for s in signals]),
        rates.pop(),
    )


def silence(seconds: float, sr: int) -> Signal:
    n = round(seconds * sr)
    return Signal(np.zeros(n, np.float32), np.zeros(n), np.ones(n, bool), sr)


def white_noise(seconds: float, sr: int, rng: np.random.Generator, rms: float = 0.2) -> Signal:
    """Gaussian white noise: unvoiced throughout."""
    n = round(seconds * sr)
    return Signal((rms * rng.standard_normal(n)).astype(np.float32), np.zeros(n), np.ones(n, bool), sr)


def harmonic(f0_hz: np.ndarray, sr: int, rng: np.random.Generator, peak: float = 0.5) -> Signal:
    """A harmonic tone that follows f0_hz [samples], with random harmonic amplitudes and phases.

    a_h = U(0.1, 1) / h keeps the fundamental present (a missing fundamental has no single true octave);
    each harmonic is muted where h f0 reaches 0.9 Nyquist, so nothing aliases.
    """
    f0_hz = np.asarray(f0_hz, np.float64)
    phase = 2.0 * np.pi * np.cumsum(f0_hz) / sr
    n_harmonics = int(sr / 2 // max(f0_hz.min(), 1.0))
    audio = np.zeros_like(phase)
    for h in range(1, n_harmonics + 1):
        amplitude = rng.uniform(0.1, 1.0) / h
        audible = h * f0_hz < 0.45 * sr
        audio += np.where(audible, amplitude * np.sin(h * phase + rng.uniform(0, 2 * np.pi)), 0.0)
    fade = min(int(FADE_S * sr), len(audio) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    audio[:fade] *= ramp
    audio[len(audio) - fade :] *= ramp[::-1]
    audio *= peak / np.max(np.abs(audio))
    return Signal(audio.astype(np.float32), f0_hz.copy(), np.ones(len(audio), bool), sr)


def _times(seconds: float, sr: int) -> np.ndarray:
    return np.arange(round(seconds * sr)) / sr


def steady_tone(f0: float, seconds: float, sr: int, rng: np.random.Generator) -> Signal:
    return harmonic(np.full(len(_times(seconds, sr)), f0), sr, rng)


def linear_chirp(f_start: float, f_end: float, seconds: float, sr: int, rng: np.random.Generator) -> Signal:
    """f0(t) = f_start + (f_end - f_start) t / T."""
    t = _times(seconds, sr)
    return harmonic(f_start + (f_end - f_start) * t / seconds, sr, rng)


def exponential_chirp(
    f_start: float, f_end: float, seconds: float, sr: int, rng: np.random.Generator
) -> Signal:
    """f0(t) = f_start (f_end / f_start)^(t / T): a constant rate in octaves per second."""
    t = _times(seconds, sr)
    return harmonic(f_start * (f_end / f_start) ** (t / seconds), sr, rng)


def vibrato(
    f_centre: float,
    seconds: float,
    sr: int,
    rng: np.random.Generator,
    rate_hz: float = 5.5,
    depth_cents: float = 50.0,
) -> Signal:
    """f0(t) = f_centre 2^(depth sin(2 pi rate t + phi) / 1200)."""
    t = _times(seconds, sr)
    cents = depth_cents * np.sin(2 * np.pi * rate_hz * t + rng.uniform(0, 2 * np.pi))
    return harmonic(f_centre * 2.0 ** (cents / 1200.0), sr, rng)


def notes_with_gaps(
    freqs: tuple[float, ...], sr: int, rng: np.random.Generator, note_s: float = 0.4, gap_s: float = 0.25
) -> Signal:
    """Steady harmonic notes separated by silence, starting and ending with silence."""
    parts = [silence(gap_s, sr)]
    for f in freqs:
        parts += [steady_tone(f, note_s, sr, rng), silence(gap_s, sr)]
    return concat(*parts)


def fluidsynth_notes(
    instrument: str,
    sr: int,
    note_s: float = 0.64,
    gap_s: float = 0.48,
    velocity: int = 100,
    noise_dbfs: float = -60.0,
    seed: int = 0,
) -> Signal:
    """Sustained notes of a General MIDI instrument (FluidR3) separated by gaps, over a noise floor.

    The truth is the equal-tempered frequency of each note from ONSET_SKIP_S after note-on to note-off;
    the release is unknown until the rendered tail sinks below the noise floor, after which the gap is
    unvoiced. Reverb and chorus are off, and every note is damped RELEASE_S after its note-off (guitar
    strings ring for seconds), so that the gaps fall silent.
    """
    clean, notes = _render_gm(instrument, sr, note_s, gap_s, velocity)
    rng = np.random.default_rng(seed)
    noise_rms = 10.0 ** (noise_dbfs / 20.0)
    audio = (clean + noise_rms * rng.standard_normal(len(clean))).astype(np.float32)

    f0 = np.zeros(len(clean))
    known = np.ones(len(clean), bool)
    skip = int(ONSET_SKIP_S * sr)
    for i, (note, on, off) in enumerate(notes):
        next_on = notes[i + 1][1] if i + 1 < len(notes) else len(clean)
        f0[on:off] = midi_to_hz(note)
        known[on : on + skip] = False
        audible = np.flatnonzero(np.abs(clean[off:next_on]) > 0.5 * noise_rms)
        tail_end = off + (audible[-1] + 1 if len(audible) else 0)
        known[off:tail_end] = False
    return Signal(audio, f0, known, sr)


@functools.cache
def _render_gm(
    instrument: str, sr: int, note_s: float, gap_s: float, velocity: int
) -> tuple[np.ndarray, tuple[tuple[int, int, int], ...]]:
    """Render with pyfluidsynth: audio [samples] float64 with peak 0.5, and (note, on, off) sample indices."""
    import fluidsynth

    program, midi_notes = GM_INSTRUMENTS[instrument]
    # FluidSynth renders 64-sample blocks and applies events between them: keep events on block edges.
    block = 64
    on_n = round(note_s * sr / block) * block
    gap_n = round(gap_s * sr / block) * block
    release_n = min(round(RELEASE_S * sr / block) * block, gap_n)
    synth = fluidsynth.Synth(samplerate=float(sr), **{"synth.reverb.active": 0, "synth.chorus.active": 0})
    try:
        sfid = synth.sfload(str(SOUNDFONT))
        assert sfid >= 0, f"FluidSynth could not load {SOUNDFONT}"
        synth.program_select(0, sfid, 0, program)
        chunks = [synth.get_samples(gap_n)]
        notes, position = [], gap_n
        for note in midi_notes:
            synth.noteon(0, note, velocity)
            chunks.append(synth.get_samples(on_n))
            synth.noteoff(0, note)
            chunks.append(synth.get_samples(release_n))
            synth.cc(0, 120, 0)  # all sound off
            chunks.append(synth.get_samples(gap_n - release_n))
            notes.append((note, position, position + on_n))
            position += on_n + gap_n
    finally:
        synth.delete()
    stereo = np.concatenate(chunks).astype(np.float64).reshape(-1, 2) / 32768.0
    left = stereo[:, 0]
    peak = np.max(np.abs(left))
    assert peak > 0, f"FluidSynth rendered silence for {instrument}"
    return left * (0.5 / peak), tuple(notes)


# --- pitch metrics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameTruth:
    f0_hz: np.ndarray  # [frames] the truth at each estimate's time, 0 where unvoiced
    voiced: np.ndarray  # [frames] bool: every sample the frame looks at is voiced and known
    unvoiced: np.ndarray  # [frames] bool: every sample the frame looks at is unvoiced and known


def frame_truth(signal: Signal, hop: int, history: int, latency: int) -> FrameTruth:
    """Truth for a causal tracker whose frame k ends at (k + 1) hop and looks back `history` samples.

    The estimate of frame k belongs to sample (k + 1) hop - latency; frames that see both voiced and
    unvoiced or unknown samples are neither voiced nor unvoiced, and are not scored.
    Samples before the signal start count as known silence.
    """
    ends = hop * np.arange(1, len(signal) // hop + 1)
    starts = ends - history
    before = np.maximum(-starts, 0)
    starts = np.maximum(starts, 0)

    def count(mask: np.ndarray) -> np.ndarray:
        total = np.concatenate([[0], np.cumsum(mask)])
        return total[ends] - total[starts]

    voiced = count((signal.f0_hz > 0) & signal.known) == history
    unvoiced = count((signal.f0_hz == 0) & signal.known) + before == history
    at = ends - latency
    f0 = np.where(at >= 0, signal.f0_hz[np.maximum(at, 0)], 0.0)
    return FrameTruth(f0, voiced, unvoiced)


def cents_error(estimate_hz: np.ndarray, truth_hz: np.ndarray) -> np.ndarray:
    """1200 log2(estimate / truth); inf where the estimate is not a positive frequency."""
    estimate_hz = np.asarray(estimate_hz, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(estimate_hz > 0, 1200.0 * np.log2(estimate_hz / truth_hz), np.inf)


def raw_pitch_accuracy(f0_hz: np.ndarray, truth: FrameTruth, tolerance_cents: float = 50.0) -> float:
    """Fraction of truly voiced frames whose f0 is within tolerance (whatever the voicing decision)."""
    assert truth.voiced.any(), "no voiced frames to score"
    error = cents_error(f0_hz[truth.voiced], truth.f0_hz[truth.voiced])
    return float(np.mean(np.abs(error) <= tolerance_cents))


def voicing_false_alarm(confidence: np.ndarray, truth: FrameTruth, threshold: float) -> float:
    """Fraction of truly unvoiced frames called voiced (confidence >= threshold)."""
    assert truth.unvoiced.any(), "no unvoiced frames to score"
    return float(np.mean(confidence[truth.unvoiced] >= threshold))


def voicing_recall(confidence: np.ndarray, truth: FrameTruth, threshold: float) -> float:
    """Fraction of truly voiced frames called voiced (confidence >= threshold)."""
    assert truth.voiced.any(), "no voiced frames to score"
    return float(np.mean(confidence[truth.voiced] >= threshold))
