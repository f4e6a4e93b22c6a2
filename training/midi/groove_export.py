"""Export the Groove / Drumify decoder to one ONNX file with its metadata inside (kind `midi-groove`).

Graph (one call per 2-bar window):
    condition   input   [1, 32, 14] float32   see training/midi/groove_data.py (hits | tap | mode flags)
    z           input   [1, latent] float32   the feel: N(0, temperature^2) per variation, 0 the mean
    hit_logits  output  [1, 32, 9] float32    Drumify: P(hit) = sigmoid(logit / temperature) (0: > 0)
    velocity    output  [1, 32, 9] float32    0..1, times 127
    offset      output  [1, 32, 9] float32    steps from the grid, -0.5..0.5

Written beside `path`, compared with torch in ONNX Runtime, then renamed into place.
"""

from __future__ import annotations

import copy
import json
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch

from tonemorph.atomic import atomic_path

from ..export import OPSET_VERSION, TONEMORPH_FORMAT, ExportValidationError
from . import groove_data as gd
from .groove_model import GrooveVAE

KIND = "midi-groove"
INPUT_NAMES = ("condition", "z")
OUTPUT_NAMES = ("hit_logits", "velocity", "offset")
PARITY_TOLERANCE = 1e-4
PARITY_CASES = 8
# The General MIDI notes of the nine classes (CONTRACT.md), the first one written out.
DRUM_CLASSES = (
    (36, 35),
    (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),
    (42, 44, 54, 68, 69, 70, 71, 73, 78, 80),
    (46, 67, 72, 74, 79, 81),
    (45, 29, 41, 61, 64, 84),
    (48, 47, 60, 63, 77, 86, 87),
    (50, 30, 43, 62, 76, 83),
    (49, 55, 57, 58),
    (51, 52, 53, 59, 82),
)


def metadata(model: GrooveVAE, *, name: str, version: int, description: str = "", extra: dict | None = None):
    props = {
        "tonemorph_format": TONEMORPH_FORMAT,
        "kind": KIND,
        "name": name,
        "version": version,
        "encoding": "2-bar windows of 32 sixteenth steps x 9 drum classes; condition per step: hits of the 9 "
        "classes (groove), tap onset/velocity/offset (drumify), flags groove, drumify",
        "steps": gd.STEPS,
        "steps_per_bar": gd.STEPS_PER_BAR,
        "num_classes": gd.NUM_CLASSES,
        "condition_size": gd.COND,
        "tap_index": gd.TAP,
        "groove_flag_index": gd.GROOVE_FLAG,
        "drumify_flag_index": gd.DRUMIFY_FLAG,
        "latent": model.latent,
        "drum_classes": json.dumps([list(c) for c in DRUM_CLASSES]),
        "max_offset": gd.MAX_OFFSET,
        **(extra or {}),
    }
    if description:
        props["description"] = description
    return {k: str(v) for k, v in props.items()}


def parity_inputs(latent: int, case: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(case)
    pattern = gd.synthetic_patterns(1, seed=case)[0]
    hits = pattern[1]
    if case % 2:
        vel, off = gd.humanise(hits, pattern[2], rng)
        cond = gd.drumify_condition(gd.tap(hits, vel, off))
    else:
        cond = gd.groove_condition(hits)
    return cond[None], rng.normal(0, 1, (1, latent)).astype(np.float32)


def max_difference(model: GrooveVAE, path: str | os.PathLike) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    model = copy.deepcopy(model).cpu().eval()
    worst = 0.0
    with torch.no_grad():
        for case in range(PARITY_CASES):
            cond, z = parity_inputs(model.latent, case)
            want = model(torch.from_numpy(cond), torch.from_numpy(z))
            got = session.run(list(OUTPUT_NAMES), {"condition": cond, "z": z})
            worst = max(worst, *(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want)))
    return worst


def export_groove(
    model: GrooveVAE,
    path: str | os.PathLike,
    *,
    name: str = "groove",
    version: int = 1,
    description: str = "",
    extra: dict | None = None,
) -> float:
    """Write `model`'s decoder to `path` with its metadata; returns the ORT-vs-torch difference. Raises
    ExportValidationError, leaving `path` untouched, beyond PARITY_TOLERANCE."""
    props = metadata(model, name=name, version=version, description=description, extra=extra)
    model = copy.deepcopy(model).cpu().eval()
    example = tuple(torch.from_numpy(a) for a in parity_inputs(model.latent, 0))
    with atomic_path(path) as written, torch.no_grad():
        tmp = os.fspath(written)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings(
                "ignore", message="You are using the legacy TorchScript-based ONNX export"
            )
            warnings.filterwarnings(
                "ignore", message="Exporting a model to ONNX with a batch_size other than 1"
            )
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
            torch.onnx.export(
                model,
                example,
                tmp,
                input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES),
                opset_version=OPSET_VERSION,
                dynamo=False,
                do_constant_folding=True,
            )
        graph = onnx.load(tmp)
        onnx.helper.set_model_props(graph, props)
        onnx.checker.check_model(graph)
        onnx.save(graph, tmp)
        difference = max_difference(model, tmp)
        if not difference <= PARITY_TOLERANCE:
            raise ExportValidationError(
                f"ONNX Runtime and torch differ by {difference:.3g} (> {PARITY_TOLERANCE}); {path} was not written"
            )
    return difference


def read_metadata(path: str | os.PathLike) -> dict:
    props = {p.key: p.value for p in onnx.load(os.fspath(path), load_external_data=False).metadata_props}
    if props.get("kind") != KIND:
        raise ValueError(
            f"'{path}' is not a groove model (kind {props.get('kind', 'missing')!r}, not {KIND!r})."
        )
    return props
