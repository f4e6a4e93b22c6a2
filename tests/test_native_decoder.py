"""The native decoder runner (cpp/engine/NativeGraph) against ONNX Runtime and torch.

Float32 weights: the native runner and ONNX Runtime compute the same graph in float32 with different
summation orders. Over minutes of state carried frame to frame on the shipped models, 99.9 % of all values
agree within 1e-5 (measured: at most 4.3e-6), amplitude and noise everywhere within 1e-6; the harmonic
distribution (values up to 2) differs by up to 7.3e-5 at a few ill-conditioned frames, where ONNX Runtime
itself is as far from a float64 torch reference (violin: ONNX Runtime 3.6e-5 off, the native runner 4.4e-5;
trumpet 2.6e-5 and 2.0e-5). So the tests hold the native runner to 1e-5 on 99.9 % of values and to ONNX
Runtime's own distance from float64, within a factor of two, everywhere.

Int8 weights (the engine's default): each matrix row is stored as int8 times one scale, a rounding of at
most half a step (0.4 % of the row's largest weight). Measured against float64 over the same melodies, worst
of the four models: the harmonic distribution (values up to 2) moves by at most 0.064 (violin), amplitude
and noise by at most 6.2e-4; on average by at most 1 % of each output's spread (trumpet amplitude 0.95 %).
Through the whole engine the quality numbers of int8 and float32 differ by at most 0.002 (README, "CPU").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tonemorph.engine import Engine, load_model
from tonemorph.engine import _core as core
from tonemorph.training.export import export_onnx
from tonemorph.training.models import Decoder
from tonemorph.training.train import load_checkpoint, model_from_checkpoint

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
FRAME_RATE = 250  # the shipped models: 24 kHz, hop 96
OUTPUTS = ("amplitude", "harmonic_distribution", "noise_magnitudes")
SHIPPED = ("trumpet", "violin", "flute", "saxophone")


def melody(frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Controls a player makes: notes over four octaves with vibrato, attacks and decays, rests at -80 dB."""
    rng = np.random.default_rng(seed)
    f0 = np.zeros(frames, np.float32)
    loudness = np.full(frames, -80.0, np.float32)
    i = 0
    while i < frames:
        n = min(int(rng.integers(20, 150)), frames - i)
        if rng.random() >= 0.2:
            t = np.arange(n)
            note = 440.0 * 2 ** ((rng.integers(45, 85) - 69) / 12)
            f0[i : i + n] = note * 2 ** (0.3 * np.sin(2 * np.pi * 5.5 * t / FRAME_RATE) / 12)
            loudness[i : i + n] = rng.uniform(-50, -15) + 10 * np.exp(-t / 30) - 0.05 * t
        i += n
    return f0, loudness


def float64_reference(name: str, f0: np.ndarray, loudness: np.ndarray) -> dict[str, np.ndarray]:
    decoder = model_from_checkpoint(load_checkpoint(MODELS_DIR / f"{name}.pt")).decoder.double().eval()
    state = torch.zeros(decoder.gru_layers, 1, decoder.hidden, dtype=torch.float64)
    with torch.no_grad():
        out = decoder(torch.from_numpy(f0.astype(np.float64))[None, :, None],
                      torch.from_numpy(loudness.astype(np.float64))[None, :, None], state)
    return {"amplitude": out[0][0, :, 0].numpy(), "harmonic_distribution": out[1][0].numpy(),
            "noise_magnitudes": out[2][0].numpy()}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_run_natively(name):
    model = load_model(MODELS_DIR / f"{name}.onnx")
    assert model.native, model.runner
    assert model.runner.startswith("native (int8 weights")


@pytest.fixture(scope="module", params=SHIPPED)
def long_run(request):
    """Each shipped model over a long melody (two minutes for the trumpet, the default; 40 s for the others)
    through ONNX Runtime, the native runner at float32 and at int8, and torch in float64."""
    name = request.param
    f0, loudness = melody(120 * FRAME_RATE if name == "trumpet" else 40 * FRAME_RATE, seed=1)
    path = MODELS_DIR / f"{name}.onnx"
    float32 = load_model(path, weights="float32")
    return {"name": name,
            "onnxruntime": core.Decoder(float32, "onnxruntime").run(f0, loudness),
            "float32": core.Decoder(float32, "native").run(f0, loudness),
            "int8": core.Decoder(load_model(path, weights="int8"), "native").run(f0, loudness),
            "float64": float64_reference(name, f0, loudness)}


def test_float32_native_agrees_with_onnxruntime_over_minutes_of_state(long_run):
    for key in OUTPUTS:
        native, reference = long_run["float32"][key], long_run["onnxruntime"][key]
        difference = np.abs(native - reference)
        assert np.quantile(difference, 0.999) <= 1e-5, key
        assert difference.max() <= (2e-4 if key == "harmonic_distribution" else 1e-6), key


def test_float32_native_is_as_close_to_float64_as_onnxruntime(long_run):
    for key in OUTPUTS:
        truth = long_run["float64"][key]
        native = np.abs(long_run["float32"][key] - truth).max()
        ort = np.abs(long_run["onnxruntime"][key] - truth).max()
        assert native <= 2 * ort + 1e-7, f"{key}: native {native:.2e}, ONNX Runtime {ort:.2e}"


def test_int8_native_stays_within_its_stated_tolerance(long_run):
    bounds = {"amplitude": 1e-3, "harmonic_distribution": 0.1, "noise_magnitudes": 1e-3}
    for key in OUTPUTS:
        error = np.abs(long_run["int8"][key] - long_run["float64"][key])
        assert error.max() <= bounds[key], f"{key}: {error.max():.2e}"
        # and it is a rounding, not a different model: far closer to the truth than the outputs' own spread
        assert error.mean() <= 0.02 * long_run["float64"][key].std(), key


# Decoders of other shapes than the shipped ones, through the real exporter: what the runner must plan
# (a 2- and 3-layer GRU slices its state; one MLP layer; small sizes).
VARIANTS = {
    "two_layer_gru": {"hidden": 48, "gru_layers": 2, "mlp_layers": 1},
    "three_layer_gru": {"hidden": 16, "gru_layers": 3, "mlp_layers": 2, "n_harmonics": 20, "n_noise_bands": 17},
    "wide": {"hidden": 96, "gru_layers": 1, "mlp_layers": 3, "n_harmonics": 100, "n_noise_bands": 129},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_decoder_variants_run_natively_and_agree(variant, tmp_path):
    torch.manual_seed(3)
    path = tmp_path / f"{variant}.onnx"
    export_onnx(Decoder(loudness_mean=-40.0, loudness_std=15.0, **VARIANTS[variant]), path, name=variant, version=1,
                f0_range=(80.0, 1000.0))
    model = load_model(path, weights="float32")
    assert model.native, model.runner
    f0, loudness = melody(600, seed=4)
    ort = core.Decoder(model, "onnxruntime").run(f0, loudness)
    native = core.Decoder(model, "native").run(f0, loudness)
    for key in OUTPUTS:
        assert np.abs(native[key] - ort[key]).max() <= 1e-5, key


def test_an_unknown_operator_runs_in_onnxruntime_and_says_so(worker_model_path):
    model = load_model(worker_model_path)
    assert not model.native
    assert "ONNX Runtime on a worker thread" in model.runner and "Erf" in model.runner


def test_the_worker_path_waits_offline_and_matches_the_native_sound(worker_model_path, random_model_path):
    """Offline, a worker-decoded model gives the same samples as the same weights decoded natively, shifted by
    the worker's extra block of latency: nothing is late, nothing held."""
    sr, block = 48000, 256
    t = np.arange(sr) / sr
    x = (0.3 * np.sin(2 * np.pi * 220 * t) * (t > 0.1)).astype(np.float32)
    outputs, latencies = [], []
    for path in (worker_model_path, random_model_path):
        engine = Engine(load_model(path, weights="float32"), realtime=False)
        engine.prepare(sr, block, 1)
        outputs.append(np.concatenate([engine.process(x[i : i + block]) for i in range(0, len(x), block)]))
        latencies.append(engine.latency_samples())
        assert engine.status["overruns"] == 0
    assert latencies[0] == latencies[1] + block  # the worker needs one host block in hand
    shift = latencies[0] - latencies[1]
    worker, native = outputs[0][shift:], outputs[1][: len(outputs[0]) - shift]
    assert np.abs(native).max() > 0.01
    assert np.abs(worker - native).max() <= 1e-4


@pytest.mark.parametrize("family", ["avx512vnni", "avx512", "avx2", "portable"])
def test_every_kernel_family_computes_the_same(family, random_model_path):
    """The kernels this CPU does not pick by itself (older CPUs and other machines run them) against the one it
    picks: float32 within rounding, int8 the same integers (exactly, but for the float32 outside the products)."""
    f0, loudness = melody(300, seed=5)
    best = core.matrix_kernels()
    outputs = {}
    try:
        for name in (best, family):
            if not core.use_matrix_kernels(name):
                pytest.skip(f"this CPU has no {name}")
            outputs[name] = {w: core.Decoder(load_model(MODELS_DIR / "trumpet.onnx", weights=w), "native").run(f0, loudness)
                             for w in ("float32", "int8")}
    finally:
        core.use_matrix_kernels(best)
    for key in OUTPUTS:
        assert np.abs(outputs[family]["float32"][key] - outputs[best]["float32"][key]).max() <= 1e-5, key
        assert np.abs(outputs[family]["int8"][key] - outputs[best]["int8"][key]).max() <= 1e-3, key
