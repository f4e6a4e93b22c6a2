"""training/prepare.py: a folder of recordings -> chunks with f0, confidence and loudness, cached.

The folders are made here from synthetic harmonic tones (tests/signals.py) whose f0 is known exactly.
Most tests lower min_pitched_seconds so that a few seconds of audio are enough; one checks the default.
"""

import shutil
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import signals
import soxr
import tonemorph.training.prepare as prepare_module
import torch
from pedalboard.io import AudioFile
from tonemorph.training import soundfont as sf
from tonemorph.training.dataset import load_prepared
from tonemorph.training.prepare import (
    CACHE_FOLDER,
    MIN_PITCHED_SECONDS,
    VOICED_THRESHOLD,
    PrepareError,
    correct_octaves,
    prepare,
)
from tonemorph.training.spectral import compute_loudness

SR = 24000  # the model rate the tests prepare at
HOP = 96
FEW_SECONDS = 2.0  # min_pitched_seconds for the small folders made here
MAX_CENTS = 20.0


def tone(f0: float, seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    return signals.steady_tone(f0, seconds, rate, np.random.default_rng(seed)).audio


def write(path: Path, audio: np.ndarray, rate: int) -> Path:
    """audio [samples] or [channels, samples] -> a file (16-bit where the format has bits; from the suffix)."""
    audio = np.atleast_2d(audio).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with AudioFile(str(path), "w", samplerate=rate, num_channels=audio.shape[0]) as f:
        f.write(audio)
    return path


def frame_times(dataset, chunk: int) -> np.ndarray:
    """Seconds into the source file at which each frame of a chunk ends: (k + 1) hop after its start."""
    _, start = dataset.meta["chunks"][chunk]
    return (start + dataset.hop * np.arange(1, dataset.frames + 1)) / dataset.sample_rate


def cents(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return 1200.0 * np.log2(estimate / truth)


def test_steady_tone_shapes_and_f0(tmp_path):
    write(tmp_path / "a.wav", tone(220.0, 5.0, 48000), 48000)
    ds = prepare(tmp_path, sample_rate=SR, hop=HOP, chunk_seconds=2.0, min_pitched_seconds=FEW_SECONDS)
    frames = round(2.0 * SR / HOP)
    assert ds.audio.shape == (len(ds), frames * HOP) and ds.audio.dtype == np.float32
    for array in (ds.f0_hz, ds.confidence, ds.loudness_db):
        assert array.shape == (len(ds), frames) and array.dtype == np.float32
    assert ds.file_index.shape == (len(ds),) and ds.files == ["a.wav"]
    assert len(ds) == 3  # two whole chunks and the last second, as a chunk ending where the tone ends
    steady = np.concatenate([(frame_times(ds, c) > 0.1) & (frame_times(ds, c) < 4.9) for c in range(len(ds))])
    assert np.all(ds.confidence.ravel()[steady] >= VOICED_THRESHOLD)
    assert np.max(np.abs(cents(ds.f0_hz.ravel()[steady], 220.0))) < MAX_CENTS


def test_f0_is_aligned_with_the_frame_end(tmp_path):
    """Frame k carries the pitch at sample (k + 1) hop: on a glide of 2 octaves per second, the median error
    would be about 10 cents for a hop too early or too late, 19 cents for half a tracker frame."""
    seconds, f_start, f_end = 1.5, 200.0, 1600.0
    sig = signals.exponential_chirp(f_start, f_end, seconds, 48000, np.random.default_rng(1))
    write(tmp_path / "glide.wav", sig.audio, 48000)
    ds = prepare(tmp_path, sample_rate=SR, hop=HOP, chunk_seconds=1.0, min_pitched_seconds=0.5)
    errors = []
    for c in range(len(ds)):
        t = frame_times(ds, c)
        inside = (t > 0.1) & (t < seconds - 0.1) & (ds.confidence[c] >= VOICED_THRESHOLD)
        errors.append(cents(ds.f0_hz[c][inside], f_start * (f_end / f_start) ** (t[inside] / seconds)))
    errors = np.concatenate(errors)
    assert len(errors) > 0.8 * (seconds - 0.2) * SR / HOP
    assert abs(np.median(errors)) < 5.0
    assert np.percentile(np.abs(errors), 95) < 25.0


def test_audio_and_loudness_are_those_of_the_resampled_file(tmp_path, monkeypatch):
    """Stereo at 44.1 kHz: the chunks are the channel mean resampled by soxr, and the loudness is
    compute_loudness of that whole signal (the engine's causal definition), sliced. Loudness is computed
    in blocks; small ones here, so that block edges fall inside the chunks."""
    monkeypatch.setattr(prepare_module, "LOUDNESS_BLOCK_FRAMES", 97)
    rng = np.random.default_rng(2)
    left = tone(330.0, 4.5, 44100, seed=3) * np.linspace(0.2, 1.0, int(4.5 * 44100), dtype=np.float32)
    right = 0.5 * left + 0.01 * rng.standard_normal(len(left)).astype(np.float32)
    path = write(tmp_path / "stereo.wav", np.stack([left, right]), 44100)
    ds = prepare(tmp_path, sample_rate=SR, hop=HOP, chunk_seconds=1.5, min_pitched_seconds=FEW_SECONDS)

    with AudioFile(str(path)) as f:
        stored, rate = f.read(f.frames), f.samplerate
    mono = soxr.resample(stored.mean(axis=0), rate, SR, quality="HQ").astype(np.float32)
    mono = np.pad(mono, (0, -len(mono) % HOP))
    loudness = compute_loudness(torch.from_numpy(mono)[None], SR, HOP)[0].numpy()
    assert len(ds) >= 3
    for c, (_, start) in enumerate(ds.meta["chunks"]):
        frame = start // HOP
        assert start % HOP == 0
        np.testing.assert_allclose(ds.audio[c], mono[start : start + ds.audio.shape[1]], atol=1e-6)
        np.testing.assert_allclose(ds.loudness_db[c], loudness[frame : frame + ds.frames], atol=1e-3)


def test_confidence_is_low_on_noise_and_f0_holds_through_it(tmp_path):
    rng = np.random.default_rng(4)
    noise = (0.1 * rng.standard_normal(int(1.5 * 48000))).astype(np.float32)
    audio = np.concatenate([tone(220.0, 2.0, 48000), noise, tone(330.0, 2.0, 48000, seed=5)])
    write(tmp_path / "tone-noise-tone.wav", audio, 48000)
    ds = prepare(tmp_path, sample_rate=SR, hop=HOP, chunk_seconds=1.0, min_pitched_seconds=FEW_SECONDS)
    t = np.concatenate([frame_times(ds, c) for c in range(len(ds))])
    in_noise = (t > 2.1) & (t < 3.4)
    assert in_noise.sum() > 200
    assert np.mean(ds.confidence.ravel()[in_noise] < VOICED_THRESHOLD) > 0.95
    # the last voiced pitch is held through the noise: no 0 Hz, no wandering
    assert np.all(ds.f0_hz > 0)
    assert np.percentile(np.abs(cents(ds.f0_hz.ravel()[in_noise], 220.0)), 95) < MAX_CENTS


def test_silence_is_trimmed(tmp_path):
    audio = np.concatenate([tone(262.0, 2.0, 48000), np.zeros(6 * 48000, np.float32), tone(392.0, 2.0, 48000)])
    write(tmp_path / "gap.wav", audio, 48000)
    ds = prepare(tmp_path, sample_rate=SR, hop=HOP, chunk_seconds=1.0, min_pitched_seconds=FEW_SECONDS)
    starts = np.array([start for _, start in ds.meta["chunks"]]) / SR
    assert len(ds) <= 6  # about 2.4 s of kept sound on each side, in 1 s chunks
    assert not np.any((starts > 2.5) & (starts + 1.0 < 7.5))  # no chunk lies inside the silence
    assert ds.meta["pitched_seconds"] == pytest.approx(4.0, abs=0.3)


def test_second_run_loads_the_cache(tmp_path):
    for i, f0 in enumerate((196.0, 294.0)):
        write(tmp_path / f"take{i}.wav", tone(f0, 3.0, 48000, seed=i), 48000)
    kwargs = {"sample_rate": SR, "hop": HOP, "min_pitched_seconds": FEW_SECONDS}
    t0 = time.perf_counter()
    first = prepare(tmp_path, **kwargs)
    t1 = time.perf_counter()
    second = prepare(tmp_path, **kwargs)
    t2 = time.perf_counter()
    cache = Path(first.meta["cache"])
    assert cache.parent == tmp_path / CACHE_FOLDER and cache.is_file()
    assert second.meta["cache"] == str(cache)
    assert t2 - t1 < 0.25 and t2 - t1 < (t1 - t0) / 3
    for name in ("audio", "f0_hz", "confidence", "loudness_db", "file_index"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert load_prepared(cache).files == first.files

    # a changed folder is prepared again, and the cache of the old folder is removed
    write(tmp_path / "sub" / "take2.wav", tone(440.0, 3.0, 48000, seed=2), 48000)
    third = prepare(tmp_path, **kwargs)
    assert third.meta["cache"] != str(cache) and not cache.exists()
    assert third.files == ["sub/take2.wav", "take0.wav", "take1.wav"]
    # other settings are cached beside it
    fourth = prepare(tmp_path, **{**kwargs, "sample_rate": 16000, "hop": 64})
    assert Path(third.meta["cache"]).exists() and Path(fourth.meta["cache"]).exists()
    assert fourth.sample_rate == 16000 and fourth.audio.shape[1] == round(2.0 * 16000 / 64) * 64


def test_cache_dir_can_be_elsewhere(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    write(data / "a.wav", tone(247.0, 3.0, 48000), 48000)
    ds = prepare(data, cache_dir=cache, min_pitched_seconds=FEW_SECONDS)
    assert Path(ds.meta["cache"]).parent == cache and not (data / CACHE_FOLDER).exists()


def test_nested_folders_mixed_rates_channels_and_formats(tmp_path):
    """Mono 22.05 kHz, stereo 44.1 kHz, 5.1 at 48 kHz, FLAC, MP3, OGG and 8-bit WAV, nested; each file has its
    own pitch, so a chunk's f0 says which file it came from."""
    pitches = {}

    def add(name: str, f0: float, rate: int, channels: int = 1) -> np.ndarray:
        audio = tone(f0, 3.0, rate, seed=len(pitches))
        pitches[name] = f0
        return np.tile(0.6 * audio, (channels, 1))

    write(tmp_path / "mono.wav", add("mono.wav", 220.0, 22050), 22050)
    write(tmp_path / "a" / "stereo.wav", add("a/stereo.wav", 247.0, 44100, 2), 44100)
    surround = add("a/b/surround.wav", 262.0, 48000, 6)
    surround[3] = 0.0  # an empty LFE channel, as in most music
    write(tmp_path / "a" / "b" / "surround.wav", surround, 48000)
    write(tmp_path / "a" / "b" / "take.flac", add("a/b/take.flac", 294.0, 44100), 44100)
    write(tmp_path / "c" / "take.mp3", add("c/take.mp3", 330.0, 44100), 44100)
    write(tmp_path / "c" / "take.ogg", add("c/take.ogg", 349.0, 48000, 2), 48000)
    eight_bit = np.round(add("c/eight-bit.wav", 392.0, 22050)[0] * 127 + 128).astype(np.uint8)
    with wave.open(str(tmp_path / "c" / "eight-bit.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(22050)
        w.writeframes(eight_bit.tobytes())
    (tmp_path / "c" / "notes.txt").write_text("not audio: ignored")
    write(tmp_path / ".hidden" / "ignored.wav", tone(500.0, 3.0, 48000), 48000)

    ds = prepare(tmp_path, sample_rate=SR, hop=HOP, chunk_seconds=1.0, min_pitched_seconds=FEW_SECONDS)
    assert sorted(ds.files) == sorted(pitches) and ds.meta["skipped"] == []
    for c in range(len(ds)):
        t = frame_times(ds, c)
        steady = (t > 0.2) & (t < 2.8) & (ds.confidence[c] >= VOICED_THRESHOLD)
        truth = pitches[ds.files[ds.file_index[c]]]
        assert steady.sum() > 50
        assert np.median(np.abs(cents(ds.f0_hz[c][steady], truth))) < MAX_CENTS, ds.files[ds.file_index[c]]


def test_corrupt_files_are_skipped_and_listed(tmp_path):
    write(tmp_path / "good.wav", tone(262.0, 3.0, 48000), 48000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 20)
    (tmp_path / "empty.flac").write_bytes(b"")
    ds = prepare(tmp_path, min_pitched_seconds=FEW_SECONDS)
    assert ds.files == ["good.wav"]
    skipped = {s["file"]: s for s in ds.meta["skipped"]}
    assert set(skipped) == {"broken.wav", "empty.flac"}
    assert all(s["kind"] == "unreadable" and s["file"] in s["reason"] for s in skipped.values())
    # the cached copy still lists them
    assert prepare(tmp_path, min_pitched_seconds=FEW_SECONDS).meta["skipped"] == ds.meta["skipped"]


def test_missing_and_empty_folders_are_refused(tmp_path):
    with pytest.raises(PrepareError, match="is not a folder"):
        prepare(tmp_path / "nowhere")
    (tmp_path / "sub").mkdir()
    (tmp_path / "readme.txt").write_text("no audio here")
    with pytest.raises(PrepareError, match="no audio files in .* or its subfolders"):
        prepare(tmp_path)


def test_only_unreadable_files_are_refused(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"not audio at all")
    (tmp_path / "b.mp3").write_bytes(b"")
    with pytest.raises(PrepareError, match=r"none of the 2 audio files .* could be read") as error:
        prepare(tmp_path)
    assert "a.wav" in str(error.value) and "b.mp3" in str(error.value)


def test_only_silence_is_refused(tmp_path):
    write(tmp_path / "quiet.wav", np.zeros(48000 * 3, np.float32), 48000)
    write(tmp_path / "hiss.wav", (1e-5 * np.random.default_rng(0).standard_normal(48000 * 3)), 48000)
    with pytest.raises(PrepareError, match=r"found only 0\.0 s of pitched audio") as error:
        prepare(tmp_path, min_pitched_seconds=FEW_SECONDS)
    assert "quiet.wav' is silent" in str(error.value)
    assert not (tmp_path / CACHE_FOLDER).exists()


def test_unpitched_noise_is_left_out(tmp_path):
    write(tmp_path / "noise.wav", 0.2 * np.random.default_rng(1).standard_normal(48000 * 3), 48000)
    write(tmp_path / "tone.wav", tone(330.0, 3.0, 48000), 48000)
    ds = prepare(tmp_path, min_pitched_seconds=FEW_SECONDS)
    assert ds.files == ["tone.wav"]
    assert [(s["file"], s["kind"]) for s in ds.meta["skipped"]] == [("noise.wav", "unpitched")]


def test_too_little_pitched_audio_says_how_much(tmp_path):
    write(tmp_path / "short.wav", tone(262.0, 8.0, 48000), 48000)
    with pytest.raises(PrepareError) as error:
        prepare(tmp_path)
    message = str(error.value)
    assert f"needs at least {MIN_PITCHED_SECONDS:.0f} s" in message
    found = float(message.split("found only ")[1].split(" s")[0])
    assert found == pytest.approx(8.0, abs=0.3)
    # enough once more is added; what is found does not depend on the minimum asked for
    shutil.copy(tmp_path / "short.wav", tmp_path / "more.wav")
    assert prepare(tmp_path, min_pitched_seconds=15.0).meta["pitched_seconds"] == pytest.approx(2 * found, abs=0.1)


def test_progress_is_reported_per_file(tmp_path):
    for i in range(3):
        write(tmp_path / f"{i}.wav", tone(220.0 + 20 * i, 2.0, 48000, seed=i), 48000)
    calls = []
    prepare(tmp_path, min_pitched_seconds=FEW_SECONDS, progress=lambda *a: calls.append(a))
    assert calls == [(0, 3, ""), (1, 3, "0.wav"), (2, 3, "1.wav"), (3, 3, "2.wav")]


def test_bad_settings_are_refused(tmp_path):
    write(tmp_path / "a.wav", tone(220.0, 3.0, 48000), 48000)
    with pytest.raises(PrepareError, match="sample rate"):
        prepare(tmp_path, sample_rate=1000)
    with pytest.raises(PrepareError, match="hop"):
        prepare(tmp_path, hop=0)
    with pytest.raises(PrepareError, match="chunks of"):
        prepare(tmp_path, chunk_seconds=0.001)


@pytest.mark.parametrize("estimate_ratio", [0.5, 1.0, 2.0])
def test_octave_errors_of_the_tracker_are_undone(estimate_ratio):
    f0, rng = 330.0, np.random.default_rng(6)
    audio = signals.steady_tone(f0, 1.0, SR, rng).audio
    times = np.linspace(0.2, 0.8, 20)
    corrected = correct_octaves(audio, SR, times, np.full(len(times), f0 * estimate_ratio))
    np.testing.assert_allclose(corrected, f0)


def test_fluidr3_flute_notes_are_labelled_at_their_pitch(tmp_path):
    """swift-f0 reads FluidR3's flute G5 an octave low and A-flat 5 an octave high for most frames;
    prepare's octave check puts them back (voiced frames; the unvoiced ones hold the last voiced f0)."""
    flute = sf.INSTRUMENTS["flute"]
    notes = [sf.Note(p, 0.25 + 2.0 * i, 0.25 + 2.0 * i + 1.7, 90) for i, p in enumerate((79, 80, 81))]
    write(tmp_path / "flute.wav", sf.FluidRenderer(48000).render(sf.Performance(notes, [(0.0, 127.0)]), flute), 48000)
    ds = prepare(tmp_path, sample_rate=SR, hop=HOP, chunk_seconds=2.0, min_pitched_seconds=FEW_SECONDS)
    for note in notes:
        errors = []
        for c in range(len(ds)):
            t = frame_times(ds, c)
            inside = (t > note.start + 0.1) & (t < note.end) & (ds.confidence[c] >= VOICED_THRESHOLD)
            errors.append(cents(ds.f0_hz[c][inside], signals.midi_to_hz(note.pitch)))
        errors = np.concatenate(errors)
        assert len(errors) > 200
        assert np.median(np.abs(errors)) < MAX_CENTS, note.pitch
        assert np.mean(np.abs(errors) < 50.0) > 0.97, note.pitch  # the sample wavers up to 50 cents


def test_linked_folders_are_followed_once_and_loops_end(tmp_path):
    from tonemorph.training.prepare import find_audio_files

    pack = tmp_path / "packs" / "kit"
    pack.mkdir(parents=True)
    (pack / "kick.wav").write_bytes(b"")
    library = tmp_path / "library"
    library.mkdir()
    (library / "snare.wav").write_bytes(b"")
    (library / "kit").symlink_to(pack)
    (library / "kit again").symlink_to(pack)
    (pack / "loop").symlink_to(library)  # library/kit/loop -> library: a cycle
    found = [p.relative_to(library).as_posix() for p in find_audio_files(library)]
    assert found == ["kit/kick.wav", "snare.wav"]
