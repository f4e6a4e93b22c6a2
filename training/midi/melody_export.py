"""Export the melody model to one ONNX file with its metadata inside (kind `midi-melody`), and check it.
The drums model (training/midi/drums_export.py, kind `midi-drums`) goes through the same export_events.

Graph (what a C++ sampling loop calls, T = 1 per step, the state carried):
    event      input   [1, T] int64                 START first, then the events played or sampled
    state      input   [2 layers, 1, hidden] float32  h of each layer, then c of each layer; zeros at the start
    logits     output  [1, T, num_events] float32   unnormalised log-probabilities of the next event
    state_out  output  [2 layers, 1, hidden] float32

The file is written beside `path`, compared with torch in ONNX Runtime step by step, and only then renamed
into place.
"""

from __future__ import annotations

import copy
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch

from tonemorph.atomic import atomic_path

from ..export import OPSET_VERSION, TONEMORPH_FORMAT, ExportValidationError
from . import melody_data as md
from .melody_model import MelodyRNN

KIND = "midi-melody"
INPUT_NAMES = ("event", "state")
OUTPUT_NAMES = ("logits", "state_out")
PARITY_TOLERANCE = 1e-4  # max abs difference of logits, ONNX Runtime vs torch, over PARITY_STEPS steps
PARITY_STEPS = 64
PARITY_SEED = 0


def event_metadata(
    model: MelodyRNN,
    *,
    kind: str,
    name: str,
    version: int,
    encoding: dict,
    description: str = "",
    extra: dict | None = None,
) -> dict:
    """A next-event model's metadata_props: its kind, its encoding (with num_events, num_inputs, start_token)
    and the state's shape."""
    props = {
        "tonemorph_format": TONEMORPH_FORMAT,
        "kind": kind,
        "name": name,
        "version": version,
        **encoding,
        "layers": model.layers,
        "hidden": model.hidden,
        "state_layout": "[2 layers, 1, hidden]: h of each layer, then c of each layer",
        **(extra or {}),
    }
    if description:
        props["description"] = description
    return {k: str(v) for k, v in props.items()}


def metadata(
    model: MelodyRNN, *, name: str, version: int, description: str = "", extra: dict | None = None
) -> dict:
    """The melody model's metadata_props: what a sampler needs to encode, decode and carry the state."""
    encoding = {
        "encoding": "melody_rnn: one event per sixteenth-note step; 0 no event (hold or rest), 1 note-off, "
        "2 + (pitch - min_pitch) note-on; the input start_token begins a sequence",
        "num_events": md.NUM_EVENTS,
        "num_inputs": md.NUM_INPUTS,
        "start_token": md.START,
        "no_event": md.NO_EVENT,
        "note_off": md.NOTE_OFF,
        "first_note_on": md.FIRST_NOTE_ON,
        "min_pitch": md.MIN_PITCH,
        "max_pitch": md.MAX_PITCH,
        "steps_per_quarter": md.STEPS_PER_QUARTER,
        "steps_per_bar": md.STEPS_PER_BAR,
    }
    return event_metadata(
        model, kind=KIND, name=name, version=version, encoding=encoding, description=description, extra=extra
    )


def parity_events(
    steps: int = PARITY_STEPS, seed: int = PARITY_SEED, num_events: int = md.NUM_EVENTS
) -> np.ndarray:
    """[1, steps] int64: START (= num_events), then random events."""
    rng = np.random.default_rng(seed)
    return np.concatenate([[num_events], rng.integers(0, num_events, steps - 1)]).astype(np.int64)[None]


def max_difference(model: MelodyRNN, path: str | os.PathLike, events: np.ndarray) -> float:
    """Max abs logits/state difference, ONNX Runtime (1 thread) vs torch, step by step with the state carried
    and in one call over all of `events` [1, T]."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    model = copy.deepcopy(model).cpu().eval()
    worst = 0.0
    with torch.no_grad():
        state = model.initial_state()
        ort_state = state.numpy()
        for t in range(events.shape[1]):
            step = events[:, t : t + 1]
            logits, state = model(torch.from_numpy(step), state)
            got_logits, ort_state = session.run(list(OUTPUT_NAMES), {"event": step, "state": ort_state})
            worst = max(
                worst,
                float(np.abs(got_logits - logits.numpy()).max()),
                float(np.abs(ort_state - state.numpy()).max()),
            )
        logits, state = model(torch.from_numpy(events), model.initial_state())
        got_logits, got_state = session.run(
            list(OUTPUT_NAMES), {"event": events, "state": model.initial_state().numpy()}
        )
        worst = max(
            worst,
            float(np.abs(got_logits - logits.numpy()).max()),
            float(np.abs(got_state - state.numpy()).max()),
        )
    return worst


def export_melody(
    model: MelodyRNN,
    path: str | os.PathLike,
    *,
    name: str = "melody",
    version: int = 1,
    description: str = "",
    extra: dict | None = None,
) -> float:
    """Write `model` to `path` (.onnx) with its metadata; returns the ORT-vs-torch difference found.

    Raises ExportValidationError, leaving `path` untouched, if it exceeds PARITY_TOLERANCE.
    """
    props = metadata(model, name=name, version=version, description=description, extra=extra)
    return export_events(model, path, props)


def export_events(model: MelodyRNN, path: str | os.PathLike, props: dict) -> float:
    """Write a next-event model to `path` (.onnx) with metadata_props `props`, checked against torch first."""
    model = copy.deepcopy(model).cpu().eval()
    example = (torch.from_numpy(parity_events(3, num_events=model.num_events)), model.initial_state())
    with atomic_path(path) as written, torch.no_grad():
        tmp = os.fspath(written)
        with warnings.catch_warnings():
            # The state is a graph input on purpose (the batch-size warning), nn.LSTM's shape checks trace as
            # constants, and the TorchScript exporter is chosen on purpose, as for the instruments.
            warnings.filterwarnings(
                "ignore", message="Exporting a model to ONNX with a batch_size other than 1"
            )
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings(
                "ignore", message="You are using the legacy TorchScript-based ONNX export"
            )
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            torch.onnx.export(
                model,
                example,
                tmp,
                input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES),
                dynamic_axes={"event": {1: "T"}, "logits": {1: "T"}},
                opset_version=OPSET_VERSION,
                dynamo=False,
                do_constant_folding=True,
            )
        graph = onnx.load(tmp)
        onnx.helper.set_model_props(graph, props)
        onnx.checker.check_model(graph)
        onnx.save(graph, tmp)
        difference = max_difference(model, tmp, parity_events(num_events=model.num_events))
        if not difference <= PARITY_TOLERANCE:
            raise ExportValidationError(
                f"ONNX Runtime and torch differ by {difference:.3g} (> {PARITY_TOLERANCE});"
                f" {path} was not written"
            )
    return difference


def read_metadata(path: str | os.PathLike, kind: str = KIND, what: str = "melody") -> dict:
    """The metadata_props of a `kind` model as strings; ValueError if the file is not one."""
    props = {p.key: p.value for p in onnx.load(os.fspath(path), load_external_data=False).metadata_props}
    if props.get("kind") != kind:
        raise ValueError(
            f"'{path}' is not a {what} model (kind {props.get('kind', 'missing')!r}, not {kind!r})."
        )
    return props
