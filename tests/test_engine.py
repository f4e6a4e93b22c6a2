"""The Engine's real-time contract, from Python: block-size independence, rates, bad input, latency,
real time vs offline, model swaps, MIDI mode, parameters."""

from __future__ import annotations

import time

import librosa
import numpy as np
import pytest
from tonemorph.engine import PARAMETERS, Engine, ModelError

OUTPUT_LIMIT = 10 ** (6 / 20)  # +6 dBFS


def tone(sr, seconds=1.0, f0=220.0, amp=0.3, start=0.0):
    t = np.arange(int(sr * seconds)) / sr
    x = amp * np.sin(2 * np.pi * f0 * t) + 0.3 * amp * np.sin(2 * np.pi * 2 * f0 * t)
    x[: int(start * sr)] = 0.0
    return x.astype(np.float32)


def make_engine(model, sr, block, realtime=False, **params):
    """An engine playing `model`, prepared for mono blocks of up to `block` at `sr`, with `params` set."""
    engine = Engine(model, realtime=realtime)
    engine.prepare(sr, block, 1)
    for name, value in params.items():
        engine.set_param(name, value)
    return engine


def run_blocks(engine, x, sizes):
    out, i, k = [], 0, 0
    while i < x.shape[-1]:
        n = sizes[k % len(sizes)]
        out.append(engine.process(np.ascontiguousarray(x[..., i : i + n])))
        i += n
        k += 1
    return np.concatenate(out, axis=-1)


def median_f0(y, sr, fmin=60.0, fmax=1500.0):
    frame = int(2 ** np.ceil(np.log2(2.5 * sr / fmin)))
    f = librosa.yin(y.astype(np.float64), fmin=fmin, fmax=fmax, sr=sr, frame_length=frame)
    return float(np.median(f))


def cents(a, b):
    return 1200.0 * np.log2(a / b)


@pytest.mark.parametrize("sizes", [[1], [7], [64], [480], [4096], "random"])
def test_output_independent_of_block_size(random_model_path, sizes):
    sr = 48000
    x = tone(sr, 0.5, 330.0)
    reference = make_engine(random_model_path, sr, 4096)
    expected = run_blocks(reference, x, [4096])
    if sizes == "random":
        sizes = list(np.random.default_rng(1).integers(1, 4097, size=64))
    engine = make_engine(random_model_path, sr, 4096)
    got = run_blocks(engine, x, sizes)
    assert np.array_equal(got, expected)
    assert np.abs(expected).max() > 1e-3  # the instrument actually played


@pytest.mark.parametrize("sr", [22050, 44100, 48000, 96000, 192000])
def test_sample_rates_follow_the_input_pitch(tone_model_path, sr):
    engine = make_engine(tone_model_path, sr, 512)
    y = run_blocks(engine, tone(sr, 1.0, 196.0), [512])
    assert abs(cents(median_f0(y[sr // 4 :], sr), 196.0)) < 20


def test_semitone_and_octave_shift(tone_model_path):
    sr = 48000
    engine = make_engine(tone_model_path, sr, 256, semitones=7, octave=-1)
    y = run_blocks(engine, tone(sr, 1.0, 440.0), [256])
    expected = 440.0 * 2 ** ((7 - 12) / 12)
    assert abs(cents(median_f0(y[sr // 4 :], sr), expected)) < 20


BAD_INPUTS = {
    "nan": np.full(48000, np.nan, dtype=np.float32),
    "inf": np.where(np.arange(48000) % 2 == 0, np.inf, -np.inf).astype(np.float32),
    "dc": np.ones(48000, dtype=np.float32),
    "silence": np.zeros(48000 * 3, dtype=np.float32),
    "full_scale_noise": np.random.default_rng(0).uniform(-1, 1, 48000).astype(np.float32),
    "nan_inside_tone": np.where(np.arange(48000) % 1000 == 0, np.nan, tone(48000, 1.0)).astype(np.float32),
    "huge": (1e30 * tone(48000, 1.0)).astype(np.float32),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
@pytest.mark.parametrize("model", ["tone", "random"])
def test_bad_input_never_yields_nan_or_overs(tone_model_path, random_model_path, name, model):
    engine = make_engine(tone_model_path if model == "tone" else random_model_path, 48000, 512)
    engine.set_param("output_gain_db", 24)  # worst case: the most gain a user can dial in
    engine.set_param("harmonic_gain", 4)
    engine.set_param("noise_gain", 4)
    y = run_blocks(engine, BAD_INPUTS[name], [512])
    assert np.all(np.isfinite(y))
    assert np.abs(y).max() <= OUTPUT_LIMIT
    # ...and the engine still plays afterwards.
    after = run_blocks(engine, tone(48000, 0.5), [512])
    assert np.all(np.isfinite(after)) and np.abs(after).max() > 1e-3


# The test above passes by the output clamp alone; these two would not.
@pytest.mark.parametrize("name", [name for name, x in BAD_INPUTS.items() if not np.isfinite(x).all()])
@pytest.mark.parametrize("model", ["tone", "random"])
def test_non_finite_samples_play_as_silence(tone_model_path, random_model_path, name, model):
    """NaN and inf samples give what zeros in their place give (default gains: the clamp never acts)."""
    bad = BAD_INPUTS[name]
    outputs = [run_blocks(make_engine(tone_model_path if model == "tone" else random_model_path, 48000, 512), x,
                          [512]) for x in (bad, np.where(np.isfinite(bad), bad, 0).astype(np.float32))]
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", BAD_INPUTS)
@pytest.mark.parametrize("model", ["tone", "random"])
def test_bad_input_stays_far_below_the_output_clamp(tone_model_path, random_model_path, name, model):
    """With the output gain at -24 dB and the synth gains at most, a clamped inf or overflow would still show
    as a +6 dBFS peak; a bounded signal path stays more than 12 dB below it (measured: 19 dB below, a peak of
    0.23 from the random model on "huge")."""
    engine = make_engine(tone_model_path if model == "tone" else random_model_path, 48000, 512,
                         output_gain_db=-24, harmonic_gain=4, noise_gain=4)
    y = run_blocks(engine, BAD_INPUTS[name], [512])
    assert np.all(np.isfinite(y)) and np.abs(y).max() < OUTPUT_LIMIT / 4


def test_silence_gives_silence(tone_model_path):
    engine = make_engine(tone_model_path, 48000, 512)
    y = run_blocks(engine, np.zeros(48000, dtype=np.float32), [512])
    assert np.abs(y).max() < 1e-3


@pytest.mark.parametrize("sr", [44100, 48000])
def test_latency_is_at_most_6_ms_whatever_the_block_size(tone_model_path, sr):
    """Inline decoding: the delay is the hop and the two resampling filters, the same for every largest block."""
    latencies = {block: make_engine(tone_model_path, sr, block).latency_samples() for block in (32, 64, 1024, 8192)}
    assert len(set(latencies.values())) == 1, latencies
    assert 0 < latencies[32] <= 0.006 * sr


@pytest.mark.parametrize("sr", [24000, 48000, 44100, 96000])
def test_latency_reported_is_the_wet_paths_delay(tone_model_path, sr):
    """A MIDI note-on (attack 0) is an impulse through the wet path with no analysis window in the way: the
    frame that first sees it drives the hop that holds its time, so over every phase of the note within a hop
    the output starts between latency - hop and latency after it (plus the few samples the synth's linear ramp
    takes to cross the detection level)."""
    hop = 96 * sr / 24000
    detection = 4 * sr / 24000
    delays = []
    for phase in range(96):  # every model sample within one hop
        start = 4800 * sr // 24000 + round(phase * sr / 24000)
        engine = make_engine(tone_model_path, sr, 128, midi_mode=1, attack_ms=0, noise_gain=0, glide_ms=0)
        n, out = start + sr // 20, []
        # A faint input keeps the engine from treating the note as the start of a new stream (which lines the
        # frames up with it: test_a_sound_after_silence_starts_a_stream_of_its_own).
        awake = np.full(128, 1e-7, np.float32)
        for i in range(0, n, 128):
            events = [(start - i, [0x90, 69, 100])] if i <= start < i + 128 else []
            out.append(engine.process(awake[: min(128, n - i)], events))
        y = np.concatenate(out)
        delays.append(int(np.argmax(np.abs(y) > 1e-3 * np.abs(y).max())) - start)
    latency = engine.latency_samples()
    assert latency - hop - 1 <= min(delays) <= latency - hop + detection
    assert latency - detection <= max(delays) <= latency + detection


def test_latency_matches_measured_onset(tone_model_path):
    """An onset in the input shows up in the output `latency` samples later (within one hop)."""
    sr, onset = 48000, 24000
    x = tone(sr, 1.0, 220.0, amp=0.5, start=onset / sr)
    engine = Engine(tone_model_path)
    engine.set_param("dry_wet", 0.0)  # the dry path is delayed by the reported latency
    engine.prepare(sr, 128, 1)
    dry = run_blocks(engine, x, [128])
    engine.set_param("dry_wet", 1.0)
    engine.prepare(sr, 128, 1)
    wet = run_blocks(engine, x, [128])
    latency = engine.latency_samples()
    assert np.argmax(np.abs(dry) > 1e-3) == onset + 1 + latency  # the sine's first sample is 0
    hop = 96 * sr // 24000
    wet_onset = np.argmax(np.abs(wet) > 0.01)
    assert onset + latency <= wet_onset <= onset + latency + 3 * hop + 0.021 * sr  # loudness window: 21 ms


@pytest.mark.parametrize("midi", [False, True])
def test_a_sound_after_silence_starts_a_stream_of_its_own(midi):
    """After a quarter second of digital silence in and out (once the reverb has died away), the signal path
    starts afresh at the next sound: what a phrase gives no longer depends on what the engine played, nor on how
    much silence, before it (a DAW's bounce and its export run the plugin through different material first)."""
    sr, block = 48000, 512
    phrase = tone(sr, 0.8, 262.0)
    before = tone(sr, 0.5, 390.0, amp=0.5)
    outputs = []
    for history, silence in ((np.zeros(0, np.float32), 30000), (before, 72345), (before, 100001)):
        engine = make_engine("trumpet", sr, block, midi_mode=int(midi))  # quiet in silence (-115 dBFS)
        x = np.concatenate([history, np.zeros(silence, np.float32), np.zeros_like(phrase) if midi else phrase])
        events, start = [], len(history) + silence
        if midi:  # the history is a MIDI note too, and the phrase a note of its own
            events = [(0, [0x90, 67, 100]), (len(history) // 2, [0x80, 67, 0])] if len(history) else []
            events += [(start, [0x90, 60, 100]), (start + len(phrase) // 2, [0x80, 60, 0])]
        out = []
        for i in range(0, len(x), block):
            mine = [(t - i, m) for t, m in events if i <= t < i + block]
            out.append(engine.process(x[i : i + block], mine))
        outputs.append(np.concatenate(out)[start : start + len(phrase)])
        assert engine.status["restarts"] >= 1
    assert np.abs(outputs[0]).max() > 0.01
    for other in outputs[1:]:
        np.testing.assert_allclose(other, outputs[0], rtol=0, atol=1e-5)


def test_native_decoding_is_the_same_live_and_offline(random_model_path):
    sr, block = 48000, 256
    x = tone(sr, 1.0, 260.0)
    expected = run_blocks(make_engine(random_model_path, sr, block), x, [block])
    live = make_engine(random_model_path, sr, block, realtime=True)
    np.testing.assert_array_equal(run_blocks(live, x, [block]), expected)
    assert live.status["overruns"] == 0 and live.status["waits"] == 0


def paced(engine, x, block, sr):
    """Blocks at a live host's pace: one per block period."""
    out = []
    for i in range(0, len(x), block):
        out.append(engine.process(x[i : i + block]))
        time.sleep(block / sr)
    return np.concatenate(out)


@pytest.mark.serial  # the worker's pace against the audio thread's: needs the machine to itself
def test_the_worker_keeps_up_live_and_matches_offline(worker_model_path):
    sr, block = 48000, 256
    x = tone(sr, 1.0, 260.0)
    expected = run_blocks(make_engine(worker_model_path, sr, block), x, [block])
    live = make_engine(worker_model_path, sr, block, realtime=True)
    got = paced(live, x, block, sr)
    assert live.status["overruns"] == 0
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.serial  # the worker's pace against the audio thread's: needs the machine to itself
def test_a_host_faster_than_real_time_gets_every_frame_from_the_worker(slow_worker_model_path):
    """A bounce that runs the plugin faster than real time without saying so (Ardour's track bounce): the
    audio thread waits for the worker, so the result is the offline render, never silence or a held note."""
    sr, block = 48000, 512
    x = tone(sr, 0.6, 260.0, start=0.1)
    expected = run_blocks(make_engine(slow_worker_model_path, sr, block), x, [block])
    live = make_engine(slow_worker_model_path, sr, block, realtime=True)
    got = run_blocks(live, x, [block])  # back to back, as fast as the engine returns
    assert live.status["waits"] > 0 and live.status["overruns"] == 0
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert np.abs(expected).max() > 0.01


@pytest.mark.serial  # the worker's pace against the audio thread's: needs the machine to itself
def test_a_late_worker_holds_the_controls_live(slow_worker_model_path):
    """Live, a worker that needs 20 ms per 4 ms frame is late on most frames: each late frame is counted and
    the last controls hold (the note keeps sounding), and nothing waits."""
    sr, block = 48000, 256
    x = tone(sr, 1.0, 260.0)
    live = make_engine(slow_worker_model_path, sr, block, realtime=True)
    y = paced(live, x, block, sr)
    frames = len(x) / sr * 250
    assert live.status["overruns"] > 0.5 * frames and live.status["waits"] == 0
    assert np.all(np.isfinite(y)) and np.abs(y).max() <= OUTPUT_LIMIT
    assert np.sqrt(np.mean(y[len(y) // 2 :] ** 2)) > 0.01  # held, not dropped to silence


def test_model_swap_has_no_click(tone_model_path, tmp_path):
    from model_fixtures import export_tone_model

    other = export_tone_model(tmp_path / "other.onnx", name="other", n_harmonics=12)
    sr, block = 48000, 256
    x = tone(sr, 2.0, 220.0)
    engine = make_engine(tone_model_path, sr, block)
    out = [engine.process(x[i : i + block]) for i in range(0, sr, block)]
    engine.set_model(other)
    out += [engine.process(x[i : i + block]) for i in range(sr - sr % block, len(x), block)]
    y = np.concatenate(out)
    assert engine.model.name == "other" and not engine.swap_pending
    # A click is a sample step far beyond what the steady tone has.
    steady_step = np.abs(np.diff(y[sr // 2 : sr])).max()
    swap_step = np.abs(np.diff(y[sr : sr + sr // 4])).max()
    assert swap_step <= 1.2 * steady_step
    assert np.abs(y[sr : sr + sr // 4]).min() < np.abs(y[sr // 2 : sr]).max()  # it kept playing


def test_bad_model_keeps_the_running_model(tone_model_path, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(tone_model_path.read_bytes()[:1000])
    engine = make_engine(tone_model_path, 48000, 512)
    with pytest.raises(ModelError, match="broken.onnx"):
        engine.set_model(broken)
    assert engine.model.name == "tone"
    y = run_blocks(engine, tone(48000, 0.5), [512])
    assert np.abs(y).max() > 1e-3


def midi_events(notes, sr):
    """[(start_s, end_s, note, velocity)] -> engine MIDI events."""
    events = []
    for start, end, note, velocity in notes:
        events.append((int(start * sr), [0x90, note, velocity]))
        events.append((int(end * sr), [0x80, note, 0]))
    return sorted(events)


def run_midi(engine, n, events, block):
    out = []
    for start in range(0, n, block):
        block_events = [(o - start, m) for o, m in events if start <= o < start + block]
        out.append(engine.process(np.zeros(min(block, n - start), dtype=np.float32), block_events))
    return np.concatenate(out)


def test_midi_mode_plays_notes_at_their_pitch(tone_model_path):
    sr = 48000
    engine = make_engine(tone_model_path, sr, 256, midi_mode=1, glide_ms=0)
    notes = [(0.1, 0.6, 60, 100), (0.9, 1.4, 67, 100), (1.5, 1.9, 72, 60)]
    y = run_midi(engine, 2 * sr, midi_events(notes, sr), 256)
    latency = engine.latency_samples()
    for start, end, note, _ in notes:
        segment = y[int((start + 0.1) * sr) + latency : int(end * sr) + latency]
        expected = 440.0 * 2 ** ((note - 69) / 12)
        assert abs(cents(median_f0(segment, sr), expected)) < 20, note
    # After the 150 ms release; the next note fades in over the hop (4 ms) before its frame.
    gap = y[int(0.8 * sr) + latency : int(0.89 * sr) + latency]
    assert np.abs(gap).max() < 1e-3


def test_midi_velocity_and_expression_set_loudness(tone_model_path):
    sr = 48000

    def level(events):
        engine = make_engine(tone_model_path, sr, 256, midi_mode=1)
        y = run_midi(engine, sr, events, 256)
        return np.sqrt(np.mean(y[sr // 2 :] ** 2))

    loud = level([(0, [0x90, 60, 127])])
    soft = level([(0, [0x90, 60, 40])])
    quieter = level([(0, [0xB0, 11, 40]), (0, [0x90, 60, 127])])
    assert loud > 1.5 * soft and loud > 1.5 * quieter


def test_midi_pitch_bend_moves_the_pitch(tone_model_path):
    sr = 48000
    engine = make_engine(tone_model_path, sr, 256, midi_mode=1, pitch_bend_range=2)
    bend_up = (8192 + 8191) & 0x3FFF
    y = run_midi(engine, sr, [(0, [0x90, 69, 100]), (0, [0xE0, bend_up & 0x7F, bend_up >> 7])], 256)
    assert abs(cents(median_f0(y[sr // 2 :], sr), 440.0 * 2 ** (2 / 12))) < 20


def test_midi_output_independent_of_block_size(tone_model_path):
    sr = 48000
    events = midi_events([(0.05, 0.3, 62, 90), (0.25, 0.5, 65, 110)], sr)

    def render(block):
        engine = make_engine(tone_model_path, sr, 1024, midi_mode=1)
        return run_midi(engine, sr // 2 + 2000, events, block)

    assert np.array_equal(render(1024), render(37))


def test_stereo_in_gives_stereo_out_with_dry_per_channel(tone_model_path):
    sr = 48000
    engine = Engine(tone_model_path)
    engine.set_param("dry_wet", 0.0)  # before prepare: no smoothing ramp from the default
    engine.prepare(sr, 512, 2)
    left, right = tone(sr, 0.5, 220.0), tone(sr, 0.5, 330.0)
    y = run_blocks(engine, np.stack([left, right]), [512])
    lat = engine.latency_samples()
    np.testing.assert_allclose(y[0, lat:], left[:-lat], atol=1e-6)
    np.testing.assert_allclose(y[1, lat:], right[:-lat], atol=1e-6)


def test_parameters_are_listed_and_clamped(tone_model_path):
    names = {p["name"] for p in PARAMETERS}
    for expected in ["semitones", "octave", "gate_db", "loudness_offset_db", "auto_adjust", "harmonic_gain",
                     "noise_gain", "reverb_mix", "dry_wet", "output_gain_db", "midi_mode", "glide_ms"]:
        assert expected in names
    engine = Engine(tone_model_path)
    engine.set_param("semitones", 100)
    assert engine.get_param("semitones") == 24
    engine.set_param("semitones", float("nan"))
    assert engine.get_param("semitones") == 24
    with pytest.raises(KeyError, match="unknown parameter"):
        engine.set_param("semitone", 1)


def test_gate_silences_quiet_input(tone_model_path):
    sr = 48000
    engine = make_engine(tone_model_path, sr, 512)
    engine.set_param("gate_db", -10)  # above the test tone's loudness
    y = run_blocks(engine, tone(sr, 0.5, 220.0, amp=0.05), [512])
    assert np.abs(y).max() < 1e-3


def test_harmonic_gain_scales_output(tone_model_path):
    sr = 48000

    def rms(gain):
        engine = make_engine(tone_model_path, sr, 512, harmonic_gain=gain, noise_gain=0)
        y = run_blocks(engine, tone(sr, 0.5, 220.0), [512])
        return np.sqrt(np.mean(y[sr // 4 :] ** 2))

    assert rms(2.0) == pytest.approx(2 * rms(1.0), rel=1e-3)


def test_prepare_rejects_bad_settings(tone_model_path):
    engine = Engine(tone_model_path)
    for args in [(0, 512, 1), (48000, 0, 1), (48000, 9000, 1), (48000, 512, 0)]:
        with pytest.raises(ValueError):
            engine.prepare(*args)
    with pytest.raises(ValueError, match="prepare"):
        engine.process(np.zeros(10, dtype=np.float32))


def test_auto_adjust_brings_input_to_the_models_loudness(tone_model_path):
    """The tone model's amplitude follows loudness; auto-adjust maps any input level to its mean (-30 dB)."""
    sr = 48000

    def level(amp, auto):
        engine = Engine(tone_model_path)
        engine.set_param("auto_adjust", auto)
        engine.prepare(sr, 512, 1)
        y = run_blocks(engine, tone(sr, 6.0, 220.0, amp=amp), [512])
        return np.sqrt(np.mean(y[-sr:] ** 2))

    assert level(0.1, 0) / level(0.01, 0) > 1.15  # 20 dB apart in, ~1.6 dB apart out (the model's curve)
    assert abs(level(0.1, 1) / level(0.01, 1) - 1.0) < 0.05
    assert Engine(tone_model_path).get_param("auto_adjust") == 1.0  # on by default: a guitar is not a trumpet


@pytest.mark.parametrize(("played", "heard"), [(110.0, 220.0), (55.0, 220.0), (300.0, 300.0), (1400.0, 700.0)])
def test_auto_adjust_folds_pitch_into_the_models_range_by_octaves(tmp_path, played, heard):
    """A model that played 200..800 Hz in training: notes outside come back by whole octaves (a low E on a
    flute sounds where a flute plays it, a tracker's octave slip below the range returns); off, they pass."""
    from model_fixtures import export_tone_model

    path = export_tone_model(tmp_path / "narrow.onnx", f0_range=(200.0, 800.0))
    sr = 48000
    for auto, expected in ((1, heard), (0, played)):
        engine = make_engine(path, sr, 512, auto_adjust=auto)
        y = run_blocks(engine, tone(sr, 1.0, played), [512])
        got = median_f0(y[sr // 4 :], sr, fmin=40.0, fmax=2000.0)
        assert abs(cents(got, expected)) < 20, (auto, got)

def test_auto_adjust_narrows_wide_loudness_swings_to_the_models_spread(tone_model_path):
    """A plucked string swings wider than the model's training data (tone model: std 12 dB): auto-adjust
    scales the input's swings around its running mean by model std / input std. Input alternates 40 dB
    apart every second; the tone model's amplitude is linear in loudness, amplitude ~ (L + 70), so the
    loud/quiet output ratio r gives the swing the model saw: with the mean at -30 dB,
    d = 80 (r - 1) / (r + 1)."""
    sr, seconds = 48000, 16
    x = np.concatenate([tone(sr, 1.0, 220.0, amp=0.3 if k % 2 == 0 else 0.003) for k in range(seconds)])
    engine = make_engine(tone_model_path, sr, 512)
    y = run_blocks(engine, x, [512])
    level = [np.sqrt(np.mean(y[(k * sr + sr // 4): (k + 1) * sr - sr // 4] ** 2)) for k in range(8, seconds)]
    r = np.median(level[0::2]) / np.median(level[1::2])
    swing_db = 80.0 * (r - 1.0) / (r + 1.0)
    assert 0.4 * 40.0 <= swing_db <= 0.8 * 40.0, swing_db


def output_pitch_onset(y, sr, f0_after, start):
    """Seconds after `start` at which the output's pitch (YinPitch, 1 ms hop) first sits within 50 cents of
    f0_after for 10 ms."""
    from tonemorph.engine import _core

    hop = sr // 1000
    f0, confidence = _core.YinPitch(sr, hop, fmin_hz=100.0, fmax_hz=1000.0).process(y.astype(np.float32))
    near = (np.abs(cents(np.maximum(f0, 1.0), f0_after)) < 50) & (confidence > 0.5)
    held = np.convolve(near, np.ones(10), "valid") == 10
    frames = np.flatnonzero(held[start * 1000 // sr:])
    assert len(frames), "the output never reached the new pitch"
    return frames[0] / 1000.0


def test_a_leap_down_of_more_than_a_tritone_is_confirmed_before_it_plays(tone_model_path):
    """PitchDropGuard in the engine: a fall of a fifth plays 12 ms (3 hops) later than a fall of a fourth
    (YIN's period-multiple errors are falls of an octave or more, and last a few hops)."""
    sr, change = 48000, 24000

    def delay(semitones):
        x = np.concatenate([tone(sr, 0.5, 440.0), tone(sr, 0.5, 440.0 * 2 ** (-semitones / 12))])
        engine = make_engine(tone_model_path, sr, 512, auto_adjust=0)
        return output_pitch_onset(run_blocks(engine, x, [512]), sr, 440.0 * 2 ** (-semitones / 12), change)

    assert 0.010 <= delay(7) - delay(5) <= 0.022


def test_a_note_outlasts_a_short_loss_of_pitch_and_noise_then_ends_it(tone_model_path):
    """30 ms of noise inside a note keep the note playing (a pick attack, a note change); continuing noise
    plays on for 100 ms after the last confident pitch, then is silence."""
    sr = 48000
    rng = np.random.default_rng(0)
    note = tone(sr, 0.5, 330.0)
    level = np.sqrt(np.mean(note**2))

    def noise(seconds):
        return (level * rng.standard_normal(int(sr * seconds))).astype(np.float32)

    engine = make_engine(tone_model_path, sr, 512)
    y = run_blocks(engine, np.concatenate([note, noise(0.03), note, noise(1.0)]), [512])
    latency = engine.latency_samples()

    def rms(start_s, seconds):
        a = int(start_s * sr) + latency
        return np.sqrt(np.mean(y[a : a + int(seconds * sr)] ** 2))

    steady = rms(0.25, 0.25)
    assert min(rms(0.5 + k * 0.004, 0.004) for k in range(7)) > 0.3 * steady
    assert rms(1.03 + 0.05, 0.04) > 0.5 * steady
    assert np.abs(y[int((1.03 + 0.13) * sr) + latency :]).max() < 1e-3


def test_audio_after_midi_mode_starts_its_own_note(tone_model_path):
    """Switching from MIDI to audio while a MIDI note sounds: loud noise on the input is not a held note."""
    sr, block = 48000, 512
    engine = make_engine(tone_model_path, sr, block, midi_mode=1)
    out = [engine.process(np.zeros(block, np.float32), [(0, [0x90, 60, 100])])]
    out += [engine.process(np.zeros(block, np.float32)) for _ in range(40)]
    assert np.abs(np.concatenate(out[-10:])).max() > 0.01  # the MIDI note plays
    engine.set_param("midi_mode", 0)
    noise = (0.1 * np.random.default_rng(1).standard_normal(sr // 2)).astype(np.float32)
    y = run_blocks(engine, noise, [block])
    assert np.abs(y[engine.latency_samples() + int(0.03 * sr) :]).max() < 1e-3


def test_output_keeps_the_models_band_up_to_near_its_nyquist(tone_model_path):
    """The tone model's 25th harmonic of 400 Hz sits at 10 kHz (of a 24 kHz model's 12): at a 48 kHz host
    rate it comes out as loud, relative to the fundamental, as with the host at the model's rate."""

    def top_harmonic_db(sr):
        engine = make_engine(tone_model_path, sr, 512, noise_gain=0, reverb_mix=0)
        y = run_blocks(engine, tone(sr, 1.0, 400.0), [512])[sr // 2 :]
        spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
        freqs = np.fft.rfftfreq(len(y), 1.0 / sr)

        def peak(f):
            return spectrum[(freqs > f - 60) & (freqs < f + 60)].max()

        return 20 * np.log10(peak(25 * 400.0) / peak(400.0))

    assert abs(top_harmonic_db(48000) - top_harmonic_db(24000)) < 0.5
