"""Training the sampler's generator on a folder of sounds (tonemorph.sampler.data's chunks).

A run lives in one folder, as an instrument run does (training/train.py):
    data.npz        the run's training and validation chunks and their conditions, fixed when the run starts
    checkpoint.pt   model, its exponential moving average (EMA, what is exported), optimizer, scheduler, step,
                    the batch sampler's and torch's RNG states of every process, history, vocabulary; replaced
                    atomically every `checkpoint_every` steps, on Ctrl-C and at the end
    tensorboard/    loss, validation loss, learning rate, speed
    report/step-NNNNNN/   at each checkpoint: one generated example per frequent kind and one unconditioned
                    (WAV, 24-bit), with the EMA weights and fixed seeds, and report.json (losses, settings)

`train` continues from checkpoint.pt to the state an uninterrupted run reaches: on one CPU thread the same
steps give the same weights (tests/test_sampler_model.py checks it).

Under `torchrun --nproc_per_node N` (env RANK / WORLD_SIZE) the same loop runs DistributedDataParallel as the
instrument's does (training/train.py): each process draws its own batch of `batch_size` sounds with its own
random streams, the gradients are averaged, so weights and EMA stay the same in every process, and rank 0 alone
writes the checkpoint (with every process's RNG states), TensorBoard and the reports.
"""

from __future__ import annotations

import math
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from tonemorph.atomic import atomic_open, atomic_path, write_json
from tonemorph.sampler import curate
from tonemorph.sampler.data import SamplerDataError, SampleSet, load_samples, split_by_kit
from tonemorph.sampler.descriptors import describe
from tonemorph.sampler.noise_floor import finish_sounds
from tonemorph.sampler.words import Vocabulary, build_vocabulary, descriptor_bins

from ..train import StopRequest, _console, _progress, atomic_save, gather, init_processes
from .model import (
    CONDITIONS,
    DESCRIPTORS,
    KINDS,
    UNSPECIFIED_BIN,
    UNSPECIFIED_KIND,
    VelocityNet,
    condition_row,
    flow_loss,
    sample,
    unspecified,
)

CHECKPOINT_NAME = "checkpoint.pt"
DATA_NAME = "data.npz"
TENSORBOARD_DIR = "tensorboard"
REPORT_DIR = "report"
CHECKPOINT_KIND = "tonemorph-sampler-checkpoint"
WEIGHTS_KIND = "tonemorph-sampler-weights"
CHECKPOINT_FORMAT = 1
MIN_CHUNKS = 8  # fewer sounds than this teach a generator nothing but copies
CLASSIFIER_SOUNDS = "classifier_sounds"  # a weights file's labelled sounds (weights_payload)
PRIOR_PREFIX = "prior/"  # the file names of a fine-tune's sounds of its base (prior_sounds)
PRIOR_SEED = 1_000_000  # their seeds start here, away from the seeds the measures generate with (0, 1, ...)
PRIOR_MIN_KIND_SOUNDS = 4  # a kind the base trained on fewer sounds of is not asked for
VALIDATION_FRACTION = 0.1  # of a user's folder, held out when it has VALIDATION_MIN_CHUNKS or more
VALIDATION_MIN_CHUNKS = 40
VALIDATION_MAX_CHUNKS = 64
VALIDATION_SEED = 1234
REPORT_KINDS = 4  # examples per checkpoint: the most frequent kinds, and one unconditioned
REPORT_SEED = 7


@dataclass
class SamplerConfig:
    channels: int = 192
    blocks: int = 8
    hop: int = 96
    window: int = 384
    condition_dim: int = 128
    steps: int = 20000
    batch_size: int = 16
    lr: float = 5e-4
    warmup_steps: int = 200
    grad_clip: float = 1.0
    ema: float = 0.999
    drop_condition: float = 0.3  # each condition on its own: a prompt may name a few of them
    drop_all: float = 0.1  # all of them: the unconditional model of classifier-free guidance
    balance_kinds: float = 0.5  # this share of a batch draws a kind uniformly, then a sound of that kind
    validation_fraction: float = VALIDATION_FRACTION  # of a folder without validation kits
    spectral_weight: float = 0.0  # model.flow_loss's spectral term (0: the squared error alone)
    prior_per_kind: int = 0  # a fine-tune's sounds of its base per kind it knows (prior_sounds; 0: none)
    sample_steps: int = 8
    guidance: float = 2.0
    sample_shift: float = 1.0  # model.time_grid's shift for generating
    seed: int = 0
    threads: int = 1
    device: str = "cpu"  # or "cuda"
    log_every: int = 10
    validate_every: int = 100
    checkpoint_every: int = 200

    def sampling_args(self) -> dict:
        """model.sample's keywords for generating at this config's settings."""
        return {"steps": self.sample_steps, "guidance": self.guidance, "shift": self.sample_shift}

    def model_args(self) -> dict:
        return {
            "channels": self.channels,
            "blocks": self.blocks,
            "hop": self.hop,
            "window": self.window,
            "condition_dim": self.condition_dim,
        }

    @classmethod
    def from_dict(cls, values: dict) -> SamplerConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


# How a base generates (tuned on its own held-out sounds): a fine-tune of it keeps these.
SAMPLING_FIELDS = ("sample_steps", "guidance", "sample_shift")
# ... and the loss it was trained with.
BASE_FIELDS = (*SAMPLING_FIELDS, "spectral_weight")
FINETUNE_OVERRIDES = {"lr": 2e-4, "warmup_steps": 50, "steps": 1000, "ema": 0.995, "prior_per_kind": 8}


@dataclass
class SamplerResult:
    run_dir: Path
    step: int
    interrupted: bool
    seconds: float  # wall time of this call
    train_seconds: float  # of the whole run, all calls
    history: dict = field(default_factory=dict)


# --- data ---------------------------------------------------------------------------------------------------


def conditions_of(samples: SampleSet, vocabulary: Vocabulary) -> np.ndarray:
    """[chunks, len(CONDITIONS)] int64: each chunk's kind and descriptor bins by the vocabulary's edges
    (UNSPECIFIED where a sound has no kind, no pitch, or the vocabulary no edges for a descriptor)."""
    table = np.empty((len(samples), len(CONDITIONS)), np.int64)
    table[:, 0] = [UNSPECIFIED_KIND if k is None else KINDS.index(k) for k in samples.kinds]
    for column, name in enumerate(DESCRIPTORS, 1):
        if name in vocabulary.edges:
            bins = descriptor_bins(samples.descriptors[name], vocabulary.edges[name])
            table[:, column] = np.where(bins < 0, UNSPECIFIED_BIN, bins)
        else:
            table[:, column] = UNSPECIFIED_BIN
    return table


def _subset(samples: SampleSet, index: np.ndarray) -> SampleSet:
    return SampleSet(
        samples.audio[index],
        samples.sample_rate,
        [samples.files[i] for i in index],
        [samples.kits[i] for i in index],
        [samples.kinds[i] for i in index],
        samples.one_shot[index],
        {k: v[index] for k, v in samples.descriptors.items()},
        [],
    )


def _concat(a: SampleSet, b: SampleSet) -> SampleSet:
    return SampleSet(
        np.concatenate([a.audio, b.audio]),
        a.sample_rate,
        a.files + b.files,
        a.kits + b.kits,
        a.kinds + b.kinds,
        np.concatenate([a.one_shot, b.one_shot]),
        {k: np.concatenate([v, b.descriptors[k]]) for k, v in a.descriptors.items()},
        a.skipped + b.skipped,
    )


def _sidecar_kind(wav: Path) -> str | None:
    """curate.asked_kind of the JSON sidecar beside `wav`; None without a readable one."""
    import json

    try:
        facts = json.loads(wav.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    return curate.asked_kind(facts) if isinstance(facts, dict) else None


def load_kept(kept_dir: str | os.PathLike, progress=None) -> SampleSet:
    """The sounds of `--add KEPT_DIR` (generated and kept, or any others) as training chunks, read as
    data.load_samples reads a folder; the kind of each is what its JSON sidecar asked for (generate writes
    one), else what its names say. Their files are named "added/<path in KEPT_DIR>". Raises SamplerDataError
    (the message starts with --add) for a missing folder, or one without audible sounds."""
    try:
        kept = load_samples(kept_dir, progress=progress)
    except SamplerDataError as e:
        raise SamplerDataError(f"--add: {e}") from None
    root = Path(kept_dir).expanduser()
    kept.kinds = [_sidecar_kind(root / f) or k for f, k in zip(kept.files, kept.kinds)]
    kept.files = [f"added/{f}" for f in kept.files]
    return kept


def prior_sounds(init: dict, per_kind: int) -> SampleSet | None:
    """per_kind sounds the base `init` (a checkpoint or weights file) generates for each kind it trained on
    PRIOR_MIN_KIND_SOUNDS or more sounds of, asked by kind alone at its own sampling settings, seeds from
    PRIOR_SEED, finished as the C++ sampler finishes them; files "prior/KIND-NN.wav", kit "prior". None when
    per_kind is 0 or the base knows no such kind.

    Prior preservation (Ruiz et al. 2023, DreamBooth): a fine-tune trains on these beside the user's sounds,
    so a kind the user's folder lacks, or holds a few of, is not forgotten (fine-tuned on four kits without a
    clap, the drums heard 7 of 8 claps as claps before and 2 of 8 after 1,500 steps;
    training/sampler/README.md). They only ever train: never held out, and left out of the run's curation
    and measures (without_prior)."""
    from .evaluate import generate

    counts = init["vocabulary"]["kinds"]
    kinds = [k for k in KINDS if counts.get(k, 0) >= PRIOR_MIN_KIND_SOUNDS]
    asked = [k for k in kinds for _ in range(per_kind)]
    rate = init["sample_rate"]
    if not asked:
        return None
    model = model_from_checkpoint(init, ema=True)
    rows = np.stack([condition_row({"kind": k}) for k in asked])
    config = SamplerConfig.from_dict(init["config"])
    audio = np.clip(generate(model, rows, init["length"], config, rate, first_seed=PRIOR_SEED), -1, 1)
    described = [describe(a, rate) for a in audio]
    return SampleSet(
        audio.astype(np.float32),
        rate,
        [f"{PRIOR_PREFIX}{k}-{i % per_kind + 1:02d}.wav" for i, k in enumerate(asked)],
        ["prior"] * len(asked),
        list(asked),
        np.ones(len(asked), bool),
        {name: np.array([d[name] for d in described], np.float64) for name in described[0]},
        [],
    )


def own_chunks(info: dict) -> int:
    """How many of a run's training sounds are its data (a checkpoint's info), the base's prior sounds left out."""
    return info["train_chunks"] - info.get("prior_chunks", 0)


def without_prior(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A run's data (load_run_data) without its base's prior sounds (prior_sounds) among the training rows:
    what the run's curation (classifier, nearest training sounds) and its measures compare with."""
    keep = ~np.char.startswith(data["train_files"].astype(str), PRIOR_PREFIX)
    return {**data, **{k: data[k][keep] for k in ("train_audio", "train_conditions", "train_files")}}


def split(
    samples: SampleSet,
    validation_kits: tuple[str, ...] | list[str] | None,
    seed: int,
    fraction: float = VALIDATION_FRACTION,
) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) indices: whole kits when validation_kits are given, else `fraction` of the
    chunks at random once there are VALIDATION_MIN_CHUNKS (none below)."""
    if validation_kits:
        return split_by_kit(samples, validation_kits)
    order = np.random.default_rng(seed).permutation(len(samples))
    held = round(len(samples) * fraction) if len(samples) >= VALIDATION_MIN_CHUNKS else 0
    return np.sort(order[held:]), np.sort(order[:held])


def vocabulary_dict(vocabulary: Vocabulary) -> dict:
    return {
        "words": {w: list(v) for w, v in vocabulary.words.items()},
        "edges": {k: list(v) for k, v in vocabulary.edges.items()},
        "kinds": vocabulary.kinds,
    }


def vocabulary_from_dict(values: dict) -> Vocabulary:
    return Vocabulary(
        {w: (v[0], v[1]) for w, v in values["words"].items()},
        {k: (float(v[0]), float(v[1])) for k, v in values["edges"].items()},
        dict(values["kinds"]),
    )


# --- run folder and checkpoints ---------------------------------------------------------------------------


def build_optimizer(model: VelocityNet, config: SamplerConfig):
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    warmup = max(config.warmup_steps, 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    return optimizer, scheduler


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A sampler run's checkpoint (its folder or checkpoint.pt) or a sampler weights file (.pt)."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise ValueError(
            f"'{path}' does not exist; give a sampler training run folder or a sampler .pt file."
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(
            f"'{path}' is not a readable sampler checkpoint ({str(e).splitlines()[0][:200]})."
        ) from None
    if not isinstance(data, dict) or data.get("kind") not in (CHECKPOINT_KIND, WEIGHTS_KIND):
        raise ValueError(
            f"'{path}' is not a sampler checkpoint or weights file (`tonemorph sampler train` makes them)."
        )
    if data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"'{path}' has checkpoint format {data.get('format')}; this tonemorph reads {CHECKPOINT_FORMAT}."
        )
    return data


def model_from_checkpoint(data: dict, ema: bool = True) -> VelocityNet:
    """The network of a checkpoint or weights file, with its EMA weights (ema) or the trained ones."""
    model = VelocityNet(**data["model_args"], audio_scale=data["audio_scale"])
    model.load_state_dict(data["ema"] if ema else data["model"])
    return model


def start_run(
    run_dir: str | os.PathLike,
    samples: SampleSet,
    config: SamplerConfig,
    *,
    name: str,
    validation_kits: tuple[str, ...] | list[str] | None = None,
    init: dict | None = None,
    info: dict | None = None,
    added: SampleSet | None = None,
) -> Path:
    """A run folder with its data and step-0 checkpoint; refuses a folder that holds a run.

    init: a checkpoint or weights file (load_checkpoint) to fine-tune from; its architecture, audio scale,
    sampling settings and loss (BASE_FIELDS) are kept. info: what the run was made from, kept in the
    checkpoint (data folder, model path).
    added: sounds that only ever train (load_kept: `--add`), never held out.
    Raises SamplerDataError when there are fewer than MIN_CHUNKS training sounds.
    """
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT_NAME).exists():
        raise ValueError(
            f"'{run_dir}' already holds a sampler run; continue it with --resume {run_dir}, or choose "
            "another run folder."
        )
    if init is not None and init["sample_rate"] != samples.sample_rate:
        raise ValueError(
            f"the sounds are at {samples.sample_rate} Hz; the model runs at {init['sample_rate']} Hz."
        )
    train_index, validation_index = split(samples, validation_kits, config.seed, config.validation_fraction)
    training = _subset(samples, train_index)
    if added is not None:
        training = _concat(training, added)
    if len(training) < MIN_CHUNKS:
        raise SamplerDataError(
            f"only {len(training)} sounds to train on; the sampler needs at least {MIN_CHUNKS} (100 or more "
            "make a model worth keeping). Add more one-shots or loops to the folder."
        )
    prior = prior_sounds(init, config.prior_per_kind) if init is not None else None
    if prior is not None:
        training = _concat(training, prior)
    length = samples.audio.shape[1]
    if length % config.hop:
        raise ValueError(f"chunks of {length} samples are not a whole number of hops ({config.hop}).")
    vocabulary = build_vocabulary(training.kinds, training.descriptors)
    validation = _subset(samples, validation_index)
    base_embeddings, base_kinds = base_sounds(init)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(run_dir / DATA_NAME, "wb") as f:
        np.savez(
            f,
            train_audio=training.audio,
            train_conditions=conditions_of(training, vocabulary),
            validation_audio=validation.audio,
            validation_conditions=conditions_of(validation, vocabulary),
            train_files=np.array(training.files, dtype=str),
            base_embeddings=base_embeddings,
            base_kinds=np.array([k or "" for k in base_kinds], dtype=str),
        )
    torch.manual_seed(config.seed)
    if init is None:
        audio_scale = float(np.sqrt(np.mean(training.audio.astype(np.float64) ** 2)))
        model = VelocityNet(**config.model_args(), audio_scale=audio_scale)
        ema_state = model.state_dict()
    else:
        kept = {k: v for k, v in init["config"].items() if k in BASE_FIELDS}
        config = SamplerConfig.from_dict({**asdict(config), **kept, **init["model_args"]})
        model = model_from_checkpoint(init, ema=False)
        ema_state = model_from_checkpoint(init, ema=True).state_dict()
        model.load_state_dict(ema_state)  # fine-tuning starts from the weights the base model plays
    optimizer, scheduler = build_optimizer(model, config)
    atomic_save(
        {
            "kind": CHECKPOINT_KIND,
            "format": CHECKPOINT_FORMAT,
            "name": name,
            "config": asdict(config),
            "model_args": config.model_args(),
            "audio_scale": float(model.audio_scale),
            "sample_rate": samples.sample_rate,
            "length": length,
            "vocabulary": vocabulary_dict(vocabulary),
            "info": {
                **(info or {}),
                "train_chunks": len(training),
                "added_chunks": 0 if added is None else len(added),
                "prior_chunks": 0 if prior is None else len(prior),
                "validation_chunks": len(validation_index),
                "validation_kits": list(validation_kits or []),
                "init_from": (init or {}).get("name"),
            },
            "model": model.state_dict(),
            "ema": {k: v.clone() for k, v in ema_state.items()},
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


def base_sounds(init: dict | None) -> tuple[np.ndarray, list[str | None]]:
    """The labelled sounds a base's kind classifier learned from (its weights file's CLASSIFIER_SOUNDS:
    curate.embedding rows and their kinds, None for a sound its name gave no kind), which a fine-tune's
    classifier learns from beside the fine-tune's own sounds; none for a new run or an older weights file."""
    stored = (init or {}).get(CLASSIFIER_SOUNDS)
    if not stored:
        return np.zeros((0, curate.EMBED_DIMS), np.float32), []
    return np.asarray(stored["embeddings"], np.float32), [k or None for k in stored["kinds"]]


def classifier_sounds_payload(embeddings: np.ndarray, kinds: list[str | None]) -> dict:
    """CLASSIFIER_SOUNDS as a weights file keeps them (torch.load's weights_only reads tensors and strings)."""
    return {
        "embeddings": torch.from_numpy(np.asarray(embeddings, np.float32)),
        "kinds": [k or "" for k in kinds],
    }


def load_run_data(run_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """data.npz's arrays; a run started before base sounds were kept gets empty base_embeddings/base_kinds."""
    with np.load(Path(run_dir) / DATA_NAME) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.setdefault("base_embeddings", np.zeros((0, curate.EMBED_DIMS), np.float32))
    arrays.setdefault("base_kinds", np.zeros(0, dtype=str))
    return arrays


# --- the loop --------------------------------------------------------------------------------------------


class BatchSampler:
    """Batches of training chunks with conditions dropped (SamplerConfig.drop_condition, drop_all) and a
    random polarity, drawn with a numpy Generator whose state is saved.

    A share of each batch (SamplerConfig.balance_kinds) draws a kind uniformly among the kinds the data has,
    then one of its sounds; the rest draws sounds uniformly. Drum kits hold a few kicks and claps for many
    hats and cymbals (48 kicks in 636 sounds): drawn uniformly, a rare kind's words are seldom learnt.
    """

    def __init__(
        self,
        audio: np.ndarray,
        conditions: np.ndarray,
        config: SamplerConfig,
        device: torch.device,
        seed: int | np.random.SeedSequence | None = None,
    ):
        self.audio, self.conditions, self.config, self.device = audio, conditions, config, device
        self.rng = np.random.default_rng(config.seed if seed is None else seed)
        kinds = conditions[:, CONDITIONS.index("kind")]
        self.by_kind = [np.flatnonzero(kinds == kind) for kind in np.unique(kinds)]

    def draw(self, batch: int) -> np.ndarray:
        """[batch] indices into the training chunks (see the class docstring)."""
        index = self.rng.integers(0, len(self.audio), size=batch)
        balanced = self.rng.random(batch) < self.config.balance_kinds
        groups = self.rng.integers(0, len(self.by_kind), size=batch)
        within = self.rng.random(batch)
        for i in np.flatnonzero(balanced):
            group = self.by_kind[groups[i]]
            index[i] = group[int(within[i] * len(group))]
        return index

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """audio [batch, samples] float32, conditions [batch, len(CONDITIONS)] int64."""
        index = self.draw(batch)
        polarity = np.where(self.rng.random(batch) < 0.5, -1.0, 1.0).astype(np.float32)
        conditions = self.conditions[index].copy()
        null = unspecified(1)[0].numpy()
        dropped = self.rng.random(conditions.shape) < self.config.drop_condition
        dropped |= (self.rng.random(batch) < self.config.drop_all)[:, None]
        conditions = np.where(dropped, null[None, :], conditions)
        audio = torch.from_numpy(self.audio[index] * polarity[:, None])
        return audio.to(self.device), torch.from_numpy(conditions).to(self.device)


def validation_loss(model: VelocityNet, audio: np.ndarray, conditions: np.ndarray) -> float | None:
    """Flow loss over up to VALIDATION_MAX_CHUNKS validation chunks with fixed noise and t (a seeded
    generator, so training's RNG is untouched); None without validation data."""
    n = min(len(audio), VALIDATION_MAX_CHUNKS)
    if n == 0:
        return None
    device = model.audio_scale.device
    generator = torch.Generator(device=device).manual_seed(VALIDATION_SEED)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        batch = torch.from_numpy(audio[:n]).to(device), torch.from_numpy(conditions[:n]).to(device)
        loss = float(flow_loss(model, *batch, generator))
    model.train(was_training)
    return loss


def report_conditions(vocabulary: Vocabulary) -> list[tuple[str, np.ndarray]]:
    """(label, condition row) of each report example: the REPORT_KINDS most frequent kinds, unconditioned."""
    kinds = sorted(vocabulary.kinds, key=lambda k: (-vocabulary.kinds[k], k))[:REPORT_KINDS]
    rows = []
    for kind in kinds:
        row = unspecified(1)[0].numpy().copy()
        row[0] = KINDS.index(kind)
        rows.append((kind, row))
    return rows + [("any", unspecified(1)[0].numpy())]


def write_examples(
    model: VelocityNet,
    vocabulary: Vocabulary,
    config: SamplerConfig,
    folder: Path,
    sample_rate: int,
    length: int,
) -> list[Path]:
    """One generated example per report_conditions row (seed REPORT_SEED + row), its noise floor cleared as
    the C++ sampler clears it, as 24-bit WAV in folder."""
    import soundfile

    folder.mkdir(parents=True, exist_ok=True)
    rows = report_conditions(vocabulary)
    noise = torch.stack(
        [
            torch.randn(length, generator=torch.Generator().manual_seed(REPORT_SEED + i))
            for i in range(len(rows))
        ]
    )
    conditions = torch.from_numpy(np.stack([r for _, r in rows]))
    was_training = model.training
    model.eval()
    audio = finish_sounds(
        sample(model, noise, conditions, **config.sampling_args()).cpu().numpy(), sample_rate
    )
    model.train(was_training)
    paths = []
    for (label, _), sound in zip(rows, audio):
        path = folder / f"{label}.wav"
        with atomic_path(path) as tmp:
            soundfile.write(tmp, np.clip(sound, -1.0, 1.0), sample_rate, subtype="PCM_24", format="WAV")
        paths.append(path)
    return paths


def train(
    run_dir: str | os.PathLike,
    *,
    steps: int | None = None,
    threads: int | None = None,
    device: str | None = None,
    show_progress: bool = True,
    report: bool = True,
    on_step: Callable[[int, float], bool | None] | None = None,
) -> SamplerResult:
    """Train the run in `run_dir` (made by start_run) from its checkpoint up to `steps` (default: the config's),
    on `threads` CPU threads and `device` ("cpu", "cuda"; default: the config's; the same steps on another
    thread count or device differ by rounding).

    Ctrl-C / SIGTERM stop after the current step and save; a second Ctrl-C stops at once and keeps the last
    periodic checkpoint. on_step(step, loss) after each step; a true return stops the run there, saved and
    resumable (in a single process only). report: write generated examples at each checkpoint
    (report/step-NNNNNN/). Under torchrun every process calls train; `threads` is per process.
    """
    threads_before = torch.get_num_threads()
    try:
        return _train(Path(run_dir), steps, threads, device, show_progress, report, on_step)
    finally:
        torch.set_num_threads(threads_before)


def process_seeds(config: SamplerConfig, rank: int, step: int) -> tuple[int | np.random.SeedSequence, int]:
    """(batch sampler seed, torch seed) of one process's fresh random streams.

    Rank 0 of a new run (step 0) has the seeds a single process always had, so one process trains as before;
    every other rank, and every process of a run resumed at `step` with another process count, gets streams of
    its own from (seed, rank, step), rather than replaying the run's first batches.
    """
    if rank == 0 and step == 0:
        return config.seed, config.seed + 1
    sampler, torch_seed = np.random.SeedSequence([config.seed, rank, step]).spawn(2)
    return sampler, int(torch_seed.generate_state(1, np.uint64)[0])


class FlowLoss(torch.nn.Module):
    """flow_loss of `net` as a module: DistributedDataParallel wraps it, so that the whole loss is its forward
    (the network's audio_scale stays reachable)."""

    def __init__(self, net: VelocityNet, spectral_weight: float = 0.0):
        super().__init__()
        self.net = net
        self.spectral_weight = spectral_weight

    def forward(self, audio: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        return flow_loss(self.net, audio, conditions, spectral_weight=self.spectral_weight)


def train_step(
    model: VelocityNet,
    objective: torch.nn.Module,
    ema: dict,
    optimizer,
    scheduler,
    batches: BatchSampler,
    config: SamplerConfig,
    step: int,
) -> float:
    """One step on a batch from `batches`; returns its loss. objective: FlowLoss(model), or that wrapped in
    DistributedDataParallel, whose backward averages the gradients over the processes."""
    audio, conditions = batches.sample(config.batch_size)
    optimizer.zero_grad(set_to_none=True)
    loss = objective(audio, conditions)
    loss.backward()
    optimizer_step(model, ema, optimizer, scheduler, config, step)
    return float(loss.detach())


def optimizer_step(
    model: VelocityNet, ema: dict, optimizer, scheduler, config: SamplerConfig, step: int
) -> None:
    """Clip the gradients, step the optimiser and the scheduler, and update the EMA (decay warmed up:
    min(ema, (1 + step) / (10 + step)))."""
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    scheduler.step()
    decay = min(config.ema, (1 + step) / (10 + step))
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                ema[name].mul_(decay).add_(value, alpha=1 - decay)
            else:
                ema[name].copy_(value)


def saved_rng_states(saved: dict) -> list[dict]:
    """The checkpoint's RNG states, one per process ([] before the first step). Checkpoints written before
    torchrun training hold one process's states as a dict."""
    states = saved["rng"]
    if states is None:
        return []
    return states if isinstance(states, list) else [states]


class _OpenRun:
    """A run's checkpoint made live for training in this process: model, EMA, optimizer, scheduler, batches,
    RNG states."""

    def __init__(self, run_dir: Path, steps, threads, device):
        saved = load_checkpoint(run_dir)
        if saved["kind"] != CHECKPOINT_KIND:
            raise ValueError(f"'{run_dir}' holds sampler weights, not a training run.")
        config = SamplerConfig.from_dict(saved["config"])
        for name, value in (("steps", steps), ("threads", threads), ("device", device)):
            if value is not None:
                setattr(config, name, value)
        self.device = torch.device(config.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA GPU is available to this torch; use --device cpu.")
        self.processes = processes = init_processes(config.device)
        if self.device.type == "cuda" and processes.distributed:
            self.device = torch.device("cuda", processes.local_rank)
            torch.cuda.set_device(self.device)
        torch.set_num_threads(config.threads)
        self.run_dir, self.saved, self.config = run_dir, saved, config
        self.step, self.history = int(saved["step"]), saved["history"]
        self.elapsed_before = float(saved["elapsed_seconds"])
        self.data = load_run_data(run_dir)
        sampler_seed, torch_seed = process_seeds(config, processes.rank, self.step)
        self.batches = BatchSampler(
            self.data["train_audio"], self.data["train_conditions"], config, self.device, sampler_seed
        )
        self.vocabulary = vocabulary_from_dict(saved["vocabulary"])
        self.model = model_from_checkpoint(saved, ema=False).to(self.device)
        self.ema_model = model_from_checkpoint(saved, ema=True).to(self.device)
        self.ema = self.ema_model.state_dict()  # tensors shared with ema_model: updating ema updates it
        self.optimizer, self.scheduler = build_optimizer(self.model, config)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.objective: torch.nn.Module = FlowLoss(self.model, self.config.spectral_weight)
        if processes.distributed:
            self.objective = torch.nn.parallel.DistributedDataParallel(
                self.objective, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        states = saved_rng_states(saved)
        self.saved_processes = len(states)
        if len(states) == processes.world_size:
            state = states[processes.rank]
            torch.set_rng_state(state["torch"])
            if state.get("cuda") and self.device.type == "cuda":
                torch.cuda.set_rng_state_all(state["cuda"])
            self.batches.rng.bit_generator.state = state["sampler"]
        else:
            torch.manual_seed(torch_seed)

    def train_step(self, stop: StopRequest) -> tuple[float, bool]:
        """One step in every process: (the loss averaged over the processes, whether any of them was asked to
        stop). One collective per step under torchrun, as in the instrument's loop."""
        loss = train_step(
            self.model,
            self.objective,
            self.ema,
            self.optimizer,
            self.scheduler,
            self.batches,
            self.config,
            self.step,
        )
        shared = torch.tensor([float(stop.requested), loss], dtype=torch.float64)
        if self.processes.distributed:
            import torch.distributed as dist

            dist.all_reduce(shared)
        loss = float(shared[1]) / self.processes.world_size
        self.step += 1
        if not math.isfinite(loss):
            raise ValueError(
                f"the loss became {loss} at step {self.step}; resume from the last checkpoint with a lower "
                "learning rate."
            )
        self.history["train"].append((self.step, loss))
        return loss, bool(shared[0] > 0)

    def validate(self) -> float | None:
        value = validation_loss(
            self.ema_model, self.data["validation_audio"], self.data["validation_conditions"]
        )
        if value is not None:
            self.history["validation"].append((self.step, value))
        return value

    def save(self, seconds: float) -> None:
        """The checkpoint, atomically, with every process's RNG states (written by rank 0; every process calls
        it); seconds: wall time trained since the run was opened."""
        rng = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "sampler": self.batches.rng.bit_generator.state,
        }
        states = gather(rng, self.processes)
        if not self.processes.main:
            return
        atomic_save(
            {
                **self.saved,
                "config": asdict(self.config),
                "model": self.model.state_dict(),
                "ema": self.ema,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "step": self.step,
                "history": self.history,
                "rng": states,
                "elapsed_seconds": self.elapsed_before + seconds,
            },
            self.run_dir / CHECKPOINT_NAME,
        )

    def write_report(self) -> None:
        """report/step-NNNNNN/: the examples (write_examples, RNG untouched) and report.json with the losses."""
        config, history = self.config, self.history
        folder = self.run_dir / REPORT_DIR / f"step-{self.step:06d}"
        with torch.random.fork_rng():
            write_examples(
                self.ema_model,
                self.vocabulary,
                config,
                folder,
                self.saved["sample_rate"],
                self.saved["length"],
            )
        recent = [v for _, v in history["train"][-config.checkpoint_every :]]
        write_json(
            folder / "report.json",
            {
                "step": self.step,
                "train_loss": float(np.mean(recent)),
                "validation_loss": history["validation"][-1][1] if history["validation"] else None,
                "sample_steps": config.sample_steps,
                "guidance": config.guidance,
            },
        )


def _train(run_dir: Path, steps, threads, device, show_progress, report, on_step) -> SamplerResult:
    run = _OpenRun(run_dir, steps, threads, device)
    config, processes = run.config, run.processes
    if on_step is not None and processes.distributed:
        raise ValueError("on_step works in a single process only (under torchrun each process would decide).")
    writer = None
    if processes.main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(os.fspath(run_dir / TENSORBOARD_DIR), purge_step=run.step)
    console = _console()
    if processes.main and run.saved_processes not in (0, processes.world_size):
        console.print(
            f"[yellow]the checkpoint holds the random state of {run.saved_processes} processes and this run has "
            f"{processes.world_size}: each process draws from fresh seeds from step {run.step} on (the run "
            f"continues, but not as it would have with {run.saved_processes}).",
            soft_wrap=True,
        )
    progress = _progress(console) if show_progress and processes.main else None
    start_step, interrupted, whole = run.step, False, True
    started = time.perf_counter()
    run.model.train()
    try:
        with StopRequest() as stop:
            if progress is not None:
                progress.start()
                bar = progress.add_task(
                    run.saved["name"], total=config.steps, completed=run.step, loss="-", speed=""
                )
            while run.step < config.steps:
                loss, stop_asked = run.train_step(stop)
                step = run.step
                rate = (step - start_step) / max(time.perf_counter() - started, 1e-9)
                if writer is not None and step % config.log_every == 0:
                    writer.add_scalar("loss/train", loss, step)
                    writer.add_scalar("learning_rate", run.scheduler.get_last_lr()[0], step)
                    writer.add_scalar("speed/steps_per_second", rate, step)
                if processes.main and (step % config.validate_every == 0 or step == config.steps):
                    value = run.validate()
                    if value is not None:
                        writer.add_scalar("loss/validation", value, step)
                    if progress is not None and not console.is_terminal:  # logs of batch jobs
                        shown = f"  validation {value:.4f}" if value is not None else ""
                        console.print(
                            f"step {step}/{config.steps}  loss {loss:.4f}{shown}  {rate:.3f} steps/s  "
                            f"ETA {(config.steps - step) / max(rate, 1e-9) / 60:.0f} min"
                        )
                if progress is not None:
                    progress.update(bar, completed=step, loss=f"{loss:.4f}", speed=f"{rate:.2f} steps/s")
                if stop_asked or (on_step is not None and on_step(step, loss)):
                    interrupted = True
                    break
                if step % config.checkpoint_every == 0 or step == config.steps:
                    run.save(time.perf_counter() - started)
                    if report and processes.main:
                        run.write_report()
    except KeyboardInterrupt:  # a second Ctrl-C, maybe inside a step: the last periodic checkpoint stays
        interrupted, whole = True, False
    finally:
        if progress is not None:
            progress.stop()
    seconds = time.perf_counter() - started
    if whole:
        run.save(seconds)
    if writer is not None:
        writer.flush()
        writer.close()
    return SamplerResult(run_dir, run.step, interrupted, seconds, run.elapsed_before + seconds, run.history)


def weights_payload(data: dict, classifier_sounds: dict | None = None) -> dict:
    """A checkpoint reduced to what generating and fine-tuning need (no optimizer, no data), with the labelled
    sounds its kind classifier learned from (CLASSIFIER_SOUNDS, classifier_sounds_payload's form; given, or kept
    from a weights file that has them) for a fine-tune's classifier."""
    keep = (
        "name",
        "config",
        "model_args",
        "audio_scale",
        "sample_rate",
        "length",
        "vocabulary",
        "info",
        "model",
        "ema",
        "step",
    )
    payload = {"kind": WEIGHTS_KIND, "format": CHECKPOINT_FORMAT, **{k: data[k] for k in keep}}
    sounds = classifier_sounds if classifier_sounds is not None else data.get(CLASSIFIER_SOUNDS)
    if sounds is not None:
        payload[CLASSIFIER_SOUNDS] = sounds
    return payload
