"""The report folder a finished training run leaves: plots (PNG) and example sounds (WAV).

    loss.png                  training loss per step (raw and smoothed) and validation loss
    example_K_spectrogram.png input vs resynthesis, log-magnitude spectrograms
    example_K_controls.png    f0 (input's tracker and the resynthesis measured by swift-f0) and loudness curves
    example_K_input.wav       the chunk the model heard (held-out validation audio when there is any)
    example_K_resynthesis.wav what the model makes of the chunk's f0 and loudness
    summary.json              steps, losses, throughput, the config
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from tonemorph.atomic import atomic_path, write_json

from .dataset import PreparedDataset
from .models import DDSP
from .spectral import compute_loudness

N_EXAMPLES = 3
SMOOTHING_STEPS = 50
SPECTROGRAM_N_FFT = 1024
SPECTROGRAM_HOP = 256
SPECTROGRAM_FLOOR_DB = -80.0
EXAMPLE_SEED = 0
VOICED_CONFIDENCE = 0.5


def smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Trailing moving average (shorter at the start)."""
    total = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - width, 0)
    return (total[ends] - total[starts]) / (ends - starts)


def example_chunks(dataset: PreparedDataset, n: int) -> np.ndarray:
    """Indices of the n chunks with the most confidently voiced frames."""
    voiced = (dataset.confidence >= VOICED_CONFIDENCE).mean(axis=1)
    return np.argsort(-voiced, kind="stable")[:n]


def resynthesize(model: DDSP, f0_hz: np.ndarray, loudness_db: np.ndarray) -> np.ndarray:
    """The model's audio for controls [frames] -> [frames hop], with a fixed noise seed."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(EXAMPLE_SEED)
        was_training = model.training
        model.eval()
        audio = model(torch.from_numpy(f0_hz[None]).float(), torch.from_numpy(loudness_db[None]).float())
        model.train(was_training)
    return audio[0].numpy()


def spectrogram_db(audio: np.ndarray) -> np.ndarray:
    import librosa

    magnitude = np.abs(librosa.stft(audio, n_fft=SPECTROGRAM_N_FFT, hop_length=SPECTROGRAM_HOP))
    return np.maximum(librosa.amplitude_to_db(magnitude, ref=1.0, top_db=None), SPECTROGRAM_FLOOR_DB)


def measured_f0(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(times, f0 with NaN where unvoiced) by swift-f0, an offline tracker independent of the model."""
    from swift_f0 import SwiftF0

    result = SwiftF0(spin=False).detect(audio, sample_rate)
    return result.timestamps, np.where(result.confidence >= VOICED_CONFIDENCE, result.pitch_hz, np.nan)


def plot_losses(history: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    if history.get("train"):
        steps, losses = np.asarray(history["train"], dtype=np.float64).T
        ax.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.8, label="training (per step)")
        ax.plot(steps, smooth(losses, SMOOTHING_STEPS), color="tab:blue", label=f"training ({SMOOTHING_STEPS}-step mean)")
    if history.get("validation"):
        steps, losses = np.asarray(history["validation"], dtype=np.float64).T
        ax.plot(steps, losses, "o-", color="tab:orange", label="validation (held-out files)")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("multi-scale spectral loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def plot_spectrograms(original: np.ndarray, resynthesis: np.ndarray, sample_rate: int, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    extent = (0.0, len(original) / sample_rate, 0.0, sample_rate / 2000.0)
    for ax, audio, title in ((axes[0], original, "input"), (axes[1], resynthesis, "resynthesis")):
        image = ax.imshow(spectrogram_db(audio), origin="lower", aspect="auto", extent=extent, cmap="magma",
                          vmin=SPECTROGRAM_FLOOR_DB, vmax=0.0)
        ax.set_title(title)
        ax.set_ylabel("kHz")
    axes[1].set_xlabel("seconds")
    fig.colorbar(image, ax=axes, label="dB")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def plot_controls(dataset: PreparedDataset, index: int, resynthesis: np.ndarray, path: Path) -> None:
    import matplotlib.pyplot as plt

    rate, hop = dataset.sample_rate, dataset.hop
    frame_times = (np.arange(dataset.frames) + 1) * hop / rate
    voiced = dataset.confidence[index] >= VOICED_CONFIDENCE
    input_f0 = np.where(voiced, dataset.f0_hz[index], np.nan)
    times, output_f0 = measured_f0(resynthesis, rate)
    output_loudness = compute_loudness(torch.from_numpy(resynthesis[None]), rate, hop)[0].numpy()

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.plot(frame_times, input_f0, label="input f0 (training tracker, voiced)")
    top.plot(times, output_f0, ".", markersize=3, label="resynthesis f0 (swift-f0)")
    top.set_ylabel("Hz")
    top.legend()
    bottom.plot(frame_times, dataset.loudness_db[index], label="input loudness")
    bottom.plot(frame_times[: len(output_loudness)], output_loudness, label="resynthesis loudness")
    bottom.set_ylabel("dB (A-weighted)")
    bottom.set_xlabel("seconds")
    bottom.legend()
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def write_report(
    model: DDSP,
    examples: PreparedDataset,
    history: dict,
    folder: str | os.PathLike,
    *,
    summary: dict | None = None,
    n_examples: int = N_EXAMPLES,
) -> Path:
    """Write the report folder (see the module docstring) for `model` on up to n_examples chunks of `examples`.

    Returns the folder.
    """
    import matplotlib

    matplotlib.use("Agg")
    from tonemorph.engine.render import write_audio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plot_losses(history, folder / "loss.png")
    rate = examples.sample_rate
    for k, index in enumerate(example_chunks(examples, n_examples)):
        original = examples.audio[index].astype(np.float32)
        resynthesis = resynthesize(model, examples.f0_hz[index], examples.loudness_db[index]).astype(np.float32)
        write_audio(folder / f"example_{k}_input.wav", original[None], rate)
        write_audio(folder / f"example_{k}_resynthesis.wav", resynthesis[None], rate)
        plot_spectrograms(original, resynthesis, rate, folder / f"example_{k}_spectrogram.png")
        plot_controls(examples, int(index), resynthesis, folder / f"example_{k}_controls.png")
    final = {
        "final_train_loss": float(np.mean([loss for _, loss in history["train"][-SMOOTHING_STEPS:]]))
        if history.get("train") else None,
        "final_validation_loss": history["validation"][-1][1] if history.get("validation") else None,
        **(summary or {}),
    }
    write_json(folder / "summary.json", final)
    return folder
