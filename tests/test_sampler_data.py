"""tonemorph/sampler: a folder of sounds -> onset-aligned chunks, kinds and descriptor words, curation measures.

The folders are made here from numpy drums whose onsets are known exactly: kicks (decaying low sines),
snares (a noise burst plus a tone), hats (short high-passed noise).
"""

from __future__ import annotations

import collections

import librosa
import numpy as np
import pytest
import soundfile

from tonemorph.sampler import curate, data, descriptors
from tonemorph.sampler.words import HIGH_BIN, LOW_BIN, build_vocabulary, kind_of, parse_prompt, words

SR = data.MODEL_SAMPLE_RATE
ONSET_TOLERANCE = round(data.ONSET_WINDOW_S * SR)  # detected onset at most this many samples early ...
ONSET_LATE = round(0.0005 * SR)  # ... and this many late (a hat's attack above 12 kHz is lost to the rate)
DELAYS = {}  # one-shot file: (samples before its sound, file rate)
# Counts per kind in Debian's hydrogen-drumkits + hydrogen-data (docs/sampler-data.md).
HYDROGEN_KINDS = {
    "cymbal": 130,
    "hat": 128,
    "percussion": 118,
    "snare": 92,
    "tom": 81,
    "kick": 56,
    "rim": 25,
    "clap": 23,
    "fx": 3,
    None: 121,
}
HYDROGEN_VALIDATION_CHUNKS = 141


def kick(rate: int, seconds: float = 0.6) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return 0.8 * np.sin(2 * np.pi * (50 * t + 60 * 0.03 * (1 - np.exp(-t / 0.03)))) * np.exp(-t / 0.12)


def snare(rate: int, seed: int, seconds: float = 0.4) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return 0.3 * noise * np.exp(-t / 0.06) + 0.4 * np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.04)


def hat(rate: int, seed: int, seconds: float = 0.15) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(round(seconds * rate))
    high = np.diff(noise, n=2, prepend=[0.0, 0.0]) / 4  # second difference: a +12 dB/octave high-pass
    return 0.5 * high * np.exp(-np.arange(len(high)) / rate / 0.02)


def write(path, audio: np.ndarray, rate: int, delay: int = 0, channels: int = 1) -> None:
    """audio after `delay` samples of near-silence (-100 dBFS noise), as `channels` equal channels."""
    lead = 1e-5 * np.random.default_rng(1).standard_normal(delay)
    signal = np.concatenate([lead, audio])
    DELAYS[path.name] = (delay, rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.repeat(signal[:, None], channels, axis=1), rate)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Nested kits at 44.1 and 48 kHz, stereo and mono, one unreadable file, one silent one, one loop."""
    root = tmp_path_factory.mktemp("sounds")
    write(root / "kitA" / "Kick_01.wav", kick(44100), 44100, delay=1000)
    write(root / "kitA" / "SD-soft.flac", snare(44100, 1), 44100, delay=2205, channels=2)
    write(root / "kitA" / "hh open.wav", hat(44100, 2), 44100, delay=441)
    write(root / "kitB" / "deeper" / "BassDrum2.wav", kick(48000), 48000, delay=4800)
    write(root / "kitB" / "snares" / "take3.wav", snare(48000, 3), 48000, delay=0)
    write(root / "kitB" / "Closed HiHat.flac", hat(48000, 4), 48000, delay=96)
    write(root / "kitB" / "quiet.wav", np.zeros(4800), 48000)
    loop = np.concatenate([np.pad(kick(SR, 0.5) * (1 - i / 10), (0, SR // 2)) for i in range(6)])  # 6 s
    write(root / "loops" / "kick loop.wav", loop, SR)
    (root / "kitB" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    return root


@pytest.fixture(scope="module")
def samples(folder):
    return data.load_samples(folder)


def test_chunks_are_one_model_rate_second(samples):
    assert samples.sample_rate == SR and samples.audio.shape == (len(samples), round(data.CHUNK_SECONDS * SR))
    assert samples.audio.dtype == np.float32


def test_one_shots_are_aligned_at_onset(samples):
    pre_roll = round(data.PRE_ROLL_S * SR)
    for name, chunk, one_shot in zip(samples.files, samples.audio, samples.one_shot):
        if not one_shot:
            continue
        delay, rate = DELAYS[name.rsplit("/", 1)[-1]]
        expected = min(pre_roll, round(delay * SR / rate))  # no pre-roll before the file's start
        start = int(np.argmax(np.abs(chunk) > 0.05 * np.abs(chunk).max()))  # not the resampler's pre-ringing
        assert expected - ONSET_LATE <= start <= expected + ONSET_TOLERANCE, name


def test_onset_sample_on_a_known_onset():
    rng = np.random.default_rng(0)
    for onset in (0, 37, 1000, 12345):
        audio = np.concatenate([1e-5 * rng.standard_normal(onset), kick(SR)])
        assert onset - ONSET_TOLERANCE <= data.onset_sample(audio, SR) <= onset


def test_long_files_are_cut_into_windows(samples):
    loop = [i for i, f in enumerate(samples.files) if f == "loops/kick loop.wav"]
    assert len(loop) == 6 and not samples.one_shot[loop].any()  # 1 s windows, the second kick of each too


def test_unreadable_and_silent_files_are_skipped_and_listed(samples):
    skipped = {s["file"]: s["kind"] for s in samples.skipped}
    assert skipped == {"kitB/broken.wav": "unreadable", "kitB/quiet.wav": "silent"}
    assert "kitB/broken.wav" not in samples.files


def test_kinds_from_file_and_folder_names(samples):
    kinds = dict(zip(samples.files, samples.kinds))
    assert kinds["kitA/Kick_01.wav"] == "kick" and kinds["kitB/deeper/BassDrum2.wav"] == "kick"
    assert kinds["kitA/SD-soft.flac"] == "snare" and kinds["kitB/snares/take3.wav"] == "snare"
    assert kinds["kitA/hh open.wav"] == "hat" and kinds["kitB/Closed HiHat.flac"] == "hat"
    assert kinds["loops/kick loop.wav"] == "kick"


@pytest.mark.parametrize(
    ("names", "kind"),
    [
        (["Snare Rimshot (Pearl Free Floating Maple 14x3.5)"], "snare"),
        (["c3 - bass drum 1"], "kick"),
        (["Djembe1 Bass"], "percussion"),
        (["Ride Bell"], "cymbal"),
        (["Tom Hi"], "tom"),
        (["Pearl Side Stick"], "rim"),
        (["Finger Snaps"], "clap"),
        (["17", "Hat_17", "kit"], "hat"),
        (["take 2", "Pads"], "pad"),
        (["x", "y"], None),
    ],
)
def test_kind_of_names(names, kind):
    assert kind_of(names) == kind


def test_empty_and_all_silent_folders_are_errors(tmp_path):
    with pytest.raises(data.SamplerDataError, match="no audio files"):
        data.load_samples(tmp_path)
    write(tmp_path / "a.wav", np.zeros(1000), SR)
    write(tmp_path / "b.wav", 1e-5 * np.ones(1000), SR)
    with pytest.raises(data.SamplerDataError, match=r"(?s)'a.wav' is silent.*'b.wav' is silent"):
        data.load_samples(tmp_path)


def test_three_files_give_three_chunks_and_a_vocabulary(tmp_path):
    for i, sound in enumerate([kick(SR), snare(SR, 5), hat(SR, 6)]):
        write(tmp_path / f"{['kick', 'snare', 'hat'][i]}.wav", sound, SR)
    samples = data.load_samples(tmp_path)
    assert len(samples) == 3 and sorted(samples.kinds) == ["hat", "kick", "snare"]
    assert parse_prompt("dark kick", words(samples)) == {"brightness_hz": LOW_BIN, "kind": "kick"}


def test_vocabulary_and_prompts(samples):
    vocabulary = words(samples)
    assert vocabulary.kinds == {"kick": 2 + 6, "snare": 2, "hat": 2}  # the loop gives six kick windows
    assert {
        "kick",
        "bd",
        "snare",
        "sd",
        "hat",
        "hh",
        "hihat",
        "bright",
        "dark",
        "short",
        "long",
        "noisy",
        "tonal",
        "punchy",
        "soft",
    } <= set(vocabulary.words)
    assert "tom" not in vocabulary.words  # no toms in the data
    assert parse_prompt("short bright snare", vocabulary) == {
        "decay_s": LOW_BIN,
        "brightness_hz": HIGH_BIN,
        "kind": "snare",
    }
    assert parse_prompt("Hi Hat, noisy", vocabulary) == {"kind": "hat", "flatness": HIGH_BIN}
    assert parse_prompt("bd", vocabulary) == {"kind": "kick"}


def test_unknown_word_names_it_and_the_nearest(samples):
    with pytest.raises(ValueError, match=r"unknown word 'snar'.*nearest known words: snare"):
        parse_prompt("short snar", words(samples))
    with pytest.raises(ValueError, match="'tom'"):
        parse_prompt("tom", words(samples))
    with pytest.raises(ValueError, match="both 'bright' and 'dark'"):
        parse_prompt("bright dark kick", words(samples))


def test_descriptor_bins_are_the_data_terciles():
    values = {name: np.arange(9.0) for name in ("brightness_hz", "decay_s", "crest_db", "rms_db", "flatness")}
    vocabulary = build_vocabulary(["kick"] * 9, values | {"pitch_hz": np.array([np.nan] * 8 + [100.0])})
    assert vocabulary.edges["decay_s"] == pytest.approx((8 / 3, 16 / 3))
    assert vocabulary.edges["pitch_hz"] == (100.0, 100.0)


def test_centroid_and_flatness_match_librosa():
    for audio in (snare(SR, 7), hat(SR, 8), kick(SR)):
        y = audio.astype(np.float32)
        ours = descriptors.spectral_centroid_frames(y, SR)
        theirs = librosa.feature.spectral_centroid(
            y=y, sr=SR, n_fft=descriptors.N_FFT, hop_length=descriptors.HOP
        )
        np.testing.assert_allclose(ours, theirs[0], rtol=1e-4, atol=1e-2)
        flat = librosa.feature.spectral_flatness(y=y, n_fft=descriptors.N_FFT, hop_length=descriptors.HOP)
        np.testing.assert_allclose(descriptors.spectral_flatness_frames(y), flat[0], rtol=1e-3, atol=1e-6)


def test_decay_of_a_decaying_sine():
    t = np.arange(SR) / SR
    for tau in (0.02, 0.05, 0.1):
        expected = tau * np.log(100)  # exp(-t / tau) reaches -40 dB at tau ln 100
        audio = np.sin(2 * np.pi * 440 * t) * np.exp(-t / tau)
        assert descriptors.decay_seconds(audio, SR) == pytest.approx(expected, abs=0.01)


def test_sine_is_tonal_and_pitched_noise_is_neither():
    t = np.arange(SR) / SR
    noise = np.random.default_rng(9).standard_normal(SR) * 0.3
    assert descriptors.noisiness(np.sin(2 * np.pi * 440 * t)) < 1e-3
    assert descriptors.noisiness(noise) > 0.3
    for f0 in (45.0, 220.0, 1500.0):
        assert descriptors.pitch_hz(np.sin(2 * np.pi * f0 * t), SR) == pytest.approx(f0, rel=0.005)
    assert descriptors.pitch_hz(noise, SR) is None


def test_loudness_of_a_sine():
    t = np.arange(SR) / SR
    level = descriptors.loudness(0.5 * np.sin(2 * np.pi * 440 * t), SR)
    assert level["peak_db"] == pytest.approx(20 * np.log10(0.5), abs=0.01)
    assert level["crest_db"] == pytest.approx(10 * np.log10(2), abs=0.05)  # a sine's crest: 3 dB


def test_silent_and_clipped():
    t = np.arange(SR) / SR
    sine = np.sin(2 * np.pi * 100 * t)
    assert (
        curate.is_silent(np.zeros(100))
        and curate.is_silent(1e-4 * sine)
        and not curate.is_silent(0.01 * sine)
    )
    assert not curate.is_clipped(sine) and not curate.is_clipped(0.5 * sine)
    assert curate.is_clipped(np.clip(1.5 * sine, -1, 1)) and curate.is_clipped(1.01 * sine)


def test_nearest_distance(samples):
    train = curate.embeddings(samples.audio, SR)
    assert train.shape == (len(samples), curate.EMBED_DIMS)
    distance, index = curate.nearest_distance(train, train)
    np.testing.assert_allclose(distance, 0.0, atol=1e-2)
    np.testing.assert_array_equal(index, np.arange(len(samples)))
    new = curate.embeddings(np.stack([kick(SR, 1.0) * 0.9, snare(SR, 99, 1.0)]), SR)
    distance, index = curate.nearest_distance(new, train)
    brute = np.sqrt(((new[:, None, :] - train[None, :, :]) ** 2).mean(axis=2))
    np.testing.assert_allclose(distance, brute.min(axis=1), rtol=1e-5)
    assert [samples.kinds[i] for i in index] == ["kick", "snare"]
    with pytest.raises(ValueError, match="nearest_distance"):
        curate.nearest_distance(new, train[:0])


def test_split_holds_out_whole_kits(samples):
    train, validation = data.split_by_kit(samples, ["kitB"])
    kits = np.array(samples.kits)
    assert set(kits[validation]) == {"kitB"} and "kitB" not in set(kits[train])
    assert len(train) + len(validation) == len(samples)
    with pytest.raises(data.SamplerDataError, match="kitC"):
        data.split_by_kit(samples, ["kitC"])


@pytest.mark.skipif(
    not data.HYDROGEN_DRUMKITS.is_dir(),
    reason=f"Debian's hydrogen-drumkits is not installed ({data.HYDROGEN_DRUMKITS}); "
    "scripts/setup.sh installs it",
)
def test_hydrogen_kits_give_the_documented_counts():
    samples = data.load_samples(data.HYDROGEN_DRUMKITS)
    assert dict(collections.Counter(samples.kinds)) == HYDROGEN_KINDS
    assert len(data.split_by_kit(samples, data.HYDROGEN_VALIDATION_KITS)[1]) == HYDROGEN_VALIDATION_CHUNKS
