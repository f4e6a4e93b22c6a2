"""Parity: the same numbers from torch (training), ONNX Runtime from Python, and the C++ engine.

Tolerances: decoder outputs 1e-4 (absolute; native runner vs ONNX Runtime 1e-5), synth audio 1e-4 (absolute).
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from model_fixtures import random_ddsp
from tonemorph.engine import _core as core
from tonemorph.engine import load_model
from tonemorph.training.spectral import compute_loudness
from tonemorph.training.synths import filtered_noise, harmonic_amplitudes, harmonic_synth, reverb

FRAMES = 120


def controls(frames, seed=0):
    rng = np.random.default_rng(seed)
    f0 = 220.0 * 2 ** (np.cumsum(rng.normal(0, 0.02, frames)))  # a wandering melody line
    f0[40:50] = 5000.0  # harmonics above Nyquist must vanish in both
    loudness = -60.0 + 50.0 * rng.uniform(0, 1, frames)
    return f0.astype(np.float32), loudness.astype(np.float32)


def test_decoder_torch_onnxruntime_and_cpp_agree(random_model_path):
    decoder = random_ddsp().decoder.eval()  # the weights random_model_path was exported from
    f0, loudness = controls(FRAMES)

    with torch.no_grad():
        amp_t, dist_t, noise_t, _ = decoder(torch.from_numpy(f0)[None, :, None], torch.from_numpy(loudness)[None, :, None])
    torch_out = [amp_t[0, :, 0].numpy(), dist_t[0].numpy(), noise_t[0].numpy()]

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(random_model_path), options, providers=["CPUExecutionProvider"])
    state = np.zeros((1, 1, 32), dtype=np.float32)
    ort_frames = []
    for k in range(FRAMES):
        amp, dist, noise, state = session.run(
            None, {"f0_hz": f0[None, k : k + 1, None], "loudness_db": loudness[None, k : k + 1, None], "state": state})
        ort_frames.append((amp[0, 0, 0], dist[0, 0], noise[0, 0]))
    ort_out = [np.array([f[i] for f in ort_frames]) for i in range(3)]

    cpp = core.Decoder(load_model(random_model_path, weights="float32")).run(f0, loudness)
    cpp_out = [cpp["amplitude"], cpp["harmonic_distribution"], cpp["noise_magnitudes"]]

    for t, o, c in zip(torch_out, ort_out, cpp_out):
        assert np.abs(t - o).max() <= 1e-4
        assert np.abs(t - c).max() <= 1e-4
        assert np.abs(o - c).max() <= 1e-5  # the native runner, float32 weights: within rounding


@pytest.mark.parametrize("sample_rate,hop,harmonics", [(24000, 96, 60), (48000, 192, 100), (16000, 64, 30)])
def test_harmonic_synth_torch_vs_cpp(sample_rate, hop, harmonics):
    f0, loudness = controls(FRAMES, seed=1)
    rng = np.random.default_rng(2)
    amplitude = (10 ** ((loudness + 10) / 40)).astype(np.float32) * 0.1
    distribution = rng.uniform(0, 1, (FRAMES, harmonics)).astype(np.float32)
    expected = harmonic_synth(torch.from_numpy(f0)[None], torch.from_numpy(amplitude)[None],
                              torch.from_numpy(distribution)[None], sample_rate, hop)[0].numpy()
    got = core.HarmonicSynth(sample_rate, hop, harmonics).process(f0, amplitude, distribution)
    assert np.abs(expected - got).max() <= 1e-4
    assert np.abs(got).max() > 0.01


def test_harmonic_amplitudes_match_the_engines_masking():
    f0 = torch.tensor([[100.0, 5000.0]])
    amps = harmonic_amplitudes(f0, torch.ones(1, 2), torch.ones(1, 2, 5), 24000)
    assert torch.allclose(amps[0, 0], torch.full((5,), 0.2))
    assert torch.allclose(amps[0, 1], torch.tensor([0.5, 0.5, 0.0, 0.0, 0.0]))  # 15 kHz and up are gone


def test_filtered_noise_torch_vs_cpp():
    hop, bands = 96, 65
    rng = np.random.default_rng(3)
    mags = rng.uniform(0, 0.1, (FRAMES, bands)).astype(np.float32)
    noise = rng.uniform(-1, 1, FRAMES * hop).astype(np.float32)
    expected = filtered_noise(torch.from_numpy(mags)[None], hop, torch.from_numpy(noise)[None])[0].numpy()
    got = core.FilteredNoise(hop, bands).process(mags, noise)
    assert np.abs(expected - got).max() <= 1e-4


def test_reverb_torch_vs_cpp():
    hop = 96
    rng = np.random.default_rng(4)
    ir = (rng.normal(0, 0.05, 6000) * np.exp(-np.arange(6000) / 1500)).astype(np.float32)
    ir[0] = 0.0
    x = rng.normal(0, 0.2, 50 * hop).astype(np.float32)
    expected = reverb(torch.from_numpy(x)[None], torch.from_numpy(ir))[0].numpy()
    got = x + core.Reverb(ir, hop).process(x)
    assert np.abs(expected - got).max() <= 1e-4


@pytest.mark.parametrize("n_fft", [512, 1024])
def test_loudness_torch_vs_cpp(n_fft):
    sr, hop = 24000, 96
    rng = np.random.default_rng(5)
    t = np.arange(sr * 2) / sr
    x = (np.sin(2 * np.pi * 330 * t) * np.linspace(0, 1, len(t)) + rng.normal(0, 0.01, len(t))).astype(np.float32)
    x[: sr // 4] = 0.0
    expected = compute_loudness(torch.from_numpy(x)[None], sr, hop, n_fft=n_fft)[0].numpy()
    got = core.Loudness(sr, hop, n_fft).process(x)
    assert expected.shape == got.shape
    assert np.abs(expected - got).max() <= 0.5
