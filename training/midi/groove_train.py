"""Training the Groove / Drumify model: random training grids, each humanised afresh, half as Groove examples
and half as Drumify ones; loss = hits BCE (Drumify) + weighted velocity and offset errors + beta * KL (with
free bits).

A run lives in one folder, as the melody run does (training/midi/melody_train.py, whose optimizer and
schedule it shares): checkpoint.pt (replaced atomically every `checkpoint_every` steps, on Ctrl-C and at the
end; resuming reaches the state of an uninterrupted run) and tensorboard/.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from ..train import StopRequest, _console, _progress, atomic_save
from .groove_data import Grids, GrooveSampler, fixed_examples
from .groove_model import GrooveVAE, loss_terms
from .melody_train import build_optimizer, resume_state, save_state

CHECKPOINT_NAME = "checkpoint.pt"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_KIND = "tonemorph-midi-groove-checkpoint"
WEIGHTS_KIND = "tonemorph-midi-groove-weights"
CHECKPOINT_FORMAT = 1
VALIDATION_SEED = 12345


@dataclass
class GrooveConfig:
    hidden: int = 128
    latent: int = 32
    layers: int = 2
    dropout: float = 0.1
    steps: int = 5000
    batch_size: int = 64
    lr: float = 2e-3
    lr_decay: float = 0.5
    lr_decay_steps: int = 1700
    grad_clip: float = 1.0
    velocity_weight: float = 20.0
    offset_weight: float = 20.0
    beta: float = 1.0
    free_bits: float = 2.0  # nats of KL per example not penalised
    seed: int = 0
    threads: int = 1
    log_every: int = 10
    validate_every: int = 250
    checkpoint_every: int = 100

    def model_args(self) -> dict:
        return {"hidden": self.hidden, "latent": self.latent, "layers": self.layers, "dropout": self.dropout}

    @classmethod
    def from_dict(cls, values: dict) -> GrooveConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class GrooveResult:
    run_dir: Path
    step: int
    interrupted: bool
    seconds: float
    train_seconds: float
    history: dict = field(default_factory=dict)


def total_loss(terms: dict, config: GrooveConfig) -> torch.Tensor:
    return (
        terms["hits"]
        + config.velocity_weight * terms["velocity"]
        + config.offset_weight * terms["offset"]
        + config.beta * torch.clamp(terms["kl"], min=config.free_bits)
    )


def validation_losses(model: GrooveVAE, validation: Grids) -> dict:
    """Reconstruction on the held-out grids (humanised with a fixed seed), z from the encoder's mean, and the
    Drumify hit loss with z = 0 (what generation from the prior gets)."""
    was = model.training
    model.eval()
    out = {}
    with torch.no_grad():
        for label, drumify in (("groove", False), ("drumify", True)):
            cond, target = (torch.from_numpy(a) for a in fixed_examples(validation, VALIDATION_SEED, drumify))
            terms = loss_terms(model, cond, target, sample=False)
            out[f"{label}/velocity"] = float(terms["velocity"])
            out[f"{label}/offset"] = float(terms["offset"])
            out[f"{label}/kl"] = float(terms["kl"])
            if drumify:
                out["drumify/hits"] = float(terms["hits"])
                logits, _, _ = model.decode(cond, torch.zeros(len(cond), model.latent))
                out["drumify/hits_prior"] = float(
                    torch.nn.functional.binary_cross_entropy_with_logits(
                        logits, target[..., : logits.shape[-1]]
                    )
                )
    model.train(was)
    return out


def load_checkpoint(path: str | os.PathLike, *, weights: bool = False) -> dict:
    """A run's checkpoint.pt (a folder or the file); weights=True also takes a weights file (groove.pt)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise ValueError(f"'{path}' does not exist; give a groove training run folder.")
    data = torch.load(path, map_location="cpu", weights_only=True)
    kinds = (CHECKPOINT_KIND, WEIGHTS_KIND) if weights else (CHECKPOINT_KIND,)
    if not isinstance(data, dict) or data.get("kind") not in kinds:
        raise ValueError(f"'{path}' is not a groove training run (`tonemorph midi train groove` makes them).")
    if data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"'{path}' has checkpoint format {data.get('format')}; this tonemorph reads 1.")
    return data


def model_from_checkpoint(data: dict) -> GrooveVAE:
    model = GrooveVAE(**data["model_args"])
    model.load_state_dict(data["model"])
    return model.eval()


def start_run(run_dir: str | os.PathLike, config: GrooveConfig, data_info: dict) -> Path:
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT_NAME).exists():
        raise ValueError(
            f"'{run_dir}' already holds a training run; continue it with --resume {run_dir}, or choose "
            "another folder."
        )
    torch.manual_seed(config.seed)
    model = GrooveVAE(**config.model_args())
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
    grids: Grids,
    *,
    steps: int | None = None,
    show_progress: bool = True,
    on_step: Callable[[int, float], bool | None] | None = None,
) -> GrooveResult:
    """Train the run in `run_dir` (made by start_run) up to `steps` (default: the config's). Ctrl-C / SIGTERM
    or a true return of on_step(step, loss) stop after the current step, saved and resumable."""
    threads = torch.get_num_threads()
    try:
        return _train(Path(run_dir), grids, steps, show_progress, on_step)
    finally:
        torch.set_num_threads(threads)


def _train(run_dir: Path, grids: Grids, steps, show_progress, on_step) -> GrooveResult:
    saved = load_checkpoint(run_dir)
    config = GrooveConfig.from_dict(saved["config"])
    if steps is not None:
        config.steps = int(steps)
    torch.set_num_threads(config.threads)
    sampler = GrooveSampler(grids.side(validation=False), config.seed)
    validation = grids.side(validation=True)
    if len(validation) == 0:
        validation = grids.side(validation=False)
    model = GrooveVAE(**saved["model_args"])
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
                task = progress.add_task("groove", total=config.steps, completed=step, loss="-", speed="")
            while step < config.steps:
                cond, target = (torch.from_numpy(a) for a in sampler.sample(config.batch_size))
                optimizer.zero_grad(set_to_none=True)
                terms = loss_terms(model, cond, target)
                loss_t = total_loss(terms, config)
                loss_t.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                loss = float(loss_t.detach())
                if not math.isfinite(loss):
                    raise ValueError(
                        f"the loss became {loss} at step {step}; resume from the last checkpoint with a "
                        "lower learning rate."
                    )
                history["train"].append((step, loss))
                rate = (step - start_step) / max(time.perf_counter() - started, 1e-9)
                if step % config.log_every == 0:
                    writer.add_scalar("loss/train", loss, step)
                    for name, value in terms.items():
                        writer.add_scalar(f"train/{name}", float(value.detach()), step)
                    writer.add_scalar("speed/steps_per_second", rate, step)
                if step % config.validate_every == 0 or step == config.steps:
                    values = validation_losses(model, validation)
                    history["validation"].append((step, values))
                    for name, value in values.items():
                        writer.add_scalar(f"validation/{name}", value, step)
                    if progress is not None and not console.is_terminal:
                        console.print(
                            f"step {step}/{config.steps}  loss {loss:.3f}  "
                            + "  ".join(f"{k} {v:.4f}" for k, v in values.items())
                            + f"  {rate:.2f} steps/s"
                        )
                if progress is not None:
                    progress.update(task, completed=step, loss=f"{loss:.3f}", speed=f"{rate:.2f} steps/s")
                if stop.requested or (on_step is not None and on_step(step, loss)):
                    interrupted = True
                    break
                if step % config.checkpoint_every == 0:
                    checkpoint()
    except KeyboardInterrupt:
        interrupted, whole = True, False
    finally:
        if progress is not None:
            progress.stop()
    seconds = time.perf_counter() - started
    if whole:
        checkpoint()
    writer.flush()
    writer.close()
    return GrooveResult(run_dir, step, interrupted, seconds, elapsed_before + seconds, history)


def save_weights(run_dir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """The run's weights and architecture alone, beside the exported model."""
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
            "elapsed_seconds": saved["elapsed_seconds"],
        },
        path,
    )
    return path
