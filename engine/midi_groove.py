"""The MIDI tools Groove and Drumify (Magenta Studio's GrooVAE "humanize" and "tap2drum"), run by the C++ core
(cpp/actions/midi/Groove.h, the same code as the plugin's MIDI panel) with the midi-groove model
(models/midi/groove.onnx, training/midi/groove_*.py).

    from tonemorph.engine.midi_groove import groove_midi, drumify_midi
    summary = groove_midi("beat.mid", "grooved/", variations=4, seed=7)
    summary = drumify_midi("bassline.mid", "drums/", variations=4)

Groove gives a quantised drum clip (General MIDI drums on channel 10) a drummer's velocities and micro-timing;
which drums hit, on which steps, stays. Drumify makes a drum groove that follows the onsets and accents of any
clip. Clips are worked on in 2-bar windows (up to MAX_BARS bars, one feel per variation for all windows).
Writes `groove-01.mid` ... (or `drumify-01.mid` ...) and `groove.json` / `drumify.json` (seed, settings,
model, what was done to the input) into the output folder, as Continue and Generate do (tonemorph.engine.midi).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _core
from .midi import (
    MAX_VARIATIONS,
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

MODEL_NAME = "groove.onnx"
MAX_BARS = _core.midi.GROOVE_MAX_BARS
WINDOW_STEPS = _core.midi.GROOVE_WINDOW_STEPS
MAX_TEMPERATURE = 10.0
DEFAULT_VARIATIONS = 4
DEFAULT_TEMPERATURE = 1.0


def model_candidates() -> list[Path]:
    """Where the Groove / Drumify model is looked for: the user's models, then the bundled ones."""
    return midi_model_paths(MODEL_NAME)


def load_groove_model(path: str | os.PathLike | None = None) -> _core.midi.GrooveModel:
    """The midi-groove model (`path`, else the first of model_candidates that exists), opened once per file
    (and again when the file changes)."""
    advice = "give a midi-groove model with --model PATH, or make one with `tonemorph midi train groove`."
    return load_model(_core.midi.GrooveModel, path, model_candidates(), "the Groove model", advice)


def check_settings(variations: int, temperature: float, seed: int | None) -> None:
    """Checked before anything is read or created (the C++ core checks them too)."""
    if not 1 <= variations <= MAX_VARIATIONS:
        raise MidiToolError(f"--variations must be 1..{MAX_VARIATIONS}, not {variations}.")
    if not 0 <= temperature <= MAX_TEMPERATURE:
        raise MidiToolError(
            f"--temperature must be 0..{MAX_TEMPERATURE:g} (0: the model's likeliest feel, the same every time; "
            f"1: as it learned), not {temperature}."
        )
    check_seed(seed)


def _tool(
    tool: str,
    clip: str | os.PathLike,
    out: str | os.PathLike,
    variations: int,
    temperature: float,
    seed: int | None,
    model: str | os.PathLike | None,
    overwrite: bool,
    progress: Callable[[float], None] | None,
) -> dict[str, Any]:
    check_settings(variations, temperature, seed)
    clip, out = Path(clip).expanduser(), Path(out).expanduser()
    seed = draw_seed(seed)
    names = output_names(tool, variations)
    _check_out_dir(out, names, [clip], overwrite)
    read = read_clip(clip, "auto")
    loaded = load_groove_model(model)
    run = _core.midi.groove if tool == "groove" else _core.midi.drumify
    result = run_core(
        lambda: run(
            loaded, read["clip"], variations=variations, temperature=temperature, seed=seed, progress=progress
        ),
        f"'{clip}': ",
    )
    sidecar = {
        "tool": tool,
        "input": str(clip),
        "read": read["messages"],
        "model": _model_facts(loaded),
        "settings": {"variations": variations, "temperature": temperature, "seed": seed},
        "seeds": [seed + v for v in range(variations)],
    }
    return _write_run(out, result, sidecar, names) | {"read_messages": read["messages"]}


def _tool_function(tool: str, doc: str) -> Callable[..., dict[str, Any]]:
    """groove_midi or drumify_midi: `tool` run on a clip, with the keyword settings both take."""

    def run(
        clip: str | os.PathLike,
        out: str | os.PathLike,
        *,
        variations: int = DEFAULT_VARIATIONS,
        temperature: float = DEFAULT_TEMPERATURE,
        seed: int | None = None,
        model: str | os.PathLike | None = None,
        overwrite: bool = False,
        progress: Callable[[float], None] | None = None,
    ) -> dict[str, Any]:
        return _tool(tool, clip, out, variations, temperature, seed, model, overwrite, progress)

    run.__name__ = run.__qualname__ = f"{tool}_midi"
    run.__doc__ = doc
    return run


groove_midi = _tool_function(
    "groove",
    """Groove the drum clip in the MIDI file `clip` (its notes on channel 10): `variations` files in the folder
    `out`, each the same notes with a drummer's velocities and micro-timing (within half a step). The input's
    velocities are not used (the model gives its own). A file whose notes are not on channel 10 is refused
    (for drums that follow a melody, use drumify_midi). seed None draws one (it is in the sidecar). Returns the
    sidecar's content, with `sidecar`. Raises MidiToolError for bad input; nothing is written then.""",
)

drumify_midi = _tool_function(
    "drumify",
    """Drumify the clip in the MIDI file `clip` (a melody, a bassline, a tapped rhythm, drums): `variations`
    drum clips as long as it, following its onsets and accents (every note's onset counts, the loudest of a
    step gives the accent; a file with drums and other parts uses the other parts). Returns the sidecar's
    content, with `sidecar`. Raises MidiToolError for bad input; nothing is written then.""",
)
