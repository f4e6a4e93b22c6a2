"""The torch synths compute what docs/model-format.md says, checked against numpy written from the contract."""

import math

import numpy as np
import pytest
import torch
from tonemorph.training.models import DDSP, Decoder
from tonemorph.training.synths import exp_sigmoid, filtered_noise, harmonic_synth, reverb


def harmonic_reference(f0, amplitude, distribution, sample_rate, hop):
    """One batch item, sample by sample, float64, straight from the contract."""
    n_frames, n_harmonics = distribution.shape
    numbers = np.arange(1, n_harmonics + 1)
    nyquist = sample_rate / 2.0
    out = np.zeros(n_frames * hop)
    phase = 0.0
    prev_f0, prev_a = f0[0], np.zeros(n_harmonics)
    for k in range(n_frames):
        d = np.where(numbers * f0[k] < nyquist, distribution[k], 0.0)
        a = amplitude[k] * d / max(d.sum(), 1e-7)
        for n in range(hop):
            alpha = n / hop
            f = prev_f0 + alpha * (f0[k] - prev_f0)
            phase = (phase + 2.0 * np.pi * f / sample_rate) % (2.0 * np.pi)
            a_n = np.where(numbers * f < nyquist, prev_a + alpha * (a - prev_a), 0.0)
            out[k * hop + n] = np.sum(a_n * np.sin(numbers * phase))
        prev_f0, prev_a = f0[k], a
    return out


def filtered_noise_reference(magnitudes, noise, hop):
    """One batch item: each hop's noise convolved with its frame's windowed linear-phase FIR, overlap-added."""
    n_frames, n_bands = magnitudes.shape
    n_taps = 2 * (n_bands - 1)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_taps) / n_taps)
    out = np.zeros(n_frames * hop + hop + n_taps)
    for k in range(n_frames):
        h = np.roll(np.fft.irfft(magnitudes[k], n_taps), n_bands - 1) * window
        out[k * hop : k * hop + hop + n_taps - 1] += np.convolve(noise[k * hop : (k + 1) * hop], h)
    return out[: n_frames * hop]


def constant_frames(value, n_frames):
    return torch.full((1, n_frames), float(value))


def test_harmonic_spectrum_matches_requested_amplitudes():
    sample_rate, hop, n_harmonics, f0 = 24000, 96, 60, 375.0  # 4800 samples hold exactly 75 periods
    n_fft, n_frames = 4800, 1 + 4800 // 96
    distribution = torch.rand(1, 1, n_harmonics, generator=torch.Generator().manual_seed(1)) + 0.1
    audio = harmonic_synth(
        constant_frames(f0, n_frames),
        constant_frames(0.5, n_frames),
        distribution.expand(1, n_frames, n_harmonics),
        sample_rate,
        hop,
    )
    steady = audio[0, hop : hop + n_fft].double().numpy()  # hop 0 fades in from the silent frame -1
    measured = np.abs(np.fft.rfft(steady)) * 2.0 / n_fft

    valid = int(np.ceil(sample_rate / 2 / f0)) - 1  # (i+1) f0 < Nyquist: harmonics 1 .. 31
    d = distribution[0, 0, :valid].double().numpy()
    expected = 0.5 * d / d.sum()
    bins = 75 * np.arange(1, valid + 1)
    np.testing.assert_allclose(measured[bins], expected, atol=1e-5)
    others = np.delete(measured, bins)
    assert others.max() < 1e-5


def test_harmonic_synth_puts_nothing_above_nyquist():
    # 2400 samples hold 210 periods of 2100 Hz; harmonics >= 6 would alias to bins off the 210-bin grid.
    sample_rate, hop, n_harmonics, f0 = 24000, 96, 60, 2100.0
    n_fft, n_frames = 2400, 1 + 2400 // 96
    audio = harmonic_synth(
        constant_frames(f0, n_frames),
        constant_frames(1.0, n_frames),
        torch.ones(1, n_frames, n_harmonics),
        sample_rate,
        hop,
    )
    spectrum = np.abs(np.fft.rfft(audio[0, hop : hop + n_fft].double().numpy())) ** 2
    harmonic_bins = 210 * np.arange(1, 6)
    off_grid = np.delete(spectrum, harmonic_bins).sum() / spectrum.sum()
    assert off_grid < 1e-10
    np.testing.assert_allclose(np.sqrt(spectrum[harmonic_bins]) * 2 / n_fft, 0.2, atol=1e-5)


def test_harmonic_phase_is_continuous_across_frames():
    sample_rate, hop, f0, n_frames = 16000, 64, 440.0, 200
    audio = (
        harmonic_synth(
            constant_frames(f0, n_frames),
            constant_frames(1.0, n_frames),
            torch.ones(1, n_frames, 1),
            sample_rate,
            hop,
        )[0]
        .double()
        .numpy()
    )
    n = np.arange(n_frames * hop)
    fade_in = np.minimum(n / hop, 1.0)  # frame -1 is silent, frame 0 full
    expected = fade_in * np.sin(2.0 * np.pi * f0 * (n + 1) / sample_rate)
    np.testing.assert_allclose(audio, expected, atol=2e-6)


def test_harmonic_synth_matches_sample_loop_through_glides_jumps_and_nyquist():
    sample_rate, hop, n_harmonics, n_frames = 16000, 32, 8, 48
    generator = torch.Generator().manual_seed(2)
    f0 = torch.cat(
        [
            torch.linspace(220.0, 2600.0, 16),  # harmonics 4..8 cross Nyquist mid-hop
            torch.full((8,), 0.0),  # unvoiced
            300.0 + 40.0 * torch.sin(torch.arange(16.0)),  # vibrato
            torch.tensor(
                [5000.0, 8000.0, 9000.0, 120.0, 4000.0, 4000.0, 7999.0, 60.0]
            ),  # jumps, at/above Nyquist
        ]
    )
    f0 = torch.stack([f0, f0.flip(0)])
    amplitude = torch.rand(2, n_frames, generator=generator)
    distribution = torch.rand(2, n_frames, n_harmonics, generator=generator)
    audio = harmonic_synth(f0, amplitude, distribution, sample_rate, hop)
    assert audio.shape == (2, n_frames * hop)
    for b in range(2):
        expected = harmonic_reference(
            f0[b].double().numpy(),
            amplitude[b].double().numpy(),
            distribution[b].double().numpy(),
            sample_rate,
            hop,
        )
        np.testing.assert_allclose(audio[b].double().numpy(), expected, atol=2e-6)


@pytest.mark.parametrize("hop, n_bands", [(8, 9), (32, 9), (96, 65)])
def test_filtered_noise_matches_numpy_overlap_add(hop, n_bands):
    generator = torch.Generator().manual_seed(hop)
    n_frames = 12
    magnitudes = torch.rand(2, n_frames, n_bands, generator=generator)
    noise = torch.rand(2, n_frames * hop, generator=generator) * 2.0 - 1.0
    out = filtered_noise(magnitudes, hop, noise)
    assert out.shape == (2, n_frames * hop)
    for b in range(2):
        expected = filtered_noise_reference(magnitudes[b].double().numpy(), noise[b].double().numpy(), hop)
        np.testing.assert_allclose(out[b].double().numpy(), expected, atol=1e-5)


def test_filtered_noise_flat_bands_delay_noise_by_half_the_filter():
    hop, n_bands, n_frames = 16, 9, 10
    noise = torch.rand(1, n_frames * hop, generator=torch.Generator().manual_seed(3)) * 2.0 - 1.0
    out = filtered_noise(torch.ones(1, n_frames, n_bands), hop, noise)
    delay = n_bands - 1
    np.testing.assert_allclose(out[0, :delay].numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(out[0, delay:].numpy(), noise[0, :-delay].numpy(), atol=1e-6)


def test_filtered_noise_draws_uniform_noise_when_none_given():
    hop, n_bands, n_frames = 64, 9, 400
    torch.manual_seed(4)
    first = filtered_noise(torch.ones(2, n_frames, n_bands), hop)[:, n_bands - 1 :]
    second = filtered_noise(torch.ones(2, n_frames, n_bands), hop)[:, n_bands - 1 :]
    assert first.min() >= -1.0 and first.max() < 1.0
    assert abs(first.mean().item()) < 0.02
    assert first.var().item() == pytest.approx(1.0 / 3.0, abs=0.01)
    assert not torch.equal(first, second)


@pytest.mark.parametrize("ir_length", [1, 300, 800])
def test_reverb_adds_convolution_to_the_dry_signal(ir_length):
    generator = torch.Generator().manual_seed(ir_length)
    audio = torch.randn(2, 500, generator=generator)
    ir = torch.randn(ir_length, generator=generator) * 0.1
    out = reverb(audio, ir)
    assert out.shape == audio.shape
    for b in range(2):
        x = audio[b].double().numpy()
        expected = x + np.convolve(x, ir.double().numpy())[:500]
        np.testing.assert_allclose(out[b].double().numpy(), expected, atol=1e-5)


def test_exp_sigmoid_is_ddsps_scaled_sigmoid():
    x = torch.linspace(-20.0, 20.0, 101, dtype=torch.float64)
    expected = 2.0 / (1.0 + np.exp(-x.numpy())) ** math.log(10.0) + 1e-7
    np.testing.assert_allclose(exp_sigmoid(x).numpy(), expected, rtol=1e-12)
    assert exp_sigmoid(torch.tensor(-200.0)).item() == pytest.approx(1e-7)


def test_ddsp_renders_hop_samples_per_frame_and_trains_every_part():
    torch.manual_seed(5)
    decoder = Decoder(
        n_harmonics=8,
        n_noise_bands=9,
        hidden=16,
        sample_rate=16000,
        hop=64,
        loudness_mean=-40.0,
        loudness_std=20.0,
    )
    model = DDSP(decoder, reverb_seconds=0.05)
    assert model.reverb_ir().shape == (800,)
    f0 = torch.full((2, 20), 220.0)
    loudness = torch.full((2, 20), -30.0)
    audio = model(f0, loudness)
    assert audio.shape == (2, 20 * 64)
    assert torch.isfinite(audio).all() and audio.abs().max() > 0
    audio.square().mean().backward()
    assert model.reverb_ir_raw.grad[0] == 0  # the dry tap is not a parameter of the sound
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
