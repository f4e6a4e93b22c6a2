"""Training the melody VAE (vae_model.py): 2-bar windows of training tunes in random keys.

Loss per window: the decoder's cross-entropy summed over the 32 steps (teacher forced, `word_dropout` of its
input events hidden) plus
beta * max(KL - free_bits, 0), beta rising linearly from 0 over `kl_warmup` steps: the first `free_bits`
nats of KL cost nothing, so the decoder learns to read z instead of ignoring it.

Windows start on a beat (a multiple of 4 sixteenths) and hold at least MIN_WINDOW_NOTES note-ons; past a
tune's end they are rests. The held-out windows are the bar-aligned 2-bar windows (steps 0, 32, 64, ...) of
the held-out tunes, at most VALIDATION_WINDOWS of them, in their own key.

A run folder and its checkpoint behave as the melody model's (melody_train.py): checkpoint.pt replaced
atomically every `checkpoint_every` steps, on Ctrl-C and at the end; `resume` continues to the state an
uninterrupted run reaches; tensorboard/ beside it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..train import StopRequest, _console, _progress, atomic_save
from .melody_data import FIRST_NOTE_ON, NO_EVENT, NUM_EVENTS, START, MelodyData, transpositions
from .melody_train import MelodyResult, build_optimizer, resume_state, save_state
from .vae_model import STEPS, MelodyVAE

CHECKPOINT_NAME = "checkpoint.pt"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_KIND = "tonemorph-midi-melody-vae-checkpoint"
WEIGHTS_KIND = "tonemorph-midi-melody-vae-weights"
CHECKPOINT_FORMAT = 1
MIN_WINDOW_NOTES = 2
VALIDATION_WINDOWS = 1000
VALIDATION_BATCH = 250


@dataclass
class VAEConfig:
    latent: int = 64
    encoder_hidden: int = 128
    hidden: int = 192
    layers: int = 2
    embedding: int = 64
    dropout: float = 0.1
    steps: int = 8000
    batch_size: int = 64
    lr: float = 2e-3
    lr_decay: float = 0.5
    lr_decay_steps: int = 3000
    grad_clip: float = 1.0
    beta: float = 0.2
    free_bits: float = 48.0  # nats per window
    word_dropout: float = 0.3  # decoder inputs hidden in training, so it leans on z
    kl_warmup: int = 2500
    seed: int = 0
    threads: int = 1
    log_every: int = 10
    validate_every: int = 500
    checkpoint_every: int = 100

    def model_args(self) -> dict:
        return {
            "latent": self.latent,
            "encoder_hidden": self.encoder_hidden,
            "hidden": self.hidden,
            "layers": self.layers,
            "embedding": self.embedding,
            "dropout": self.dropout,
        }

    @classmethod
    def from_dict(cls, values: dict) -> VAEConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def note_ons(window: np.ndarray) -> int:
    return int((window >= FIRST_NOTE_ON).sum())


def window(tune: np.ndarray, start: int) -> np.ndarray:
    """STEPS events of `tune` from `start`, rests (NO_EVENT) past its end; int64."""
    out = np.full(STEPS, NO_EVENT, np.int64)
    piece = tune[start : start + STEPS]
    out[: len(piece)] = piece
    return out


def decoder_inputs(events: np.ndarray) -> np.ndarray:
    """[batch, STEPS] events -> the decoder's teacher-forced inputs: START, then each step's predecessor."""
    inputs = np.empty_like(events)
    inputs[:, 0] = START
    inputs[:, 1:] = events[:, :-1]
    return inputs


class WindowSampler:
    """Beat-aligned 2-bar windows of training tunes (in proportion to their length), each in a random key."""

    def __init__(self, tunes: list[np.ndarray], seed: int):
        self.tunes = [t for t in tunes if note_ons(t) >= MIN_WINDOW_NOTES]
        if not self.tunes:
            raise ValueError("the melody data has no training tunes.")
        lengths = np.array([len(t) for t in self.tunes], np.float64)
        self.p = lengths / lengths.sum()
        self.keys = [transpositions(t) for t in self.tunes]
        self.rng = np.random.default_rng(seed)

    def sample(self, batch: int) -> np.ndarray:
        out = np.zeros((batch, STEPS), np.int64)
        b = 0
        while b < batch:
            i = int(self.rng.choice(len(self.tunes), p=self.p))
            tune = self.tunes[i]
            start = 4 * int(self.rng.integers(0, max(1, (len(tune) - STEPS // 2) // 4 + 1)))
            events = window(tune, start)
            if note_ons(events) < MIN_WINDOW_NOTES:
                continue
            shift = self.keys[i][int(self.rng.integers(len(self.keys[i])))]
            out[b] = np.where(events >= FIRST_NOTE_ON, events + shift, events)
            b += 1
        return out


def validation_windows(data: MelodyData, limit: int = VALIDATION_WINDOWS) -> np.ndarray:
    """[n, STEPS] int64: the held-out tunes' bar-aligned 2-bar windows with notes in them, evenly thinned."""
    found = [
        window(tune, start)
        for tune in data.side(validation=True)
        for start in range(0, len(tune), STEPS)
        if note_ons(tune[start : start + STEPS]) >= MIN_WINDOW_NOTES
    ]
    if not found:
        return np.zeros((0, STEPS), np.int64)
    chosen = np.linspace(0, len(found) - 1, min(limit, len(found))).round().astype(int)
    return np.stack([found[i] for i in sorted(set(chosen.tolist()))])


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per window [batch], nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def losses(
    model: MelodyVAE, events: torch.Tensor, sample: bool = True, word_dropout: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction cross-entropy per window [batch] summed over steps, KL per window [batch])."""
    inputs = torch.from_numpy(decoder_inputs(events.numpy()))
    logits, mu, logvar = model(events, inputs, sample=sample, word_dropout=word_dropout)
    ce = nn.functional.cross_entropy(logits.reshape(-1, NUM_EVENTS), events.reshape(-1), reduction="none")
    return ce.view(events.shape).sum(-1), kl_divergence(mu, logvar)


def reconstruct(model: MelodyVAE, events: np.ndarray, batch: int = VALIDATION_BATCH) -> np.ndarray:
    """Each window encoded to its mean z and decoded greedily (argmax), as Interpolate's ends are."""
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for k in range(0, len(events), batch):
            mu, _ = model.encode(torch.from_numpy(events[k : k + batch]))
            out.append(model.greedy(mu).numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, STEPS), np.int64)


def evaluate(model: MelodyVAE, events: np.ndarray) -> dict:
    """Held-out numbers: step accuracy of greedy reconstructions (all steps, and the note-on steps), the
    teacher-forced cross-entropy per step and the KL per window."""
    got = reconstruct(model, events)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        ce, kl = losses(model, torch.from_numpy(events), sample=False)
    model.train(was_training)
    onsets = events >= FIRST_NOTE_ON
    return {
        "windows": len(events),
        "accuracy": float((got == events).mean()),
        "note_on_accuracy": float((got == events)[onsets].mean()),
        "exact_windows": float((got == events).all(1).mean()),
        "nll_per_step": float(ce.mean()) / STEPS,
        "kl": float(kl.mean()),
    }


# --- run folder and checkpoints ---------------------------------------------------------------------------


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise ValueError(f"'{path}' does not exist; give an interpolate training run folder.")
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("kind") not in (CHECKPOINT_KIND, WEIGHTS_KIND):
        raise ValueError(f"'{path}' is not a melody VAE run (`tonemorph midi train interpolate` makes them).")
    if data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"'{path}' has checkpoint format {data.get('format')}; this tonemorph reads {CHECKPOINT_FORMAT}."
        )
    return data


def model_from_checkpoint(data: dict) -> MelodyVAE:
    model = MelodyVAE(**data["model_args"])
    model.load_state_dict(data["model"])
    return model.eval()


def start_run(run_dir: str | os.PathLike, config: VAEConfig, data_info: dict) -> Path:
    """A run folder with its step-0 checkpoint. Refuses a folder that already holds a run."""
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT_NAME).exists():
        raise ValueError(
            f"'{run_dir}' already holds a training run; continue it with --resume {run_dir}, or "
            "choose another folder."
        )
    torch.manual_seed(config.seed)
    model = MelodyVAE(**config.model_args())
    optimizer, scheduler = build_optimizer(model, config)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_save(
        {
            "kind": CHECKPOINT_KIND,
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


def train(
    run_dir: str | os.PathLike,
    data: MelodyData,
    *,
    steps: int | None = None,
    show_progress: bool = True,
    on_step: Callable[[int, float], bool | None] | None = None,
) -> MelodyResult:
    """Train the run in `run_dir` (made by start_run) from its checkpoint up to `steps` (default: the config's).

    Ctrl-C / SIGTERM stop after the current step and save; on_step(step, loss) returning true stops there too.
    history["validation"] holds (step, evaluate() dict).
    """
    threads = torch.get_num_threads()
    try:
        return _train(Path(run_dir), data, steps, show_progress, on_step)
    finally:
        torch.set_num_threads(threads)


def _train(run_dir: Path, data: MelodyData, steps, show_progress, on_step) -> MelodyResult:
    saved = load_checkpoint(run_dir)
    config = VAEConfig.from_dict(saved["config"])
    if steps is not None:
        config.steps = int(steps)
    torch.set_num_threads(config.threads)
    sampler = WindowSampler(data.side(validation=False), config.seed)
    held_out = validation_windows(data)
    model = MelodyVAE(**saved["model_args"])
    model.load_state_dict(saved["model"])
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
    start_step, interrupted, whole = step, False, True
    model.train()
    try:
        with StopRequest() as stop:
            if progress is not None:
                progress.start()
                task = progress.add_task(
                    "interpolate", total=config.steps, completed=step, loss="-", speed=""
                )
            while step < config.steps:
                beta = config.beta * min(1.0, step / max(config.kl_warmup, 1))
                events = torch.from_numpy(sampler.sample(config.batch_size))
                optimizer.zero_grad(set_to_none=True)
                ce, kl = losses(model, events, word_dropout=config.word_dropout)
                kl_mean = kl.mean()
                loss = ce.mean() + beta * torch.clamp(kl_mean - config.free_bits, min=0.0)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                value, kl_value = float(loss.detach()), float(kl_mean.detach())
                if not math.isfinite(value):
                    raise ValueError(
                        f"the loss became {value} at step {step}; resume from the last checkpoint "
                        "with a lower learning rate."
                    )
                history["train"].append((step, value, kl_value))
                rate = (step - start_step) / max(time.perf_counter() - started, 1e-9)
                if step % config.log_every == 0:
                    writer.add_scalar("loss/train", value, step)
                    writer.add_scalar("kl/train", kl_value, step)
                    writer.add_scalar("learning_rate", scheduler.get_last_lr()[0], step)
                    writer.add_scalar("speed/steps_per_second", rate, step)
                if step % config.validate_every == 0 or step == config.steps:
                    numbers = evaluate(model, held_out)
                    history["validation"].append((step, numbers))
                    for key in ("accuracy", "note_on_accuracy", "nll_per_step", "kl"):
                        writer.add_scalar(f"validation/{key}", numbers[key], step)
                    if progress is not None and not console.is_terminal:  # logs of batch jobs
                        console.print(
                            f"step {step}/{config.steps}  loss {value:.2f}  KL {kl_value:.1f}  held-out "
                            f"accuracy {numbers['accuracy']:.3f} (note-ons {numbers['note_on_accuracy']:.3f})  "
                            f"NLL {numbers['nll_per_step']:.3f}  {rate:.2f} steps/s  ETA "
                            f"{(config.steps - step) / max(rate, 1e-9) / 60:.0f} min"
                        )
                if progress is not None:
                    progress.update(task, completed=step, loss=f"{value:.2f}", speed=f"{rate:.2f} steps/s")
                if stop.requested or (on_step is not None and on_step(step, value)):
                    interrupted = True
                    break
                if step % config.checkpoint_every == 0:
                    checkpoint()
    except KeyboardInterrupt:  # a second Ctrl-C, maybe inside a step: the last periodic checkpoint stays
        interrupted, whole = True, False
    finally:
        if progress is not None:
            progress.stop()
    seconds = time.perf_counter() - started
    if whole:
        checkpoint()
    writer.flush()
    writer.close()
    return MelodyResult(run_dir, step, interrupted, seconds, elapsed_before + seconds, history)


def save_weights(run_dir: str | os.PathLike, path: str | os.PathLike, extra: dict | None = None) -> Path:
    """The run's model weights and architecture alone (no optimizer), beside the exported model."""
    saved = load_checkpoint(run_dir)
    path = Path(path)
    atomic_save(
        {
            "kind": WEIGHTS_KIND,
            "format": CHECKPOINT_FORMAT,
            "model": saved["model"],
            "model_args": saved["model_args"],
            "config": saved["config"],
            "step": saved["step"],
            "data": saved["data"],
            **(extra or {}),
        },
        path,
    )
    return path
