"""Export a trained decoder to the one-file tonemorph instrument (docs/model-format.md), and read it back.

The file is written to a temporary name beside `path`, checked against torch in ONNX Runtime, and only then
renamed into place: a file at `path` is always a complete, validated model.
"""

from __future__ import annotations

import base64
import copy
import math
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch

from tonemorph.atomic import atomic_path

from .models import DDSP, Decoder
from .spectral import LOUDNESS_N_FFT

TONEMORPH_FORMAT = 1
OPSET_VERSION = 17
INPUT_NAMES = ("f0_hz", "loudness_db", "state")
OUTPUT_NAMES = ("amplitude", "harmonic_distribution", "noise_magnitudes", "state_out")
FRAME_AXIS = "T"
VALIDATION_TOLERANCE = 1e-4
VALIDATION_FRAMES = 50
VALIDATION_SEED = 0
VALIDATION_UNVOICED_FRACTION = 0.1

METADATA_TYPES = {
    "tonemorph_format": int,
    "name": str,
    "version": int,
    "sample_rate": int,
    "hop_size": int,
    "n_harmonics": int,
    "n_noise_bands": int,
    "loudness_n_fft": int,
    "loudness_mean": float,
    "loudness_std": float,
    "f0_min_hz": float,
    "f0_max_hz": float,
    "reverb_ir": np.ndarray,
    "description": str,
}


class ExportValidationError(RuntimeError):
    """The exported graph does not compute what the torch decoder computes."""


def encode_ir(ir: np.ndarray) -> str:
    """float32 little-endian bytes, base64."""
    return base64.b64encode(np.asarray(ir, dtype="<f4").tobytes()).decode("ascii")


def decode_ir(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)


def read_metadata(path: str | os.PathLike) -> dict:
    """A model file's metadata_props with typed values (ints, floats, str, reverb_ir as float32 array).

    Keys outside the contract are returned as strings. Raises ValueError for a file without tonemorph_format.
    """
    props = {p.key: p.value for p in onnx.load(os.fspath(path), load_external_data=False).metadata_props}
    if "tonemorph_format" not in props:
        raise ValueError(f"{path}: not a tonemorph model (no tonemorph_format in metadata_props)")
    typed: dict = {}
    for key, value in props.items():
        kind = METADATA_TYPES.get(key, str)
        typed[key] = decode_ir(value) if kind is np.ndarray else kind(value)
    return typed


def random_controls(
    decoder: Decoder, f0_range: tuple[float, float], frames: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """f0 [1, frames, 1] log-uniform in f0_range with some unvoiced (0 Hz) frames; loudness ~ N(mean, std)."""
    generator = torch.Generator().manual_seed(seed)
    log_min, log_max = math.log(f0_range[0]), math.log(f0_range[1])
    f0 = torch.exp(log_min + (log_max - log_min) * torch.rand(1, frames, 1, generator=generator))
    f0 = torch.where(torch.rand(1, frames, 1, generator=generator) < VALIDATION_UNVOICED_FRACTION, 0.0, f0)
    loudness = decoder.loudness_mean + decoder.loudness_std * torch.randn(1, frames, 1, generator=generator)
    return f0, loudness


def max_difference_to_torch(decoder: Decoder, path: str, f0_range: tuple[float, float]) -> float:
    """Max abs difference over all outputs between ORT (1 thread) and torch: frame by frame with the state
    carried over VALIDATION_FRAMES frames, and one call with T = VALIDATION_FRAMES."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    f0, loudness = random_controls(decoder, f0_range, VALIDATION_FRAMES, VALIDATION_SEED)

    def run_both(f0_chunk: torch.Tensor, loudness_chunk: torch.Tensor, state: torch.Tensor):
        expected = decoder(f0_chunk, loudness_chunk, state)
        feeds = dict(zip(INPUT_NAMES, (f0_chunk.numpy(), loudness_chunk.numpy(), state.numpy())))
        got = session.run(list(OUTPUT_NAMES), feeds)
        if any(g.shape != tuple(e.shape) for g, e in zip(got, expected)):
            raise ExportValidationError(
                f"output shapes differ: ORT {[g.shape for g in got]}, torch {[tuple(e.shape) for e in expected]}"
            )
        diff = max(float(np.max(np.abs(g - e.numpy()), initial=0.0)) for g, e in zip(got, expected))
        return diff, expected[-1]

    worst = 0.0
    state = decoder.initial_state()
    for k in range(VALIDATION_FRAMES):
        diff, state = run_both(f0[:, k : k + 1], loudness[:, k : k + 1], state)
        worst = max(worst, diff)
    diff, _ = run_both(f0, loudness, decoder.initial_state())
    return max(worst, diff)


def write_graph(decoder: Decoder, path: str, f0_range: tuple[float, float]) -> None:
    """Trace the decoder (CPU, eval) into an ONNX graph with the contract's names, T dynamic, fp32."""
    example = (*random_controls(decoder, f0_range, 3, VALIDATION_SEED), decoder.initial_state())
    frame_axis = {1: FRAME_AXIS}
    with warnings.catch_warnings():
        # Expected here: the GRU state is a graph input (what the batch-size warning asks for), nn.GRU's shape
        # checks are traced as constants, and the TorchScript exporter and its deprecated parts are chosen on
        # purpose (torch 2.13's dynamo exporter gave correct graphs only for a fixed T = 1).
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"torch\.nn\.modules\.rnn")
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        torch.onnx.export(
            decoder,
            example,
            path,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={n: frame_axis for n in INPUT_NAMES[:2] + OUTPUT_NAMES[:3]},
            opset_version=OPSET_VERSION,
            dynamo=False,
            do_constant_folding=True,
        )


def export_onnx(
    model: DDSP | Decoder,
    path: str | os.PathLike,
    *,
    name: str,
    version: int,
    f0_range: tuple[float, float],
    loudness_n_fft: int = LOUDNESS_N_FFT,
    description: str = "",
) -> float:
    """Write `model` as a tonemorph instrument at `path`; returns the max abs ORT-vs-torch difference found.

    model: a DDSP (its reverb IR goes into the file) or a bare Decoder (the file gets a silent one-tap IR).
    f0_range: (f0_min_hz, f0_max_hz) seen in training. Raises ExportValidationError, leaving `path` untouched
    and no temporary file behind, if ONNX Runtime and torch differ by more than VALIDATION_TOLERANCE.
    """
    if isinstance(model, DDSP):
        decoder, ir = model.decoder, model.reverb_ir().detach().cpu().numpy()
    elif isinstance(model, Decoder):
        decoder, ir = model, np.zeros(1, dtype=np.float32)
    else:
        raise TypeError(f"export_onnx: expected a DDSP or Decoder, got {type(model).__name__}")
    if not name or not isinstance(name, str):
        raise ValueError("export_onnx: name must be a non-empty string")
    if not isinstance(version, int) or version < 0:
        raise ValueError(f"export_onnx: version must be an int >= 0, got {version!r}")
    f0_min, f0_max = (float(f) for f in f0_range)
    if not (0.0 < f0_min < f0_max and math.isfinite(f0_max)):
        raise ValueError(f"export_onnx: f0_range must be 0 < min < max, got {f0_range}")
    if not np.all(np.isfinite(ir)):
        raise ValueError("export_onnx: the reverb IR has non-finite values")

    metadata = {
        "tonemorph_format": str(TONEMORPH_FORMAT),
        "name": name,
        "version": str(version),
        "sample_rate": str(int(decoder.sample_rate)),
        "hop_size": str(int(decoder.hop)),
        "n_harmonics": str(decoder.n_harmonics),
        "n_noise_bands": str(decoder.n_noise_bands),
        "loudness_n_fft": str(int(loudness_n_fft)),
        "loudness_mean": repr(decoder.loudness_mean),
        "loudness_std": repr(decoder.loudness_std),
        "f0_min_hz": repr(f0_min),
        "f0_max_hz": repr(f0_max),
        "reverb_ir": encode_ir(ir),
    }
    if description:
        metadata["description"] = description

    decoder = copy.deepcopy(decoder).cpu().eval()  # the caller's model keeps its device and mode
    with atomic_path(path) as written, torch.no_grad():
        tmp = os.fspath(written)
        write_graph(decoder, tmp, (f0_min, f0_max))
        graph = onnx.load(tmp)
        onnx.helper.set_model_props(graph, metadata)
        onnx.checker.check_model(graph)
        onnx.save(graph, tmp)
        difference = max_difference_to_torch(decoder, tmp, (f0_min, f0_max))
        if not difference <= VALIDATION_TOLERANCE:
            raise ExportValidationError(
                f"export_onnx: ONNX Runtime and torch differ by {difference:.3g} (> {VALIDATION_TOLERANCE}); "
                f"{path} was not written"
            )
    return difference
