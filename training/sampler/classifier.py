"""The kind classifier and curation data trained with each sampler (tonemorph.sampler.curate scores with them).

The classifier is multinomial logistic regression on the training sounds' curate.embedding, each number
standardised by the training sounds' mean and standard deviation:
    minimise  sum_i w_i CE(softmax(x_i W + b), y_i) / sum_i w_i + REGULARISATION / 2 |W|^2
with w_i = 1 / (sounds of y_i's kind), so a kind with 20 sounds weighs as much as one with 100 (prompt
adherence is measured per kind), solved by L-BFGS (scipy) in about a second. Sounds whose names say no kind
are left out, and so are kinds with fewer than MIN_KIND_SOUNDS sounds.

A fine-tune's classifier learns from its base's labelled sounds too (labelled_sounds; the weights file keeps
them for the next fine-tune). `curation_of_run(run_dir)` builds a run's curate.Curation (classifier, training
embeddings and file names, typical and copy distances, and on the held-out sounds the classifier's accuracy
and their median distance to the nearest training sound); `export.export_sampler` stores it in the ONNX file
("curation" metadata) and the labelled sounds in the weights file.
`score_report` generates a few sounds per kind and summarises their scores; `write_score_report` keeps
it in the run's report/scores.json: the before-and-after of a fine-tune with --add.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from scipy import optimize

from tonemorph.atomic import write_json
from tonemorph.sampler import curate
from tonemorph.sampler.data import MODEL_SAMPLE_RATE

from . import train as training
from .model import KINDS, UNSPECIFIED_KIND, VelocityNet, condition_row

REGULARISATION = 0.02
MIN_KIND_SOUNDS = 4  # fewer teach the classifier those recordings, not the kind
MAX_ITERATIONS = 500
REPORT_PER_KIND = 4  # sounds generated per kind for a score report
REPORT_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
SCORES_NAME = "scores.json"  # in a run's report folder: the score distributions before and after --add


def train_classifier(embeddings: np.ndarray, kinds: list[str | None]) -> curate.KindClassifier:
    """The kind classifier (module docstring) of embeddings [n, dims] labelled kinds [n] (None: no kind).

    Raises ValueError when fewer than two kinds have MIN_KIND_SOUNDS sounds each.
    """
    embeddings = np.asarray(embeddings, np.float64)
    counts = {k: kinds.count(k) for k in set(kinds) if k is not None}
    known = [k for k in KINDS if counts.get(k, 0) >= MIN_KIND_SOUNDS]  # KINDS order, so runs agree
    if len(known) < 2:
        raise ValueError(
            f"a kind classifier needs two or more kinds with {MIN_KIND_SOUNDS}+ sounds each; the data has "
            + (", ".join(f"{k}: {n}" for k, n in sorted(counts.items())) or "no sounds named by kind")
            + ". Name folders or files by kind (kick, snare, hat, ...)."
        )
    rows = [i for i, k in enumerate(kinds) if k in known]
    labels = np.array([known.index(kinds[i]) for i in rows])
    mean = embeddings.mean(axis=0)
    scale = embeddings.std(axis=0) + 1e-6
    x = (embeddings[rows] - mean) / scale
    weight = 1.0 / np.bincount(labels, minlength=len(known))[labels]
    weight /= weight.sum()
    onehot = np.eye(len(known))[labels]
    dims = x.shape[1]

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = flat[: dims * len(known)].reshape(dims, -1), flat[dims * len(known) :]
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        value = -(weight * (onehot * log_p).sum(axis=1)).sum() + 0.5 * REGULARISATION * (w**2).sum()
        error = weight[:, None] * (np.exp(log_p) - onehot)  # d value / d logits
        grad_w = x.T @ error + REGULARISATION * w
        return float(value), np.concatenate([grad_w.ravel(), error.sum(axis=0)])

    start = np.zeros(dims * len(known) + len(known))
    solved = optimize.minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": MAX_ITERATIONS})
    w, b = solved.x[: dims * len(known)].reshape(dims, -1), solved.x[dims * len(known) :]
    return curate.KindClassifier(known, mean, scale, w, b)


def kind_names(conditions: np.ndarray) -> list[str | None]:
    """The kind column of a run's conditions [n, len(CONDITIONS)] as names (None: unspecified)."""
    return [None if k == UNSPECIFIED_KIND else KINDS[k] for k in np.asarray(conditions)[:, 0]]


def accuracy(classifier: curate.KindClassifier, embeddings: np.ndarray, kinds: list[str | None]) -> dict:
    """{"sounds", "accuracy", "per_kind": {kind: [right, sounds]}} over the sounds of a kind the classifier
    knows (accuracy None when there are none)."""
    rows = [i for i, k in enumerate(kinds) if k in classifier.kinds]
    heard = classifier.predict(np.asarray(embeddings)[rows]) if rows else []
    per_kind: dict[str, list[int]] = {}
    for i, h in zip(rows, heard):
        right = per_kind.setdefault(kinds[i], [0, 0])
        right[0] += int(h == kinds[i])
        right[1] += 1
    total = sum(r for r, _ in per_kind.values())
    return {"sounds": len(rows), "accuracy": total / len(rows) if rows else None, "per_kind": per_kind}


def labelled_sounds(
    data: dict[str, np.ndarray], train_embeddings: np.ndarray
) -> tuple[np.ndarray, list[str | None]]:
    """What a run's kind classifier learns from: its training sounds (embedded: train_embeddings) with their
    kinds, and for a fine-tune the labelled sounds its base's classifier learned from (data.npz's
    base_embeddings and base_kinds, train.start_run keeps them). A user's few kicks cannot teach what a kick
    is: on the drums' held-out kits a classifier of the 99 sounds there named 35 % of the other kits' real
    kicks right, 6 % of their percussion; with the base's sounds beside them, 64-78 % of the sounds of kits
    neither saw (training/sampler/README.md, "Fine-tuning to the bar")."""
    kinds = kind_names(data["train_conditions"]) + [str(k) or None for k in data["base_kinds"]]
    return np.concatenate([np.asarray(train_embeddings, np.float64), data["base_embeddings"]]), kinds


def build_curation(
    train_embeddings: np.ndarray,
    train_kinds: list[str | None],
    train_files: list[str],
    held_out_embeddings: np.ndarray | None = None,
    held_out_kinds: list[str | None] | None = None,
    classifier_sounds: tuple[np.ndarray, list[str | None]] | None = None,
) -> curate.Curation:
    """A Curation from embedded training sounds (and held-out ones for its held_out measures); without a
    classifier where the sounds' names say fewer than two kinds (train_classifier's condition).
    classifier_sounds: (embeddings, kinds) the classifier learns from instead of the training sounds
    (labelled_sounds); distances stay the training sounds'."""
    try:
        classifier = train_classifier(*(classifier_sounds or (train_embeddings, train_kinds)))
    except ValueError:
        classifier = None
    typical = float(np.median(curate.neighbourhood_distance(train_embeddings, train_embeddings, skip=1)))
    held_out: dict = {}
    if held_out_embeddings is not None and len(held_out_embeddings):
        nearest, _ = curate.nearest_distance(held_out_embeddings, train_embeddings)
        held_out = {"nearest_distance_median": float(np.median(nearest))}
        if classifier is not None:
            held_out.update(accuracy(classifier, held_out_embeddings, held_out_kinds or []))
    return curate.Curation(
        classifier,
        np.asarray(train_embeddings, np.float64),
        list(train_files),
        typical,
        curate.COPY_FRACTION * typical,
        held_out,
    )


def run_curation(run_dir: str | os.PathLike) -> tuple[curate.Curation, tuple[np.ndarray, list[str | None]]]:
    """(the Curation of a run folder's data, the labelled sounds its classifier learned from): data.npz
    without the base's prior sounds, its sample rate from checkpoint.pt."""
    data = training.without_prior(training.load_run_data(run_dir))
    rate = training.load_checkpoint(run_dir)["sample_rate"]
    train_embeddings = curate.embeddings(data["train_audio"], rate)
    labelled = labelled_sounds(data, train_embeddings)
    curation = build_curation(
        train_embeddings,
        kind_names(data["train_conditions"]),
        [str(f) for f in data["train_files"]],
        curate.embeddings(data["validation_audio"], rate),
        kind_names(data["validation_conditions"]),
        labelled,
    )
    return curation, labelled


def curation_of_run(run_dir: str | os.PathLike) -> curate.Curation:
    """The Curation of a run folder's data (run_curation)."""
    return run_curation(run_dir)[0]


def generate_per_kind(
    model: VelocityNet,
    kinds: list[str | None],
    length: int,
    config: training.SamplerConfig,
    per_kind: int = REPORT_PER_KIND,
    rate: int = MODEL_SAMPLE_RATE,
) -> tuple[np.ndarray, list[str | None]]:
    """per_kind sounds of each kind (None: unconditioned), asked by kind alone with the default steps and
    guidance (evaluate.generate: seeds 0..n-1), clipped to full scale: (audio [n, length], their kinds)."""
    from .evaluate import generate

    asked = [k for k in kinds for _ in range(per_kind)]
    if not asked:
        return np.zeros((0, length), np.float32), asked
    rows = np.stack([condition_row({"kind": k} if k else {}) for k in asked])
    audio = generate(model, rows, length, config, rate)
    return np.clip(audio, -1, 1), asked


def score_summary(scores: list[curate.Score], asked: list[str | None]) -> dict:
    """Quantiles of the scores, how many were rejected and why, prompt adherence (heard as asked) and the
    median nearest-training distance."""
    values = np.array([s.score for s in scores])
    rejected: dict[str, int] = {}
    for s in scores:
        if s.rejected:
            rejected[s.rejected] = rejected.get(s.rejected, 0) + 1
    return {
        "sounds": len(scores),
        "score_quantiles": {str(q): float(np.quantile(values, q)) for q in REPORT_QUANTILES}
        if len(values)
        else {},
        "score_mean": float(values.mean()) if len(values) else None,
        "rejected": rejected,
        "heard_as_asked": float(np.mean([s.heard_as == k for s, k in zip(scores, asked)]))
        if scores
        else None,
        "nearest_distance_median": float(np.median([s.nearest_distance for s in scores])) if scores else None,
    }


def score_report(
    model: VelocityNet,
    curation: curate.Curation,
    sample_rate: int,
    length: int,
    config: training.SamplerConfig,
) -> dict:
    """score_summary of REPORT_PER_KIND sounds generated for each kind the classifier knows (unconditioned
    ones without a classifier)."""
    kinds = list(curation.classifier.kinds) if curation.classifier else [None]
    audio, asked = generate_per_kind(model, kinds, length, config, REPORT_PER_KIND, sample_rate)
    return score_summary(curate.score_sounds(audio, sample_rate, curation, asked), asked)


def write_score_report(run_dir: str | os.PathLike, stage: str) -> dict:
    """score_report of the run's EMA weights now, scored by the run's own curation (curation_of_run: the
    same for every stage), stored as `stage` ("before", "after") in report/SCORES_NAME with the step; returns
    the whole file's contents."""
    saved = training.load_checkpoint(run_dir)
    summary = score_report(
        training.model_from_checkpoint(saved, ema=True),
        curation_of_run(run_dir),
        saved["sample_rate"],
        saved["length"],
        training.SamplerConfig.from_dict(saved["config"]),
    )
    path = Path(run_dir) / training.REPORT_DIR / SCORES_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(path.read_text()) if path.is_file() else {}
    report[stage] = {"step": saved["step"], **summary}
    write_json(path, report)
    return report


def describe_summary(summary: dict) -> str:
    """One line for a score_summary: quantiles, heard as asked, rejected, nearest distance."""
    q = summary["score_quantiles"]
    rejected = ", ".join(f"{n} {why}" for why, n in summary["rejected"].items()) or "none"
    return (
        f"score median {q['0.5']:.3f} (10-90 %: {q['0.1']:.3f}-{q['0.9']:.3f}), heard as asked "
        f"{summary['heard_as_asked']:.0%}, rejected {rejected}, nearest training sound "
        f"{summary['nearest_distance_median']:.2f} dB"
    )
