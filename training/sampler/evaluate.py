"""How near a sampler run's sounds are to the held-out kits, in numbers (issue 13's quality measures):

- Fréchet distance (Heusel et al. 2017) between the held-out sounds and each of: sounds the model generates
  (one per held-out sound, with its conditions, the default steps and guidance, seeds 0..n-1), the training
  sounds themselves (the floor: as near as real drums of other kits get), the same network untrained
  (random weights), and noise bursts shaped with the training sounds' envelopes (the baseline to beat by
  far). The embedding is curate.embedding (envelope, spectral shape and tonality over time, 137 numbers in
  dB), computed here offline:
      FD = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))
- prompt adherence: the run's kind classifier (classifier.py, trained here as the export trains it: on the
  training sounds, and a fine-tune's on its base's labelled sounds too) on PER_KIND sounds generated for each
  kind it knows, asked by kind alone: the fraction heard as the kind asked, per kind and over all; beside its
  accuracy on the held-out sounds.
- memorisation: the median distance (dB RMS, curate.nearest_distance) from each generated sound to its
  nearest training sound, beside the same for the held-out sounds (a model that replays its data sits far
  below them), and how many generated sounds are near-copies (curate.score_sounds).
- the noise floor: the median over sounds of each sound's quietest QUIET_WINDOW_S (RMS, dBFS), generated
  beside held-out (real one-shots end in digital silence or a decay; a generator's leftover noise shows).

quality_bar(result) says which of the bar's tests a result passes (the thresholds below, fixed before the
fine-tune was measured, session 8).

    python -m tonemorph.training.sampler.evaluate RUN_DIR [--count N] [--per-kind K] [--per-sound R]

writes RUN_DIR/report/evaluation-step-NNNNNN.json and prints the table.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import linalg

from tonemorph.atomic import write_json
from tonemorph.sampler import curate
from tonemorph.sampler.data import MODEL_SAMPLE_RATE
from tonemorph.sampler.noise_floor import finish_sounds

from . import classifier as kind_classifier
from . import train as training
from .model import VelocityNet, sample

ENVELOPE_FRAME = 120  # samples (5 ms at 24 kHz) per step of a noise burst's envelope
NOISE_SEED = 99
GENERATE_BATCH = 8
PER_KIND = 8  # sounds generated per kind for prompt adherence
QUIET_WINDOW_S = 0.02
SILENCE_DB = -120.0  # what a window of digital silence counts as

# The quality bar: what a sampler's sounds must show against the held-out sounds of its own kind of data.
BAR_FLOOR_RATIO = 2.5  # Fréchet distance at most 2.5 x the floor (real sounds of the training set)
BAR_NOISE_RATIO = 1 / 3  # ... and at most a third of the noise bursts' (the baseline beaten by far)
BAR_ADHERENCE = 0.75  # heard as asked at least 3/4 as often as the classifier names real held-out sounds
BAR_NEAR_COPIES = 0.05  # at most 5 % of generated sounds near-copies of a training sound
BAR_NEAREST = 0.8  # median distance to the nearest training sound at least 0.8 x the held-out sounds'
BAR_CLIPPED = 0.05  # at most 5 % clipped; none silent
BAR_QUIET_DB = -70.0  # median quietest 20 ms at most -70 dBFS: no noise floor under the sounds


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FD between the Gaussians fitted to embeddings a [n, dims] and b [m, dims] (n, m >= 2)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mean = a.mean(axis=0) - b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # fewer sounds than dimensions: singular, and the formula still holds
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root  # rounding leaves tiny imaginary parts
    return float(mean @ mean + np.trace(cov_a + cov_b - 2 * root))


def noise_bursts(audio: np.ndarray, seed: int = NOISE_SEED) -> np.ndarray:
    """White noise [n, samples] under the RMS envelope (ENVELOPE_FRAME steps) of each of audio [n, samples]."""
    n, samples = audio.shape
    frames = samples // ENVELOPE_FRAME
    envelope = np.sqrt(np.mean(audio[:, : frames * ENVELOPE_FRAME].reshape(n, frames, -1) ** 2, axis=2))
    gain = np.repeat(envelope, ENVELOPE_FRAME, axis=1)
    gain = np.pad(gain, ((0, 0), (0, samples - gain.shape[1])), mode="edge")
    return (np.random.default_rng(seed).standard_normal((n, samples)) * gain).astype(np.float32)


def quiet_floor_db(audio: np.ndarray, rate: int) -> np.ndarray:
    """Each sound's quietest QUIET_WINDOW_S (RMS in dBFS, windows at half-window hops; SILENCE_DB for digital
    silence) of audio [n, samples]: [n]."""
    window = max(1, round(QUIET_WINDOW_S * rate))
    hop = max(1, window // 2)
    frames = 1 + (audio.shape[1] - window) // hop
    index = np.arange(window)[None, :] + hop * np.arange(frames)[:, None]
    power = np.mean(np.asarray(audio, np.float64)[:, index] ** 2, axis=2)  # [n, frames]
    quietest = power.min(axis=1)
    return np.where(quietest > 0, 10 * np.log10(np.maximum(quietest, 1e-30)), SILENCE_DB).clip(SILENCE_DB)


def quality_bar(result: dict) -> dict[str, bool]:
    """Which of the quality bar's tests (the BAR_ constants) an evaluate() result passes, by name."""
    fd = result["frechet_distance"]
    generated = fd["generated"]
    adherence = result["prompt_adherence"]
    near = result["median_nearest_training_db"]
    count = result["generated_sounds"]
    quiet = result["quiet_floor_db"]
    return {
        "distance_vs_floor": generated <= BAR_FLOOR_RATIO * fd["training sounds (floor)"],
        "distance_vs_noise": generated <= BAR_NOISE_RATIO * fd["noise bursts with drum envelopes"],
        "prompt_adherence": adherence is None
        or adherence["accuracy"] >= BAR_ADHERENCE * (adherence["held_out_accuracy"] or 0.0),
        "no_replay": result["near_copies_generated"] <= BAR_NEAR_COPIES * count
        and near["generated"] >= BAR_NEAREST * near["held-out"],
        "not_silent_or_clipped": result["silent_generated"] == 0
        and result["clipped_generated"] <= BAR_CLIPPED * count,
        "noise_floor": quiet["generated"] <= BAR_QUIET_DB,
    }


def generate(
    model: VelocityNet,
    conditions: np.ndarray,
    length: int,
    config: training.SamplerConfig,
    rate: int = MODEL_SAMPLE_RATE,
    first_seed: int = 0,
) -> np.ndarray:
    """One sound per row of conditions [n, 7] at the config's sampling settings (sample_steps, guidance,
    sample_shift), noise from seeds first_seed.., finished as the C++ sampler finishes it (noise floor cleared,
    peak kept under full scale): [n, length]."""
    model.eval()
    out = []
    for first in range(0, len(conditions), GENERATE_BATCH):
        rows = range(first, min(first + GENERATE_BATCH, len(conditions)))
        noise = torch.stack(
            [torch.randn(length, generator=torch.Generator().manual_seed(first_seed + i)) for i in rows]
        )
        batch = torch.from_numpy(conditions[first : first + len(noise)])
        audio = sample(model, noise, batch, **config.sampling_args()).numpy()
        out.append(finish_sounds(audio, rate))
    return np.concatenate(out)


def prompt_adherence(
    model: VelocityNet,
    curation: curate.Curation,
    config: training.SamplerConfig,
    length: int,
    rate: int,
    per_kind: int = PER_KIND,
) -> dict | None:
    """The classifier on per_kind sounds generated for each kind it knows, asked by kind alone, beside its
    held-out accuracy: {per_kind_generated, accuracy, per_kind: {kind: [heard as asked, sounds]},
    held_out_accuracy, held_out_per_kind}; None without a classifier."""
    if curation.classifier is None:
        return None
    audio, asked = kind_classifier.generate_per_kind(
        model, curation.classifier.kinds, length, config, per_kind, rate
    )
    heard = kind_classifier.accuracy(curation.classifier, curate.embeddings(audio, rate), asked)
    return {
        "per_kind_generated": per_kind,
        "accuracy": heard["accuracy"],
        "per_kind": heard["per_kind"],
        "held_out_accuracy": curation.held_out.get("accuracy"),
        "held_out_per_kind": curation.held_out.get("per_kind"),
    }


def evaluate(
    run_dir: str | os.PathLike,
    count: int | None = None,
    per_kind: int = PER_KIND,
    sampling: dict | None = None,
    per_sound: int = 1,
) -> dict:
    """The measures of the module docstring for the run's EMA weights at its last checkpoint.

    count: how many held-out sounds to compare with (default all); per_kind: sounds generated per kind for
    prompt adherence; sampling: SamplerConfig fields that generate otherwise than the run's (sample_steps,
    guidance, sample_shift; the report's file then names them); per_sound: sounds generated with each
    held-out sound's conditions (a few dozen held-out sounds give a noisy distance; more generated ones
    steady their side of it). Raises ValueError for a run without held-out sounds.
    """
    saved = training.load_checkpoint(run_dir)
    data = training.without_prior(training.load_run_data(run_dir))
    held_out, conditions = data["validation_audio"], data["validation_conditions"]
    if count is not None:
        held_out, conditions = held_out[:count], conditions[:count]
    if len(held_out) < 2:
        raise ValueError(f"'{run_dir}' holds {len(held_out)} held-out sounds; the measures need 2 or more.")
    config = training.SamplerConfig.from_dict({**saved["config"], **(sampling or {})})
    rate, length = saved["sample_rate"], saved["length"]
    model = training.model_from_checkpoint(saved, ema=True)
    torch.manual_seed(0)
    untrained = VelocityNet(**saved["model_args"], audio_scale=saved["audio_scale"])
    train_audio = data["train_audio"]
    asked_conditions = np.repeat(conditions, per_sound, axis=0)
    sets = {
        "generated": np.clip(generate(model, asked_conditions, length, config, rate), -1, 1),
        "training sounds (floor)": train_audio,
        "untrained network": np.clip(
            generate(untrained, conditions, length, config, rate),
            -1,
            1,
        ),
        "noise bursts with drum envelopes": noise_bursts(train_audio),
    }
    reference = curate.embeddings(held_out, rate)
    train_embeddings = curate.embeddings(train_audio, rate)
    embedded = {
        name: (train_embeddings if name.startswith("training") else curate.embeddings(a, rate))
        for name, a in sets.items()
    }
    fd = {name: frechet_distance(e, reference) for name, e in embedded.items()}
    train_kinds = kind_classifier.kind_names(data["train_conditions"])
    asked = kind_classifier.kind_names(conditions)
    curation = kind_classifier.build_curation(
        train_embeddings,
        train_kinds,
        [str(f) for f in data["train_files"]],
        reference,
        asked,
        kind_classifier.labelled_sounds(data, train_embeddings),
    )
    asked_generated = kind_classifier.kind_names(asked_conditions)
    kinds = dict(zip(sets, (asked_generated, None, asked, train_kinds)))  # what each is, or was asked to be
    scores = {  # the training sounds are their own nearest: near-copies all
        name: curate.score_sounds(a, rate, curation, kinds[name], embedded[name])
        for name, a in sets.items()
        if kinds[name] is not None
    }
    scores["held-out sounds"] = curate.score_sounds(held_out, rate, curation, asked, reference)
    generated_scores = scores["generated"]
    nearest_held_out, _ = curate.nearest_distance(reference, train_embeddings)
    result = {
        "step": saved["step"],
        "held_out_sounds": len(held_out),
        "generated_sounds": len(asked_conditions),
        "steps": config.sample_steps,
        "guidance": config.guidance,
        "shift": config.sample_shift,
        "frechet_distance": fd,
        "prompt_adherence": prompt_adherence(model, curation, config, length, rate, per_kind),
        "median_nearest_training_db": {
            "generated": float(np.median([s.nearest_distance for s in generated_scores])),
            "held-out": float(np.median(nearest_held_out)),
        },
        "score_median": {name: float(np.median([s.score for s in v])) for name, v in scores.items()},
        "near_copies_generated": sum(s.near_copy for s in generated_scores),
        "copy_distance_db": curation.copy_distance,
        "silent_generated": sum(s.silent for s in generated_scores),
        "clipped_generated": sum(s.clipped for s in generated_scores),
        "quiet_floor_db": {
            "generated": float(np.median(quiet_floor_db(sets["generated"], rate))),
            "held-out": float(np.median(quiet_floor_db(held_out, rate))),
        },
    }
    result["quality_bar"] = quality_bar(result)
    (Path(run_dir) / training.REPORT_DIR).mkdir(exist_ok=True)
    settings = "".join(f"-{name}{value:g}" for name, value in sorted((sampling or {}).items()))
    settings += f"-per_sound{per_sound}" if per_sound != 1 else ""
    name = f"evaluation-step-{saved['step']:06d}{settings}.json"
    write_json(Path(run_dir) / training.REPORT_DIR / name, result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--count", type=int, help="held-out sounds to compare with (default: all)")
    parser.add_argument(
        "--per-kind", type=int, default=PER_KIND, help=f"sounds generated per kind (default {PER_KIND})"
    )
    parser.add_argument(
        "--per-sound", type=int, default=1, help="sounds generated per held-out sound (default 1)"
    )
    parser.add_argument("--steps", type=int, help="sampling steps (default: the run's)")
    parser.add_argument("--guidance", type=float, help="classifier-free guidance (default: the run's)")
    parser.add_argument("--shift", type=float, help="the step schedule's shift (default: the run's)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sampling = {
        name: value
        for name, value in (
            ("sample_steps", args.steps),
            ("guidance", args.guidance),
            ("sample_shift", args.shift),
        )
        if value is not None
    }
    result = evaluate(args.run_dir, args.count, args.per_kind, sampling, args.per_sound)
    print(
        f"step {result['step']}, {result['held_out_sounds']} held-out sounds, {result['generated_sounds']} "
        f"generated, {result['steps']} steps, "
        f"guidance {result['guidance']}, shift {result['shift']}"
    )
    for name, value in result["frechet_distance"].items():
        print(f"  Fréchet distance, {name:34s} {value:10.1f}")
    print(
        "  median score (curate.score_sounds, each asked for its own kind): "
        + ", ".join(f"{name} {value:.3f}" for name, value in result["score_median"].items())
    )
    adherence = result["prompt_adherence"]
    if adherence is None:
        print("  prompt adherence: not measured (the training sounds' names say fewer than two kinds)")
    else:
        kinds = ", ".join(f"{k} {r}/{n}" for k, (r, n) in adherence["per_kind"].items())
        print(
            f"  prompt adherence (heard as asked): {adherence['accuracy']:.1%} ({kinds}); the classifier on "
            f"held-out sounds: {adherence['held_out_accuracy']:.1%}"
        )
    near = result["median_nearest_training_db"]
    print(
        f"  median distance to the nearest training sound: generated {near['generated']:.2f} dB, held-out "
        f"{near['held-out']:.2f} dB; {result['near_copies_generated']} generated sounds near-copies (under "
        f"{result['copy_distance_db']:.2f} dB), {result['silent_generated']} silent, "
        f"{result['clipped_generated']} clipped"
    )
    quiet = result["quiet_floor_db"]
    print(
        f"  quietest {QUIET_WINDOW_S * 1000:.0f} ms, median: generated {quiet['generated']:.1f} dBFS, held-out "
        f"{quiet['held-out']:.1f} dBFS"
    )
    print(f"  {bar_line(result['quality_bar'])}")
    return 0


def bar_line(bar: dict[str, bool]) -> str:
    """The quality bar's tests in one line: 'quality bar: passed' or the ones that failed."""
    failed = [name for name, passed in bar.items() if not passed]
    return "quality bar: passed" if not failed else f"quality bar: not passed ({', '.join(failed)})"


if __name__ == "__main__":
    raise SystemExit(main())
