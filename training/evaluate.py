"""Quality of an instrument on held-out audio, measured through the real C++ engine (`tonemorph eval`).

(a) Resynthesis: the instrument's own held-out renders go through the engine; the pitch of the output is
    compared with the pitch of the input: median |1200 log2(f_out / f_in)| over the frames that an
    independent tracker (swift-f0, not the engine's YIN) calls voiced in both. Target <= 20 cents.
(b) Guitar in, instrument out: a guitar render of a held-out melody goes through the engine.
    Timbre: the spectral envelope of a sound is its mean MFCC vector (coefficients 1..19 of 20, c0 left out so
    that level does not count) over its active frames (within ACTIVE_DB of its loudest frame). The distance of
    two sounds is the Euclidean distance of those vectors. The envelope ratio is
        sum over melodies d(output, instrument render) / sum over melodies d(guitar input, instrument render)
    0 means the output sounds like the instrument's render, 1 as far away as the guitar was. Target <= 0.6.
    Pitch: the output's pitch vs the guitar's, median cents as in (a). Target <= 20 cents.
    For reference, the same ratio with the resynthesis of (a) in place of the output shows how close to its
    instrument the model gets when it hears that instrument.

The held-out folder is training/soundfont.py's held-out set: manifest.json lists each melody's renders by voice
(`trumpet/melody-000.wav`, `guitar/melody-000.wav`); see heldout_pairs.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from tonemorph.atomic import write_json

ANALYSIS_RATE = 24000
VOICED_CONFIDENCE = 0.5
N_MFCC = 20
MFCC_N_FFT = 2048
MFCC_HOP = 512
ACTIVE_DB = 40.0
PITCH_TARGET_CENTS = 20.0
GROSS_ERROR_CENTS = 50.0  # a frame this far off is a wrong note (an octave slip), not a detuned one
STEADY_FRAMES = 3  # swift-f0 frames (16 ms) either side of a frame that must hold its pitch for it to count
ENVELOPE_RATIO_TARGET = 0.6
MANIFEST = "manifest.json"
GUITAR = "guitar"
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".aiff", ".aif")


# --- metrics on arrays ----------------------------------------------------------------------------------


def _resample(audio: np.ndarray, rate: float) -> np.ndarray:
    import soxr

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=0)
    if rate == ANALYSIS_RATE:
        return audio
    return soxr.resample(audio, rate, ANALYSIS_RATE).astype(np.float32)


_tracker = None


def track_pitch(audio: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(f0 Hz, voiced mask) per 16 ms frame by swift-f0, an offline tracker independent of the engine."""
    global _tracker
    from swift_f0 import SwiftF0

    if _tracker is None:
        _tracker = SwiftF0(spin=False)
    result = _tracker.detect(_resample(audio, rate), ANALYSIS_RATE)
    return result.pitch_hz, (result.confidence >= VOICED_CONFIDENCE) & (result.pitch_hz > 0)


def pitch_errors_cents(reference: np.ndarray, output: np.ndarray,
                       rate: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Cents 1200 log2(f_out / f_ref) on the frames voiced in both (time-aligned signals of one rate), the
    fraction of the reference's voiced frames that are voiced in the output too, and which of those frames are
    steady: the reference's pitch stays within GROSS_ERROR_CENTS for STEADY_FRAMES either side (a causal
    tracker follows a note change a window later, so frames at note changes are not counted as slips)."""
    f_ref, v_ref = track_pitch(reference, rate)
    f_out, v_out = track_pitch(output, rate)
    n = min(len(f_ref), len(f_out))
    f_ref, v_ref, f_out, v_out = f_ref[:n], v_ref[:n], f_out[:n], v_out[:n]
    both = v_ref & v_out
    cents = 1200.0 * np.log2(f_out[both] / f_ref[both])
    log_f = np.log2(np.where(v_ref, np.maximum(f_ref, 1e-3), np.nan))
    padded = np.pad(log_f, STEADY_FRAMES, constant_values=np.nan)
    window = np.lib.stride_tricks.sliding_window_view(padded, 2 * STEADY_FRAMES + 1)
    with np.errstate(invalid="ignore"):
        steady = np.all(np.abs(window - log_f[:, None]) * 1200.0 <= GROSS_ERROR_CENTS, axis=1)
    return cents, float(both.sum() / max(v_ref.sum(), 1)), steady[both]


def median_abs_cents(cents: np.ndarray) -> float:
    return float(np.median(np.abs(cents))) if len(cents) else math.nan


def gross_error_fraction(cents: np.ndarray) -> float:
    """The fraction of frames more than GROSS_ERROR_CENTS off: what a median hides (an octave slip of 5 %
    of the frames is heard as wrong notes). Pass the steady frames (pitch_errors_cents) to leave note changes
    out."""
    return float(np.mean(np.abs(cents) > GROSS_ERROR_CENTS)) if len(cents) else math.nan


def spectral_envelope(audio: np.ndarray, rate: float) -> np.ndarray:
    """Mean MFCC vector (c1..c19) over the active frames: [N_MFCC - 1]."""
    import librosa

    audio = _resample(audio, rate)
    mfcc = librosa.feature.mfcc(y=audio, sr=ANALYSIS_RATE, n_mfcc=N_MFCC, n_fft=MFCC_N_FFT, hop_length=MFCC_HOP)
    rms = librosa.feature.rms(y=audio, frame_length=MFCC_N_FFT, hop_length=MFCC_HOP)[0]
    if not np.any(rms > 0):
        raise ValueError("spectral_envelope: the audio is silent")
    active = rms >= rms.max() * 10.0 ** (-ACTIVE_DB / 20.0)
    return mfcc[1:, active].mean(axis=1)


def envelope_distance(a: np.ndarray, b: np.ndarray, rate: float) -> float:
    """Euclidean distance of the spectral envelopes (mean MFCCs) of two sounds."""
    return float(np.linalg.norm(spectral_envelope(a, rate) - spectral_envelope(b, rate)))


def envelope_ratio(outputs, inputs, references, rate: float) -> tuple[float, list[tuple[float, float]]]:
    """sum d(output, reference) / sum d(input, reference), and the (d_out, d_in) pairs, over lists of sounds."""
    pairs = [(envelope_distance(o, r, rate), envelope_distance(i, r, rate))
             for o, i, r in zip(outputs, inputs, references)]
    denominator = sum(d_in for _, d_in in pairs)
    if denominator <= 0:
        raise ValueError("envelope_ratio: the inputs already match the references (distance 0); nothing to measure")
    return sum(d_out for d_out, _ in pairs) / denominator, pairs


# --- the held-out folder ----------------------------------------------------------------------------------


def heldout_pairs(folder: str | os.PathLike, instrument: str) -> list[tuple[Path, Path | None]]:
    """(instrument render, guitar render of the same melody or None) for each held-out melody.

    `folder` is a held-out set (training/soundfont.py's: manifest.json whose files map each voice to its
    render), or the folder above such sets (`data/heldout`, holding `<instrument>/manifest.json`). Without a
    manifest, `<instrument>/X.wav` pairs with `guitar/X.wav`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"'{folder}' is not a folder; --heldout takes a held-out set (made by "
                         "training/soundfont.py --heldout).")
    if (folder / instrument / MANIFEST).is_file():
        folder = folder / instrument
    manifest = folder / MANIFEST
    if manifest.is_file():
        content = json.loads(manifest.read_text())
        guitar = content.get("guitar", GUITAR)
        pairs = [(folder / f["audio"][instrument], folder / f["audio"][guitar] if guitar in f["audio"] else None)
                 for f in content.get("files", []) if instrument in f.get("audio", {})]
        available = sorted({voice for f in content.get("files", []) for voice in f.get("audio", {})})
    else:
        pairs = [(path, folder / GUITAR / path.name if (folder / GUITAR / path.name).is_file() else None)
                 for path in sorted((folder / instrument).glob("*")) if path.suffix.lower() in AUDIO_SUFFIXES]
        available = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not pairs:
        raise ValueError(f"'{folder}' has no held-out audio of '{instrument}' (it has: "
                         f"{', '.join(available) or 'nothing'}); name the instrument with --instrument.")
    return pairs


# --- through the engine -----------------------------------------------------------------------------------


def render_through(engine, audio: np.ndarray, rate: float) -> np.ndarray:
    """The engine's output for `audio` [channels, samples] (mono mix), trimmed to the input's length."""
    from tonemorph.engine.render import render

    mono = np.atleast_2d(audio).mean(axis=0, keepdims=True).astype(np.float32)
    return render(engine, mono, rate)[0, : mono.shape[1]]


def play(engine, path: Path) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, float, np.ndarray]:
    """Render a file through the engine: (input mono, output, rate, output-vs-input cents, voiced fraction,
    steady-frame mask of the cents) as pitch_errors_cents gives them."""
    from tonemorph.engine.render import read_audio

    audio, rate = read_audio(path)
    mono = audio.mean(axis=0)
    out = render_through(engine, audio, rate)
    cents, voiced, steady = pitch_errors_cents(mono, out, rate)
    return mono, out, rate, cents, voiced, steady


def evaluate(
    model: str | os.PathLike,
    heldout: str | os.PathLike,
    *,
    instrument: str | None = None,
    out_json: str | os.PathLike | None = None,
    params: dict[str, float] | None = None,
) -> dict:
    """Run (a) and (b) of the module docstring for `model` (name or .onnx path) on the folder `heldout`.

    instrument: which source in the folder the model plays (default: the model's name).
    params: engine parameters (tonemorph.engine.PARAMETERS) for the renders; defaults otherwise.
    Returns the numbers (also written to out_json when given).
    """
    from tonemorph.engine import Engine, load_model

    loaded = load_model(model)
    instrument = instrument or loaded.name
    pairs = heldout_pairs(heldout, instrument)

    engine = Engine(loaded)
    for name, value in (params or {}).items():
        engine.set_param(name, value)

    resynthesis, resynthesis_cents, resynthesis_steady = [], [], []
    guitar_rows, guitar_cents, guitar_steady = [], [], []
    outs, resynths, ins, refs = [], [], [], []  # at ANALYSIS_RATE, for the envelope distances
    for reference_path, guitar_path in pairs:
        reference, resynthesized, rate, cents, voiced, steady = play(engine, reference_path)
        resynthesis_cents.append(cents)
        resynthesis_steady.append(steady)
        resynthesis.append({"file": str(reference_path), "median_abs_cents": median_abs_cents(cents),
                            "frames": len(cents), "output_voiced_fraction": voiced})
        if guitar_path is None:
            continue
        guitar, out, guitar_rate, cents, voiced, steady = play(engine, guitar_path)
        guitar_cents.append(cents)
        guitar_steady.append(steady)
        guitar_rows.append({"guitar": str(guitar_path), "reference": str(reference_path),
                            "median_abs_cents": median_abs_cents(cents), "output_voiced_fraction": voiced})
        outs.append(_resample(out, guitar_rate))
        ins.append(_resample(guitar, guitar_rate))
        refs.append(_resample(reference, rate))
        resynths.append(_resample(resynthesized, rate))
    pooled = np.concatenate(resynthesis_cents)
    steady = np.concatenate(resynthesis_steady)
    resynthesis_result: dict = {"median_abs_cents": median_abs_cents(pooled), "frames": len(pooled),
                                "gross_error_fraction": gross_error_fraction(pooled[steady]), "files": resynthesis}
    guitar_result: dict = {"melodies": guitar_rows}
    if guitar_rows:
        ratio, distances = envelope_ratio(outs, ins, refs, ANALYSIS_RATE)
        for row, (d_out, d_in) in zip(guitar_rows, distances):
            row.update(distance_output=d_out, distance_input=d_in, ratio=d_out / d_in if d_in > 0 else math.nan)
        pooled, steady = np.concatenate(guitar_cents), np.concatenate(guitar_steady)
        guitar_result.update(envelope_ratio=ratio, median_abs_cents=median_abs_cents(pooled),
                             gross_error_fraction=gross_error_fraction(pooled[steady]))
        # The same ratio for the resynthesis of the instrument's own render: how close the model gets at best.
        resynthesis_result["envelope_ratio"] = envelope_ratio(resynths, ins, refs, ANALYSIS_RATE)[0]

    results = {
        "model": str(loaded.path),
        "instrument": instrument,
        "heldout": str(Path(heldout)),
        "engine_params": dict(params or {}),
        "tracker": "swift-f0 (voiced: confidence >= 0.5)",
        "envelope": f"mean MFCC c1..c{N_MFCC - 1}, active frames within {ACTIVE_DB:.0f} dB of the loudest, "
                    "Euclidean distance",
        "resynthesis": resynthesis_result,
        "guitar": guitar_result,
        "targets": {"resynthesis_cents": PITCH_TARGET_CENTS, "guitar_cents": PITCH_TARGET_CENTS,
                    "envelope_ratio": ENVELOPE_RATIO_TARGET},
    }
    results["passed"] = {
        "resynthesis_cents": results["resynthesis"]["median_abs_cents"] <= PITCH_TARGET_CENTS,
        "guitar_cents": guitar_result.get("median_abs_cents", math.inf) <= PITCH_TARGET_CENTS,
        "envelope_ratio": guitar_result.get("envelope_ratio", math.inf) <= ENVELOPE_RATIO_TARGET,
    }
    if out_json:
        write_json(out_json, results)
    return results


def format_table(results: dict) -> str:
    """The headline numbers against their targets, as a text table."""
    def row(label, value, target, unit, passed):
        shown = "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}{unit}"
        return f"{label:<44}{shown:>12}   target {target}{unit}   {'ok' if passed else 'MISSED'}"

    guitar = results["guitar"]
    lines = [f"{results['instrument']} ({results['model']})",
             row(f"resynthesis pitch error, median ({results['resynthesis']['frames']} frames)",
                 results["resynthesis"]["median_abs_cents"], "<= 20", " ct", results["passed"]["resynthesis_cents"]),
             row(f"guitar -> {results['instrument']}: envelope ratio ({len(guitar['melodies'])} melodies)",
                 guitar.get("envelope_ratio"), "<= 0.6", "", results["passed"]["envelope_ratio"]),
             row(f"guitar -> {results['instrument']}: pitch following, median",
                 guitar.get("median_abs_cents"), "<= 20", " ct", results["passed"]["guitar_cents"]),
             (f"{'(resynthesis envelope ratio, for comparison)':<44}"
              f"{results['resynthesis'].get('envelope_ratio', math.nan):>12.3g}"),
             (f"{f'(steady frames > {GROSS_ERROR_CENTS:.0f} ct off: resynthesis, guitar)':<44}"
              f"{100 * results['resynthesis']['gross_error_fraction']:>11.1f}%"
              f"{100 * guitar.get('gross_error_fraction', math.nan):>7.1f}%")]
    return "\n".join(lines)
