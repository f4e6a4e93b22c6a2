"""YinPitch (cpp/dsp/YinPitch.h): accuracy on signals with known f0, and its real-time behaviour.

Scored at the model rate with the model hop. A frame is voiced when its confidence reaches
YinPitch.VOICED_CONFIDENCE, the line the engine gates on.
"""

import functools

import numpy as np
import pytest
import signals
from signals import Signal
from tonemorph.engine import _core

SR = 24000  # the model rate (docs/model-format.md)
HOP = 96
VOICED_CONFIDENCE = _core.YinPitch.VOICED_CONFIDENCE
MIN_RAW_PITCH_ACCURACY = 0.95  # voiced frames within 50 cents
MAX_FALSE_ALARM = 0.05  # unvoiced frames called voiced
MIN_VOICING_RECALL = 0.9  # voiced frames called voiced: the tracker may not lean on its held f0


def track(signal: Signal, **kwargs) -> tuple[np.ndarray, np.ndarray, signals.FrameTruth]:
    pitch = _core.YinPitch(signal.sample_rate, HOP, **kwargs)
    f0, confidence = pitch.process(signal.audio)
    truth = signals.frame_truth(signal, HOP, pitch.history_size, pitch.latency_samples)
    return f0, confidence, truth


def framed(signal: Signal, rng: np.random.Generator) -> Signal:
    """The signal between white noise, loud before and quiet after, with silence in between."""
    return signals.concat(
        signals.white_noise(0.4, SR, rng, rms=0.3),
        signals.silence(0.15, SR),
        signal,
        signals.silence(0.15, SR),
        signals.white_noise(0.4, SR, rng, rms=0.01),
    )


SYNTHETIC = {
    "notes_with_gaps": lambda rng: signals.notes_with_gaps(
        tuple(signals.midi_to_hz(n) for n in (40, 45, 55, 60, 69, 76, 83, 91)), SR, rng
    ),
    "linear_chirp": lambda rng: signals.linear_chirp(100.0, 1000.0, 2.5, SR, rng),
    "exponential_chirp_up": lambda rng: signals.exponential_chirp(60.0, 1500.0, 3.0, SR, rng),
    "exponential_chirp_down": lambda rng: signals.exponential_chirp(1500.0, 60.0, 3.0, SR, rng),
    "vibrato_low": lambda rng: signals.vibrato(98.0, 1.5, SR, rng, rate_hz=5.5, depth_cents=50.0),
    "vibrato_mid": lambda rng: signals.vibrato(330.0, 1.5, SR, rng, rate_hz=5.5, depth_cents=50.0),
    "vibrato_high": lambda rng: signals.vibrato(1046.5, 1.5, SR, rng, rate_hz=5.5, depth_cents=50.0),
}


@functools.cache
def synthetic(name: str) -> Signal:
    rng = np.random.default_rng(sorted(SYNTHETIC).index(name))
    return framed(SYNTHETIC[name](rng), rng)


def assert_tracks(signal: Signal, **kwargs) -> None:
    f0, confidence, truth = track(signal, **kwargs)
    assert truth.voiced.sum() > 100 and truth.unvoiced.sum() > 50
    accuracy = signals.raw_pitch_accuracy(f0, truth)
    false_alarm = signals.voicing_false_alarm(confidence, truth, VOICED_CONFIDENCE)
    recall = signals.voicing_recall(confidence, truth, VOICED_CONFIDENCE)
    assert accuracy >= MIN_RAW_PITCH_ACCURACY, f"raw pitch accuracy {accuracy:.3f}"
    assert false_alarm < MAX_FALSE_ALARM, f"voicing false alarm {false_alarm:.3f}"
    assert recall >= MIN_VOICING_RECALL, f"voicing recall {recall:.3f}"


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_tracks_synthetic_pitch_and_rejects_noise(name):
    assert_tracks(synthetic(name))


@pytest.mark.parametrize("instrument", sorted(signals.GM_INSTRUMENTS))
def test_tracks_soundfont_instruments_and_rejects_noise(instrument):
    pytest.importorskip("fluidsynth", reason="pip install pyfluidsynth (needs libfluidsynth3)")
    if not signals.SOUNDFONT.exists():
        pytest.skip(f"{signals.SOUNDFONT} missing: apt-get install fluid-soundfont-gm")
    assert_tracks(signals.fluidsynth_notes(instrument, SR))


def weak_odd_harmonics(f0_hz: float, odd_gain: float, seconds: float = 0.8) -> Signal:
    """Harmonics 1/h, odd ones scaled by odd_gain: d'(T/2) ~ 2 odd power / total power."""
    t = np.arange(int(seconds * SR)) / SR
    x = np.zeros_like(t)
    for h in range(1, int(0.45 * SR / f0_hz) + 1):
        x += (odd_gain if h % 2 else 1.0) / h * np.sin(2 * np.pi * h * f0_hz * t + 0.7 * h)
    x *= 0.5 / np.max(np.abs(x))
    return Signal(x.astype(np.float32), np.full(len(t), f0_hz), np.ones(len(t), bool), SR)


@pytest.mark.parametrize("f0_hz", [110.0, 196.0, 330.0, 523.25])
def test_weak_odd_harmonics_do_not_raise_the_octave(f0_hz):
    # odd_gain 0.12: odd harmonics carry ~4% of the power, so d'(T/2) ~ 0.08 passes the 0.15 threshold
    # before the true period does.
    f0, _, truth = track(weak_odd_harmonics(f0_hz, odd_gain=0.12))
    assert signals.raw_pitch_accuracy(f0, truth) >= 0.99


@pytest.mark.parametrize("f0_hz", [61.7, 98.0, 155.6, 246.9, 392.0, 622.3, 987.8, 1568.0])
def test_steady_tones_are_within_a_few_cents(f0_hz):
    # At 1568 Hz the period is 15.3 samples: integer lags alone would be up to 50 cents off, and a
    # parabola through them on a tone rich in harmonics still ~8 cents.
    rng = np.random.default_rng(int(f0_hz))
    f0, _, truth = track(signals.steady_tone(f0_hz, 0.6, SR, rng))
    error = signals.cents_error(f0[truth.voiced], truth.f0_hz[truth.voiced])
    assert np.median(np.abs(error)) < 1.0
    assert np.max(np.abs(error)) < 5.0


def test_output_independent_of_block_split():
    signal = synthetic("vibrato_mid")
    whole_f0, whole_confidence, _ = track(signal)
    pitch = _core.YinPitch(SR, HOP)
    rng = np.random.default_rng(7)
    sizes = np.concatenate([[1, 1, 95, 96, 97, 4097, 0, 8192], rng.integers(0, 700, 400)])
    cuts = np.minimum(np.cumsum(sizes), len(signal))
    parts = [pitch.process(piece) for piece in np.split(signal.audio, cuts)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), whole_f0)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), whole_confidence)


def test_non_finite_input_gives_finite_output():
    rng = np.random.default_rng(3)
    tone = signals.steady_tone(220.0, 1.5, SR, rng)
    x = tone.audio.copy()
    x[2000:2100] = np.nan
    x[5000] = np.inf
    x[6000] = -np.inf
    x[9000:9600] = 1e30  # finite but absurd
    x[12000 : 12000 + 4 * HOP] = np.nan
    f0, confidence, _ = track(Signal(x, tone.f0_hz, tone.known, SR))
    assert np.all(np.isfinite(f0)) and np.all(np.isfinite(confidence))
    assert np.all((confidence >= 0) & (confidence <= 1)) and np.all(f0 >= 0)
    # Once the bad samples have left the history, tracking is as before.
    pitch = _core.YinPitch(SR, HOP)
    clean = np.arange(len(f0)) * HOP >= 12000 + 4 * HOP + pitch.history_size
    assert np.all(np.abs(signals.cents_error(f0[clean], 220.0)) < 10)


def test_all_nan_input_is_unvoiced():
    f0, confidence = _core.YinPitch(SR, HOP).process(np.full(SR, np.nan, np.float32))
    assert np.all(confidence == 0) and np.all(f0 == 0)


@pytest.mark.parametrize("level", [0.0, 0.5, -1.0])
def test_silence_and_dc_give_zero_confidence(level):
    f0, confidence = _core.YinPitch(SR, HOP).process(np.full(SR, level, np.float32))
    assert len(confidence) == SR // HOP
    assert np.max(confidence) < 1e-6
    assert np.all(f0 == 0)


def test_f0_is_held_through_unvoiced_frames():
    rng = np.random.default_rng(5)
    signal = signals.concat(
        signals.steady_tone(300.0, 0.5, SR, rng),
        signals.silence(0.3, SR),
        signals.white_noise(0.3, SR, rng),
    )
    f0, confidence, truth = track(signal)
    assert truth.unvoiced.sum() > 50
    assert np.all(confidence[truth.unvoiced] < VOICED_CONFIDENCE)
    assert np.all(np.abs(signals.cents_error(f0[truth.unvoiced], 300.0)) < 5)


def test_reset_forgets_history_and_held_f0():
    rng = np.random.default_rng(6)
    tone = signals.steady_tone(440.0, 0.3, SR, rng).audio
    pitch = _core.YinPitch(SR, HOP)
    first = pitch.process(tone)
    pitch.process(tone[: 5 * HOP + 17])
    pitch.reset()
    again = pitch.process(tone)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    pitch.reset()
    f0, _ = pitch.process(np.zeros(4 * HOP, np.float32))
    assert np.all(f0 == 0)


@pytest.mark.parametrize(
    "sample_rate, fmin_hz, window_ms", [(24000, 50.0, 20.0), (16000, 80.0, 25.0), (48000, 40.0, 30.0)]
)
def test_latency_and_history_are_reported(sample_rate, fmin_hz, window_ms):
    pitch = _core.YinPitch(sample_rate, 64, fmin_hz=fmin_hz, window_ms=window_ms)
    window = round(window_ms * sample_rate / 1000)
    assert pitch.history_size >= window + sample_rate / fmin_hz
    # The estimate's time lies inside what the frame looks at, no earlier than the window's centre.
    assert window // 2 <= pitch.latency_samples < pitch.history_size
    assert pitch.hop == 64 and pitch.sample_rate == sample_rate


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sample_rate": 0, "hop": 96}, "sample_rate"),
        ({"sample_rate": SR, "hop": 0}, "hop"),
        ({"sample_rate": SR, "hop": 96, "fmin_hz": 0.0}, "fmin_hz"),
        ({"sample_rate": SR, "hop": 96, "fmin_hz": 500.0, "fmax_hz": 400.0}, "fmax_hz"),
        ({"sample_rate": SR, "hop": 96, "fmax_hz": 20000.0}, "Nyquist"),
        ({"sample_rate": SR, "hop": 96, "window_ms": 0.0}, "window_ms"),
        ({"sample_rate": SR, "hop": 96, "threshold": 1.5}, "threshold"),
    ],
)
def test_invalid_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _core.YinPitch(**kwargs)


def test_multichannel_input_raises_value_error():
    with pytest.raises(ValueError, match="1-D"):
        _core.YinPitch(SR, HOP).process(np.zeros((2, 960), np.float32))


# --- PitchDropGuard (cpp/dsp/PitchDropGuard.h) ---------------------------------------------------------


def guarded(f0_hz, **kwargs) -> np.ndarray:
    return _core.PitchDropGuard(**kwargs).process(np.asarray(f0_hz, dtype=np.float32))


def test_brief_period_multiple_drop_is_held():
    """Three frames an octave (then an octave and a fifth) low inside a note: the note's pitch plays on."""
    f0 = [440.0] * 5 + [220.0] * 3 + [440.0] * 3 + [440.0 / 3] * 3 + [440.0] * 2
    np.testing.assert_array_equal(guarded(f0), np.full(len(f0), 440.0, np.float32))


def test_a_leap_down_that_holds_is_played_after_confirm_frames():
    f0 = [440.0] * 3 + [200.0, 201.0, 199.0, 200.0, 200.0]
    np.testing.assert_array_equal(guarded(f0, confirm_frames=4), [440.0] * 6 + [200.0] * 2)
    np.testing.assert_array_equal(guarded(f0, confirm_frames=1), f0)


def test_candidates_that_disagree_restart_the_count():
    f0 = [440.0, 220.0, 220.0, 146.7, 146.7, 146.7, 146.7]  # an octave down, then a twelfth down
    np.testing.assert_allclose(guarded(f0, confirm_frames=3), [440.0] * 5 + [146.7] * 2, rtol=1e-6)


def test_rises_small_drops_and_bends_pass_at_once():
    rises = [220.0, 440.0, 880.0, 1760.0]
    small = [440.0, 440.0 * 2 ** (-5 / 12), 440.0 * 2 ** (-10 / 12)]  # a fourth down, then a fourth again
    bend = list(440.0 * 2 ** (-np.linspace(0, 14, 60) / 12))  # 14 semitones down in small steps
    for f0 in (rises, small, bend):
        np.testing.assert_allclose(guarded(f0), f0, rtol=1e-6)


def test_a_fall_back_from_a_fresh_leap_up_passes_at_once():
    """A grace note (or the tracker's octave-up slip) and back: the return is not held as a drop; once the
    leap is older than confirm_frames, a fall back is an ordinary drop again."""
    np.testing.assert_array_equal(guarded([440.0, 440.0, 880.0, 440.0, 440.0]), [440.0, 440.0, 880.0, 440.0, 440.0])
    np.testing.assert_array_equal(guarded([440.0, 440.0, 880.0, 0.0, 0.0, 440.0]),  # no-pitch frames count for nothing
                                  [440.0, 440.0, 880.0, 880.0, 880.0, 440.0])
    stayed = [440.0] + [880.0] * 4 + [440.0] * 5
    np.testing.assert_array_equal(guarded(stayed), [440.0] + [880.0] * 7 + [440.0] * 2)


def test_drop_threshold_is_the_max_drop_semitones():
    f0 = [440.0, 440.0 * 2 ** (-7 / 12)]  # a fifth down
    assert guarded(f0, max_drop_semitones=6.0)[1] == pytest.approx(440.0)
    assert guarded(f0, max_drop_semitones=8.0)[1] == pytest.approx(f0[1])


def test_no_pitch_holds_and_reset_takes_the_next_pitch_as_it_is():
    guard = _core.PitchDropGuard()
    assert guard.current_hz == 0.0
    np.testing.assert_array_equal(guard.process(np.array([440.0, 0.0, np.nan, -1.0], np.float32)), [440.0] * 4)
    guard.reset()
    assert guard.current_hz == 0.0
    assert guard.process(np.array([110.0], np.float32))[0] == pytest.approx(110.0)


@pytest.mark.parametrize(("kwargs", "message"), [({"confirm_frames": 0}, "confirm_frames"),
                                                 ({"max_drop_semitones": 0.0}, "max_drop_semitones"),
                                                 ({"max_drop_semitones": float("nan")}, "max_drop_semitones")])
def test_pitch_drop_guard_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _core.PitchDropGuard(**kwargs)
