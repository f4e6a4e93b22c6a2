"""Export the melody VAE to two ONNX files, encoder and decoder step, with their metadata inside, and check them.

ONNX Runtime runs a graph only when every graph input is fed, so one file holding both the encoder and the
decoder step would have to be fed a dummy clip at every decoder step (and run the encoder 32 times a clip).
The model is therefore two files that name each other: `<stem>_encoder.onnx` and `<stem>_decoder.onnx`
(models/midi/melody_vae_encoder.onnx and melody_vae_decoder.onnx), both of kind `midi-melody-vae` with the
same name and version, told apart by the metadata `part` (encoder / decoder).

    encoder:  events     input   [1, 32] int64     a 2-bar clip in melody_rnn events (melody_data.py)
              mu         output  [1, Z] float32     the mean of q(z | clip): the clip's point in the latent space
    decoder:  event      input   [1, 1] int64      START first, then the event chosen at the step before
              z          input   [1, Z] float32
              state      input   [2 layers, 1, hidden] float32  h of each layer, then c of each layer; zeros first
              logits     output  [1, 1, num_events] float32
              state_out  output  [2 layers, 1, hidden] float32

Both files are written beside their paths, compared with torch in ONNX Runtime, and only then renamed into place.
"""

from __future__ import annotations

import copy
import os
import warnings
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from tonemorph.atomic import atomic_path

from ..export import OPSET_VERSION, ExportValidationError
from . import melody_data as md
from .melody_export import metadata as melody_metadata
from .vae_model import BARS, STEPS, MelodyVAE

KIND = "midi-melody-vae"
ENCODER_INPUTS, ENCODER_OUTPUTS = ("events",), ("mu",)
DECODER_INPUTS, DECODER_OUTPUTS = ("event", "z", "state"), ("logits", "state_out")
PARITY_TOLERANCE = 1e-4
PARITY_SEED = 0


def paths(stem: str | os.PathLike) -> tuple[Path, Path]:
    """models/midi/melody_vae (or melody_vae_decoder.onnx, or ..._encoder.onnx) -> (encoder, decoder) paths."""
    stem = Path(stem)
    name = stem.name
    for suffix in ("_encoder.onnx", "_decoder.onnx", ".onnx"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return stem.with_name(f"{name}_encoder.onnx"), stem.with_name(f"{name}_decoder.onnx")


def metadata(
    model: MelodyVAE, part: str, *, name: str, version: int, description: str = "", extra=None
) -> dict:
    """The melody model's encoding facts (melody_export.metadata) with this model's kind, part and sizes."""
    props = melody_metadata(model, name=name, version=version, description=description)
    props.update(
        {
            "kind": KIND,
            "part": part,
            "latent": str(model.latent),
            "steps": str(STEPS),
            "bars": str(BARS),
            "encoder_hidden": str(model.encoder_hidden),
            "state_layout": "decoder state [2 layers, 1, hidden]: h of each layer, then c of each layer",
            "decoding": "decoder from zero state: feed start_token, then each chosen event, z held fixed, "
            f"{STEPS} steps; encoder input: {STEPS} events of a 2-bar clip",
            **{k: str(v) for k, v in (extra or {}).items()},
        }
    )
    return props


class _Encoder(nn.Module):
    def __init__(self, model: MelodyVAE):
        super().__init__()
        self.model = model

    def forward(self, events):
        return self.model.encode(events)[0]


class _DecoderStep(nn.Module):
    def __init__(self, model: MelodyVAE):
        super().__init__()
        self.model = model

    def forward(self, event, z, state):
        return self.model.decode(event, z, state)


def parity_inputs(model: MelodyVAE, seed: int = PARITY_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Random events [1, STEPS] and a z [1, Z] drawn from N(0, I)."""
    rng = np.random.default_rng(seed)
    events = rng.integers(0, md.NUM_EVENTS, (1, STEPS)).astype(np.int64)
    return events, rng.standard_normal((1, model.latent)).astype(np.float32)


def _session(path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])


def max_difference(model: MelodyVAE, encoder_path, decoder_path, seed: int = PARITY_SEED) -> float:
    """Max abs difference, ONNX Runtime vs torch: mu of a random clip, and STEPS decoder steps (the state
    carried, the events fed those of the clip) from that clip's z and from a random z."""
    model = copy.deepcopy(model).cpu().eval()
    encoder, decoder = _session(encoder_path), _session(decoder_path)
    events, random_z = parity_inputs(model, seed)
    worst = 0.0
    with torch.no_grad():
        mu = model.encode(torch.from_numpy(events))[0]
        (got_mu,) = encoder.run(list(ENCODER_OUTPUTS), {"events": events})
        worst = max(worst, float(np.abs(got_mu - mu.numpy()).max()))
        for z in (mu.numpy(), random_z):
            state = model.initial_state()
            ort_state = state.numpy()
            inputs = np.concatenate([[md.START], events[0, :-1]]).astype(np.int64)
            for t in range(STEPS):
                step = inputs[None, t : t + 1]
                logits, state = model.decode(torch.from_numpy(step), torch.from_numpy(z), state)
                got, ort_state = decoder.run(
                    list(DECODER_OUTPUTS), {"event": step, "z": z, "state": ort_state}
                )
                worst = max(
                    worst,
                    float(np.abs(got - logits.numpy()).max()),
                    float(np.abs(ort_state - state.numpy()).max()),
                )
    return worst


def _export(module: nn.Module, example: tuple, path: str, inputs, outputs, props: dict) -> None:
    with warnings.catch_warnings():
        # As melody_export: the state is a graph input on purpose, nn.LSTM's checks trace as constants, and the
        # TorchScript exporter is chosen on purpose.
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        torch.onnx.export(
            module,
            example,
            path,
            input_names=list(inputs),
            output_names=list(outputs),
            opset_version=OPSET_VERSION,
            dynamo=False,
            do_constant_folding=True,
        )
    graph = onnx.load(path)
    onnx.helper.set_model_props(graph, props)
    onnx.checker.check_model(graph)
    onnx.save(graph, path)


def export_vae(
    model: MelodyVAE,
    stem: str | os.PathLike,
    *,
    name: str = "melody_vae",
    version: int = 1,
    description: str = "",
    extra: dict | None = None,
) -> float:
    """Write `model` as the two files of `paths(stem)`; returns the ORT-vs-torch difference found.

    Raises ExportValidationError, leaving both paths untouched, if it exceeds PARITY_TOLERANCE.
    """
    model = copy.deepcopy(model).cpu().eval()
    encoder_path, decoder_path = paths(stem)
    events, z = parity_inputs(model)
    with ExitStack() as stack, torch.no_grad():
        encoder_tmp = os.fspath(stack.enter_context(atomic_path(encoder_path)))
        decoder_tmp = os.fspath(stack.enter_context(atomic_path(decoder_path)))
        common = {"name": name, "version": version, "description": description, "extra": extra}
        _export(
            _Encoder(model),
            (torch.from_numpy(events),),
            encoder_tmp,
            ENCODER_INPUTS,
            ENCODER_OUTPUTS,
            metadata(model, "encoder", **common),
        )
        _export(
            _DecoderStep(model),
            (torch.from_numpy(events[:, :1]), torch.from_numpy(z), model.initial_state()),
            decoder_tmp,
            DECODER_INPUTS,
            DECODER_OUTPUTS,
            metadata(model, "decoder", **common),
        )
        difference = max_difference(model, encoder_tmp, decoder_tmp)
        if not difference <= PARITY_TOLERANCE:
            raise ExportValidationError(
                f"ONNX Runtime and torch differ by {difference:.3g} (> {PARITY_TOLERANCE}); "
                f"{encoder_path} and {decoder_path} were not written"
            )
    return difference


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata_props of one part of a melody VAE; ValueError if the file is not one."""
    props = {p.key: p.value for p in onnx.load(os.fspath(path), load_external_data=False).metadata_props}
    if props.get("kind") != KIND:
        raise ValueError(
            f"'{path}' is not a melody VAE (kind {props.get('kind', 'missing')!r}, not {KIND!r})."
        )
    return props
