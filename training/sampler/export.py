"""Export the sampler's network to one ONNX file with its metadata inside (kind `sampler`), and check it.

Graph (what the sampling loop calls once per step; batch 2 x n when guided, see model.guided_velocity):
    x           input   [batch, samples] float32   the flow's state (noise at t = 0, audio / audio_scale at 1)
    t           input   [batch] float32            time, 0..1
    conditions  input   [batch, len(CONDITIONS)] int64   kind index, then each descriptor's bin
    velocity    output  [batch, samples] float32   dx/dt
samples is any multiple of the metadata's hop; `length` is what the model was trained on.

Metadata (strings; JSON where it is a structure): kind, name, version, description, tonemorph_format,
sample_rate, length, hop, audio_scale, conditions ([{name, values, unspecified}]), kinds (the kind index
order), vocabulary ({words: {word: [condition, value]}, edges, kinds: counts}), schedule ({flow, solver,
t_start, t_end, default_steps, default_guidance}), train_steps; and for the C++ loop, which reads no JSON,
condition_values and unspecified_conditions (comma-separated), default_steps, default_guidance, and the
vocabulary flat (cpp/actions/sampler/Prompt.h): words ("word=condition index:value" joined by ';', a kind by
its index in kinds), kind_names (comma-separated) and kind_sounds (sounds per kind, comma-separated).

The file is written beside `path`, compared with torch in ONNX Runtime, and only then renamed into place.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from google.protobuf.message import DecodeError

from tonemorph.atomic import atomic_path

from ..export import OPSET_VERSION, TONEMORPH_FORMAT, ExportValidationError
from ..train import atomic_save
from . import classifier as kind_classifier
from . import train as training
from .model import CONDITION_VALUES, CONDITIONS, KINDS, UNSPECIFIED_BIN, UNSPECIFIED_KIND, VelocityNet

KIND = "sampler"
INPUT_NAMES = ("x", "t", "conditions")
OUTPUT_NAMES = ("velocity",)
PARITY_TOLERANCE = 1e-3  # max abs velocity difference, ONNX Runtime vs torch (velocities are O(1))
PARITY_SEED = 0
SCHEDULE = {"flow": "rectified", "solver": "euler", "t_start": 0.0, "t_end": 1.0}


def metadata(
    model: VelocityNet,
    *,
    name: str,
    sample_rate: int,
    length: int,
    vocabulary: dict,
    config: training.SamplerConfig,
    version: int = 1,
    description: str = "",
    extra: dict | None = None,
) -> dict:
    """The sampler's metadata_props (see the module docstring)."""
    conditions = [
        {"name": n, "values": v, "unspecified": UNSPECIFIED_KIND if n == "kind" else UNSPECIFIED_BIN}
        for n, v in zip(CONDITIONS, CONDITION_VALUES)
    ]
    props = {
        "tonemorph_format": TONEMORPH_FORMAT,
        "kind": KIND,
        "name": name,
        "version": version,
        "sample_rate": sample_rate,
        "length": length,
        "hop": model.hop,
        "audio_scale": repr(float(model.audio_scale)),
        "conditions": json.dumps(conditions),
        "kinds": json.dumps(KINDS),
        "vocabulary": json.dumps(vocabulary),
        # the same facts flat, for the C++ loop (it reads no JSON)
        "condition_values": ",".join(map(str, CONDITION_VALUES)),
        "unspecified_conditions": ",".join(str(c["unspecified"]) for c in conditions),
        "default_steps": config.sample_steps,
        "default_guidance": repr(float(config.guidance)),
        "time_shift": repr(float(config.sample_shift)),
        "words": flat_words(vocabulary),
        "kind_names": ",".join(KINDS),
        "kind_sounds": ",".join(str(vocabulary.get("kinds", {}).get(kind, 0)) for kind in KINDS),
        "schedule": json.dumps(
            {
                **SCHEDULE,
                "default_steps": config.sample_steps,
                "default_guidance": config.guidance,
                "time_shift": config.sample_shift,
            }
        ),
        **(extra or {}),
    }
    if description:
        props["description"] = description
    return {k: str(v) for k, v in props.items()}


def flat_words(vocabulary: dict) -> str:
    """{'words': {'snare': ['kind', 'snare'], 'bright': ['brightness_hz', 2]}} -> 'bright=1:2;snare=0:1'."""
    entries = []
    for word, (condition, value) in sorted(vocabulary["words"].items()):
        index = KINDS.index(value) if condition == "kind" else int(value)
        entries.append(f"{word}={CONDITIONS.index(condition)}:{index}")
    return ";".join(entries)


def parity_inputs(length: int, seed: int = PARITY_SEED) -> dict[str, np.ndarray]:
    """Two rows: random x, t and conditions (the second row unspecified, as a guided call has)."""
    rng = np.random.default_rng(seed)
    conditions = np.array(
        [[int(rng.integers(0, v)) for v in CONDITION_VALUES], [UNSPECIFIED_KIND] + [UNSPECIFIED_BIN] * 6],
        np.int64,
    )
    return {
        "x": rng.standard_normal((2, length)).astype(np.float32),
        "t": rng.random(2).astype(np.float32),
        "conditions": conditions,
    }


def max_difference(model: VelocityNet, path: str | os.PathLike, length: int) -> float:
    """Max abs velocity difference, ONNX Runtime (1 thread) vs torch, on parity_inputs."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    feed = parity_inputs(length)
    (got,) = session.run(list(OUTPUT_NAMES), feed)
    with torch.no_grad():
        want = model(*(torch.from_numpy(feed[k]) for k in INPUT_NAMES)).numpy()
    return float(np.abs(got - want).max())


def export_onnx(model: VelocityNet, path: str | os.PathLike, props: dict, length: int) -> float:
    """Write `model` to `path` (.onnx) with metadata_props `props`; returns the ORT-vs-torch difference.

    Raises ExportValidationError, leaving `path` untouched, if it exceeds PARITY_TOLERANCE.
    """
    model = copy.deepcopy(model).cpu().eval()
    example = tuple(torch.from_numpy(v) for v in parity_inputs(model.hop * 4).values())
    with atomic_path(path) as written, torch.no_grad():
        tmp = os.fspath(written)
        with warnings.catch_warnings():
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
                dynamic_axes={
                    "x": {0: "batch", 1: "samples"},
                    "t": {0: "batch"},
                    "conditions": {0: "batch"},
                    "velocity": {0: "batch", 1: "samples"},
                },
                opset_version=OPSET_VERSION,
                dynamo=False,
                do_constant_folding=True,
            )
        graph = onnx.load(tmp)
        onnx.helper.set_model_props(graph, props)
        onnx.checker.check_model(graph)
        onnx.save(graph, tmp)
        difference = max_difference(model, tmp, length)
        if not difference <= PARITY_TOLERANCE:
            raise ExportValidationError(
                f"ONNX Runtime and torch differ by {difference:.3g} (> {PARITY_TOLERANCE}); {path} was not written"
            )
    return difference


def export_sampler(
    checkpoint: str | os.PathLike | dict, out: str | os.PathLike, *, version: int = 1, description: str = ""
) -> tuple[Path, Path]:
    """A run (its folder or checkpoint.pt), or a checkpoint already read, to `out` (.onnx, the EMA weights)
    and NAME.pt beside it (the weights for `--from`), both written atomically. From a run folder the model
    also gets its "curation" metadata and the weights file the labelled sounds its classifier learned from, for
    a fine-tune's classifier (classifier.run_curation, a few seconds)."""
    data = checkpoint if isinstance(checkpoint, dict) else training.load_checkpoint(checkpoint)
    run_dir = None if isinstance(checkpoint, dict) else Path(checkpoint).expanduser()
    if run_dir is not None and not run_dir.is_dir():
        run_dir = run_dir.parent
    has_data = run_dir is not None and (run_dir / training.DATA_NAME).is_file()
    curation, sounds = None, None
    if has_data:
        run_curation, labelled = kind_classifier.run_curation(run_dir)
        curation, sounds = run_curation.to_json(), training.classifier_sounds_payload(*labelled)
    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"'{out}': the model file must end in .onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    model = training.model_from_checkpoint(data, ema=True)
    info = data["info"]
    description = description or (
        f"trained by tonemorph for {data['step']} steps on {training.own_chunks(info)} sounds"
        + (f", fine-tuned from '{info['init_from']}'" if info.get("init_from") else "")
    )
    props = metadata(
        model,
        name=data["name"],
        sample_rate=data["sample_rate"],
        length=data["length"],
        vocabulary=data["vocabulary"],
        config=training.SamplerConfig.from_dict(data["config"]),
        version=version,
        description=description,
        extra={"train_steps": data["step"], **({"curation": curation} if curation else {})},
    )
    export_onnx(model, out, props, data["length"])
    weights = out.with_suffix(".pt")
    atomic_save(training.weights_payload(data, sounds), weights)
    return out, weights


def read_metadata(path: str | os.PathLike) -> dict:
    """A sampler's metadata_props as strings; ValueError naming the file if it is not a sampler."""
    try:
        props = {p.key: p.value for p in onnx.load(os.fspath(path), load_external_data=False).metadata_props}
    except (OSError, ValueError, DecodeError) as e:
        raise ValueError(f"'{path}' is not a readable ONNX model ({str(e).splitlines()[0][:200]}).") from None
    kind = props.get("kind", "instrument" if "tonemorph_format" in props else None)  # instruments say no kind
    if kind != KIND:
        what = f"a '{kind}' model" if kind else "not one of tonemorph's models"
        raise ValueError(
            f"'{path}' is {what}, not a sampler; give a sampler model (`tonemorph sampler train` makes them)."
        )
    return props
