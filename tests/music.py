"""Stereo music for the mastering tests and benchmarks, rendered by FluidSynth with the FluidR3 GM soundfont,
and the measures that compare a mastered result with its reference.

    from music import mix, reference, third_octave_levels, spectral_error_db, true_peak_dbtp

    track = mix(61.0, 44100, seed=0)          # [samples, 2] float32: an unmastered mix, about -19 LUFS
    ref = reference(61.0, 44100, seed=1)      # [samples, 2] float32: a mastered-sounding track, about -9.5 LUFS
    spectral_error_db(result, ref, 44100)     # RMS over 1/3-octave bands of the level-normalised difference, dB

A piece is an eight-bar pattern (drums on MIDI channel 10, bass, chords, a lead; the reference adds a pad),
drawn from `seed` and looped to any length; the parts are panned across the stereo field. Renders are cached
per process, so ask for the same (seconds, sr, seed) as often as you like; the arrays are read-only (copy one
to change it). Audio arrays are [samples] or [samples, channels], as soundfile and pyloudnorm take them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from signals import SOUNDFONT

MIX_LUFS = -19.0  # the unmastered mix's integrated loudness (its sample peak lands near -6 dBFS)
REFERENCE_LUFS = -9.5  # the mastered-sounding reference's integrated loudness
REFERENCE_CEILING_DBTP = -1.2  # the reference's true peak stays at or below this

# Band centres of the 1/3-octave series (IEC 61260 base-10: 1000 * 10^(k/10)), nominal 31.5 Hz .. 16 kHz.
THIRD_OCTAVE_HZ = tuple(1000.0 * 10.0 ** (k / 10.0) for k in range(-15, 13))

_FLUIDSYNTH_RATES = (8000, 96000)  # FluidSynth's synth.sample-rate range; other rates are resampled with soxr
_DRUMS = 9  # MIDI channel 10
_PATTERN_BARS = 8
_SEARCH_S = 20.0  # the reference's limiter drive is searched for on this much of it
_TAIL_S = 3.0  # the ring of the last notes and the reverb after one pass of the pattern


@dataclass(frozen=True)
class Part:
    role: str  # "drums", "bass", "chords", "pad" or "lead"
    program: int  # General MIDI program, 0-based (the drum kit for "drums")
    pan: int  # MIDI CC 10: 0 hard left, 64 centre, 127 hard right
    volume: int  # MIDI CC 7
    reverb: int = 30  # MIDI CC 91, the send to FluidSynth's reverb


@dataclass(frozen=True)
class Arrangement:
    bpm: float
    progression: tuple[tuple[int, tuple[int, ...]], ...]  # per bar: (bass root, chord notes), MIDI numbers
    scale: tuple[int, ...]  # the lead's notes, low to high
    drum_style: str  # "rock": eighth hats, backbeat; "dance": four on the floor, sixteenth hats
    chord_hits: tuple[tuple[float, float], ...]  # (beat, length in beats) of each chord stroke in a bar
    parts: tuple[Part, ...]


# An unmastered pop-rock mix in A minor: piano, fingered bass, flute lead, a rock kit.
MIX = Arrangement(
    bpm=112.0,
    progression=((33, (57, 60, 64)), (29, (53, 57, 60)), (36, (55, 60, 64)), (31, (55, 59, 62))),
    scale=(69, 72, 74, 76, 79, 81, 84),
    drum_style="rock",
    chord_hits=((0.0, 1.9), (2.0, 1.4), (3.5, 0.45)),
    parts=(
        Part("drums", 0, 64, 100),
        Part("bass", 33, 60, 105),
        Part("chords", 0, 36, 80),
        Part("lead", 73, 88, 66),
    ),
)

# The reference: dance-pop in D major with synth bass, clean guitar and strings wide apart, a sawtooth lead.
REFERENCE = Arrangement(
    bpm=124.0,
    progression=((38, (62, 66, 69)), (35, (59, 62, 66)), (31, (59, 62, 67)), (33, (61, 64, 69))),
    scale=(74, 76, 78, 81, 83, 86, 88),
    drum_style="dance",
    chord_hits=((0.0, 0.45), (0.75, 0.45), (1.5, 0.45), (2.0, 0.45), (2.75, 0.45), (3.5, 0.45)),
    parts=(
        Part("drums", 0, 64, 105, reverb=20),
        Part("bass", 38, 64, 100, reverb=0),
        Part("chords", 27, 16, 85),
        Part("pad", 48, 112, 70, reverb=60),
        Part("lead", 81, 76, 80),
    ),
)


def mix(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """An unmastered stereo mix: [round(seconds sr), 2] float32, read-only.

    The MIX arrangement (seeded lead, bass and drum variations), rendered, a little dark (-3 dB high shelf
    from 3 kHz; against `reference` it has 6-10 dB more at 125-250 Hz and 1 kHz and 5-10 dB less at 2-3 kHz),
    narrow (side 12 dB under mid), gently bus-compressed and set to MIX_LUFS (-19 LUFS), which puts its sample
    peaks near -6 dBFS. Cached per process.
    """
    return _mix(float(seconds), int(sr), int(seed))


def reference(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """A mastered-sounding stereo track, [round(seconds sr), 2] float32, read-only.

    The REFERENCE arrangement (another key, tempo, instruments and groove than `mix`), rendered, made brighter
    (+3 dB high shelf from 5 kHz, +2 dB low shelf under 90 Hz) and wider (side +3 dB: 6 dB under mid),
    compressed (pedalboard Compressor), pushed into a Limiter and set to REFERENCE_LUFS (-9.5 +- 0.1 LUFS)
    with its true peak at REFERENCE_CEILING_DBTP (-1.2 dBTP). Cached per process.
    """
    return _reference(float(seconds), int(sr), int(seed))


@functools.cache
def _mix(seconds: float, sr: int, seed: int) -> np.ndarray:
    from pedalboard import Compressor, HighShelfFilter, Pedalboard

    dry = render(MIX, seconds, sr, seed)
    board = Pedalboard(
        [HighShelfFilter(3000.0, -3.0), Compressor(-24.0, 2.0, attack_ms=15.0, release_ms=150.0)]
    )
    wet = _apply(board, dry, sr)
    return _frozen(wet * _gain_to(wet, sr, MIX_LUFS))


@functools.cache
def _reference(seconds: float, sr: int, seed: int) -> np.ndarray:
    from pedalboard import Compressor, HighShelfFilter, Limiter, LowShelfFilter, Pedalboard

    dry = render(REFERENCE, seconds, sr, seed)
    tone = Pedalboard(
        [
            LowShelfFilter(90.0, 2.0),
            HighShelfFilter(5000.0, 3.0),
            Compressor(-20.0, 3.0, attack_ms=10.0, release_ms=120.0),
        ]
    )
    wide = _widen(_apply(tone, dry, sr), side_db=3.0)
    wide = wide * _gain_to(wide, sr, MIX_LUFS)
    # pedalboard's Limiter (JUCE's) compresses above its threshold, makes the threshold up and clips at 0 dBFS:
    # the drive into it sets how hard it limits; the result is then brought down to the true-peak ceiling.
    limiter = Pedalboard([Limiter(threshold_db=-3.0, release_ms=80.0)])

    def limited(drive_db: float, audio: np.ndarray) -> tuple[np.ndarray, float]:
        loud = _apply(limiter, audio * 10.0 ** (drive_db / 20.0), sr)
        loud = loud * 10.0 ** ((REFERENCE_CEILING_DBTP - true_peak_dbtp(loud, sr)) / 20.0)
        return loud, REFERENCE_LUFS - _lufs(loud, sr)

    # The drive that lands on REFERENCE_LUFS, by the secant method (loudness rises monotonically with drive),
    # found on the first _SEARCH_S (the material loops) and then applied to the whole.
    excerpt = wide[: round(_SEARCH_S * sr)]
    low, high = 6.0, 9.0
    miss_low, miss = limited(low, excerpt)[1], limited(high, excerpt)[1]
    for _ in range(6):
        if abs(miss) < 0.02:
            break
        low, high, miss_low = high, high - miss * (high - low) / (miss - miss_low), miss
        miss = limited(high, excerpt)[1]
    return _frozen(limited(high, wide)[0])


def render(arrangement: Arrangement, seconds: float, sr: int, seed: int) -> np.ndarray:
    """The arrangement's eight-bar pattern (drawn from `seed`) looped over `seconds`, from FluidSynth (its
    reverb on, chorus off): [round(seconds sr), 2] float32 at `sr`, not level-normalised.

    One pass of the pattern, with the ring of its last notes and of the reverb, is rendered once per process
    and overlap-added at each repeat: FluidSynth is time-invariant, so this is what it would render for the
    whole length, at the cost of one loop.
    """
    loop, loop_s = _loop(arrangement, sr, seed)
    frames = round(seconds * sr)
    out = np.zeros((frames + len(loop), 2), np.float32)
    for k in range(math.ceil(seconds / loop_s)):
        start = round(k * loop_s * sr)
        out[start : start + len(loop)] += loop
    return out[:frames]


@functools.cache
def _loop(arrangement: Arrangement, sr: int, seed: int) -> tuple[np.ndarray, float]:
    """One pass of the pattern plus _TAIL_S of ring: ([samples, 2] float32 at sr, the pass's length in s)."""
    import soxr

    rng = np.random.default_rng(seed)
    pattern = []  # (beat, length in beats, channel, note, velocity)
    for part, ch in zip(arrangement.parts, _channels(arrangement)):
        for bar in range(_PATTERN_BARS):
            root, chord = arrangement.progression[bar % len(arrangement.progression)]
            notes = _BAR_WRITERS[part.role](arrangement, root, chord, bar, rng)
            pattern += [(4.0 * bar + beat, length, ch, note, vel) for beat, length, note, vel in notes]
    beat_s = 60.0 / arrangement.bpm
    events = []  # (time in s, 0 for note-off / 1 for note-on, channel, note, velocity)
    for beat, length, ch, note, vel in pattern:
        events += [
            (beat * beat_s, 1, ch, note, int(np.clip(vel, 1, 127))),
            ((beat + length) * beat_s, 0, ch, note, 0),
        ]
    loop_s = 4.0 * _PATTERN_BARS * beat_s
    synth_sr = int(np.clip(sr, *_FLUIDSYNTH_RATES))
    audio = _render_events(arrangement, sorted(events), round((loop_s + _TAIL_S) * synth_sr), synth_sr)
    if synth_sr != sr:
        audio = soxr.resample(audio, synth_sr, sr, quality="VHQ").astype(np.float32)
    return _frozen(audio), loop_s


def _channels(arrangement: Arrangement) -> list[int]:
    """The MIDI channel (0-based) of each part: drums on channel 10, the others on 1, 2, ..."""
    melodic = iter(c for c in range(16) if c != _DRUMS)
    return [_DRUMS if part.role == "drums" else next(melodic) for part in arrangement.parts]


def _drums(arrangement, root, chord, bar, rng):
    kick, snare, clap, closed, opened, crash = 36, 38, 39, 42, 46, 49
    hits = [(0.0, crash, 100)] if bar == 0 else []
    if arrangement.drum_style == "dance":
        hits += [(b, kick, 118) for b in range(4)] + [(b, clap, 105) for b in (1, 3)]
        hits += [(b + 0.5, opened, 70) for b in range(4)]
        hits += [(b + s / 4, closed, 85 if s == 0 else 55) for b in range(4) for s in (0, 1, 3)]
    else:
        hits += [(0.0, kick, 115), (2.0, kick, 110), (1.0, snare, 108), (3.0, snare, 112)]
        hits += [(rng.choice((1.5, 2.5, 3.5)), kick, 95)] if rng.random() < 0.6 else []
        hits += [(e / 2, closed, 100 if e % 2 == 0 else 80) for e in range(8)] + [(3.5, opened, 85)]
    return [(beat, 0.25, note, vel + rng.integers(-8, 9)) for beat, note, vel in hits]


def _bass(arrangement, root, chord, bar, rng):
    steps = (0.0, 1.0, 1.5, 2.0, 3.0) if arrangement.drum_style == "rock" else (0.5, 1.5, 2.5, 3.0, 3.5)
    return [(b, 0.45, root + 12 * (rng.random() < 0.25), 100 + rng.integers(-10, 11)) for b in steps]


def _chords(arrangement, root, chord, bar, rng):
    strum = 0.02 if arrangement.drum_style == "dance" else 0.0  # beats between a stroke's strings
    return [
        (beat + i * strum, length, note, 85 + rng.integers(-10, 11))
        for beat, length in arrangement.chord_hits
        for i, note in enumerate(chord)
    ]


def _pad(arrangement, root, chord, bar, rng):
    return [(0.0, 3.95, note, 80) for note in (*chord, chord[0] + 12)]


def _lead(arrangement, root, chord, bar, rng):
    scale, notes, beat = arrangement.scale, [], 0.0
    step = int(rng.integers(0, len(scale)))
    while beat < 4.0:
        length = min(float(rng.choice((0.5, 0.5, 1.0, 1.5, 2.0))), 4.0 - beat)
        if rng.random() > 0.2:
            step = int(np.clip(step + rng.integers(-2, 3), 0, len(scale) - 1))
            notes.append((beat, 0.9 * length, scale[step], 95 + rng.integers(-12, 13)))
        beat += length
    return notes


_BAR_WRITERS = {"drums": _drums, "bass": _bass, "chords": _chords, "pad": _pad, "lead": _lead}


def _render_events(arrangement: Arrangement, events, frames: int, sr: int) -> np.ndarray:
    """FluidSynth's float output, event by event: [frames, 2] float32."""
    from ctypes import c_int, c_void_p

    import fluidsynth

    write_float = fluidsynth.cfunc(
        "fluid_synth_write_float",
        c_int,
        ("synth", c_void_p, 1),
        ("len", c_int, 1),
        ("lbuf", c_void_p, 1),
        ("loff", c_int, 1),
        ("lincr", c_int, 1),
        ("rbuf", c_void_p, 1),
        ("roff", c_int, 1),
        ("rincr", c_int, 1),
    )
    out = np.zeros((frames, 2), np.float32)
    synth = fluidsynth.Synth(gain=0.3, samplerate=float(sr), **{"synth.chorus.active": 0})
    try:
        sfid = synth.sfload(str(SOUNDFONT))
        assert sfid >= 0, f"FluidSynth could not load {SOUNDFONT}"
        for part, ch in zip(arrangement.parts, _channels(arrangement)):
            synth.program_select(ch, sfid, 128 if part.role == "drums" else 0, part.program)
            for cc, value in ((7, part.volume), (10, part.pan), (91, part.reverb), (93, 0)):
                synth.cc(ch, cc, value)
        position = 0
        for time_s, _, ch, note, velocity in events + [(frames / sr, 0, 0, 0, -1)]:
            until = min(round(time_s * sr), frames)
            if until > position:
                write_float(
                    synth.synth,
                    until - position,
                    out.ctypes.data,
                    2 * position,
                    2,
                    out.ctypes.data,
                    2 * position + 1,
                    2,
                )
                position = until
            if velocity > 0:
                synth.noteon(ch, note, velocity)
            elif velocity == 0:
                synth.noteoff(ch, note)
    finally:
        synth.delete()
    assert np.max(np.abs(out)) > 0, "FluidSynth rendered silence"
    return out


# --- processing -------------------------------------------------------------------------------------------


def _apply(board, audio: np.ndarray, sr: int) -> np.ndarray:
    """A pedalboard chain over [samples, channels] audio."""
    return board(np.ascontiguousarray(audio.T), sr).T.astype(np.float32)


def _widen(audio: np.ndarray, side_db: float) -> np.ndarray:
    mid, side = (audio[:, 0] + audio[:, 1]) / 2, (audio[:, 0] - audio[:, 1]) / 2
    side = side * 10.0 ** (side_db / 20.0)
    return np.stack([mid + side, mid - side], axis=1).astype(np.float32)


def _lufs(audio: np.ndarray, sr: int) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(sr).integrated_loudness(np.asarray(audio, np.float64)))


def _gain_to(audio: np.ndarray, sr: int, lufs: float) -> float:
    return 10.0 ** ((lufs - _lufs(audio, sr)) / 20.0)


def _frozen(audio: np.ndarray) -> np.ndarray:
    audio = np.ascontiguousarray(audio, np.float32)
    audio.setflags(write=False)
    return audio


# --- measures ---------------------------------------------------------------------------------------------


def third_octave_levels(audio: np.ndarray, sr: int) -> np.ndarray:
    """Levels in dB of the long-term spectrum in the 1/3-octave bands THIRD_OCTAVE_HZ (31.5 Hz .. 16 kHz):
    [28] float64, the power in each band (Welch average over the whole signal, power averaged over channels,
    band edges at centre * 10^(+-1/20)); NaN for a band that reaches past Nyquist, about -300 dB for silence.

    audio: [samples] or [samples, channels]. The frequency resolution is about 2 Hz at any rate, so that the
    31.5 Hz band (7 Hz wide) holds a few bins. Absolute levels depend on the signal's level: compare two
    signals through band_errors_db, which takes the overall level out.
    """
    from scipy.signal import welch

    audio = np.asarray(audio, np.float64)
    audio = audio[:, None] if audio.ndim == 1 else audio
    nperseg = min(2 ** math.ceil(math.log2(sr / 2.0)), len(audio))
    hz, psd = welch(audio, sr, nperseg=nperseg, axis=0)
    power = psd.mean(axis=1) * (hz[1] - hz[0])
    levels = []
    for centre in THIRD_OCTAVE_HZ:
        low, high = centre * 10.0 ** (-1 / 20), centre * 10.0 ** (1 / 20)
        band = power[(hz >= low) & (hz < high)]
        levels.append(10.0 * np.log10(band.sum() + 1e-30) if high <= sr / 2 else np.nan)
    return np.array(levels)


def band_errors_db(levels: np.ndarray, reference_levels: np.ndarray) -> np.ndarray:
    """Band-wise error of a spectrum against a reference's after normalising the overall level: each band's dB
    difference (levels - reference_levels, from third_octave_levels) minus the mean difference over the bands
    both have. [bands] float64, NaN where a band is missing from either."""
    difference = np.asarray(levels) - np.asarray(reference_levels)
    return difference - np.nanmean(difference)


def spectral_error_db(
    audio: np.ndarray, reference_audio: np.ndarray, sr: int, reference_sr: int | None = None
) -> float:
    """How far `audio`'s tonal balance is from `reference_audio`'s: the RMS over 1/3-octave bands (31.5 Hz ..
    16 kHz, those below both Nyquists) of band_errors_db, in dB. 0 for the same balance at any level."""
    errors = band_errors_db(
        third_octave_levels(audio, sr), third_octave_levels(reference_audio, reference_sr or sr)
    )
    return float(np.sqrt(np.nanmean(errors**2)))


def true_peak_dbtp(audio: np.ndarray, sr: int) -> float:
    """True peak in dBTP: the largest magnitude of `audio` ([samples] or [samples, channels]) upsampled with
    scipy.signal.resample_poly, 4x at 44.1 and 48 kHz (BS.1770-4, Annex 2), enough to reach 176.4 kHz at
    other rates (2x at 88.2 / 96 kHz, none at 176.4 kHz and up). -inf for silence."""
    from scipy.signal import resample_poly

    audio = np.asarray(audio, np.float64)
    factor = max(1, math.ceil(176400 / sr))
    audio = audio[:, None] if audio.ndim == 1 else audio
    peak = 0.0
    for channel in audio.T:  # one contiguous channel at a time: 4x faster than along axis 0
        upsampled = resample_poly(channel, factor, 1) if factor > 1 else channel
        peak = max(peak, float(np.max(np.abs(upsampled), initial=0.0)))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf
