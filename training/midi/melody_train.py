"""Training the melody model (random crops of training tunes in random keys) and the drums model (random crops
of songs and grooves, as they are): next-event cross-entropy. The config's `task` says which (TASKS).

A run lives in one folder, as an instrument run does (training/train.py):
    checkpoint.pt   model, optimizer, scheduler, step, the crop sampler's and torch's RNG states, history;
                    replaced atomically every `checkpoint_every` steps, on Ctrl-C and at the end
    tensorboard/    loss, validation NLL, learning rate, speed

`resume` continues from checkpoint.pt to the state an uninterrupted run reaches: on one CPU thread the
same steps give the same weights (tests/test_midi_melody.py checks it).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..train import StopRequest, _console, _progress, atomic_save
from . import drum_data
from . import melody_data as md
from .melody_model import MelodyRNN

CHECKPOINT_NAME = "checkpoint.pt"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_FORMAT = 1
IGNORE = -100  # padding in the targets
VALIDATION_BATCH = 64


@dataclass(frozen=True)
class EventTask:
    """What a next-event model is trained on: its vocabulary, and the shifts (keys) a sequence may be drawn in."""

    name: str
    num_events: int
    num_inputs: int
    keys: Callable[[np.ndarray], list[int]] | None  # None: sequences as they are

    @property
    def checkpoint_kind(self) -> str:
        return f"tonemorph-midi-{self.name}-checkpoint"

    @property
    def weights_kind(self) -> str:
        return f"tonemorph-midi-{self.name}-weights"


TASKS = {
    "melody": EventTask("melody", md.NUM_EVENTS, md.NUM_INPUTS, md.transpositions),
    "drums": EventTask("drums", drum_data.NUM_EVENTS, drum_data.NUM_INPUTS, None),
}


@dataclass
class MelodyConfig:
    task: str = "melody"  # a key of TASKS
    hidden: int = 256
    layers: int = 2
    embedding: int = 64
    dropout: float = 0.1
    steps: int = 4000
    batch_size: int = 32
    crop_steps: int = 128  # 8 bars of 4/4
    lr: float = 3e-3
    lr_decay: float = 0.5
    lr_decay_steps: int = 1400
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1
    log_every: int = 10
    validate_every: int = 250
    checkpoint_every: int = 100

    def model_args(self) -> dict:
        task = TASKS[self.task]
        return {
            "hidden": self.hidden,
            "layers": self.layers,
            "embedding": self.embedding,
            "dropout": self.dropout,
            "num_inputs": task.num_inputs,
            "num_events": task.num_events,
        }

    @classmethod
    def from_dict(cls, values: dict) -> MelodyConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class MelodyResult:
    run_dir: Path
    step: int
    interrupted: bool
    seconds: float  # wall time of this call
    train_seconds: float  # wall time of the whole run, all calls
    history: dict = field(default_factory=dict)


class CropSampler:
    """Crops of `crop` steps from training tunes (chosen in proportion to their length), each in a random key
    of keys(tune) (melodies: melody_data.transpositions; keys None: as they are, the drums).

    inputs [batch, crop] are the events before each target (START before a tune's first step); targets
    [batch, crop] are the events, IGNORE past a tune's end.
    """

    def __init__(
        self,
        tunes: list[np.ndarray],
        crop: int,
        seed: int,
        keys: Callable[[np.ndarray], list[int]] | None = md.transpositions,
        start: int = md.START,
    ):
        if not tunes:
            raise ValueError("the data has no training sequences.")
        self.tunes, self.crop, self.start = tunes, crop, start
        lengths = np.array([len(t) for t in tunes], np.float64)
        self.p = lengths / lengths.sum()
        self.keys = [keys(t) for t in tunes] if keys is not None else None
        self.rng = np.random.default_rng(seed)

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = np.zeros((batch, self.crop), np.int64)
        targets = np.full((batch, self.crop), IGNORE, np.int64)
        for b, i in enumerate(self.rng.choice(len(self.tunes), size=batch, p=self.p)):
            tune = self.tunes[i].astype(np.int64)
            start = int(self.rng.integers(0, max(1, len(tune) - self.crop + 1)))
            if self.keys is not None:
                shift = self.keys[i][int(self.rng.integers(len(self.keys[i])))]
                tune = np.where(tune >= md.FIRST_NOTE_ON, tune + shift, tune)
            piece = tune[start : start + self.crop]
            targets[b, : len(piece)] = piece
            inputs[b, 0] = self.start if start == 0 else tune[start - 1]
            inputs[b, 1 : len(piece)] = piece[:-1]
        return torch.from_numpy(inputs), torch.from_numpy(targets)


def sequence_nll(model: MelodyRNN, tunes: list[np.ndarray], batch: int = VALIDATION_BATCH) -> float:
    """Mean next-step NLL (nats per step) over whole tunes, each from START with a fresh state; eval mode."""
    was_training = model.training
    model.eval()
    total, steps = 0.0, 0
    order = sorted(range(len(tunes)), key=lambda i: len(tunes[i]))
    with torch.no_grad():
        for k in range(0, len(order), batch):
            chosen = [tunes[i].astype(np.int64) for i in order[k : k + batch]]
            length = max(len(t) for t in chosen)
            inputs = np.zeros((len(chosen), length), np.int64)
            targets = np.full((len(chosen), length), IGNORE, np.int64)
            for b, t in enumerate(chosen):
                targets[b, : len(t)] = t
                inputs[b, 0] = model.start_token
                inputs[b, 1 : len(t)] = t[:-1]
            logits, _ = model(torch.from_numpy(inputs), model.initial_state(len(chosen)))
            loss = nn.functional.cross_entropy(
                logits.reshape(-1, model.num_events),
                torch.from_numpy(targets).reshape(-1),
                ignore_index=IGNORE,
                reduction="sum",
            )
            total += float(loss)
            steps += sum(len(t) for t in chosen)
    model.train(was_training)
    return total / max(steps, 1)


# --- run folder and checkpoints ---------------------------------------------------------------------------


def build_optimizer(model: nn.Module, config: MelodyConfig):
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    decay, every = config.lr_decay, config.lr_decay_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: decay ** (step / every))
    return optimizer, scheduler


def resume_state(saved: dict, config, model: nn.Module, sampler):
    """A checkpoint's training state made live (the MIDI models' runs share it): its optimizer and scheduler
    restored, its random state put back into torch and the crop sampler (a new run seeds torch with
    config.seed + 1). Returns (optimizer, scheduler, step, history, elapsed seconds so far)."""
    optimizer, scheduler = build_optimizer(model, config)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    step, history, elapsed_before = int(saved["step"]), saved["history"], float(saved["elapsed_seconds"])
    if saved["rng"] is not None:
        torch.set_rng_state(saved["rng"]["torch"])
        sampler.rng.bit_generator.state = saved["rng"]["sampler"]
    else:
        torch.manual_seed(config.seed + 1)
    return optimizer, scheduler, step, history, elapsed_before


def save_state(
    path: Path,
    saved: dict,
    config,
    model: nn.Module,
    optimizer,
    scheduler,
    sampler,
    step: int,
    history: dict,
    elapsed_seconds: float,
) -> None:
    """The run's checkpoint written atomically: what resume_state() takes back, beside the rest of `saved`."""
    atomic_save(
        {
            **saved,
            "config": asdict(config),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "history": history,
            "rng": {"torch": torch.get_rng_state(), "sampler": sampler.rng.bit_generator.state},
            "elapsed_seconds": elapsed_seconds,
        },
        path,
    )


def load_checkpoint(path: str | os.PathLike, task: str | None = "melody") -> dict:
    """A run's checkpoint (a run folder or its checkpoint.pt) of `task`, or of any task when task is None."""
    what = task or "MIDI model"
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise ValueError(f"'{path}' does not exist; give a {what} training run folder.")
    data = torch.load(path, map_location="cpu", weights_only=True)
    kinds = [t.checkpoint_kind for name, t in TASKS.items() if task in (None, name)]
    if not isinstance(data, dict) or data.get("kind") not in kinds:
        raise ValueError(
            f"'{path}' is not a {what} training run (`tonemorph midi train {task or '...'}` makes them)."
        )
    if data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"'{path}' has checkpoint format {data.get('format')}; this tonemorph reads {CHECKPOINT_FORMAT}."
        )
    return data


def model_from_checkpoint(data: dict) -> MelodyRNN:
    model = MelodyRNN(**data["model_args"])
    model.load_state_dict(data["model"])
    return model


def start_run(run_dir: str | os.PathLike, config: MelodyConfig, data_info: dict) -> Path:
    """A run folder with its step-0 checkpoint. Refuses a folder that already holds a run."""
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT_NAME).exists():
        raise ValueError(
            f"'{run_dir}' already holds a training run; continue it with --resume {run_dir}, or "
            "choose another folder."
        )
    torch.manual_seed(config.seed)
    model = MelodyRNN(**config.model_args())
    optimizer, scheduler = build_optimizer(model, config)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_save(
        {
            "kind": TASKS[config.task].checkpoint_kind,
            "format": CHECKPOINT_FORMAT,
            "config": asdict(config),
            "model_args": config.model_args(),
            "data": data_info,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": 0,
            "rng": None,
            "history": {"train": [], "validation": []},
            "elapsed_seconds": 0.0,
        },
        run_dir / CHECKPOINT_NAME,
    )
    return run_dir


# --- the loop --------------------------------------------------------------------------------------------


def train(
    run_dir: str | os.PathLike,
    data: md.MelodyData | drum_data.DrumData,
    *,
    steps: int | None = None,
    show_progress: bool = True,
    on_step: Callable[[int, float], bool | None] | None = None,
) -> MelodyResult:
    """Train the run in `run_dir` (made by start_run) from its checkpoint up to `steps` (default: the config's).

    Ctrl-C / SIGTERM stop after the current step and save; a second Ctrl-C stops at once and keeps the last
    periodic checkpoint. on_step(step, loss) after each step; a true return stops the run there, saved and
    resumable, as Ctrl-C would.
    """
    threads = torch.get_num_threads()
    try:
        return _train(Path(run_dir), data, steps, show_progress, on_step)
    finally:
        torch.set_num_threads(threads)


def _train(
    run_dir: Path, data: md.MelodyData | drum_data.DrumData, steps, show_progress, on_step
) -> MelodyResult:
    saved = load_checkpoint(run_dir, task=None)
    config = MelodyConfig.from_dict(saved["config"])
    if steps is not None:
        config.steps = int(steps)
    torch.set_num_threads(config.threads)
    task = TASKS[config.task]
    sampler = CropSampler(
        data.side(validation=False), config.crop_steps, config.seed, task.keys, task.num_inputs - 1
    )
    validation = data.side(validation=True)
    model = model_from_checkpoint(saved)
    optimizer, scheduler, step, history, elapsed_before = resume_state(saved, config, model, sampler)

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(os.fspath(run_dir / TENSORBOARD_DIR), purge_step=step)
    started = time.perf_counter()

    def checkpoint() -> None:
        save_state(
            run_dir / CHECKPOINT_NAME,
            saved,
            config,
            model,
            optimizer,
            scheduler,
            sampler,
            step,
            history,
            elapsed_before + time.perf_counter() - started,
        )

    console = _console()
    progress = _progress(console) if show_progress else None
    start_step, interrupted = step, False
    model.train()
    try:
        with StopRequest() as stop:
            if progress is not None:
                progress.start()
                bar = progress.add_task(config.task, total=config.steps, completed=step, loss="-", speed="")
            while step < config.steps:
                loss = train_step(model, optimizer, scheduler, sampler, config)
                step += 1
                if not math.isfinite(loss):
                    raise ValueError(
                        f"the loss became {loss} at step {step}; resume from the last checkpoint "
                        "with a lower learning rate."
                    )
                history["train"].append((step, loss))
                rate = (step - start_step) / max(time.perf_counter() - started, 1e-9)
                if step % config.log_every == 0:
                    writer.add_scalar("loss/train", loss, step)
                    writer.add_scalar("learning_rate", scheduler.get_last_lr()[0], step)
                    writer.add_scalar("speed/steps_per_second", rate, step)
                if step % config.validate_every == 0 or step == config.steps:
                    value = sequence_nll(model, validation)
                    history["validation"].append((step, value))
                    writer.add_scalar("nll/validation", value, step)
                    if progress is not None and not console.is_terminal:  # logs of batch jobs
                        console.print(
                            f"step {step}/{config.steps}  loss {loss:.3f}  validation NLL {value:.3f}  "
                            f"{rate:.2f} steps/s  ETA {(config.steps - step) / max(rate, 1e-9) / 60:.0f} "
                            "min"
                        )
                if progress is not None:
                    progress.update(bar, completed=step, loss=f"{loss:.3f}", speed=f"{rate:.2f} steps/s")
                stop_now = on_step is not None and on_step(step, loss)
                if stop.requested or stop_now:
                    interrupted = True
                    break
                if step % config.checkpoint_every == 0:
                    checkpoint()
    except KeyboardInterrupt:  # a second Ctrl-C, maybe inside a step: the last periodic checkpoint stays
        interrupted, whole = True, False
    else:
        whole = True
    finally:
        if progress is not None:
            progress.stop()
    seconds = time.perf_counter() - started
    if whole:
        checkpoint()
    writer.flush()
    writer.close()
    return MelodyResult(run_dir, step, interrupted, seconds, elapsed_before + seconds, history)


def train_step(model: MelodyRNN, optimizer, scheduler, sampler: CropSampler, config: MelodyConfig) -> float:
    inputs, targets = sampler.sample(config.batch_size)
    optimizer.zero_grad(set_to_none=True)
    logits, _ = model(inputs, model.initial_state(config.batch_size))
    loss = nn.functional.cross_entropy(
        logits.reshape(-1, model.num_events), targets.reshape(-1), ignore_index=IGNORE
    )
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    scheduler.step()
    return float(loss.detach())


def save_weights(run_dir: str | os.PathLike, path: str | os.PathLike, task: str = "melody") -> Path:
    """The run's model weights and architecture alone (no optimizer), beside the exported model."""
    saved = load_checkpoint(run_dir, task)
    path = Path(path)
    atomic_save(
        {
            "kind": TASKS[task].weights_kind,
            "format": CHECKPOINT_FORMAT,
            "model": saved["model"],
            "model_args": saved["model_args"],
            "config": saved["config"],
            "step": saved["step"],
            "data": saved["data"],
        },
        path,
    )
    return path
