"""A folder of audio -> the sampler's training chunks, each with its kit, kind and descriptors.

Files are found and read as `tonemorph prepare` reads them (training/prepare.py: find_audio_files,
load_mono: nested folders, any rate, mixed to mono, resampled with soxr) at MODEL_SAMPLE_RATE, 24 kHz:
the instruments' rate, so one resampler setting serves both, and 24000 = 2^6 * 375 samples a second lets a
waveform U-Net halve a 1 s chunk six times without padding (22050 = 2 * 11025 allows one halving). Drum
one-shots keep little above 12 kHz that matters to a generator of this size.

- One-shots (files up to ONE_SHOT_MAX_S long, and every file a Hydrogen drumkit.xml names, whatever its
  length) give one chunk of CHUNK_SECONDS starting PRE_ROLL_S before their onset; zeros past the file's
  end; a sound still going at the chunk's end fades out over FADE_S.
- Onset: the first sample n where the energy of the ONSET_WINDOW_S after it, mean(x[n : n + W]^2),
  reaches ONSET_DB below the file's largest such energy. The window is 1 ms, so the detected onset is at
  most 1 ms before the true one (and at or after it for an attack that rises over more than a window).
- Longer files (loops, textures) are cut into back-to-back windows of CHUNK_SECONDS; a remainder shorter
  than half a chunk is dropped.
- A chunk whose peak is below curate.SILENT_DB (-60 dBFS) is near-silence and dropped; a file that gives
  no chunk is listed as silent. Chunks identical to an earlier one at 16-bit resolution are dropped and
  listed (Hydrogen's GMRockKit carries 81 samples of The Black Pearl).
- The kit of a file is its first folder under the data folder ("" for files at the top); its kind comes
  from the names (words.kind_of): the drumkit.xml instrument name first, then the file name, then its
  folders, nearest first.
"""

from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import curate, descriptors
from .words import kind_of

MODEL_SAMPLE_RATE = 24000
CHUNK_SECONDS = 1.0
PRE_ROLL_S = 0.002  # kept before the onset, so no attack is cut
ONSET_WINDOW_S = 0.001
ONSET_DB = 30.0
ONE_SHOT_MAX_S = 4.0
FADE_S = 0.01
DRUMKIT_XML = "drumkit.xml"
HYDROGEN_DRUMKITS = Path("/usr/share/hydrogen/data/drumkits")  # Debian's hydrogen-drumkits and hydrogen-data
# Whole kits held out for validation (docs/sampler-data.md): an acoustic kit (with GMRockKit, which shares
# 81 of its samples), an 808 emulation and a mixed electronic kit, 18 % of the unique samples.
HYDROGEN_VALIDATION_KITS = ("The Black Pearl 1.0", "GMRockKit", "TR808EmulationKit", "Audiophob")

ProgressCallback = Callable[[int, int, str], None]  # (files done, files in all, current file)


class SamplerDataError(ValueError):
    """A folder that gives no training data; the message says which folder, what is wrong, what to do."""


@dataclass
class SampleSet:
    """Training chunks and what is known about each.

    audio [chunks, samples] float32 at sample_rate; files, kits, kinds (None: no name says one) and
    one_shot [chunks]; descriptors {name: [chunks]} (descriptors.describe; pitch_hz NaN where unpitched);
    skipped [{"file", "kind": "unreadable" | "silent" | "duplicate", "reason"}].
    """

    audio: np.ndarray
    sample_rate: int
    files: list[str]
    kits: list[str]
    kinds: list[str | None]
    one_shot: np.ndarray
    descriptors: dict[str, np.ndarray]
    skipped: list[dict]

    def __len__(self) -> int:
        return len(self.audio)


def hydrogen_instruments(kit_dir: Path) -> dict[str, str]:
    """{file name as drumkit.xml writes it: instrument name} for one Hydrogen kit; {} without drumkit.xml.

    Both formats are read: old kits with <filename> in <instrument> or <layer>, and the namespaced 1.x
    kits with <instrumentComponent><layer>.
    """
    xml = kit_dir / DRUMKIT_XML
    if not xml.is_file():
        return {}
    names = {}
    for element in ET.parse(xml).getroot().iter():
        if element.tag.rsplit("}", 1)[-1] != "instrument":
            continue
        name = next((c.text or "" for c in element if c.tag.rsplit("}", 1)[-1] == "name"), "")
        for file in element.iter():
            if file.tag.rsplit("}", 1)[-1] == "filename" and file.text:
                names.setdefault(file.text.strip(), name.strip())
    return names


def onset_sample(audio: np.ndarray, sample_rate: float) -> int:
    """The first sample whose next ONSET_WINDOW_S holds energy within ONSET_DB of the loudest such window."""
    window = max(round(ONSET_WINDOW_S * sample_rate), 1)
    x = np.asarray(audio, np.float64)
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    window_energy = energy[window:] - energy[:-window] if len(x) >= window else energy[-1:]
    return int(np.argmax(window_energy >= window_energy.max() * 10 ** (-ONSET_DB / 10)))


def one_shot_chunk(audio: np.ndarray, sample_rate: int, chunk_samples: int) -> np.ndarray:
    """chunk_samples from PRE_ROLL_S before the onset; zero-padded; faded out if the sound goes on."""
    start = max(onset_sample(audio, sample_rate) - round(PRE_ROLL_S * sample_rate), 0)
    chunk = np.zeros(chunk_samples, np.float32)
    part = audio[start : start + chunk_samples]
    chunk[: len(part)] = part
    if start + chunk_samples < len(audio):
        fade = round(FADE_S * sample_rate)
        chunk[-fade:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(1, fade + 1) / fade)
    return chunk


def windows(audio: np.ndarray, chunk_samples: int) -> list[np.ndarray]:
    """Back-to-back chunks of a long file; a remainder of half a chunk or more is zero-padded, less dropped."""
    chunks = [audio[i : i + chunk_samples] for i in range(0, len(audio), chunk_samples)]
    return [np.pad(c, (0, chunk_samples - len(c))) for c in chunks if len(c) * 2 >= chunk_samples]


def _kit_and_names(
    data_dir: Path, path: Path, instruments: dict[Path, dict[str, str]]
) -> tuple[str, list[str]]:
    """(kit, the names that may say the kind, most specific first)."""
    relative = path.relative_to(data_dir)
    kit = relative.parts[0] if len(relative.parts) > 1 else ""
    if path.parent not in instruments:
        instruments[path.parent] = hydrogen_instruments(path.parent)
    instrument = instruments[path.parent].get(path.name)
    names = ([instrument] if instrument else []) + [path.stem] + list(reversed(relative.parts[:-1]))
    return kit, names


def load_samples(
    data_dir: str | os.PathLike,
    *,
    sample_rate: int = MODEL_SAMPLE_RATE,
    chunk_seconds: float = CHUNK_SECONDS,
    progress: ProgressCallback | None = None,
) -> SampleSet:
    """Every audio file under data_dir as training chunks (see the module docstring).

    Raises SamplerDataError when the folder does not exist, holds no audio, or gives no chunk (all
    unreadable or silent), naming the files.
    """
    from tonemorph.engine.render import AudioFileError
    from tonemorph.training.prepare import audio_suffixes, find_audio_files, load_mono

    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise SamplerDataError(f"'{data_dir}' is not a folder; pass the folder that holds your sounds.")
    files = find_audio_files(data_dir)
    if not files:
        raise SamplerDataError(
            f"no audio files in '{data_dir}' or its subfolders (looked for "
            f"{', '.join(s[1:].upper() for s in audio_suffixes())}); put your one-shots or loops there."
        )
    chunk_samples = round(chunk_seconds * sample_rate)
    instruments: dict[Path, dict[str, str]] = {}
    chunks, names, kits, kinds, one_shot, skipped, seen = [], [], [], [], [], [], set()
    for done, path in enumerate(files, 1):
        name = path.relative_to(data_dir).as_posix()
        if progress:
            progress(done - 1, len(files), name)
        try:
            audio = load_mono(path, sample_rate)
        except AudioFileError as e:
            skipped.append({"file": name, "kind": "unreadable", "reason": str(e)})
            continue
        kit, candidates = _kit_and_names(data_dir, path, instruments)
        short = len(audio) <= ONE_SHOT_MAX_S * sample_rate or path.name in instruments[path.parent]
        cut = [one_shot_chunk(audio, sample_rate, chunk_samples)] if short else windows(audio, chunk_samples)
        kept = [c for c in cut if not curate.is_silent(c)]
        if not kept:
            skipped.append(
                {
                    "file": name,
                    "kind": "silent",
                    "reason": f"'{name}' is silent (peak below "
                    f"{curate.SILENT_DB:.0f} dBFS); it was left out.",
                }
            )
        for chunk in kept:
            key = hashlib.sha1(np.round(np.clip(chunk, -1, 1) * 32767).astype(np.int16).tobytes()).digest()
            if key in seen:
                skipped.append(
                    {
                        "file": name,
                        "kind": "duplicate",
                        "reason": f"'{name}' repeats a sound already in the data; it was left out.",
                    }
                )
                continue
            seen.add(key)
            chunks.append(chunk)
            names.append(name)
            kits.append(kit)
            kinds.append(kind_of(candidates))
            one_shot.append(short)
    if progress:
        progress(len(files), len(files), "")
    if not chunks:
        listing = "\n".join(f"  {s['reason']}" for s in skipped[:8])
        more = f"\n  ... and {len(skipped) - 8} more" if len(skipped) > 8 else ""
        raise SamplerDataError(
            f"none of the {len(files)} audio files in '{data_dir}' gave a sound to learn "
            f"from:\n{listing}{more}\nAdd readable, audible one-shots (WAV or FLAC)."
        )
    rows = [descriptors.describe(c, sample_rate) for c in chunks]
    table = {k: np.array([r[k] for r in rows], np.float64) for k in rows[0]}
    return SampleSet(
        np.stack(chunks).astype(np.float32),
        sample_rate,
        names,
        kits,
        kinds,
        np.array(one_shot, bool),
        table,
        skipped,
    )


def split_by_kit(
    samples: SampleSet, validation_kits: tuple[str, ...] | list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, validation indices): whole kits go to validation, so no kit is on both sides.

    Raises SamplerDataError naming a validation kit that is not in the data.
    """
    kits = np.array(samples.kits, dtype=object)
    missing = sorted(set(validation_kits) - set(samples.kits))
    if missing:
        raise SamplerDataError(
            f"validation kits not in the data: {', '.join(missing)}; the kits are "
            f"{', '.join(sorted(set(samples.kits)))}."
        )
    held = np.isin(kits, list(validation_kits))
    return np.flatnonzero(~held), np.flatnonzero(held)
