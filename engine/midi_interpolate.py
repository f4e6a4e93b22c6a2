"""The MIDI tool Interpolate: clips that morph from melody A to melody B, made by the C++ core
(cpp/actions/midi/Interpolate.h, the same code as the plugin's MIDI panel) through the melody VAE
(models/midi/melody_vae_encoder.onnx + melody_vae_decoder.onnx, kind midi-melody-vae).

    from tonemorph.engine.midi_interpolate import interpolate_midi
    summary = interpolate_midi("a.mid", "b.mid", "morph/", steps=5)

Writes `interpolate-01.mid` (near A) ... `interpolate-NN.mid` (near B) and `interpolate.json` (settings, model,
where each clip lies between A and B, what was done to the input) into the output folder, as Continue and
Generate do (tonemorph.engine.midi).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _core
from .midi import (
    MidiToolError,
    _check_out_dir,
    _model_facts,
    _write_run,
    check_seed,
    draw_seed,
    load_model,
    midi_model_paths,
    output_names,
    read_clip,
    run_core,
)

TOOL = "interpolate"
MODEL_STEM = "melody_vae"
MIN_STEPS = _core.midi.MIN_INTERPOLATE_STEPS
MAX_STEPS = _core.midi.MAX_INTERPOLATE_STEPS
MAX_BARS = _core.midi.MAX_INTERPOLATE_BARS
DEFAULT_STEPS = 5
DEFAULT_TEMPERATURE = 0.0


def model_candidates() -> list[Path]:
    """Where the melody VAE is looked for (its decoder file; the encoder lies beside it): user's, bundled."""
    return midi_model_paths(f"{MODEL_STEM}_decoder.onnx")


def load_vae(path: str | os.PathLike | None = None) -> _core.midi.MelodyVae:
    """The melody VAE (`path`, either of its two files, else the first of model_candidates that exists),
    opened once per file (and again when the file changes)."""
    advice = "give one with --model PATH, or make it with `tonemorph midi train interpolate`."
    return load_model(_core.midi.MelodyVae, path, model_candidates(), "the Interpolate model", advice)


def check_settings(steps: int, temperature: float, seed: int | None) -> None:
    """Checked before anything is read or created (the C++ core checks steps and temperature too)."""
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise MidiToolError(
            f"--steps must be {MIN_STEPS}..{MAX_STEPS} (the clips written, A's and B's ends included), not {steps}."
        )
    if not temperature >= 0:
        raise MidiToolError(
            f"--temperature must be 0 or more (0: the likeliest notes; 1: as the model learned), not {temperature}."
        )
    check_seed(seed)


def interpolate_midi(
    a: str | os.PathLike,
    b: str | os.PathLike,
    out: str | os.PathLike,
    *,
    steps: int = DEFAULT_STEPS,
    temperature: float = DEFAULT_TEMPERATURE,
    seed: int | None = None,
    model: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """`steps` clips morphing from the melody in MIDI file `a` to the one in `b` (both 1..4 bars, the same
    length; chords are reduced to their top note) into the folder `out`. temperature 0 decodes the likeliest
    notes (the seed then changes nothing); above 0 each clip is drawn with seed + its index. seed None draws
    one (it is in the sidecar). Returns the sidecar's content, with `sidecar`. Raises MidiToolError for bad
    input; nothing is written then."""
    check_settings(steps, temperature, seed)
    a, b, out = Path(a).expanduser(), Path(b).expanduser(), Path(out).expanduser()
    seed = draw_seed(seed)
    names = output_names(TOOL, steps)
    _check_out_dir(out, names, [a, b], overwrite)
    read_a, read_b = read_clip(a, "auto"), read_clip(b, "auto")
    loaded = load_vae(model)
    result = run_core(
        lambda: _core.midi.interpolate(
            loaded,
            read_a["clip"],
            read_b["clip"],
            steps=steps,
            temperature=temperature,
            seed=seed,
            a_name=str(a),
            b_name=str(b),
            progress=progress,
        )
    )
    sidecar = {
        "tool": TOOL,
        "inputs": [str(a), str(b)],
        "read": {str(a): read_a["messages"], str(b): read_b["messages"]},
        "model": _model_facts(
            loaded, ("encoder_path", "decoder_path", "kind", "name", "version", "description")
        ),
        "settings": {"steps": steps, "temperature": temperature, "seed": seed},
        "seeds": [seed + i for i in range(steps)],
        "positions": list(result["positions"]),
        "chunks": result["chunks"],
        "transpose": result["transpose"],
    }
    return _write_run(out, result, sidecar, names)
