"""Export the drums model to one ONNX file with its metadata inside (kind `midi-drums`), and check it.

The graph is the melody model's (training/midi/melody_export.py): event [1, T] int64 and state
[2 layers, 1, hidden] in, logits [1, T, 512] and state_out out. An event is the bitmask of the nine drum
classes hit on a sixteenth step (training/midi/drum_data.py); the metadata carries the classes' GM notes.
"""

from __future__ import annotations

import json
import os

from . import drum_data as dd
from .melody_export import event_metadata, export_events, read_metadata
from .melody_model import MelodyRNN

KIND = "midi-drums"
DRUMS_CONFIG = {  # the shipped model: small for about 137 k training steps of mostly repeating grooves
    "task": "drums",
    "hidden": 128,
    "layers": 2,
    "embedding": 32,
    "dropout": 0.2,
    "steps": 2000,  # held-out NLL was lowest near here in a 4,000-step run (1.371 at 1,750, 1.54 at 4,000)
    "lr_decay_steps": 1400,
}


def metadata(
    model: MelodyRNN,
    *,
    name: str = "drums",
    version: int = 1,
    description: str = "",
    extra: dict | None = None,
) -> dict:
    """The drums model's metadata_props (CONTRACT.md): the encoding a sampler needs and the state's shape."""
    encoding = {
        "encoding": "drums_rnn: one event per sixteenth-note step, the bitmask of the drum classes hit "
        "(bit c = drum_classes[c]; 0 = nothing); the input start_token begins a sequence",
        "num_events": dd.NUM_EVENTS,
        "num_inputs": dd.NUM_INPUTS,
        "start_token": dd.START,
        "drum_classes": json.dumps([list(notes) for notes in dd.CLASS_NOTES]),
        "drum_class_names": json.dumps(list(dd.CLASS_NAMES)),
        "steps_per_quarter": dd.STEPS_PER_QUARTER,
        "steps_per_bar": dd.STEPS_PER_BAR,
    }
    return event_metadata(
        model, kind=KIND, name=name, version=version, encoding=encoding, description=description, extra=extra
    )


def export_drums(
    model: MelodyRNN,
    path: str | os.PathLike,
    *,
    name: str = "drums",
    version: int = 1,
    description: str = "",
    extra: dict | None = None,
) -> float:
    """Write the drums `model` to `path` (.onnx); returns the ORT-vs-torch difference (melody_export's check)."""
    if model.num_events != dd.NUM_EVENTS:
        raise ValueError(
            f"a drums model predicts {dd.NUM_EVENTS} events; this one predicts {model.num_events}."
        )
    return export_events(
        model, path, metadata(model, name=name, version=version, description=description, extra=extra)
    )


def read_drums_metadata(path: str | os.PathLike) -> dict:
    """The metadata_props of a drums model as strings; ValueError if the file is not one."""
    return read_metadata(path, KIND, "drums")


def markov_extra(data: dd.DrumData) -> dict:
    """The held-out NLL of order-1 and order-2 Markov chains fitted on the same training data (best add-k each),
    as metadata beside the model's own validation_nll."""
    from .melody_eval import markov_nlls

    table = markov_nlls(data.side(False), data.side(True), dd.NUM_EVENTS)
    return {f"markov{order}_nll": f"{table[f'markov-{order}']['nll']:.4f}" for order in (1, 2)}
