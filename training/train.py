"""The training loop: a prepared data set -> a DDSP instrument, with checkpoints, TensorBoard logs and a report.

A run lives in one folder:
    run.json           what the run is (config, data source, name), for people
    checkpoint.pt      the latest state (model, optimizer, scheduler, step, RNG states of every process, history),
                       replaced atomically every `checkpoint_every` steps, on Ctrl-C and at the end
    tensorboard/       loss, validation loss, learning rate, throughput
    report/            plots and example sounds, written at the end (training/report.py)

`tonemorph train --resume RUN` continues from checkpoint.pt and reaches the state an uninterrupted run reaches.
Under `torchrun --nproc_per_node N` (env RANK / WORLD_SIZE) the same loop runs DistributedDataParallel, each
process drawing its own batch of `batch_size` crops.
"""

from __future__ import annotations

import math
import os
import pickle
import random
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tonemorph.atomic import atomic_open, write_json

from .config import TrainConfig
from .dataset import PreparedDataset
from .models import DDSP, Decoder
from .spectral import SPECTRAL_LOSS_FFT_SIZES, multiscale_spectral_loss

CHECKPOINT_NAME = "checkpoint.pt"
RUN_INFO_NAME = "run.json"
TENSORBOARD_DIR = "tensorboard"
REPORT_DIR = "report"
CHECKPOINT_FORMAT = 1
CHECKPOINT_KIND = "tonemorph-checkpoint"
WEIGHTS_KIND = "tonemorph-weights"
WEIGHTS_SUFFIX = ".pt"
VOICED_CONFIDENCE = 0.5
F0_RANGE_PERCENTILES = (0.5, 99.5)
VALIDATION_SEED = 1234
VALIDATION_MAX_CHUNKS = 8
MIN_CROP_FRAMES = 8


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    step: int
    interrupted: bool
    seconds: float  # wall time spent training in this call
    steps_per_second: float
    report: Path | None = None
    history: dict = field(default_factory=dict)


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite."""


class InitError(ValueError):
    """A model to start from (--from) that cannot be used; the message says why and what to do."""


# --- data -----------------------------------------------------------------------------------------------


def dataset_stats(dataset: PreparedDataset) -> dict:
    """Loudness mean/std (dB) and f0 range (Hz) of the confidently voiced frames (all frames if none are)."""
    voiced = dataset.confidence >= VOICED_CONFIDENCE
    if not voiced.any():
        voiced = np.ones_like(dataset.confidence, dtype=bool)
    loudness = dataset.loudness_db[voiced].astype(np.float64)
    f0 = dataset.f0_hz[voiced & (dataset.f0_hz > 0)].astype(np.float64)
    if f0.size == 0:
        raise ValueError("the data set has no pitched frames; it cannot train an instrument.")
    f0_min, f0_max = np.percentile(f0, F0_RANGE_PERCENTILES)
    if not f0_max > f0_min:
        f0_min, f0_max = f0_min / 2.0 ** (1 / 12), f0_max * 2.0 ** (1 / 12)  # a single pitch: a semitone around it
    return {
        "loudness_mean": float(loudness.mean()),
        "loudness_std": float(max(loudness.std(), 1.0)),
        "f0_min_hz": float(f0_min),
        "f0_max_hz": float(f0_max),
        "seconds": float(dataset.seconds()),
    }


class CropSampler:
    """Random crops of `crop_frames` frames from random chunks, drawn with a numpy Generator (its state is saved)."""

    def __init__(self, dataset: PreparedDataset, crop_frames: int, seed: tuple[int, ...], device: torch.device):
        self.crop_frames = crop_frames
        self.hop = dataset.hop
        self.rng = np.random.default_rng(list(seed))
        self.audio = torch.from_numpy(np.ascontiguousarray(dataset.audio, dtype=np.float32)).to(device)
        self.f0 = torch.from_numpy(np.ascontiguousarray(dataset.f0_hz, dtype=np.float32)).to(device)
        self.loudness = torch.from_numpy(np.ascontiguousarray(dataset.loudness_db, dtype=np.float32)).to(device)
        self.max_start = dataset.frames - crop_frames

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """f0 [batch, crop_frames], loudness [batch, crop_frames], audio [batch, crop_frames hop]."""
        chunks = self.rng.integers(0, self.audio.shape[0], size=batch)
        starts = self.rng.integers(0, self.max_start + 1, size=batch)
        device = self.audio.device
        rows = torch.from_numpy(chunks).to(device)[:, None]
        frames = torch.from_numpy(starts).to(device)[:, None] + torch.arange(self.crop_frames, device=device)
        samples = torch.from_numpy(starts * self.hop).to(device)[:, None] + torch.arange(
            self.crop_frames * self.hop, device=device)
        return self.f0[rows, frames], self.loudness[rows, frames], self.audio[rows, samples]


# --- model, optimizer, checkpoints ------------------------------------------------------------------------


def build_model(model_args: dict, loudness_mean: float, loudness_std: float) -> DDSP:
    args = dict(model_args)
    reverb_seconds = args.pop("reverb_seconds")
    return DDSP(Decoder(**args, loudness_mean=loudness_mean, loudness_std=loudness_std), reverb_seconds)


def build_optimizer(model: nn.Module, config: TrainConfig):
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    decay, every = config.lr_decay, config.lr_decay_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: decay ** (step / every))
    return optimizer, scheduler


def atomic_save(obj, path: Path) -> None:
    """torch.save through tonemorph.atomic: `path` is always a whole checkpoint."""
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint or weights file (safe unpickling). Raises ValueError naming the file if it is neither."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise ValueError(f"'{path}' does not exist.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        # torch's own text for a file that is no checkpoint at all is a paragraph about weights_only
        detail = "not a file tonemorph wrote" if isinstance(e, pickle.UnpicklingError) else str(e).splitlines()[0]
        raise ValueError(f"'{path}' is not a readable tonemorph checkpoint ({detail}); give a run folder or the "
                         ".pt file that `tonemorph train` or `export` wrote.") from None
    if not isinstance(data, dict) or data.get("kind") not in (CHECKPOINT_KIND, WEIGHTS_KIND):
        raise ValueError(f"'{path}' is not a tonemorph checkpoint or weights file.")
    if data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"'{path}' has checkpoint format {data.get('format')}; this tonemorph reads "
                         f"{CHECKPOINT_FORMAT}.")
    return data


def model_from_checkpoint(data: dict) -> DDSP:
    stats = data["data"]
    model = build_model(data["model_args"], stats["loudness_mean"], stats["loudness_std"])
    model.load_state_dict(data["model"])
    return model


def weights_path(onnx_path: str | os.PathLike) -> Path:
    """The fine-tuning weights kept beside an exported model: NAME.onnx -> NAME.pt."""
    return Path(onnx_path).with_suffix(WEIGHTS_SUFFIX)


def weights_payload(data: dict) -> dict:
    """A checkpoint reduced to what fine-tuning needs: model weights, architecture, data statistics, config."""
    return {"kind": WEIGHTS_KIND, "format": CHECKPOINT_FORMAT, "model": data["model"],
            "model_args": data["model_args"], "data": data["data"], "config": data["config"],
            "name": data.get("name", ""), "step": data.get("step", 0)}


def resolve_init(name_or_path: str | os.PathLike) -> Path:
    """The weights file that --from names: a run folder, a .pt checkpoint/weights file, an .onnx path or a model
    name (its NAME.pt beside it)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if path.is_file() and path.suffix == WEIGHTS_SUFFIX:
        return path
    from tonemorph.engine.models import find_model  # the engine's model search: user folder, then bundled

    try:
        model = find_model(name_or_path)
    except ValueError as e:
        raise InitError(f"--from: {e}") from None
    weights = weights_path(model)
    if not weights.is_file():
        raise InitError(
            f"--from: '{model}' has no training weights beside it ({weights.name} is missing). Fine-tuning "
            "starts from those weights; models made by `tonemorph train` or `tonemorph export` have them.")
    return weights


def refit_loudness_normalisation(decoder: Decoder, mean: float, std: float) -> None:
    """Give the decoder new loudness statistics without changing what it computes.

    The decoder sees (ld - mean) / std through a first Linear(1, hidden): W x + b. With new (m', s'),
    W' = W s' / s and b' = b + W (m' - m) / s give the same output for every ld; the engine's auto-adjust then
    uses the new data's loudness range.
    """
    first = decoder.loudness_mlp[0]
    old_mean, old_std = decoder.loudness_mean, decoder.loudness_std
    with torch.no_grad():
        first.bias += first.weight[:, 0] * (mean - old_mean) / old_std
        first.weight *= std / old_std
    decoder.loudness_mean, decoder.loudness_std = float(mean), float(std)


# --- processes, interruption, RNG ---------------------------------------------------------------------------


@dataclass
class Processes:
    rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_processes(device: str) -> Processes:
    """Join the torchrun process group when RANK / WORLD_SIZE are set (gloo on CPU, nccl on CUDA)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1 or "RANK" not in os.environ:
        return Processes()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return Processes(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_WORLD_SIZE", world_size)),
                     int(os.environ.get("LOCAL_RANK", "0")))


class StopRequest:
    """Ctrl-C (SIGINT) or SIGTERM asks the loop to stop after the current step; a second Ctrl-C stops at once."""

    def __init__(self):
        self.requested = False
        self.first_interrupt: float | None = None
        self._previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        # Only a second Ctrl-C a moment later escalates: under torchrun the workers get the terminal's SIGINT and
        # then the one torchrun forwards (or its SIGTERM) at once.
        now = time.monotonic()
        if signum == signal.SIGINT and self.first_interrupt is not None and now - self.first_interrupt > 1.0:
            raise KeyboardInterrupt
        if signum == signal.SIGINT and self.first_interrupt is None:
            self.first_interrupt = now
        self.requested = True


def rng_state(sampler: CropSampler) -> dict:
    numpy_global = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "sampler": sampler.rng.bit_generator.state,
        "numpy": {**numpy_global, "state": {**numpy_global["state"], "key": numpy_global["state"]["key"].tolist()}},
        "python": random.getstate(),
    }


def set_rng_state(state: dict, sampler: CropSampler) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    sampler.rng.bit_generator.state = state["sampler"]
    numpy_global = dict(state["numpy"])
    numpy_global["state"] = {**numpy_global["state"], "key": np.asarray(numpy_global["state"]["key"], np.uint32)}
    np.random.set_state(numpy_global)
    random.setstate(tuple(x if not isinstance(x, list) else tuple(x) for x in state["python"]))


def gather(obj, processes: Processes) -> list:
    if not processes.distributed:
        return [obj]
    import torch.distributed as dist

    out: list = [None] * processes.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(processes: Processes) -> None:
    """Wait for every process (nothing to wait for in a single one)."""
    if processes.distributed:
        import torch.distributed as dist

        dist.barrier()


def leave_processes(processes: Processes, interrupted: bool) -> None:
    """After training under torchrun: wait for every process and leave the group; a worker (rank > 0) ends here.

    A worker's work is saved by rank 0. It leaves without the interpreter's teardown, where gloo's threads can still
    be running and abort the process (a torch shutdown race, seen under load); its exit code says whether the run
    was interrupted (130) or not (0).
    """
    if not processes.distributed:
        return
    import torch.distributed as dist

    barrier(processes)
    dist.destroy_process_group()
    if not processes.main:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130 if interrupted else 0)


# --- the loop --------------------------------------------------------------------------------------------------


def validation_loss(model: DDSP, dataset: PreparedDataset, fft_sizes, device: torch.device) -> float | None:
    """Mean spectral loss over up to VALIDATION_MAX_CHUNKS whole validation chunks, with a fixed noise seed.

    Runs in a forked RNG, so that validating does not change what training draws.
    """
    n = min(len(dataset), VALIDATION_MAX_CHUNKS)
    if n == 0:
        return None
    f0 = torch.from_numpy(dataset.f0_hz[:n]).to(device)
    loudness = torch.from_numpy(dataset.loudness_db[:n]).to(device)
    audio = torch.from_numpy(dataset.audio[:n]).to(device)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(VALIDATION_SEED)
        was_training = model.training
        model.eval()
        loss = float(multiscale_spectral_loss(model(f0, loudness), audio, fft_sizes))
        model.train(was_training)
    return loss


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _progress(console):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[speed]}"),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)


def start_run(
    dataset: PreparedDataset,
    run_dir: str | os.PathLike,
    config: TrainConfig,
    *,
    name: str = "instrument",
    data_source: str = "",
    init_from: str | os.PathLike | None = None,
    model_path: str | os.PathLike | None = None,
) -> Path:
    """Create a run folder with its step-0 checkpoint; returns its path. Refuses a folder that holds a run.

    init_from: weights to fine-tune from (see resolve_init); the architecture, rate and hop come from them.
    data_source, model_path: where the data came from and where the model goes, for `--resume`.
    """
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT_NAME).exists():
        raise ValueError(f"'{run_dir}' already holds a training run; continue it with `tonemorph train --resume "
                         f"{run_dir}`, or choose another folder.")
    stats = dataset_stats(dataset)
    init = None
    if init_from is not None:
        init_path = resolve_init(init_from)
        init = load_checkpoint(init_path)
        config = TrainConfig.from_dict({**asdict(config), **init["model_args"]})
    if dataset.sample_rate != config.sample_rate or dataset.hop != config.hop:
        raise ValueError(f"the data set is at {dataset.sample_rate} Hz, hop {dataset.hop}, but the model runs at "
                         f"{config.sample_rate} Hz, hop {config.hop}; prepare the data at the model's rate.")
    torch.manual_seed(config.seed)
    if init is None:
        model = build_model(config.model_args(), stats["loudness_mean"], stats["loudness_std"])
    else:
        model = model_from_checkpoint(init)
        refit_loudness_normalisation(model.decoder, stats["loudness_mean"], stats["loudness_std"])
        # The pitch range stays the new data's: it is the instrument's playing range, into which the engine's
        # auto-adjust folds input pitch by octaves.
    optimizer, scheduler = build_optimizer(model, config)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = {"name": name, "data_source": str(data_source), "data_fingerprint": dataset.meta.get("fingerprint"),
           "init_from": str(init_from) if init_from is not None else None,
           "model_path": str(model_path) if model_path is not None else None}
    checkpoint = {
        "kind": CHECKPOINT_KIND, "format": CHECKPOINT_FORMAT, "name": name, "config": asdict(config),
        "model_args": config.model_args(), "data": stats, "run": run, "model": model.state_dict(),
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": 0, "rng": [],
        "history": {"train": [], "validation": []}, "elapsed_seconds": 0.0,
    }
    atomic_save(checkpoint, run_dir / CHECKPOINT_NAME)
    info = {**run, "config": asdict(config), "data": stats}
    write_json(run_dir / RUN_INFO_NAME, info)
    return run_dir


def train(
    run_dir: str | os.PathLike,
    dataset: PreparedDataset,
    *,
    steps: int | None = None,
    device: str | None = None,
    on_step: Callable[[int, float], None] | None = None,
    on_checkpoint: Callable[[int, Path], bool | None] | None = None,
    show_progress: bool = True,
    report: bool = True,
) -> TrainResult:
    """Train the run in `run_dir` (made by start_run) from its checkpoint up to `steps` (default: the config's).

    Continues exactly where the checkpoint stopped: model, optimizer, scheduler, step and the RNG states of every
    process. Ctrl-C / SIGTERM stop after the current step and save; a KeyboardInterrupt raised inside a step
    (a second Ctrl-C) saves the state of the last whole step. `on_step(step, loss)` is called after each step;
    `on_checkpoint(step, checkpoint path)` after each periodic checkpoint is written, and a true return stops the
    run there (as Ctrl-C would: `interrupted`, resumable).
    The report folder is written when the run reaches its last step.
    """
    threads = torch.get_num_threads()
    try:
        return _train(Path(run_dir), dataset, steps, device, on_step, on_checkpoint, show_progress, report)
    finally:
        torch.set_num_threads(threads)  # as the caller had it


def _train(run_dir: Path, dataset: PreparedDataset, steps, device, on_step, on_checkpoint, show_progress,
           report) -> TrainResult:
    data = load_checkpoint(run_dir / CHECKPOINT_NAME)
    if data["kind"] != CHECKPOINT_KIND:
        raise ValueError(f"'{run_dir}' holds fine-tuning weights, not a training run.")
    config = TrainConfig.from_dict(data["config"])
    fft_sizes = config.fft_sizes or SPECTRAL_LOSS_FFT_SIZES
    if steps is not None:
        config.steps = int(steps)
    if device is not None:
        config.device = device
    dev = torch.device(config.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is available to this torch; use --device cpu.")
    if dataset.sample_rate != config.sample_rate or dataset.hop != config.hop:
        raise ValueError(f"the data set is at {dataset.sample_rate} Hz, hop {dataset.hop}; this run trains at "
                         f"{config.sample_rate} Hz, hop {config.hop}.")

    processes = init_processes(config.device)
    if on_checkpoint is not None and processes.distributed:
        raise ValueError("on_checkpoint works in a single process only (under torchrun each process would decide).")
    if dev.type == "cuda" and processes.distributed:
        dev = torch.device("cuda", processes.local_rank)
        torch.cuda.set_device(dev)
    torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // processes.local_world_size))

    train_set, validation_set = dataset.split(config.validation_fraction, seed=config.seed)
    if len(train_set) == 0:
        train_set = dataset
    crop_frames = min(dataset.frames, max(MIN_CROP_FRAMES, round(config.crop_seconds * config.sample_rate /
                                                                   config.hop)))
    sampler = CropSampler(train_set, crop_frames, (config.seed, processes.rank), dev)

    model = model_from_checkpoint(data).to(dev)
    optimizer, scheduler = build_optimizer(model, config)
    optimizer.load_state_dict(data["optimizer"])
    scheduler.load_state_dict(data["scheduler"])
    step = int(data["step"])
    history = data["history"]
    elapsed_before = float(data["elapsed_seconds"])
    rng = data["rng"]
    if len(rng) == processes.world_size:
        set_rng_state(rng[processes.rank], sampler)
    else:
        # A new run (no states yet) or a different process count: seed afresh for this rank.
        torch.manual_seed(config.seed * 1009 + processes.rank + 1)
        np.random.seed(config.seed)
        random.seed(config.seed)

    trained: nn.Module = model
    if processes.distributed:
        trained = nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None)
    eager = trained
    if config.compile:
        # The synths' FFTs stay eager inside the compiled graph; measured, the whole is still ~1.7x faster.
        warnings.filterwarnings("ignore", message="Torchinductor does not support code generation for complex")
        trained = torch.compile(trained)
    compile_checked = not config.compile

    writer = None
    if processes.main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(os.fspath(run_dir / TENSORBOARD_DIR), purge_step=step)

    def save(rng_states: dict) -> None:
        states = gather(rng_states, processes)
        if not processes.main:
            return
        atomic_save({
            **data, "config": asdict(config), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "step": step, "rng": states, "history": history,
            "elapsed_seconds": elapsed_before + (time.perf_counter() - started),
        }, run_dir / CHECKPOINT_NAME)

    console = _console()
    progress = _progress(console) if processes.main and show_progress else None
    start_step = step
    started = time.perf_counter()
    interrupted = False
    in_step = False
    snapshot = rng_state(sampler)
    model.train()
    try:
        with StopRequest() as stop:
            if progress is not None:
                progress.start()
                task = progress.add_task(data.get("name", "train"), total=config.steps, completed=step, loss="-",
                                         speed="")
            while step < config.steps:
                snapshot = rng_state(sampler)
                in_step = True
                f0, loudness, audio = sampler.sample(config.batch_size)
                optimizer.zero_grad(set_to_none=True)
                try:
                    loss = multiscale_spectral_loss(trained(f0, loudness), audio, fft_sizes)
                    loss.backward()
                except Exception as e:  # torch.compile needs a C++ compiler; without one, train eagerly
                    if compile_checked:
                        raise
                    console.print(f"[yellow]torch.compile does not work here ({type(e).__name__}: "
                                  f"{str(e).strip().splitlines()[0][:200]}); training without it.")
                    trained, compile_checked = eager, True
                    set_rng_state(snapshot, sampler)
                    continue
                compile_checked = True
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                in_step = False

                # One collective per step: agree on stopping, and average the loss for the log.
                shared = torch.tensor([float(stop.requested), float(loss.detach())], dtype=torch.float64)
                if processes.distributed:
                    import torch.distributed as dist

                    dist.all_reduce(shared)
                loss_value = float(shared[1]) / processes.world_size
                if not math.isfinite(loss_value):
                    raise TrainingDiverged(
                        f"the loss became {loss_value} at step {step}; lower the learning rate (--lr) and start "
                        "a new run, or resume from the last checkpoint.")
                history["train"].append((step, loss_value))
                rate = (step - start_step) / max(time.perf_counter() - started, 1e-9)
                if writer is not None and step % config.log_every == 0:
                    writer.add_scalar("loss/train", loss_value, step)
                    writer.add_scalar("learning_rate", scheduler.get_last_lr()[0], step)
                    writer.add_scalar("speed/steps_per_second", rate, step)
                    writer.add_scalar("speed/frames_per_second",
                                      rate * config.batch_size * crop_frames * processes.world_size, step)
                if processes.main and (step % config.validate_every == 0 or step == config.steps):
                    value = validation_loss(model, validation_set, fft_sizes, dev)
                    if value is not None:
                        history["validation"].append((step, value))
                        writer.add_scalar("loss/validation", value, step)
                if progress is not None:
                    progress.update(task, completed=step, loss=f"{loss_value:.3f}", speed=f"{rate:.2f} steps/s")
                    if not console.is_terminal and step % config.validate_every == 0:  # logs of batch jobs
                        remaining = (config.steps - step) / max(rate, 1e-9)
                        console.print(f"step {step}/{config.steps}  loss {loss_value:.3f}  {rate:.2f} steps/s  "
                                      f"ETA {remaining / 60:.0f} min")
                if on_step is not None:
                    on_step(step, loss_value)
                if shared[0] > 0:
                    interrupted = True
                    break
                if step % config.checkpoint_every == 0 and step < config.steps:
                    save(rng_state(sampler))
                    if on_checkpoint is not None and on_checkpoint(step, run_dir / CHECKPOINT_NAME):
                        interrupted = True
                        break
            snapshot = rng_state(sampler)
    except KeyboardInterrupt:
        interrupted = True
        if not in_step:
            snapshot = rng_state(sampler)
        # else: the step never reached optimizer.step(); `snapshot` is the RNG state before it began.
        optimizer.zero_grad(set_to_none=True)
    finally:
        if progress is not None:
            progress.stop()
    seconds = time.perf_counter() - started
    save(snapshot)
    if writer is not None:
        writer.flush()
        writer.close()
    rate = (step - start_step) / max(seconds, 1e-9)
    checkpoint = run_dir / CHECKPOINT_NAME
    report_dir = None
    if processes.main and report and not interrupted and step >= config.steps:
        from .report import write_report

        examples = validation_set if len(validation_set) else train_set
        report_dir = write_report(model.cpu(), examples, history, run_dir / REPORT_DIR,
                                  summary={"steps": step, "steps_per_second": rate,
                                           "frames_per_second": rate * config.batch_size * crop_frames *
                                           processes.world_size,
                                           "train_seconds": elapsed_before + seconds, "config": asdict(config)})
    return TrainResult(run_dir, checkpoint, step, interrupted, seconds, rate, report_dir, history)


# --- export ------------------------------------------------------------------------------------------------


def export_checkpoint(
    checkpoint: str | os.PathLike | dict,
    out: str | os.PathLike,
    *,
    name: str | None = None,
    version: int = 1,
    description: str = "",
) -> tuple[Path, Path]:
    """Export a run (its folder or checkpoint.pt), a weights file, or a checkpoint already read by
    load_checkpoint to `out` (.onnx), with NAME.pt beside it.

    The .onnx is what the engine plays; the .pt beside it holds the torch weights so that `--from` can
    fine-tune from the model later. Both are written atomically. Returns (onnx path, weights path).
    """
    from .export import export_onnx

    data = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"'{out}': the model file must end in .onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model_from_checkpoint(data)
    stats = data["data"]
    name = name or data.get("name") or out.stem
    export_onnx(model, out, name=name, version=version, f0_range=(stats["f0_min_hz"], stats["f0_max_hz"]),
                description=description or f"trained by tonemorph for {data.get('step', 0)} steps on "
                                           f"{stats['seconds'] / 60:.1f} min of audio")
    weights = weights_path(out)
    atomic_save({**weights_payload(data), "name": name}, weights)
    return out, weights


def runs_dir() -> Path:
    """Where `tonemorph train` keeps its run folders: $TONEMORPH_RUNS, or `runs` beside the user model folder."""
    if env := os.environ.get("TONEMORPH_RUNS"):
        return Path(env).expanduser()
    from tonemorph.paths import user_models_dir

    return user_models_dir().parent / "runs"
