"""Keeping the best of generated sounds: silence, clipping, an embedding, a kind classifier, one score.

The embedding (`embedding`) describes how a sound's spectrum is shaped and how it moves, not how loud it
is: every number is in dB relative to the sound itself, so a copy at another gain embeds the same (but
for POWER_FLOOR). From the power STFT (descriptors.N_FFT, HOP, periodic Hann), with the loudest frame's
energy as 0 dB and RELATIVE_FLOOR_DB as the floor:

- envelope: the mean frame energy in each of the ENVELOPE_EDGES_S stretches (finer at the attack), in dB
  re the loudest frame (len(ENVELOPE_EDGES_S) numbers);
- spectral shape: in each of the SHAPE_EDGES_S stretches (attack, body, early and late tail), the
  EMBED_MELS-band mel spectrum (mel_filters: Slaney's, 20 Hz to half the rate) in dB re the stretch's own
  energy, floored there too: each stretch's colour counts at whatever level it sounds (a tail of leftover
  noise at -50 dB is heard once the sound is turned up; letting quiet stretches slide to the floor instead
  cut the noise bursts' distance below from 7.7 to 5.4 x the floor);
- tonality: in the same stretches and each octave of TONE_OCTAVES_HZ, the spectral flatness of the STFT
  bins inside the octave (geometric over arithmetic mean of their power, in dB), energy-weighted over
  frames: about -2.5 dB for noise of any colour (-10 log10(e) x Euler's gamma: the bins' power is
  exponentially distributed), far lower where a drum's modes ring.

POWER_FLOOR is added to every bin, so digital silence has a flat spectrum and a flatness of 0 dB.

Why this and not log-mel statistics over the whole sound: a noise burst shaped with a drum's envelope has
the drum's envelope and length, and those dominate a time-average of log-mel frames; what it lacks is a
drum's colour at each moment and its modes. On the base run's held-out kits (training/sampler/README.md)
the Fréchet distance of such noise bursts is 7.7 x that of real drums of other kits in this embedding,
against 1.0 x in the log-mel statistics it replaced.

A distance between two embeddings is the RMS of their difference, in dB: 0 for a copy.

The kind classifier (`KindClassifier`) is multinomial logistic regression on standardised embeddings; it is
trained with each model (training/sampler/classifier.py) and stored with it, with the training sounds'
embeddings, as a `Curation` (`Curation.to_json`: the ONNX file's "curation" metadata).

`score_sounds` rates generated sounds (`Score`); `keep_best` picks the best K; `generate_best` is
`tonemorph sampler generate --keep-best K`.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import math
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from tonemorph.atomic import write_json

from .descriptors import HOP, N_FFT, magnitude_spectrogram
from .words import KIND_SYNONYMS, kind_of_name

SILENT_DB = -60.0  # peak below this is silence or near-silence
CLIP_LEVEL = 0.99  # of full scale
CLIP_RUN = 3  # equal samples in a row at CLIP_LEVEL or above: a flat top (a full-scale sine's peak is not)
EMBED_MELS = 24
RELATIVE_FLOOR_DB = -60.0
ENVELOPE_EDGES_S = (0.0, 0.01, 0.02, 0.03, 0.04, 0.06, 0.08, 0.12, 0.16, 0.25, 0.35, 0.5, 0.7)  # to the end
SHAPE_EDGES_S = (0.0, 0.04, 0.12, 0.4)  # attack, body, early tail, late tail (to the end)
TONE_OCTAVES_HZ = tuple(93.75 * 2**k for k in range(8))  # 7 octaves, 94 Hz .. 12 kHz
POWER_FLOOR = 1e-20  # keeps log() finite on digital silence
EMBED_DIMS = len(ENVELOPE_EDGES_S) + len(SHAPE_EDGES_S) * (EMBED_MELS + len(TONE_OCTAVES_HZ) - 1)
DISTANCE_BLOCK = 1024  # rows of `embeddings` compared at a time
TYPICAL_NEIGHBOURS = 5  # closeness to the training sounds: mean distance to this many nearest
COPY_FRACTION = 0.25  # nearer to a training sound than this x the training sounds' typical distance: a copy
CURATION_FORMAT = 1


def is_silent(audio: np.ndarray, threshold_db: float = SILENT_DB) -> bool:
    """True where the peak is below threshold_db dBFS (or there are no samples)."""
    x = np.asarray(audio)
    return len(x) == 0 or float(np.max(np.abs(x))) < 10 ** (threshold_db / 20)


def is_clipped(audio: np.ndarray) -> bool:
    """True where any sample is beyond full scale, or CLIP_RUN equal samples in a row reach CLIP_LEVEL."""
    x = np.asarray(audio, np.float64)
    if len(x) and np.abs(x).max() > 1.0:
        return True
    flat = (np.abs(x[1:]) >= CLIP_LEVEL) & (x[1:] == x[:-1])  # sample n + 1 repeats sample n up there
    runs = np.flatnonzero(np.diff(np.concatenate([[0], flat.astype(np.int64), [0]])))
    return bool(np.any(runs[1::2] - runs[::2] >= CLIP_RUN - 1))


# --- the embedding ------------------------------------------------------------------------------------------


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear to 1 kHz (3 mel per 200 Hz), logarithmic above (27 mel per ln 6.4)."""
    hz = np.asarray(hz, np.float64)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, hz / (200.0 / 3.0))


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3.0))


@lru_cache(maxsize=4)
def mel_filters(sample_rate: float) -> np.ndarray:
    """EMBED_MELS triangular filters on the N_FFT bins [mels, N_FFT // 2 + 1], 20 Hz to half the rate, each
    scaled by 2 / its width in Hz (Slaney's area normalisation): librosa.filters.mel's defaults, in numpy so
    that scoring needs no librosa."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(20.0), _hz_to_mel(sample_rate / 2), EMBED_MELS + 2))
    bins = np.linspace(0, sample_rate / 2, N_FFT // 2 + 1)
    rising = (bins[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - bins[None, :]) / np.diff(edges)[1:, None]
    return np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def _stretches(edges_s: tuple[float, ...], frames: int, sample_rate: float) -> list[tuple[int, int]]:
    """[start, end) frame ranges from start times in seconds, the last to the end (empty past it)."""
    starts = [min(round(s * sample_rate / HOP), frames) for s in edges_s] + [frames]
    return list(itertools.pairwise(starts))


def _octave_bins(sample_rate: float) -> list[tuple[int, int]]:
    top = N_FFT // 2 + 1
    edges = [min(round(f * N_FFT / sample_rate), top) for f in TONE_OCTAVES_HZ]
    return list(itertools.pairwise(edges))


def embedding(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Envelope, spectral shape and tonality of one sound [samples] (see the module docstring): [EMBED_DIMS]
    float32, in dB."""
    power = magnitude_spectrogram(audio, N_FFT, HOP) ** 2 + POWER_FLOOR
    frame_energy = power.sum(axis=1)
    frames = len(frame_energy)
    floor = 10 ** (RELATIVE_FLOOR_DB / 10)
    envelope = [
        10 * np.log10(max(frame_energy[a:b].mean() / frame_energy.max(), floor))
        if b > a
        else RELATIVE_FLOOR_DB
        for a, b in _stretches(ENVELOPE_EDGES_S, frames, sample_rate)
    ]
    power = np.vstack([power, np.full((1, power.shape[1]), POWER_FLOOR)])  # a silent frame, for ...
    mel = power @ mel_filters(sample_rate).T
    log_power = np.log(power)
    shape, tone = [], []
    for a, b in _stretches(SHAPE_EDGES_S, frames, sample_rate):
        if b == a:  # ... a stretch past the end of a short sound
            a, b = frames, frames + 1
        bands = mel[a:b].sum(axis=0)
        shape.append(10 * np.log10(np.maximum(bands / bands.sum(), floor)))
        for lo, hi in _octave_bins(sample_rate):
            # per frame: 10 log10(geometric mean / arithmetic mean) of the octave's bins
            octave = power[a:b, lo:hi]
            flatness = (10 / np.log(10)) * (log_power[a:b, lo:hi].mean(axis=1) - np.log(octave.mean(axis=1)))
            weight = octave.sum(axis=1)
            tone.append(float((flatness * weight).sum() / weight.sum()))
    return np.concatenate([envelope, np.concatenate(shape), tone]).astype(np.float32)


def embeddings(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """embedding of each sound [sounds, samples] -> [sounds, EMBED_DIMS]."""
    return (
        np.stack([embedding(a, sample_rate) for a in audio])
        if len(audio)
        else np.zeros((0, EMBED_DIMS), np.float32)
    )


def _squared_distances(queries: np.ndarray, train: np.ndarray) -> np.ndarray:
    # |q - t|^2 = |q|^2 + |t|^2 - 2 q.t
    return np.maximum(
        (queries**2).sum(axis=1)[:, None] + (train**2).sum(axis=1)[None, :] - 2 * queries @ train.T, 0.0
    )


def _check_pair(queries: np.ndarray, train: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    queries, train = np.asarray(queries, np.float64), np.asarray(train, np.float64)
    if train.ndim != 2 or len(train) == 0 or queries.ndim != 2 or queries.shape[1] != train.shape[1]:
        raise ValueError(f"{what} needs [n, dims] and [m >= 1, dims], got {queries.shape} and {train.shape}.")
    return queries, train


def nearest_distance(embeddings: np.ndarray, train_embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance to the nearest training embedding [n] in dB RMS, its index [n]) for embeddings [n, dims]
    against train_embeddings [m, dims]."""
    queries, train = _check_pair(embeddings, train_embeddings, "nearest_distance")
    distances, nearest = [], []
    for first in range(0, len(queries), DISTANCE_BLOCK):
        squared = _squared_distances(queries[first : first + DISTANCE_BLOCK], train)
        index = np.argmin(squared, axis=1)
        nearest.append(index)
        distances.append(np.sqrt(squared[np.arange(len(index)), index] / train.shape[1]))
    if not distances:
        return np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(distances), np.concatenate(nearest)


def neighbourhood_distance(
    embeddings: np.ndarray, train_embeddings: np.ndarray, neighbours: int = TYPICAL_NEIGHBOURS, skip: int = 0
) -> np.ndarray:
    """Mean distance (dB RMS) from each of embeddings [n, dims] to its `neighbours` nearest training
    embeddings [m, dims], leaving out the `skip` nearest (1 for the training sounds themselves): [n]."""
    queries, train = _check_pair(embeddings, train_embeddings, "neighbourhood_distance")
    k = min(neighbours, len(train) - skip)
    if k < 1:
        raise ValueError(f"neighbourhood_distance needs more than {skip} training embeddings.")
    out = []
    for first in range(0, len(queries), DISTANCE_BLOCK):
        squared = np.sort(_squared_distances(queries[first : first + DISTANCE_BLOCK], train), axis=1)
        out.append(np.sqrt(squared[:, skip : skip + k] / train.shape[1]).mean(axis=1))
    return np.concatenate(out) if out else np.zeros(0)


# --- the kind classifier and what is stored with a model -----------------------------------------------------


def _encode(array: np.ndarray) -> dict:
    array = np.ascontiguousarray(array, dtype="<f4")
    return {"shape": list(array.shape), "float32": base64.b64encode(array.tobytes()).decode("ascii")}


def _decode(value: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(value["float32"]), "<f4").reshape(value["shape"]).astype(np.float64)


@dataclass
class KindClassifier:
    """p(kind | sound) = softmax(((e - mean) / scale) @ weights + bias) for embeddings e [n, EMBED_DIMS]."""

    kinds: list[str]
    mean: np.ndarray  # [dims]
    scale: np.ndarray  # [dims]
    weights: np.ndarray  # [dims, kinds]
    bias: np.ndarray  # [kinds]

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """[n, dims] -> [n, len(kinds)], rows summing to 1."""
        logits = ((np.asarray(embeddings, np.float64) - self.mean) / self.scale) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, embeddings: np.ndarray) -> list[str]:
        return [self.kinds[i] for i in np.argmax(self.probabilities(embeddings), axis=1)]


@dataclass
class Curation:
    """What scoring needs, stored with a model: the kind classifier (None where the data named fewer than
    two kinds), the training sounds' embeddings and file names, and distances measured on them.

    typical_distance: the median over training sounds of their neighbourhood_distance to the others (dB RMS);
    copy_distance: COPY_FRACTION of it; held_out: measures on sounds kept out of training (classifier
    accuracy, median distance to the nearest training sound), empty without any.
    """

    classifier: KindClassifier | None
    train_embeddings: np.ndarray
    train_files: list[str]
    typical_distance: float
    copy_distance: float
    held_out: dict

    def to_json(self) -> str:
        c = self.classifier
        return json.dumps(
            {
                "format": CURATION_FORMAT,
                "embedding_dims": EMBED_DIMS,
                "classifier": None
                if c is None
                else {
                    "kinds": c.kinds,
                    **{k: _encode(getattr(c, k)) for k in ("mean", "scale", "weights", "bias")},
                },
                "train_embeddings": _encode(self.train_embeddings),
                "train_files": self.train_files,
                "typical_distance": self.typical_distance,
                "copy_distance": self.copy_distance,
                "held_out": self.held_out,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Curation:
        """Raises ValueError for another format or embedding size (a model made by another tonemorph)."""
        values = json.loads(text)
        if values.get("format") != CURATION_FORMAT or values.get("embedding_dims") != EMBED_DIMS:
            raise ValueError(
                f"the model's curation data is format {values.get('format')} with "
                f"{values.get('embedding_dims')}-number embeddings; this tonemorph scores format "
                f"{CURATION_FORMAT} with {EMBED_DIMS}. Re-export the model with this tonemorph."
            )
        c = values["classifier"]
        classifier = (
            None
            if c is None
            else KindClassifier(
                list(c["kinds"]), *(_decode(c[k]) for k in ("mean", "scale", "weights", "bias"))
            )
        )
        return cls(
            classifier,
            _decode(values["train_embeddings"]),
            list(values["train_files"]),
            float(values["typical_distance"]),
            float(values["copy_distance"]),
            dict(values["held_out"]),
        )


# --- scores ---------------------------------------------------------------------------------------------------


@dataclass
class Score:
    """How one generated sound rates. score is 0 for a rejected sound (rejected names why), else the
    geometric mean of kind_probability and closeness, 0..1 (closeness alone where the kind cannot be judged).

    nearest_distance: to the nearest training sound (dB RMS; nearest_file is it); near_copy: nearer than the
    model's copy_distance. kind_probability: the classifier's probability of the kind asked for (of the kind it
    hears, heard_as, when none was asked); None without a classifier or for a kind it was not trained on
    (fewer than two sounds of it). closeness: 1 / (1 + (d / typical)^2) with d the sound's
    neighbourhood_distance to the training sounds: 0.5 as typical as a training sound is of the others,
    towards 0 far away.
    """

    score: float
    rejected: str | None
    silent: bool
    clipped: bool
    near_copy: bool
    nearest_distance: float
    nearest_file: str
    heard_as: str | None
    kind_probability: float | None
    closeness: float

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def score_sounds(
    audio: np.ndarray,
    sample_rate: float,
    curation: Curation,
    kinds: list[str | None],
    embedded: np.ndarray | None = None,
) -> list[Score]:
    """A Score for each of audio [n, samples], kinds[i] the kind sound i was asked to be (None: any);
    embedded: their embeddings where already computed."""
    audio = np.asarray(audio)
    if len(kinds) != len(audio):
        raise ValueError(f"score_sounds: {len(audio)} sounds but {len(kinds)} kinds.")
    if len(audio) == 0:
        return []
    embedded = embeddings(audio, sample_rate) if embedded is None else embedded
    nearest, index = nearest_distance(embedded, curation.train_embeddings)
    around = neighbourhood_distance(embedded, curation.train_embeddings)
    classifier = curation.classifier
    known = classifier.kinds if classifier else []
    probabilities = classifier.probabilities(embedded) if classifier else None
    scores = []
    for i, sound in enumerate(audio):
        heard, p = None, None
        if probabilities is not None:
            heard = known[int(np.argmax(probabilities[i]))]
            if kinds[i] is None or kinds[i] in known:
                p = float(probabilities[i, known.index(kinds[i] or heard)])
        closeness = 1.0 / (1.0 + (float(around[i]) / curation.typical_distance) ** 2)
        silent, clipped = is_silent(sound), is_clipped(sound)
        copy = bool(nearest[i] < curation.copy_distance)
        rejected = next(
            (why for why, bad in (("silent", silent), ("clipped", clipped), ("near-copy", copy)) if bad), None
        )
        scores.append(
            Score(
                score=0.0 if rejected else math.sqrt((closeness if p is None else p) * closeness),
                rejected=rejected,
                silent=silent,
                clipped=clipped,
                near_copy=copy,
                nearest_distance=float(nearest[i]),
                nearest_file=curation.train_files[int(index[i])],
                heard_as=heard,
                kind_probability=p,
                closeness=closeness,
            )
        )
    return scores


def keep_best(scores: list[Score], count: int) -> list[int]:
    """Indices of the best `count` sounds, best first (the earlier sound wins a tie); rejected sounds are
    never kept, so fewer come back when fewer pass."""
    if count < 1:
        raise ValueError(f"keep the best 1 or more, not {count}.")
    passing = [i for i, s in enumerate(scores) if s.rejected is None]
    return sorted(passing, key=lambda i: (-scores[i].score, i))[:count]


# --- files: a model's curation, a generated batch ------------------------------------------------------------


def load_curation(model_path: str | os.PathLike) -> Curation:
    """The "curation" metadata of a sampler's ONNX file; ValueError naming the file when it has none."""
    import onnx

    props = {
        p.key: p.value for p in onnx.load(os.fspath(model_path), load_external_data=False).metadata_props
    }
    if "curation" not in props:
        raise ValueError(
            f"'{model_path}' carries no curation data (its kind classifier and training sounds), so its sounds "
            "cannot be scored; export it again from its run folder (`tonemorph sampler train --resume RUN`), "
            "or generate without --keep-best."
        )
    return Curation.from_json(props["curation"])


def asked_kind(facts: dict) -> str | None:
    """The kind a generated sound's JSON sidecar says was asked for: its conditions' kind, else the kind its
    prompt's words say (words.kind_of_name), else None."""
    kind = (facts.get("conditions") or {}).get("kind")
    if kind in KIND_SYNONYMS:
        return kind
    return kind_of_name(facts["prompt"]) if isinstance(facts.get("prompt"), str) else None


def score_files(wavs: list[Path], curation: Curation) -> list[Score]:
    """score_sounds of generated WAV files (mono, one length), each asked for the kind its JSON sidecar says."""
    import soundfile

    sounds, kinds, rates = [], [], set()
    for wav in wavs:
        audio, rate = soundfile.read(wav, dtype="float32", always_2d=True)
        sounds.append(audio.mean(axis=1))
        rates.add(rate)
        kinds.append(asked_kind(json.loads(wav.with_suffix(".json").read_text())))
    if len(rates) > 1 or len({len(s) for s in sounds}) > 1:
        raise ValueError("score_files needs sounds of one rate and length.")
    return score_sounds(np.stack(sounds), rates.pop(), curation, kinds) if sounds else []


def keep_best_files(
    wavs: list[Path], count: int, curation: Curation, out: Path
) -> tuple[list[tuple[Path, Score]], list[Score]]:
    """Scores generated WAVs (each with its JSON sidecar) and moves the best `count` (keep_best) into `out`,
    their sidecars' "score" filled in (Score.as_dict, its rank and the batch's size): ([(kept WAV in out,
    its Score)] best first, every wav's Score). The rest stay where they are. On an error nothing stays in
    `out`."""
    scores = score_files(wavs, curation)
    kept = keep_best(scores, count)
    moved: list[Path] = []
    try:
        for rank, i in enumerate(kept, 1):
            sidecar = wavs[i].with_suffix(".json")
            facts = json.loads(sidecar.read_text())
            facts["score"] = {**scores[i].as_dict(), "rank": rank, "of": len(wavs)}
            write_json(sidecar, facts)
            for path in (wavs[i], sidecar):
                os.replace(path, out / path.name)
                moved.append(out / path.name)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise
    return [(out / wavs[i].name, scores[i]) for i in kept], scores


def generate_best(
    name_or_path: str | os.PathLike,
    out: str | os.PathLike,
    settings,
    keep: int,
    progress: Callable[[float, int], None] | None = None,
) -> tuple[list[tuple[Path, Score]], list[Score]]:
    """`tonemorph sampler generate --keep-best K`: settings.count sounds (engine.sampler.GenerateSettings)
    generated into a hidden folder inside `out`, scored, and the best `keep` moved into `out` (keep_best_files);
    the others are deleted. Checked before anything is written: the settings, 1 <= keep <= count, that the
    model carries curation data, and that no file of the batch's names is in `out`. On an error or Ctrl-C
    nothing is left behind (and `out` is removed if this call made it)."""
    from tonemorph.engine import sampler as engine

    engine.check_settings(settings)
    if not 1 <= keep <= settings.count:
        raise engine.SamplerError(
            f"--keep-best must be 1..--count ({settings.count}), not {keep}: it keeps the best of the sounds made."
        )
    curation = load_curation(engine.find_sampler(name_or_path))
    settings = dataclasses.replace(settings, seed=engine.draw_seed(settings.seed))
    out = Path(out).expanduser()
    engine.output_stems(out, engine.plan_items(settings, settings.seed))
    made_out = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".tonemorph-keep-best-{uuid.uuid4().hex}"
    try:
        wavs = engine.generate_sounds(name_or_path, staging, settings, progress)
        return keep_best_files(wavs, keep, curation, out)
    except BaseException:
        if made_out:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
