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
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from tonemorph.paths import bundled_models_dir, not_a_file, user_models_dir

from . import _core
from .midi import MAX_VARIATIONS, MidiToolError, _check_out_dir, _write_run, output_names, read_clip

MODEL_NAME = "groove.onnx"
MAX_BARS = _core.midi.GROOVE_MAX_BARS
WINDOW_STEPS = _core.midi.GROOVE_WINDOW_STEPS
MAX_TEMPERATURE = 10.0
DEFAULT_VARIATIONS = 4
DEFAULT_TEMPERATURE = 1.0


def model_candidates() -> list[Path]:
    """Where the Groove / Drumify model is looked for: the user's models, then the bundled ones."""
    return [d / "midi" / MODEL_NAME for d in (user_models_dir(), bundled_models_dir())]


def find_groove_model(path: str | os.PathLike | None = None) -> Path:
    if path is not None:
        path = Path(path).expanduser()
        if reason := not_a_file(path, "a model file"):
            raise MidiToolError(reason)
        return path
    for candidate in model_candidates():
        if candidate.is_file():
            return candidate
    looked = " and ".join(f"'{c}'" for c in model_candidates())
    raise MidiToolError(
        f"the Groove model is not installed (looked for {looked}); give a midi-groove model with --model PATH, "
        "or make one with `tonemorph midi train groove`."
    )


@lru_cache(maxsize=2)
def _open(path: str, mtime_ns: int) -> _core.midi.GrooveModel:
    return _core.midi.GrooveModel(path)


def load_groove_model(path: str | os.PathLike | None = None) -> _core.midi.GrooveModel:
    """The midi-groove model, opened once per file (and again when the file changes)."""
    found = find_groove_model(path)
    try:
        return _open(str(found), found.stat().st_mtime_ns)
    except ValueError as e:
        raise MidiToolError(str(e)) from None


def check_settings(variations: int, temperature: float, seed: int | None) -> None:
    """Checked before anything is read or created (the C++ core checks them too)."""
    if not 1 <= variations <= MAX_VARIATIONS:
        raise MidiToolError(f"--variations must be 1..{MAX_VARIATIONS}, not {variations}.")
    if not 0 <= temperature <= MAX_TEMPERATURE:
        raise MidiToolError(
            f"--temperature must be 0..{MAX_TEMPERATURE:g} (0: the model's likeliest feel, the same every time; "
            f"1: as it learned), not {temperature}."
        )
    if seed is not None and not 0 <= seed < 2**63:
        raise MidiToolError(f"--seed must be a whole number from 0 to 2**63 - 1, not {seed}.")


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
    seed = secrets.randbelow(2**32) if seed is None else seed
    names = output_names(tool, variations)
    _check_out_dir(out, names, [clip], overwrite)
    read = read_clip(clip, "auto")
    loaded = load_groove_model(model)
    run = _core.midi.groove if tool == "groove" else _core.midi.drumify
    try:
        result = run(
            loaded, read["clip"], variations=variations, temperature=temperature, seed=seed, progress=progress
        )
    except ValueError as e:
        raise MidiToolError(f"'{clip}': {e}") from None
    info = loaded.info
    sidecar = {
        "tool": tool,
        "input": str(clip),
        "read": read["messages"],
        "model": {k: info[k] for k in ("path", "kind", "name", "version", "description")},
        "settings": {"variations": variations, "temperature": temperature, "seed": seed},
        "seeds": [seed + v for v in range(variations)],
    }
    return _write_run(out, result, sidecar, names) | {"read_messages": read["messages"]}


def groove_midi(
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
    """Groove the drum clip in the MIDI file `clip` (its notes on channel 10): `variations` files in the folder
    `out`, each the same notes with a drummer's velocities and micro-timing (within half a step). The input's
    velocities are not used (the model gives its own). A file whose notes are not on channel 10 is refused
    (for drums that follow a melody, use drumify_midi). seed None draws one (it is in the sidecar). Returns the
    sidecar's content, with `sidecar`. Raises MidiToolError for bad input; nothing is written then."""
    return _tool("groove", clip, out, variations, temperature, seed, model, overwrite, progress)


def drumify_midi(
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
    """Drumify the clip in the MIDI file `clip` (a melody, a bassline, a tapped rhythm, drums): `variations`
    drum clips as long as it, following its onsets and accents (every note's onset counts, the loudest of a
    step gives the accent; a file with drums and other parts uses the other parts). Returns the sidecar's
    content, with `sidecar`. Raises MidiToolError for bad input; nothing is written then."""
    return _tool("drumify", clip, out, variations, temperature, seed, model, overwrite, progress)
