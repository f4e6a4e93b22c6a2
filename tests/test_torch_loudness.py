"""compute_loudness is DDSP's A-weighted loudness made causal (cpp/dsp/Loudness.h), and trains.

Also the multi-scale spectral loss, spectral.py's other half."""

import librosa
import numpy as np
import pytest
import torch
from tonemorph.training.spectral import SPECTRAL_LOSS_FFT_SIZES, compute_loudness, multiscale_spectral_loss

SAMPLE_RATE, HOP, N_FFT = 24000, 96, 512


def loudness_reference(audio, sample_rate, hop, n_fft):
    """librosa: frames of n_fft samples ending at (k+1) hop, periodic Hann, A-weighted mean power in dB."""
    padded = np.concatenate([np.zeros(n_fft - hop), audio])
    stft = librosa.stft(padded, n_fft=n_fft, hop_length=hop, window="hann", center=False)
    with np.errstate(divide="ignore"):  # A-weighting of 0 Hz is -inf before min_db
        a_db = librosa.A_weighting(librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft), min_db=-80.0)
    weights = 10.0 ** (a_db / 10.0)
    mean_power = (np.abs(stft) ** 2 * weights[:, None]).mean(axis=0)
    return np.maximum(librosa.power_to_db(mean_power, ref=1.0, amin=1e-8, top_db=None), -80.0)


def make_signal(seconds=0.5, seed=0):
    """Silence, a loud chord, a quiet noise, a DC step, a decaying tone: spans the whole -80 .. 0 dB range."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    fifth = n // 5
    t = np.arange(n - 4 * fifth) / SAMPLE_RATE
    audio = np.zeros(n)
    audio[fifth : 2 * fifth] = 0.5 * np.sin(2 * np.pi * 440 * t[:fifth]) + 0.3 * np.sin(
        2 * np.pi * 3300 * t[:fifth]
    )
    audio[2 * fifth : 3 * fifth] = 1e-3 * rng.uniform(-1, 1, fifth)
    audio[3 * fifth : 4 * fifth] = 0.5  # weighted by the -80 dB floor of A(0 Hz)
    audio[4 * fifth :] = np.sin(2 * np.pi * 90 * t) * np.exp(-30 * t)
    return audio


def test_loudness_matches_librosa_reference():
    audio = np.stack([make_signal(seed=0), 0.1 * make_signal(seed=1)])
    loudness = compute_loudness(torch.tensor(audio, dtype=torch.float32), SAMPLE_RATE, HOP, n_fft=N_FFT)
    assert loudness.shape == (2, audio.shape[1] // HOP)
    for b in range(2):
        expected = loudness_reference(audio[b], SAMPLE_RATE, HOP, N_FFT)
        assert expected.min() == -80.0 and expected.max() > -10.0  # the signal spans the range
        # measured: at most 4.4e-6 dB (float32 rounding)
        np.testing.assert_allclose(loudness[b].numpy(), expected, rtol=0, atol=1e-4)


def test_frame_count_is_samples_over_hop():
    for n in (HOP - 1, HOP, 5 * HOP + 17, N_FFT + 3):
        assert compute_loudness(torch.zeros(3, n), SAMPLE_RATE, HOP).shape == (3, n // HOP)


def test_frame_k_sees_only_the_n_fft_samples_ending_at_its_hop():
    audio = torch.tensor(make_signal(), dtype=torch.float32)[None]
    base = compute_loudness(audio, SAMPLE_RATE, HOP)
    sample = 40 * HOP + 5
    poked = audio.clone()
    poked[0, sample] += 0.5
    changed = (compute_loudness(poked, SAMPLE_RATE, HOP) != base)[0].nonzero().flatten().tolist()
    containing = [k for k in range(base.shape[1]) if (k + 1) * HOP - N_FFT <= sample < (k + 1) * HOP]
    assert containing == [40, 41, 42, 43, 44]
    assert changed == containing


def test_doubling_the_amplitude_adds_6_02_db():
    audio = torch.tensor(make_signal(), dtype=torch.float32)[None]
    quiet = compute_loudness(audio, SAMPLE_RATE, HOP)
    loud = compute_loudness(2.0 * audio, SAMPLE_RATE, HOP)
    above_floor = (quiet > -70.0) & (loud > -70.0)
    assert above_floor.sum() > 50
    np.testing.assert_allclose((loud - quiet)[above_floor].numpy(), 20 * np.log10(2.0), atol=1e-3)


def test_silence_is_the_floor_and_ref_db_shifts():
    audio = torch.tensor(make_signal(), dtype=torch.float32)[None]
    silence = torch.zeros(1, 4800)
    assert torch.all(compute_loudness(silence, SAMPLE_RATE, HOP) == -80.0)
    assert torch.all(compute_loudness(silence, SAMPLE_RATE, HOP, ref_db=10.0) == -80.0)
    assert torch.all(compute_loudness(silence, SAMPLE_RATE, HOP, range_db=60.0) == -60.0)
    # DDSP's power_to_db: the power floor 10^(-range/10) comes before ref_db, the dB floor after.
    assert torch.all(compute_loudness(silence, SAMPLE_RATE, HOP, range_db=60.0, ref_db=-10.0) == -50.0)
    plain = compute_loudness(audio, SAMPLE_RATE, HOP)
    shifted = compute_loudness(audio, SAMPLE_RATE, HOP, ref_db=10.0)
    loud = plain > -60.0
    np.testing.assert_allclose((plain - shifted)[loud].numpy(), 10.0, atol=1e-4)


def test_loudness_gradient_flows_to_the_audio():
    audio = torch.tensor(make_signal(), dtype=torch.float32)[None].requires_grad_(True)
    compute_loudness(audio, SAMPLE_RATE, HOP).mean().backward()
    grad = audio.grad[0]
    assert torch.isfinite(grad).all()
    fifth = audio.shape[1] // 5
    assert grad[fifth : 2 * fifth].abs().max() > 0  # the loud part moves the loudness
    assert torch.all(grad[: fifth - N_FFT] == 0)  # silence at the floor has no gradient


@pytest.mark.parametrize("n_fft, hop", [(512, 96), (256, 64), (64, 96)])
def test_batch_rows_are_independent(n_fft, hop):
    audio = torch.tensor(
        np.stack([make_signal(seed=2), make_signal(seed=3)[::-1].copy()]), dtype=torch.float32
    )
    batched = compute_loudness(audio, SAMPLE_RATE, hop, n_fft=n_fft)
    for b in range(2):
        single = compute_loudness(audio[b : b + 1], SAMPLE_RATE, hop, n_fft=n_fft)
        torch.testing.assert_close(batched[b : b + 1], single)


def spectral_loss_reference(pred, target, fft_sizes):
    """DDSP's SpectralLoss(mag_weight=1, logmag_weight=1) in numpy: 75 % overlap, end padded, periodic Hann."""

    def magnitudes(x, n_fft):
        hop = n_fft // 4
        n_frames = -(-x.shape[-1] // hop)
        x = np.pad(x, [(0, 0), (0, (n_frames - 1) * hop + n_fft - x.shape[-1])])
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
        frames = np.stack([x[:, i * hop : i * hop + n_fft] * window for i in range(n_frames)], axis=1)
        return np.abs(np.fft.rfft(frames, axis=-1))

    loss = 0.0
    for n_fft in fft_sizes:
        p, t = magnitudes(pred, n_fft), magnitudes(target, n_fft)
        loss += np.mean(np.abs(t - p))
        loss += np.mean(np.abs(np.log(np.maximum(t, 1e-5)) - np.log(np.maximum(p, 1e-5))))
    return loss


def test_multiscale_spectral_loss_matches_ddsp_definition_and_trains():
    target = torch.tensor(np.stack([make_signal(0.2, seed=4), make_signal(0.2, seed=5)]), dtype=torch.float32)
    pred = 0.7 * target + 0.01 * torch.randn(target.shape, generator=torch.Generator().manual_seed(6))
    pred.requires_grad_(True)
    loss = multiscale_spectral_loss(pred, target)
    expected = spectral_loss_reference(
        pred.detach().double().numpy(), target.double().numpy(), SPECTRAL_LOSS_FFT_SIZES
    )
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    assert multiscale_spectral_loss(target, target).item() == 0.0
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().max() > 0
