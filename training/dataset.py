"""A prepared training set: what `tonemorph prepare` makes and `tonemorph train` reads.

One .npz file holding fixed-length chunks at the model rate with their controls:
    audio        [chunks, samples]   float32, samples = frames * hop
    f0_hz        [chunks, frames]    float32, the offline tracker's f0 (held through unvoiced frames)
    confidence   [chunks, frames]    float32, 0..1
    loudness_db  [chunks, frames]    float32, training/spectral.py's A-weighted loudness (causal, as the engine)
    file_index   [chunks]            int32, index into `files` (the validation split is by file)
plus a JSON header (`meta`) with sample_rate, hop, chunk_seconds, files, skipped files and the source
folder's fingerprint, so a second `prepare` of an unchanged folder is instant.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tonemorph.atomic import atomic_path

FORMAT_VERSION = 1


@dataclass
class PreparedDataset:
    audio: np.ndarray
    f0_hz: np.ndarray
    confidence: np.ndarray
    loudness_db: np.ndarray
    file_index: np.ndarray
    sample_rate: int
    hop: int
    files: list[str]
    meta: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.f0_hz.shape[1])

    def __len__(self) -> int:
        return int(self.audio.shape[0])

    def seconds(self) -> float:
        return len(self) * self.audio.shape[1] / self.sample_rate

    def subset(self, mask: np.ndarray) -> PreparedDataset:
        return PreparedDataset(self.audio[mask], self.f0_hz[mask], self.confidence[mask], self.loudness_db[mask],
                               self.file_index[mask], self.sample_rate, self.hop, self.files, self.meta)

    def split(self, validation_fraction: float = 0.1, seed: int = 0) -> tuple[PreparedDataset, PreparedDataset]:
        """(train, validation), split by source file so that validation audio is never trained on.

        With a single file, the last chunks form the validation set.
        """
        n_files = len(self.files)
        if n_files >= 2:
            order = np.random.default_rng(seed).permutation(n_files)
            n_val = max(1, round(validation_fraction * n_files))
            val_files = set(order[:n_val].tolist())
            mask = np.isin(self.file_index, list(val_files))
        else:
            n_val = max(1, round(validation_fraction * len(self))) if len(self) > 1 else 0
            mask = np.zeros(len(self), dtype=bool)
            if n_val:
                mask[-n_val:] = True
        return self.subset(~mask), self.subset(mask)

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically (tonemorph.atomic), creating the folder if needed."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {**self.meta, "format": FORMAT_VERSION, "sample_rate": self.sample_rate, "hop": self.hop,
                  "files": self.files}
        with atomic_path(path) as tmp:
            np.savez(tmp, audio=self.audio, f0_hz=self.f0_hz, confidence=self.confidence,
                     loudness_db=self.loudness_db, file_index=self.file_index, meta=np.array(json.dumps(header)))


def load_prepared(path: str | os.PathLike) -> PreparedDataset:
    """Read a prepared set written by PreparedDataset.save. Raises ValueError naming the file if it is not one."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {meta.get('format')}, expected {FORMAT_VERSION}")
            return PreparedDataset(z["audio"], z["f0_hz"], z["confidence"], z["loudness_db"], z["file_index"],
                                   int(meta["sample_rate"]), int(meta["hop"]), list(meta["files"]), meta)
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"'{path}' is not a prepared tonemorph data set ({e}); run `tonemorph prepare` again.") from None
