"""The MIDI tools Continue and Generate: clips read, sampled and written by the C++ core (cpp/actions/midi),
the same code as the plugin's MIDI panel; this module finds the model, checks the output folder, writes the
variations atomically and a JSON sidecar beside them.

    from tonemorph.engine.midi import continue_midi, generate_midi
    summary = continue_midi("riff.mid", "ideas/", bars=2, variations=4, seed=7)
    summary = generate_midi("drums/", kind="drums", bars=4, variations=8)

Each run writes `<tool>-01.mid`, `<tool>-02.mid`, ... (one per variation, names that sort) and `<tool>.json`
(the seed, settings, model and what was done to the input) into the output folder.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from tonemorph.atomic import write_bytes, write_json
from tonemorph.paths import bundled_models_dir, not_a_file, user_models_dir

from . import _core

Clip = _core.midi.Clip
Note = _core.midi.Note
MidiError = _core.midi.MidiError
KINDS = ("melody", "drums")
MODEL_KINDS = {"melody": "midi-melody", "drums": "midi-drums"}
STEPS_PER_BAR = _core.midi.STEPS_PER_BAR
MAX_BARS = _core.midi.MAX_BARS
MAX_VARIATIONS = _core.midi.MAX_VARIATIONS
PRIME_BARS = _core.midi.PRIME_BARS
MIDI_SUFFIXES = (".mid", ".midi", ".smf")


class MidiToolError(ValueError):
    """Input, settings or an output the tools cannot use: the message says which and what to do."""


def midi_model_paths(name: str) -> list[Path]:
    """midi/NAME in the user's models, then in the bundled ones: where a MIDI tool's model is looked for."""
    return [d / "midi" / name for d in (user_models_dir(), bundled_models_dir())]


def model_candidates(kind: str) -> list[Path]:
    """Where the `kind` ("melody" or "drums") model is looked for: the user's models, then the bundled."""
    return midi_model_paths(f"{kind}.onnx")


def find_model(path: str | os.PathLike | None, candidates: list[Path], what: str, advice: str) -> Path:
    """A MIDI tool's model file: `path` if given (it must be a file), else the first of `candidates` that
    exists; if none does, MidiToolError "WHAT is not installed (looked for ...); ADVICE"."""
    if path is not None:
        path = Path(path).expanduser()
        if reason := not_a_file(path, "a model file"):
            raise MidiToolError(reason)
        return path
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = " and ".join(f"'{c}'" for c in candidates)
    raise MidiToolError(f"{what} is not installed (looked for {looked}); {advice}")


@lru_cache(maxsize=8)
def _open_model(opener: Callable, path: str, mtime_ns: int, *args: Any) -> Any:
    return opener(path, *args)


def open_model(opener: Callable, found: Path, *args: Any) -> Any:
    """opener(found, *args) (a _core.midi model class), opened once per file (and again when the file
    changes); the core's ValueError as MidiToolError."""
    try:
        return _open_model(opener, str(found), found.stat().st_mtime_ns, *args)
    except ValueError as e:
        raise MidiToolError(str(e)) from None


def load_model(
    opener: Callable, path: str | os.PathLike | None, candidates: list[Path], what: str, advice: str
) -> Any:
    """find_model(path, candidates, what, advice) opened with open_model(opener, ...)."""
    return open_model(opener, find_model(path, candidates, what, advice))


def run_core(call: Callable[[], dict], where: str = "") -> dict:
    """call() (a _core.midi tool); its ValueError as MidiToolError, after `where` (e.g. the input's name)."""
    try:
        return call()
    except ValueError as e:
        raise MidiToolError(f"{where}{e}") from None


def draw_seed(seed: int | None) -> int:
    """`seed`, or a drawn one when None (the sidecar keeps it)."""
    return secrets.randbelow(2**32) if seed is None else seed


def find_event_model(kind: str, path: str | os.PathLike | None = None) -> Path:
    """The model file for `kind`: `path` if given, else the first of model_candidates that exists."""
    if kind not in KINDS:
        raise MidiToolError(f"kind must be one of {', '.join(KINDS)}, not '{kind}'.")
    return find_model(
        path,
        model_candidates(kind),
        f"the {kind} model",
        f"give a {MODEL_KINDS[kind]} model with --model PATH.",
    )


def load_event_model(kind: str, path: str | os.PathLike | None = None) -> _core.midi.EventModel:
    """The `kind` model, opened once per file (and again when the file changes)."""
    return open_model(_core.midi.EventModel, find_event_model(kind, path), MODEL_KINDS[kind])


def read_clip(path: str | os.PathLike, kind: str = "auto") -> dict[str, Any]:
    """A MIDI file as a clip through the C++ reader: a dict with clip, format, ticks_per_quarter,
    tempo_changes, notes_in_file, messages. kind: "auto", "melody" or "drums". MidiToolError names the file."""
    path = Path(path).expanduser()
    if reason := not_a_file(path, "a MIDI file"):
        raise MidiToolError(reason)
    try:
        return _core.midi.read_clip_file(str(path), kind)
    except ValueError as e:
        raise MidiToolError(str(e)) from None


def write_clip(path: str | os.PathLike, clip: Clip) -> None:
    """The clip as a type 0 MIDI file at `path`, atomically."""
    write_bytes(path, _core.midi.write_clip(clip))


def output_names(tool: str, variations: int) -> list[str]:
    """`<tool>-01.mid` ... (two digits: up to MAX_VARIATIONS sort by name), then the sidecar `<tool>.json`."""
    return [f"{tool}-{v + 1:02d}.mid" for v in range(variations)] + [f"{tool}.json"]


def _check_out_dir(out: Path, names: list[str], inputs: list[Path], overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise MidiToolError(
            f"the output '{out}' is a file, not a folder; give a folder for the clips (--out DIR)."
        )
    if out.is_dir():
        targets = [out / n for n in names]
        for path in inputs:
            if any(t.exists() and os.path.samefile(t, path) for t in targets):
                raise MidiToolError(
                    f"'{path}' would be overwritten by an output; choose another --out folder."
                )
        existing = [t.name for t in targets if t.exists()]
        if existing and not overwrite:
            shown = ", ".join(existing[:3]) + (" ..." if len(existing) > 3 else "")
            raise MidiToolError(
                f"'{out}' already holds {shown}; choose another --out folder, or add --overwrite to replace them."
            )


def check_seed(seed: int | None) -> None:
    """None (draw one) or a whole number the core takes."""
    if seed is not None and not 0 <= seed < 2**63:
        raise MidiToolError(f"--seed must be a whole number from 0 to 2**63 - 1, not {seed}.")


def _check_settings(bars: int, variations: int, temperature: float, seed: int | None) -> None:
    """The C++ core checks these too; checked here first so nothing is read or created for a bad setting."""
    check_seed(seed)
    if not 1 <= variations <= MAX_VARIATIONS:
        raise MidiToolError(f"--variations must be 1..{MAX_VARIATIONS}, not {variations}.")
    if not 1 <= bars <= MAX_BARS:
        raise MidiToolError(f"--bars must be 1..{MAX_BARS}, not {bars}.")
    if not temperature >= 0:
        raise MidiToolError(
            f"--temperature must be 0 or more (0: always the likeliest note; 1: as the model learned), "
            f"not {temperature}."
        )


def _write_run(out: Path, result: dict, sidecar: dict, names: list[str]) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, clip in zip(names, result["clips"]):
        write_clip(out / name, clip)
        files.append(str(out / name))
    summary = {
        **sidecar,
        "files": files,
        "bars_each": [c.steps / STEPS_PER_BAR for c in result["clips"]],
        "notes_each": [len(c.notes) for c in result["clips"]],
        "messages": list(result["messages"]),
    }
    write_json(out / names[-1], summary)
    summary["sidecar"] = str(out / names[-1])
    return summary


def _model_facts(
    model, keys: tuple[str, ...] = ("path", "kind", "name", "version", "description")
) -> dict[str, Any]:
    info = model.info
    return {k: info[k] for k in keys}


def _run(
    tool: str, call: Callable[[], dict], model, out: Path, settings: dict, extra: dict
) -> dict[str, Any]:
    """Runs the core (the output folder was checked before), then writes the clips and the sidecar."""
    names = output_names(tool, settings["variations"])
    result = run_core(call)
    sidecar = {
        "tool": tool,
        **extra,
        "model": _model_facts(model),
        "settings": settings,
        "seeds": [settings["seed"] + v for v in range(settings["variations"])],
        "new_from_step": result["new_from_step"],
        "primed_steps": result["primed_steps"],
    }
    return _write_run(out, result, sidecar, names)


def continue_midi(
    clip: str | os.PathLike,
    out: str | os.PathLike,
    *,
    bars: int = 2,
    variations: int = 4,
    temperature: float = 1.0,
    seed: int | None = None,
    kind: str = "auto",
    model: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Continue the clip in the MIDI file `clip`: `variations` files in the folder `out`, each the clip and
    then `bars` new bars. kind: "auto" (drums if the file's notes are all on channel 10), "melody" or "drums".
    A melody model takes one voice (the highest note at each onset is kept) and is primed on the last
    PRIME_BARS bars. seed None draws one (it is in the sidecar). Returns the sidecar's content, with
    `sidecar`. Raises MidiToolError for bad input; nothing is written then."""
    _check_settings(bars, variations, temperature, seed)
    if kind not in ("auto", *KINDS):
        raise MidiToolError(f"--kind must be auto, melody or drums, not '{kind}'.")
    clip, out = Path(clip).expanduser(), Path(out).expanduser()
    seed = draw_seed(seed)
    _check_out_dir(out, output_names("continue", variations), [clip], overwrite)
    read = read_clip(clip, kind)
    chosen = "drums" if read["clip"].drums else "melody"
    loaded = load_event_model(chosen, model)
    settings = {
        "bars": bars,
        "variations": variations,
        "temperature": temperature,
        "seed": seed,
        "kind": chosen,
    }
    return _run(
        "continue",
        lambda: _core.midi.continue_clip(
            loaded,
            read["clip"],
            bars=bars,
            variations=variations,
            temperature=temperature,
            seed=seed,
            progress=progress,
        ),
        loaded,
        out,
        settings,
        {"input": str(clip), "read": read["messages"]},
    ) | {"read_messages": read["messages"]}


def generate_midi(
    out: str | os.PathLike,
    *,
    kind: str = "melody",
    bars: int = 4,
    variations: int = 8,
    temperature: float = 1.0,
    seed: int | None = None,
    bpm: float = 120.0,
    model: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Generate `variations` new `kind` ("melody" or "drums") clips of `bars` bars from nothing into the folder
    `out`, at `bpm`. Returns the sidecar's content, with `sidecar`. Raises MidiToolError for bad input."""
    _check_settings(bars, variations, temperature, seed)
    if kind not in KINDS:
        raise MidiToolError(f"--kind must be melody or drums, not '{kind}'.")
    out = Path(out).expanduser()
    seed = draw_seed(seed)
    _check_out_dir(out, output_names("generate", variations), [], overwrite)
    loaded = load_event_model(kind, model)
    settings = {
        "bars": bars,
        "variations": variations,
        "temperature": temperature,
        "seed": seed,
        "kind": kind,
        "bpm": bpm,
    }
    return _run(
        "generate",
        lambda: _core.midi.generate(
            loaded,
            bars=bars,
            variations=variations,
            temperature=temperature,
            seed=seed,
            bpm=bpm,
            progress=progress,
        ),
        loaded,
        out,
        settings,
        {},
    )
