"""From a folder of recordings to a PreparedDataset (training/dataset.py): what `tonemorph prepare` does.

    python -m tonemorph.training.prepare DATA_DIR [--sample-rate 24000] [--hop 96] [--chunk-seconds 2]

Every WAV/FLAC/MP3/OGG/AIFF file under DATA_DIR (nested folders too; names starting with '.' are
ignored) is mixed to mono, resampled with soxr to the model rate and analysed whole:

- f0 and confidence by swift-f0 (its ONNX model ships in the wheel; 16 kHz, 256-sample hop, frame j
  centred on j * 16 ms). Our frame k ends at sample (k + 1) hop, the instant the synth reaches frame k's
  controls, so the tracker's log-f0 and confidence are interpolated at t_k = (k + 1) hop / sr. Through
  unvoiced frames (confidence < VOICED_THRESHOLD) f0 holds the last voiced value (the first one before
  any), so the synth never sees a jump to 0 Hz. Before that, correct_octaves checks each voiced frame's
  f0 against the spectrum and undoes the tracker's octave errors.
- loudness by training/spectral.py's compute_loudness over the whole file, the engine's causal
  definition, so a chunk's first frames see the audio before it as the engine would.

Silence is trimmed: sound is where loudness is within TRIM_BELOW_PEAK_DB of the file's loud parts (and
above TRIM_FLOOR_DB), kept with KEEP_AROUND_SOUND_S either side; each stretch of sound is cut into
chunks of chunk_seconds. A remainder of at least MIN_SOUND_FRACTION of a chunk becomes one more chunk
ending where the sound ends (overlapping the one before); a sound shorter than a chunk gets a chunk
centred on it, widened into the file's own audio (zeros past its end). Shorter remainders are dropped.

The result is cached in DATA_DIR/.tonemorph/prepared-<settings>-<files>.npz, keyed by the settings and
every file's name, size and modification time: a second run on an unchanged folder only loads it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .dataset import PreparedDataset, load_prepared

MIN_PITCHED_SECONDS = 30.0  # less than this cannot train an instrument, even with --from
DEFAULT_SAMPLE_RATE = 24000
DEFAULT_HOP = 96
DEFAULT_CHUNK_SECONDS = 2.0
VOICED_THRESHOLD = 0.5  # swift-f0's confidence is calibrated so that >= 0.5 means voiced
TRIM_BELOW_PEAK_DB = 40.0  # quieter than the file's loud parts (95th percentile) by this much is silence
TRIM_FLOOR_DB = -70.0  # and so is anything below this, however quiet the file
TRIM_REFERENCE_PERCENTILE = 95.0
KEEP_AROUND_SOUND_S = 0.2  # attack and release kept around each sound
MIN_SOUND_FRACTION = 0.25  # of a chunk: shorter sounds and remainders are dropped
OCTAVE_CHECK_SECONDS = 0.08  # window of the octave check (2048 samples at 24 kHz)
OCTAVE_CHECK_PARTIALS = 6
OCTAVE_CHECK_BINS = 2  # a partial's magnitude is the largest within this many bins of where it should be
OCTAVE_CHECK_MAX_FRACTION = 0.45  # of the sample rate: partials above it are not looked at
# Measured on FluidR3 renders (99.9th percentiles): between/partials is 0.05-0.29 on right frames (up to 0.8
# where a guitar's last note still rings) and 0.78+ on octave-high ones; odd/even is 0.16+ on right frames
# (guitar E2) and 0.03-0.13 on the flute's octave-low ones.
OCTAVE_DOWN_RATIO = 0.6
OCTAVE_UP_RATIO = 0.12
OCTAVE_CHECK_BLOCK = 2048  # frames per FFT batch
LOUDNESS_BLOCK_FRAMES = 16384  # loudness in blocks: a long file never needs all its FFT frames at once
CACHE_FOLDER = ".tonemorph"
PREPARE_VERSION = 2  # bump when the analysis changes, so that old caches are not reused


class PrepareError(ValueError):
    """A folder that cannot be prepared; the message says which folder or file, what is wrong, what to do."""


ProgressCallback = Callable[[int, int, str], None]  # (files done, files in all, current file)


def audio_suffixes() -> tuple[str, ...]:
    from tonemorph.engine.render import AUDIO_SUFFIXES

    return AUDIO_SUFFIXES


def find_audio_files(data_dir: Path) -> list[Path]:
    """Audio files under data_dir by extension, sorted; hidden files and folders (and the cache) skipped.
    Linked folders are followed (a sample library often links its packs in), each real folder once."""
    suffixes = audio_suffixes()
    found = []
    seen = {os.path.realpath(data_dir)}
    for folder, dirs, names in os.walk(data_dir, followlinks=True):
        keep = []
        for d in sorted(d for d in dirs if not d.startswith(".")):
            real = os.path.realpath(os.path.join(folder, d))
            if real not in seen:  # a link loop, or a second link to one folder
                seen.add(real)
                keep.append(d)
        dirs[:] = keep
        found += [Path(folder) / n for n in names if not n.startswith(".") and Path(n).suffix.lower() in suffixes]
    return sorted(found, key=lambda p: p.relative_to(data_dir).as_posix())


def _pitch_tracker_version() -> str:
    from importlib.metadata import version

    return f"swift-f0 {version('swift-f0')}"


def fingerprint(data_dir: Path, files: list[Path], settings: dict) -> tuple[str, str]:
    """(settings key, files key): hashes of the settings and of every file's relative path, size and mtime."""
    settings_key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    listing = []
    for path in files:
        stat = path.stat()
        listing.append([path.relative_to(data_dir).as_posix(), stat.st_size, stat.st_mtime_ns])
    return settings_key, hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]


def load_mono(path: Path, sample_rate: int) -> np.ndarray:
    """The file mixed to mono (mean of its channels) and resampled with soxr: float32 [samples]."""
    import soxr
    from tonemorph.engine.render import read_audio

    audio, rate = read_audio(path)
    mono = np.nan_to_num(audio.mean(axis=0), nan=0.0, posinf=0.0, neginf=0.0)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def file_loudness(audio: np.ndarray, sample_rate: int, hop: int) -> np.ndarray:
    """compute_loudness of the whole file [samples] -> [samples // hop], in blocks with the causal window's
    history in front of each, so the numbers are those of one call on the whole file."""
    import torch

    from .spectral import LOUDNESS_N_FFT, compute_loudness

    n_frames = len(audio) // hop
    history = math.ceil(max(LOUDNESS_N_FFT - hop, 0) / hop)  # frames of audio the window reaches back
    blocks = []
    with torch.no_grad():
        for first in range(0, n_frames, LOUDNESS_BLOCK_FRAMES):
            last = min(first + LOUDNESS_BLOCK_FRAMES, n_frames)
            before = min(history, first)
            segment = torch.from_numpy(audio[(first - before) * hop : last * hop])[None]
            blocks.append(compute_loudness(segment, sample_rate, hop)[0, before:].numpy())
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def track_pitch(audio: np.ndarray, sample_rate: int, hop: int, detector) -> tuple[np.ndarray, np.ndarray]:
    """(f0_hz, confidence) [samples // hop] on our frame grid; f0 held through unvoiced frames.

    f0 is NaN everywhere when no frame is voiced.
    """
    import swift_f0

    n_frames = len(audio) // hop
    result = detector.detect(audio, sample_rate)
    voiced = result.confidence >= VOICED_THRESHOLD
    times = (np.arange(1, n_frames + 1) * hop) / sample_rate  # frame k ends at (k + 1) hop
    confidence = np.interp(times, result.timestamps, result.confidence).astype(np.float32)
    if not voiced.any():
        return np.full(n_frames, np.nan, np.float32), confidence
    pitch = np.clip(result.pitch_hz, swift_f0.FMIN, swift_f0.FMAX)
    corrected = correct_octaves(audio, sample_rate, result.timestamps[voiced], pitch[voiced])
    pitch[voiced] = np.where((corrected >= swift_f0.FMIN) & (corrected <= swift_f0.FMAX), corrected, pitch[voiced])
    last_voiced = np.maximum.accumulate(np.where(voiced, np.arange(len(voiced)), -1))
    held = pitch[np.where(last_voiced >= 0, last_voiced, np.argmax(voiced))]
    f0 = np.exp2(np.interp(times, result.timestamps, np.log2(held)))
    return f0.astype(np.float32), confidence


def _harmonic_magnitudes(spectrum: np.ndarray, f0: np.ndarray, multiples: np.ndarray, bin_hz: float) -> np.ndarray:
    """Sum over the multiples m of |X| at m f0 (the largest bin within +-OCTAVE_CHECK_BINS, for vibrato and
    the window's main lobe); multiples at or above OCTAVE_CHECK_MAX_FRACTION of the rate count as 0."""
    n_bins = spectrum.shape[1]
    bins = np.round(f0[:, None] * multiples[None, :] / bin_hz).astype(int)
    inside = bins < OCTAVE_CHECK_MAX_FRACTION * 2 * (n_bins - 1)  # n_fft = 2 (n_bins - 1) bins span the rate
    bins = np.minimum(bins, n_bins - 1)
    return np.where(inside, np.take_along_axis(spectrum, bins, axis=1), 0.0).sum(axis=1)


def correct_octaves(audio: np.ndarray, sample_rate: int, times: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """f0 [frames] estimated at `times` (s), with octave errors of the tracker undone by the spectrum there.

    swift-f0 reads some steady tones an octave off (FluidR3's flute G5-A5 and tenor sax E-flat 5, for
    example) while the spectrum says plainly where the fundamental is. With A(m) the magnitude at m f0:
        down an octave  if  sum A(k + 1/2) / sum A(k) > OCTAVE_DOWN_RATIO   (energy between the partials)
        up an octave    if  sum A(2k - 1) / sum A(2k) < OCTAVE_UP_RATIO     (every other partial missing)
    over k = 1..OCTAVE_CHECK_PARTIALS, from an OCTAVE_CHECK_SECONDS Hann window centred on each time.
    """
    n_fft = 1 << math.ceil(math.log2(OCTAVE_CHECK_SECONDS * sample_rate))
    bin_hz = sample_rate / n_fft
    window = np.hanning(n_fft).astype(np.float32)
    padded = np.pad(audio, (n_fft, n_fft))
    k = np.arange(1, OCTAVE_CHECK_PARTIALS + 1, dtype=np.float64)
    corrected = np.asarray(f0, np.float64).copy()
    for first in range(0, len(times), OCTAVE_CHECK_BLOCK):
        block = slice(first, first + OCTAVE_CHECK_BLOCK)
        starts = np.round(times[block] * sample_rate).astype(int) + n_fft - n_fft // 2
        frames = padded[starts[:, None] + np.arange(n_fft)[None, :]] * window
        spectrum = np.abs(np.fft.rfft(frames, axis=1))
        spread = np.lib.stride_tricks.sliding_window_view(
            np.pad(spectrum, ((0, 0), (OCTAVE_CHECK_BINS, OCTAVE_CHECK_BINS))), 2 * OCTAVE_CHECK_BINS + 1, axis=1
        ).max(axis=-1)
        f = corrected[block]
        partials = _harmonic_magnitudes(spread, f, k, bin_hz)
        between = _harmonic_magnitudes(spread, f, k - 0.5, bin_hz)
        odd = _harmonic_magnitudes(spread, f, 2 * k - 1, bin_hz)
        even = _harmonic_magnitudes(spread, f, 2 * k, bin_hz)
        down = between > OCTAVE_DOWN_RATIO * partials
        up = ~down & (odd < OCTAVE_UP_RATIO * even)
        corrected[block] = np.where(down, f / 2, np.where(up, f * 2, f))
    return corrected


def sounding_regions(loudness: np.ndarray, sample_rate: int, hop: int) -> list[tuple[int, int]]:
    """[(first frame, end frame)) of the stretches that are not silence (see the module docstring)."""
    audible = loudness > TRIM_FLOOR_DB
    if not audible.any():
        return []
    reference = np.percentile(loudness[audible], TRIM_REFERENCE_PERCENTILE)
    sound = loudness > max(reference - TRIM_BELOW_PEAK_DB, TRIM_FLOOR_DB)
    keep = round(KEEP_AROUND_SOUND_S * sample_rate / hop)
    sound = np.convolve(sound, np.ones(2 * keep + 1), mode="same") > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], sound.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def chunk_starts(regions: list[tuple[int, int]], total_frames: int, chunk_frames: int) -> list[int]:
    """First frames of the chunks that cover the regions (see the module docstring); total >= chunk."""
    min_frames = math.ceil(MIN_SOUND_FRACTION * chunk_frames)
    starts = []
    for first, end in regions:
        length = end - first
        if length < min_frames:
            continue
        full, rest = divmod(length, chunk_frames)
        starts += [first + i * chunk_frames for i in range(full)]
        if full == 0:
            starts.append(min(max(first - (chunk_frames - length) // 2, 0), total_frames - chunk_frames))
        elif rest >= min_frames:
            starts.append(end - chunk_frames)
    return starts


def _check_settings(sample_rate: int, hop: int, chunk_seconds: float) -> int:
    if not 8000 <= sample_rate <= 192000:
        raise PrepareError(f"the model sample rate must be 8000..192000 Hz, got {sample_rate}.")
    if not 1 <= hop <= sample_rate // 10:
        raise PrepareError(f"the hop must be 1..{sample_rate // 10} samples at {sample_rate} Hz, got {hop}.")
    chunk_frames = round(chunk_seconds * sample_rate / hop)
    if chunk_frames < 2:
        raise PrepareError(f"chunks of {chunk_seconds} s are shorter than two frames; use 1-10 s.")
    return chunk_frames


def prepare(
    data_dir: str | os.PathLike,
    *,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    hop: int = DEFAULT_HOP,
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
    cache_dir: str | os.PathLike | None = None,
    progress: ProgressCallback | None = None,
    min_pitched_seconds: float = MIN_PITCHED_SECONDS,
) -> PreparedDataset:
    """Prepare every audio file under data_dir for training, or load the cached result of an earlier run.

    Returns chunks of chunk_seconds (rounded to whole hops) at sample_rate with f0, confidence and loudness
    per hop. meta holds the source folder, the cache path ("cache", None if it could not be written),
    "skipped" ([{"file", "kind": "unreadable" | "silent" | "unpitched", "reason"}]), "chunks" ([file index,
    first sample at the model rate]) and "pitched_seconds". cache_dir defaults to data_dir/.tonemorph. progress(done, total, file)
    is called as files are analysed.

    Raises PrepareError when the folder does not exist, holds no audio, nothing in it can be read, or it
    holds less than min_pitched_seconds of pitched audio.
    """
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise PrepareError(f"'{data_dir}' is not a folder; pass the folder that holds your recordings.")
    chunk_frames = _check_settings(sample_rate, hop, chunk_seconds)
    files = find_audio_files(data_dir)
    if not files:
        raise PrepareError(
            f"no audio files in '{data_dir}' or its subfolders (looked for "
            f"{', '.join(s[1:].upper() for s in audio_suffixes())}); put recordings of the instrument there.")
    settings = {"sample_rate": sample_rate, "hop": hop, "chunk_frames": chunk_frames, "version": PREPARE_VERSION,
                "pitch_tracker": _pitch_tracker_version()}
    settings_key, files_key = fingerprint(data_dir, files, settings)
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else data_dir / CACHE_FOLDER
    cache_path = cache_dir / f"prepared-{settings_key}-{files_key}.npz"
    if cache_path.is_file():
        try:
            dataset = load_prepared(cache_path)
        except ValueError:
            dataset = None  # a damaged cache is made again
        if dataset is not None:
            _check_pitched(dataset.meta["pitched_seconds"], min_pitched_seconds, data_dir, dataset.meta["skipped"])
            dataset.meta["cache"] = str(cache_path)
            return dataset

    dataset = _analyse(data_dir, files, sample_rate, hop, chunk_frames, progress)
    _check_pitched(dataset.meta["pitched_seconds"], min_pitched_seconds, data_dir, dataset.meta["skipped"])
    dataset.meta.update({"fingerprint": f"{settings_key}-{files_key}", "settings": settings})
    try:
        dataset.save(cache_path)
        for stale in cache_dir.glob(f"prepared-{settings_key}-*.npz"):  # the same settings on older files
            if stale != cache_path:
                stale.unlink(missing_ok=True)
        dataset.meta["cache"] = str(cache_path)
    except OSError as e:
        warnings.warn(f"could not cache the prepared data in '{cache_dir}' ({e}); the next run will prepare "
                      f"again. Pass a writable cache folder (--cache-dir) to avoid that.", stacklevel=2)
        dataset.meta["cache"] = None
    return dataset


def _analyse(
    data_dir: Path, files: list[Path], sample_rate: int, hop: int, chunk_frames: int,
    progress: ProgressCallback | None,
) -> PreparedDataset:
    import swift_f0
    from tonemorph.engine.render import AudioFileError

    detector = swift_f0.SwiftF0()
    chunk_samples = chunk_frames * hop
    audio_chunks, f0_chunks, confidence_chunks, loudness_chunks, file_index, chunk_list = [], [], [], [], [], []
    used, skipped = [], []
    pitched_frames = 0
    input_seconds = 0.0
    if progress:
        progress(0, len(files), "")
    for done, path in enumerate(files, 1):
        name = path.relative_to(data_dir).as_posix()
        try:
            audio = load_mono(path, sample_rate)
        except AudioFileError as e:
            skipped.append({"file": name, "kind": "unreadable", "reason": str(e)})
            audio = None
        if audio is not None:
            input_seconds += len(audio) / sample_rate
            total = max(-(-len(audio) // hop) * hop, chunk_samples)  # whole hops, at least one chunk
            audio = np.pad(audio, (0, total - len(audio)))
            loudness = file_loudness(audio, sample_rate, hop)
            f0, confidence = track_pitch(audio, sample_rate, hop, detector)
            starts = chunk_starts(sounding_regions(loudness, sample_rate, hop), len(loudness), chunk_frames)
            if not starts:
                skipped.append({"file": name, "kind": "silent", "reason": f"'{name}' is silent; it was left out."})
            elif np.isnan(f0[0]):
                skipped.append({"file": name, "kind": "unpitched", "reason": f"'{name}' has no pitched sound "
                                "(tonemorph learns instruments that play one note at a time); it was left out."})
            else:
                covered = np.zeros(len(loudness), bool)
                for start in starts:
                    covered[start : start + chunk_frames] = True
                    audio_chunks.append(audio[start * hop : start * hop + chunk_samples])
                    f0_chunks.append(f0[start : start + chunk_frames])
                    confidence_chunks.append(confidence[start : start + chunk_frames])
                    loudness_chunks.append(loudness[start : start + chunk_frames])
                    file_index.append(len(used))
                    chunk_list.append([len(used), start * hop])
                pitched_frames += int(np.count_nonzero(covered & (confidence >= VOICED_THRESHOLD)))
                used.append(name)
        if progress:
            progress(done, len(files), name)
    if all(s["kind"] == "unreadable" for s in skipped) and len(skipped) == len(files):
        raise PrepareError(f"none of the {len(files)} audio files in '{data_dir}' could be read:\n"
                           + _listing(skipped) + "\nExport them again as WAV or FLAC.")

    def stack(parts: list[np.ndarray], dtype, width: int) -> np.ndarray:
        return np.stack(parts).astype(dtype) if parts else np.zeros((0, width), dtype)

    meta = {
        "source": str(data_dir.resolve()),
        "chunk_seconds": chunk_samples / sample_rate,
        "chunks": chunk_list,
        "skipped": skipped,
        "pitched_seconds": pitched_frames * hop / sample_rate,
        "input_seconds": input_seconds,
        "pitch_tracker": _pitch_tracker_version(),
        "voiced_threshold": VOICED_THRESHOLD,
    }
    return PreparedDataset(stack(audio_chunks, np.float32, chunk_samples), stack(f0_chunks, np.float32, chunk_frames),
                           stack(confidence_chunks, np.float32, chunk_frames),
                           stack(loudness_chunks, np.float32, chunk_frames),
                           np.asarray(file_index, np.int32), sample_rate, hop, used, meta)


def _listing(skipped: list[dict], limit: int = 8) -> str:
    lines = [f"  {s['reason']}" for s in skipped[:limit]]
    return "\n".join(lines + ([f"  ... and {len(skipped) - limit} more"] if len(skipped) > limit else []))


def _check_pitched(pitched: float, needed: float, data_dir: Path, skipped: list[dict]) -> None:
    if pitched >= needed:
        return
    left_out = f"\nLeft out:\n{_listing(skipped)}" if skipped else ""
    raise PrepareError(
        f"found only {pitched:.1f} s of pitched audio in '{data_dir}'; training needs at least {needed:.0f} s. "
        f"Add more recordings of the instrument playing single notes or melodies (one note at a time; a few "
        f"minutes in all is best).{left_out}")


# --- command line --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tonemorph.training.prepare",
        description="Prepare a folder of recordings (WAV/FLAC/MP3/OGG, nested folders, any rate, mono or "
                    "multichannel) for training: resample, trim silence, cut into chunks, track pitch and "
                    "loudness. The result is cached in the folder, so running it again is instant.",
    )
    parser.add_argument("data_dir", help="the folder with your recordings")
    parser.add_argument("--sample-rate", type=int, default=DEFAULT_SAMPLE_RATE, help="model sample rate in Hz")
    parser.add_argument("--hop", type=int, default=DEFAULT_HOP, help="samples per frame at the model rate")
    parser.add_argument("--chunk-seconds", type=float, default=DEFAULT_CHUNK_SECONDS, help="training chunk length")
    parser.add_argument("--cache-dir", default=None, help="where to keep the prepared data (default DATA_DIR/.tonemorph)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    args = build_parser().parse_args(argv)
    console = Console(stderr=True)
    started = time.perf_counter()
    try:
        with Progress(TextColumn("[bold]prepare"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      TextColumn("{task.description}"), console=console, transient=True) as bar:
            task = bar.add_task("", total=None)
            dataset = prepare(args.data_dir, sample_rate=args.sample_rate, hop=args.hop,
                              chunk_seconds=args.chunk_seconds, cache_dir=args.cache_dir,
                              progress=lambda done, total, name: bar.update(task, completed=done, total=total,
                                                                            description=name))
    except (PrepareError, OSError) as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return 2
    for s in dataset.meta["skipped"]:
        console.print(f"[yellow]skipped:[/yellow] {s['reason']}", highlight=False)
    print(f"{len(dataset)} chunks of {dataset.meta['chunk_seconds']:.2f} s from {len(dataset.files)} files "
          f"({dataset.seconds() / 60:.1f} min, {dataset.meta['pitched_seconds'] / 60:.1f} min pitched) "
          f"in {time.perf_counter() - started:.1f} s\ncache: {dataset.meta['cache']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
