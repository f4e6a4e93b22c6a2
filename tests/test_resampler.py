"""The streaming resampler against analytic signals and against libsoxr."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from tonemorph.engine._core import Resampler

PAIRS = [(44100, 24000), (48000, 24000), (96000, 24000), (22050, 24000), (192000, 24000),
         (24000, 44100), (24000, 48000), (24000, 96000), (24000, 22050), (48000, 48000)]


def sine(rate, f, seconds=0.5, phase=0.0):
    t = np.arange(int(rate * seconds)) / rate
    return np.sin(2 * np.pi * f * t + phase)


@pytest.mark.parametrize("src,dst", PAIRS)
def test_sine_passes_with_known_delay(src, dst):
    f = 1000.0
    r = Resampler(src, dst)
    y = r.process(sine(src, f).astype(np.float32))
    delay = r.latency / src
    t = np.arange(len(y)) / dst
    expected = np.sin(2 * np.pi * f * (t - delay))
    settled = slice(int(0.05 * dst), len(y) - 10)
    assert np.abs(y[settled] - expected[settled]).max() < 2e-3


@pytest.mark.parametrize("src,dst", [(48000, 24000), (44100, 24000), (96000, 24000)])
def test_content_above_the_new_nyquist_is_removed(src, dst):
    f = 0.5 * dst + 2000.0  # would alias to dst/2 - 2000
    y = Resampler(src, dst).process(sine(src, f).astype(np.float32))
    assert np.sqrt(np.mean(y[1000:] ** 2)) < 10 ** (-60 / 20)


@pytest.mark.parametrize("src,dst", [(44100, 24000), (24000, 48000)])
def test_agrees_with_soxr_on_music_band_signal(src, dst):
    rng = np.random.default_rng(0)
    x = sum(sine(src, f, 0.5, rng.uniform(0, 6)) for f in (110, 440, 1234, 3000, 7000)) / 5
    r = Resampler(src, dst)
    ours = r.process(x.astype(np.float32)).astype(np.float64)
    ref = soxr.resample(x, src, dst, quality="VHQ")
    shift = r.latency * dst / src  # ours is causal with a fixed delay; soxr's output is aligned
    spectrum = np.fft.rfft(ref)
    k = np.arange(len(spectrum))
    ref_shifted = np.fft.irfft(spectrum * np.exp(-2j * np.pi * k * shift / len(ref)), len(ref))[: len(ours)]
    settled = slice(int(0.05 * dst), len(ours) - 200)
    error = ours[settled] - ref_shifted[settled]
    assert np.sqrt(np.mean(error**2)) / np.sqrt(np.mean(ref[settled] ** 2)) < 1e-3  # measured: 3e-5


def test_output_independent_of_block_split():
    x = np.random.default_rng(1).standard_normal(20000).astype(np.float32)
    whole = Resampler(44100, 24000).process(x)
    r = Resampler(44100, 24000)
    pieces, i = [], 0
    for n in [1, 7, 300, 1, 4096, 13] * 10:
        pieces.append(r.process(x[i : i + n]))
        i += n
    pieces.append(r.process(x[i:]))
    assert np.array_equal(np.concatenate(pieces), whole)


def test_reset_starts_over():
    x = np.random.default_rng(2).standard_normal(5000).astype(np.float32)
    r = Resampler(48000, 24000)
    first = r.process(x)
    r.reset()
    assert np.array_equal(r.process(x), first)


def test_unreasonable_rates_are_refused():
    with pytest.raises(ValueError, match="> 0"):
        Resampler(0, 24000)
    with pytest.raises(ValueError, match="too many filter phases"):
        Resampler(44101, 24000 * 7)


def level_db(y):
    return 20 * np.log10(np.sqrt(np.mean(y**2)) * np.sqrt(2))


# The engine's bands (cpp/engine/Pipeline.cpp): output flat to 0.84 of the model's Nyquist, images gone by 1.17;
# input flat to 0.6, nothing aliases.
OUTPUT_BAND, INPUT_BAND = (0.84, 1.17), (0.6, 1.0)


@pytest.mark.parametrize("src,dst", [(24000, 48000), (24000, 44100), (24000, 96000)])
def test_the_engines_output_band_keeps_10_khz_and_removes_images(src, dst):
    """10 kHz of a 24 kHz model's sound passes within 0.05 dB; its image at 14 kHz (and above) is gone."""
    r = Resampler(src, dst, *OUTPUT_BAND)
    settled = slice(int(0.1 * dst), int(0.9 * dst))
    assert abs(level_db(r.process(sine(src, 10000.0, 1.0).astype(np.float32))[settled])) < 0.05
    r.reset()
    y = r.process(sine(src, src - 14000.0, 1.0).astype(np.float32))  # 10 kHz: its first image sits at 14 kHz
    image = np.abs(np.fft.rfft(y[settled] * np.hanning(len(y[settled]))))
    freqs = np.fft.rfftfreq(len(y[settled]), 1 / dst)
    assert image[np.argmin(np.abs(freqs - 14000.0))] < 1e-4 * image.max()


@pytest.mark.parametrize("src", [44100, 48000, 96000])
def test_the_engines_input_band_keeps_what_analysis_reads(src):
    """Pitch and loudness read the band below 7.2 kHz: it passes flat; nothing above 12 kHz aliases into it."""
    r = Resampler(src, 24000, *INPUT_BAND)
    settled = slice(int(0.1 * 24000), int(0.9 * 24000))
    assert abs(level_db(r.process(sine(src, 7200.0, 1.0).astype(np.float32))[settled])) < 0.05
    for f in (12100.0, 15000.0):
        r.reset()
        assert level_db(r.process(sine(src, f, 1.0).astype(np.float32))[settled]) < -78.0


def test_a_wider_transition_is_a_shorter_filter():
    assert Resampler(24000, 48000, 0.84, 1.17).latency < 0.55 * Resampler(24000, 48000, 0.84, 1.0).latency


@pytest.mark.parametrize("band", [(0.0, 1.0), (0.9, 0.8), (0.5, 2.5), (0.99, 0.9901)])
def test_bands_outside_their_range_are_refused(band):
    with pytest.raises(ValueError, match="band"):
        Resampler(24000, 48000, *band)
