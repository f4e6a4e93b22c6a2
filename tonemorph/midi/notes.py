"""Notes from Basic Pitch's posteriorgrams: onset peak picking, note tracking, pitch bends, one voice.

The algorithm is Basic Pitch's note creation (basic_pitch/note_creation.py, Apache-2.0, Spotify 2022),
written again here in numpy so that the C++ port has one readable reference:

1. Onsets: the model's onset posteriorgram, maxed with onsets inferred from rises of the note
   posteriorgram (the smaller of its 1- and 2-frame differences, scaled to the onsets' maximum).
2. Peaks: strict local maxima in time at or above `onset_threshold`, taken latest first.
3. Tracking: from each peak, forward along its pitch until the note posteriorgram stays below
   `frame_threshold` for ENERGY_TOLERANCE frames; notes of `min_frames` or fewer are dropped; the energy a
   note used (its pitch and the semitones beside it) is spent.
4. "Melodia trick": while energy above `frame_threshold` remains, the strongest frame grows into a note
   backwards and forwards the same way (notes without an onset, such as a slur).
5. Bends: per note frame, the contour posteriorgram's peak (weighted by a Gaussian of 5 bins around the
   note's pitch, +-25 bins) in thirds of a semitone. Notes that overlap another lose their bends (MIDI
   has one pitch wheel per channel).

Arrays: `notes`, `onsets` [frames, 88] (MIDI 21..108), `contours` [frames, 264] (3 bins per semitone).
A note is (start frame, end frame (exclusive), MIDI pitch, amplitude 0..1, bends or None).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ENERGY_TOLERANCE = 11  # frames below the frame threshold that end a note
BEND_TOLERANCE_BINS = 25  # contour bins either side of a note's pitch searched for its bend
BEND_GAUSSIAN_STD_BINS = 5.0
TOGETHER_FRAMES = 2  # one_voice: notes starting this close (23 ms) are one attack
TAKE_OVER_RATIO = 0.7  # one_voice: how strong, against the sounding note, a new note must be to replace it


@dataclass(frozen=True)
class Note:
    start: int  # first frame
    end: int  # the frame after the last
    pitch: int  # MIDI note number
    amplitude: float  # mean note posteriorgram over the note, 0..1
    bends: tuple[int, ...] | None = None  # per frame, in contour bins (1/bins_per_semitone semitone)


def _inferred_onsets(onsets: np.ndarray, notes: np.ndarray, n_diff: int = 2) -> np.ndarray:
    """max(onsets, rises of the note posteriorgram): a rise is the smallest of the n-frame differences,
    n = 1..n_diff, rescaled so that its maximum is the onsets' maximum."""
    padded = np.concatenate([np.zeros((n_diff, notes.shape[1]), notes.dtype), notes])
    rise = np.min(
        [padded[n_diff:] - padded[n_diff - n : len(padded) - n] for n in range(1, n_diff + 1)], axis=0
    )
    rise = np.maximum(rise, 0.0)
    rise[:n_diff] = 0.0
    if rise.max() > 0:  # silence has no rise (Basic Pitch divides by zero here and finds nothing)
        rise *= onsets.max() / rise.max()
    return np.maximum(onsets, rise)


def _peaks(onsets: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(frames, pitch indices) of strict local maxima in time at or above threshold, latest frame first
    and, within a frame, highest pitch first (the order Basic Pitch tracks them in)."""
    x = onsets
    peak = np.zeros(x.shape, bool)
    peak[1:-1] = (x[1:-1] > x[:-2]) & (x[1:-1] > x[2:]) & (x[1:-1] >= threshold)
    frames, pitches = np.nonzero(peak)
    return frames[::-1], pitches[::-1]


def _spend(energy: np.ndarray, frames: slice | int, pitch: int) -> None:
    """A note's energy is used up: its pitch and the semitones beside it."""
    energy[frames, max(pitch - 1, 0) : pitch + 2] = 0.0


def _track(energy: np.ndarray, start: int, pitch: int, step: int, stop: int, threshold: float) -> int:
    """Walk from `start` by `step` until ENERGY_TOLERANCE frames in a row are below `threshold` or `stop` is
    reached: the frame after the last one above (the note's end going forward, its start going back)."""
    i, below = start, 0
    column = energy[:, pitch]
    while (stop - i) * step > 0 and below < ENERGY_TOLERANCE:
        below = below + 1 if column[i] < threshold else 0
        i += step
    return i - step * below


def _onset_notes(energy, notes, onsets, onset_threshold, frame_threshold, min_frames) -> list[Note]:
    n_frames = len(notes)
    found = []
    for start, pitch in zip(*_peaks(onsets, onset_threshold)):
        if start >= n_frames - 1:
            continue
        end = _track(energy, start + 1, pitch, 1, n_frames - 1, frame_threshold)
        if end - start <= min_frames:
            continue
        _spend(energy, slice(start, end), pitch)
        found.append(Note(int(start), int(end), int(pitch), float(notes[start:end, pitch].mean())))
    return found


def _energy_notes(energy, notes, frame_threshold, min_frames) -> list[Note]:
    """Basic Pitch's "melodia trick": notes grown from the strongest remaining frame, both ways."""
    n_frames = len(notes)
    found = []
    while energy.max() > frame_threshold:
        middle, pitch = np.unravel_index(np.argmax(energy), energy.shape)
        energy[middle, pitch] = 0.0
        end = _walk_and_spend(energy, middle + 1, pitch, 1, n_frames - 1, frame_threshold)
        start = _walk_and_spend(energy, middle - 1, pitch, -1, 0, frame_threshold)
        if end - start <= min_frames:
            continue
        found.append(Note(int(start), int(end), int(pitch), float(notes[start:end, pitch].mean())))
    return found


def _walk_and_spend(energy, start, pitch, step, stop, threshold) -> int:
    """_track that spends every frame it walks over and returns one frame further back: forward, the last
    frame above the threshold, which Basic Pitch uses as the (exclusive) end; backward, the first."""
    i, below = start, 0
    while (stop - i) * step > 0 and below < ENERGY_TOLERANCE:
        below = below + 1 if energy[i, pitch] < threshold else 0
        _spend(energy, i, pitch)
        i += step
    return i - step * (below + 1)


def bends(contours: np.ndarray, note: Note, lowest_note: int, bins_per_semitone: int) -> tuple[int, ...]:
    """Per frame of `note`: the Gaussian-weighted contour peak's distance from the note's pitch, in bins."""
    n_bins = contours.shape[1]
    centre = (note.pitch - lowest_note) * bins_per_semitone
    lo, hi = max(centre - BEND_TOLERANCE_BINS, 0), min(centre + BEND_TOLERANCE_BINS + 1, n_bins)
    offsets = np.arange(lo, hi) - centre
    weights = np.exp(-0.5 * (offsets / BEND_GAUSSIAN_STD_BINS) ** 2)
    peak = np.argmax(contours[note.start : note.end, lo:hi] * weights, axis=1)
    return tuple(int(b) for b in offsets[peak])


def _without_overlapping_bends(notes: list[Note]) -> list[Note]:
    """Sorted by start; a note that overlaps another in time keeps no bends."""
    ordered = sorted(notes, key=lambda n: (n.start, n.end, n.pitch))
    overlapping = [False] * len(ordered)
    for i, a in enumerate(ordered):
        for j in range(i + 1, len(ordered)):
            if ordered[j].start >= a.end:
                break
            overlapping[i] = overlapping[j] = True
    return [
        Note(n.start, n.end, n.pitch, n.amplitude, None) if hit else n for n, hit in zip(ordered, overlapping)
    ]


def extract_notes(
    notes: np.ndarray,
    onsets: np.ndarray,
    contours: np.ndarray,
    *,
    onset_threshold: float,
    frame_threshold: float,
    min_frames: int,
    lowest_note: int,
    bins_per_semitone: int,
    pitch_range: tuple[int, int] | None = None,
) -> list[Note]:
    """Notes from the posteriorgrams ([frames, pitches], [frames, pitches], [frames, pitches x bins]),
    sorted by start; `pitch_range` (MIDI, inclusive) keeps the others out before tracking."""
    notes = np.array(notes, np.float64)
    onsets = np.array(onsets, np.float64)
    if pitch_range is not None:
        keep = np.zeros(notes.shape[1], bool)
        keep[max(pitch_range[0] - lowest_note, 0) : max(pitch_range[1] - lowest_note + 1, 0)] = True
        notes[:, ~keep] = 0.0
        onsets[:, ~keep] = 0.0
    if len(notes) < 3:
        return []
    onsets = _inferred_onsets(onsets, notes)
    energy = notes.copy()
    found = _onset_notes(energy, notes, onsets, onset_threshold, frame_threshold, min_frames)
    found += _energy_notes(energy, notes, frame_threshold, min_frames)
    found = [Note(n.start, n.end, n.pitch + lowest_note, n.amplitude) for n in found]
    found = [
        Note(n.start, n.end, n.pitch, n.amplitude, bends(contours, n, lowest_note, bins_per_semitone))
        for n in found
    ]
    return _without_overlapping_bends(found)


def one_voice(notes: list[Note], min_frames: int) -> list[Note]:
    """One line, the loudest (by amplitude): of notes that start within TOGETHER_FRAMES of each other the
    strongest is kept; a note that starts while another sounds takes over (the other is cut where it starts)
    if it is at least TAKE_OVER_RATIO as strong, and is dropped otherwise (an overtone, a ringing string the
    model heard). A cut note of `min_frames` frames or fewer goes. Sorted by start, never overlapping.

    Meant for a single line (a riff, a sung melody), where the model's extra notes are weak overtones; on
    chords it follows the strongest note, which need not be the top voice."""
    kept: list[Note] = []
    for n in sorted(notes, key=lambda n: (n.start, -n.amplitude)):
        if kept and kept[-1].end > n.start:
            last = kept[-1]
            if n.start - last.start <= TOGETHER_FRAMES:
                if n.amplitude > last.amplitude:
                    kept[-1] = n
                continue
            if n.amplitude < TAKE_OVER_RATIO * last.amplitude:
                continue
            kept.pop()
            if n.start - last.start > min_frames:
                kept.append(_cut(last, n.start))
        kept.append(n)
    return kept


def _cut(note: Note, end: int) -> Note:
    return Note(
        note.start,
        end,
        note.pitch,
        note.amplitude,
        None if note.bends is None else note.bends[: end - note.start],
    )
