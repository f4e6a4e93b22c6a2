"""Generating sounds from a trained sampler: the C++ core's loop (cpp/actions/sampler, the plugin's code),
driven from Python; this module finds the model, reads the sounds a variation or a morph starts from, shards
a batch over processes and writes the files.

    from tonemorph.engine.sampler import GenerateSettings, generate_sounds
    written = generate_sounds("drums", "out/", GenerateSettings(count=8, seed=1, prompt="short bright snare"))

Each sound is `NNNN-seedK.wav` (24-bit, the model's rate; names sort) with `NNNN-seedK.json` beside it (seed,
steps, guidance, prompt, conditions, model, seconds, score: null until curation fills it). Item i of a batch
is drawn from seed + i, so a file depends on its seed alone, never on how the batch was sharded; a morph's
items share one seed (one noise), so neighbours differ only by where they start between the two sounds.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import shutil
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from tonemorph.atomic import write_json
from tonemorph.paths import bundled_models_dir, sampler_dirs, user_models_dir

from . import _core
from .midi import check_seed, draw_seed
from .render import read_audio

SamplerError = _core.sampler.SamplerError
MAX_COUNT = 9999  # four-digit names sort
MAX_WORKERS = 64
DEFAULT_STRENGTH = 0.5  # --like and --between: half noise, half the given sound
WAV_SUBTYPE = "PCM_24"


def list_samplers() -> list[tuple[str, Path, str]]:
    """(name, path, source) of every .onnx in sampler_dirs(), user first; files only, not validated."""
    found = []
    for folder, source in zip(sampler_dirs(), ("user", "bundled")):
        if folder.is_dir():
            found += [(p.stem, p, source) for p in sorted(folder.glob("*.onnx"))]
    return found


def find_sampler(name_or_path: str | os.PathLike) -> Path:
    """A sampler's file: an .onnx path, or a name in sampler_dirs() (user first). SamplerError names what was
    looked for, the samplers there are, and an instrument given by name."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".onnx" or path.parent != Path("."):
        if path.is_file():
            return path
        what = "does not exist" if not path.exists() else "is a folder or a device, not a model file"
        raise SamplerError(f"'{path}' {what}; give a sampler's .onnx file or its name.")
    for name, found, _ in list_samplers():
        if name == str(name_or_path):
            return found
    known = ", ".join(sorted({name for name, _, _ in list_samplers()})) or "none installed"
    instruments = [d / f"{name_or_path}.onnx" for d in (user_models_dir(), bundled_models_dir())]
    hint = (
        f" '{name_or_path}' is an instrument (for `tonemorph render`), not a sampler."
        if any(p.is_file() for p in instruments)
        else ""
    )
    raise SamplerError(
        f"no sampler named '{name_or_path}' (samplers: {known}).{hint} Give a sampler's name or its .onnx "
        f"file; `tonemorph sampler train` makes them into {sampler_dirs()[0]}."
    )


@lru_cache(maxsize=4)
def _open(path: str, mtime_ns: int) -> _core.sampler.SamplerModel:
    return _core.sampler.SamplerModel(path)


def open_sampler(name_or_path: str | os.PathLike) -> _core.sampler.SamplerModel:
    """The sampler by name or path (find_sampler), opened once per file (again when it changes)."""
    path = find_sampler(name_or_path)
    return _open(str(path), path.stat().st_mtime_ns)


def read_sound(model: _core.sampler.SamplerModel, path: str | os.PathLike, samples: int = 0) -> np.ndarray:
    """An audio file as a start for a variation or a morph: mono at the model's rate, `samples` long (0: the
    model's length), by the core's fit_sound. AudioFileError (a ValueError) names an unreadable file."""
    audio, rate = read_audio(Path(path).expanduser())
    return _core.sampler.fit_sound(model, audio, rate, samples)


def samples_for(info: dict, seconds: float | None) -> int:
    """`seconds` as a whole number of the model's hops (None: the model's length); SamplerError if it does
    not fit (under one hop, over the core's 60 s)."""
    if seconds is None:
        return info["length"]
    hop, rate = info["hop"], info["sample_rate"]
    samples = round(seconds * rate / hop) * hop
    longest = 60 * rate // hop * hop
    if not (hop <= samples <= longest) or not np.isfinite(seconds):
        raise SamplerError(
            f"--seconds {seconds:g} does not fit this sampler: give {hop / rate:g} to {longest / rate:g} s "
            f"(it was trained on {info['length'] / rate:g} s sounds; lengths are whole {hop}-sample hops)."
        )
    return samples


@dataclass
class GenerateSettings:
    """What `tonemorph sampler generate` asks. seed None: drawn (the sidecars keep it)."""

    count: int = 1
    seed: int | None = None
    steps: int | None = None  # None: the model's default
    guidance: float | None = None  # None: the model's default
    seconds: float | None = None  # None: the model's length
    prompt: str = ""
    like: str | None = None
    between: tuple[str, str] | None = None
    strength: float | None = None  # with like / between; None: DEFAULT_STRENGTH
    workers: int = 1


@dataclass(frozen=True)
class Item:
    """One sound to make: its file stem, seed and start (None, or a morph position / the --like sound)."""

    index: int
    seed: int
    position: float | None = None

    @property
    def stem(self) -> str:
        return f"{self.index:04d}-seed{self.seed}"


@dataclass(frozen=True)
class Plan:
    """Everything the workers need to make any item, independent of the sharding."""

    path: str
    conditions: tuple[int, ...]
    steps: int
    guidance: float
    samples: int
    strength: float
    like: np.ndarray | None  # the --like sound, fit_sound'ed
    a: np.ndarray | None  # a morph's ends
    b: np.ndarray | None


def check_settings(settings: GenerateSettings) -> None:
    """Refuses settings out of range before anything is read or created."""
    check_seed(settings.seed)
    if not 1 <= settings.count <= MAX_COUNT:
        raise SamplerError(f"--count must be 1..{MAX_COUNT}, not {settings.count}.")
    if settings.between and settings.count < 2:
        raise SamplerError(f"--between walks over --count 2 or more sounds, not {settings.count}.")
    if settings.steps is not None and not 1 <= settings.steps <= _core.sampler.MAX_STEPS:
        raise SamplerError(f"--steps must be 1..{_core.sampler.MAX_STEPS}, not {settings.steps}.")
    if settings.guidance is not None and not 0 <= settings.guidance <= _core.sampler.MAX_GUIDANCE:
        raise SamplerError(
            f"--guidance must be 0..{_core.sampler.MAX_GUIDANCE:g} (0: ignore the words; 1: as trained; higher: "
            f"follow them harder), not {settings.guidance:g}."
        )
    if settings.strength is not None:
        if not (settings.like or settings.between):
            raise SamplerError(
                "--strength sets how far from the given sound to go; give --like FILE or --between A B."
            )
        if not 0 <= settings.strength <= 1:
            raise SamplerError(
                f"--strength must be 0..1 (0 returns the sound, 1 ignores it), not {settings.strength:g}."
            )
    if settings.like and settings.between:
        raise SamplerError("give --like FILE (variations of one sound) or --between A B (a morph), not both.")
    if not 1 <= settings.workers <= MAX_WORKERS:
        raise SamplerError(f"--workers must be 1..{MAX_WORKERS}, not {settings.workers}.")


def plan_items(settings: GenerateSettings, seed: int) -> list[Item]:
    """The batch's items: seed + i each; a morph's all `seed` at positions i / (count - 1)."""
    if settings.between:
        return [Item(i + 1, seed, i / (settings.count - 1)) for i in range(settings.count)]
    return [Item(i + 1, seed + i) for i in range(settings.count)]


def make_plan(model: _core.sampler.SamplerModel, settings: GenerateSettings) -> Plan:
    """The prompt parsed and the sounds read by the core, everything checked, before anything is written."""
    info = model.info
    samples = samples_for(info, settings.seconds)
    conditions = _core.sampler.parse_prompt(model, settings.prompt)
    like = read_sound(model, settings.like, samples) if settings.like else None
    a, b = (read_sound(model, p, samples) for p in settings.between) if settings.between else (None, None)
    strength = DEFAULT_STRENGTH if settings.strength is None else settings.strength
    return Plan(
        path=info["path"],
        conditions=tuple(conditions),
        steps=settings.steps or info["default_steps"],
        guidance=info["default_guidance"] if settings.guidance is None else settings.guidance,
        samples=samples,
        strength=strength if (like is not None or a is not None) else 1.0,
        like=like,
        a=a,
        b=b,
    )


def make_item(plan: Plan, item: Item, progress: Callable[[float], Any] | None = None) -> np.ndarray:
    """One item's sound [samples] by the core (the same for any sharding: it depends on the plan and item)."""
    model = _open(plan.path, Path(plan.path).stat().st_mtime_ns)
    start = plan.like
    if plan.a is not None:
        start = _core.sampler.morph_start(plan.a, plan.b, item.position)
    return _core.sampler.generate(
        model,
        conditions=list(plan.conditions),
        steps=plan.steps,
        guidance=plan.guidance,
        seed=item.seed,
        samples=plan.samples,
        start=start,
        strength=plan.strength,
        progress=progress,
    )


def sidecar(plan: Plan, item: Item, settings: GenerateSettings, info: dict) -> dict[str, Any]:
    """What the item's JSON beside its WAV says."""
    said = {}
    for name, value, unspecified in zip(info["conditions"], plan.conditions, info["unspecified"]):
        if value != unspecified:
            said[name] = info["kind_names"][value] if name == "kind" else value
    facts = {
        "seed": item.seed,
        "steps": plan.steps,
        "guidance": plan.guidance,
        "prompt": settings.prompt,
        "conditions": said,
        "model": {"name": info["name"], "version": info["version"], "path": info["path"]},
        "seconds": plan.samples / info["sample_rate"],
        "sample_rate": info["sample_rate"],
        "score": None,
    }
    if settings.like:
        facts |= {"like": str(settings.like), "strength": plan.strength}
    if settings.between:
        facts |= {
            "between": [str(p) for p in settings.between],
            "position": item.position,
            "strength": plan.strength,
        }
    return facts


def output_stems(out: Path, items: list[Item]) -> None:
    """SamplerError if `out` is a file, or holds a file this run would write (nothing is overwritten)."""
    if out.exists() and not out.is_dir():
        raise SamplerError(
            f"the output '{out}' is a file, not a folder; give a folder for the sounds (--out DIR)."
        )
    if out.is_dir():
        clashes = [n for i in items for n in (f"{i.stem}.wav", f"{i.stem}.json") if (out / n).exists()]
        if clashes:
            shown = ", ".join(clashes[:3]) + (" ..." if len(clashes) > 3 else "")
            raise SamplerError(
                f"'{out}' already holds {shown}, which this run would overwrite; choose another --out folder "
                "or another --seed."
            )


def _write_item(folder: Path, item: Item, sound: np.ndarray, facts: dict, sample_rate: int) -> None:
    import soundfile

    soundfile.write(folder / f"{item.stem}.wav", np.clip(sound, -1.0, 1.0), sample_rate, subtype=WAV_SUBTYPE)
    write_json(folder / f"{item.stem}.json", facts)


def _shard(plan: Plan, items: list[Item], results) -> None:
    """A worker process: its share of the items, each put on `results` as (item, sound); an error as
    (None, exception). It ignores Ctrl-C: the parent stops it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for item in items:
        try:
            results.put((item, make_item(plan, item)))
        except Exception as e:  # noqa: BLE001 -- handed to the parent, which raises it
            results.put((None, e))
            return


def _run_items(
    plan: Plan, items: list[Item], workers: int, on_done: Callable[[Item, np.ndarray], None], on_step
) -> None:
    """Every item made in this process (workers 1: progress per step) or in `workers` processes (per item).

    The workers are plain processes, each with every workers-th item (an item depends on its seed alone),
    ignoring Ctrl-C and killed by the parent when it stops early (Ctrl-C, an error); a worker's error is
    raised here."""
    if workers == 1 or len(items) == 1:
        for n, item in enumerate(items):
            on_done(item, make_item(plan, item, lambda f, n=n: on_step(n + f)))
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds ONNX Runtime threads
    results = context.Queue()
    count = min(workers, len(items))
    processes = [
        context.Process(target=_shard, args=(plan, items[k::count], results), daemon=True)
        for k in range(count)
    ]
    try:
        for process in processes:
            process.start()
        for done in range(1, len(items) + 1):
            item, sound = _next_result(results, processes)
            on_done(item, sound)
            on_step(done)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        for process in processes:
            process.join()


def _next_result(results, processes) -> tuple[Item, np.ndarray]:
    """The next (item, sound) from the workers; a worker's error raised here, a worker that died a
    RuntimeError."""
    while True:
        try:
            item, sound = results.get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(
                    f"a sampler worker process ended unexpectedly (exit code {dead[0].exitcode})"
                ) from None
            if all(p.exitcode is not None for p in processes):  # all gone, their last results read
                raise RuntimeError("the sampler worker processes ended before every sound was made") from None
            continue
        if item is None:
            raise sound
        return item, sound


def generate_sounds(
    name_or_path: str | os.PathLike,
    out: str | os.PathLike,
    settings: GenerateSettings,
    progress: Callable[[float, int], None] | None = None,
) -> list[Path]:
    """settings.count sounds into `out` (see the module docstring); returns the WAV paths in order.

    Everything is checked first (settings, model, prompt, sounds, names in `out`), nothing is written for
    bad input. The sounds go to a hidden folder inside `out` and are moved into place at the end; Ctrl-C or
    an error removes it, the files already moved, and `out` if this run made it. progress(items done,
    count) as items finish (within an item too when workers is 1).
    """
    check_settings(settings)
    model = open_sampler(name_or_path)
    plan = make_plan(model, settings)
    info = model.info
    seed = draw_seed(settings.seed)
    items = plan_items(settings, seed)
    out = Path(out).expanduser()
    output_stems(out, items)
    made_out = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".tonemorph-generate-{uuid.uuid4().hex}"
    moved: list[Path] = []
    try:
        staging.mkdir()

        def write(item: Item, sound: np.ndarray) -> None:
            _write_item(staging, item, sound, sidecar(plan, item, settings, info), info["sample_rate"])

        def step(done: float) -> None:
            if progress:
                progress(done, len(items))

        _run_items(plan, items, settings.workers, write, step)
        for item in items:
            for suffix in (".wav", ".json"):
                os.replace(staging / f"{item.stem}{suffix}", out / f"{item.stem}{suffix}")
                moved.append(out / f"{item.stem}{suffix}")
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        if made_out:
            shutil.rmtree(out, ignore_errors=True)
        raise
    staging.rmdir()
    return [out / f"{item.stem}.wav" for item in items]
