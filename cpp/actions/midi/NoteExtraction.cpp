#include "NoteExtraction.h"

#include <algorithm>
#include <cmath>

#include "Action.h"

namespace tonemorph::midi {

namespace {

constexpr int kCancelCheckEvery = 64;  // notes grown between looks at the cancel flag

// A [frames][pitches] grid in double, as notes.py computes (np.float64).
struct Grid {
    int frames = 0, pitches = 0;
    std::vector<double> v;
    double& at(int f, int p) { return v[static_cast<std::size_t>(f) * pitches + p]; }
    double at(int f, int p) const { return v[static_cast<std::size_t>(f) * pitches + p]; }
};

Grid to_grid(const std::vector<float>& values, int frames, int pitches, const NoteSettings& s) {
    Grid g{frames, pitches, std::vector<double>(values.begin(), values.end())};
    const int keep_from = std::max(s.lowest_kept - s.lowest_note, 0);
    const int keep_to = std::max(s.highest_kept - s.lowest_note + 1, 0);  // exclusive
    for (int f = 0; f < frames; ++f)
        for (int p = 0; p < pitches; ++p)
            if (p < keep_from || p >= keep_to) g.at(f, p) = 0.0;
    return g;
}

void check(const std::atomic<bool>* cancel) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) throw Cancelled();
}

// onsets = max(onsets, rise * max(onsets) / max(rise)), rise = max(0, min over n = 1, 2 of the n-frame
// difference of the note posteriorgram), zero in the first two frames. Silence has no rise. Two passes over
// the grid (the maxima, then the update) rather than a third grid held in memory.
void infer_onsets(Grid& onsets, const Grid& notes) {
    constexpr int kDiffs = 2;
    const auto rise = [&](int f, int p) {
        if (f < kDiffs) return 0.0;
        double r = notes.at(f, p) - notes.at(f - 1, p);
        for (int n = 2; n <= kDiffs; ++n) r = std::min(r, notes.at(f, p) - notes.at(f - n, p));
        return std::max(r, 0.0);
    };
    double rise_max = 0.0, onset_max = onsets.v.empty() ? 0.0 : onsets.v[0];
    for (int f = 0; f < notes.frames; ++f)
        for (int p = 0; p < notes.pitches; ++p) {
            onset_max = std::max(onset_max, onsets.at(f, p));
            rise_max = std::max(rise_max, rise(f, p));
        }
    if (!(rise_max > 0.0)) return;
    const double scale = onset_max / rise_max;
    for (int f = kDiffs; f < notes.frames; ++f)
        for (int p = 0; p < notes.pitches; ++p) onsets.at(f, p) = std::max(onsets.at(f, p), rise(f, p) * scale);
}

// A note's energy is used up: its pitch and the semitones beside it.
void spend(Grid& energy, int frame, int pitch) {
    for (int p = std::max(pitch - 1, 0); p < std::min(pitch + 2, energy.pitches); ++p) energy.at(frame, p) = 0.0;
}

// Walks from `start` by `step` until kEnergyTolerance frames in a row are below `threshold` or `stop` is
// reached: the frame after the last one above (a note's end going forward).
int track(const Grid& energy, int start, int pitch, int step, int stop, double threshold) {
    int i = start, below = 0;
    while ((stop - i) * step > 0 && below < kEnergyTolerance) {
        below = energy.at(i, pitch) < threshold ? below + 1 : 0;
        i += step;
    }
    return i - step * below;
}

// track() that spends every frame it walks over and returns one frame further back: forward, the last frame
// above the threshold (Basic Pitch's exclusive end); backward, the first.
int walk_and_spend(Grid& energy, int start, int pitch, int step, int stop, double threshold) {
    int i = start, below = 0;
    while ((stop - i) * step > 0 && below < kEnergyTolerance) {
        below = energy.at(i, pitch) < threshold ? below + 1 : 0;
        spend(energy, i, pitch);
        i += step;
    }
    return i - step * (below + 1);
}

double mean(const Grid& notes, int start, int end, int pitch) {
    double sum = 0.0;
    for (int f = start; f < end; ++f) sum += notes.at(f, pitch);
    return sum / (end - start);
}

void onset_notes(Grid& energy, const Grid& notes, const Grid& onsets, const NoteSettings& s,
                 std::vector<TranscribedNote>& found, const std::atomic<bool>* cancel) {
    const int frames = notes.frames;
    for (int start = frames - 2; start >= 1; --start) {  // latest frame first, highest pitch first
        if (start % kCancelCheckEvery == 0) check(cancel);
        for (int pitch = notes.pitches - 1; pitch >= 0; --pitch) {
            const double x = onsets.at(start, pitch);
            if (!(x > onsets.at(start - 1, pitch) && x > onsets.at(start + 1, pitch) && x >= s.onset_threshold))
                continue;
            const int end = track(energy, start + 1, pitch, 1, frames - 1, s.frame_threshold);
            if (end - start <= s.min_frames) continue;
            for (int f = start; f < end; ++f) spend(energy, f, pitch);
            found.push_back({start, end, pitch, mean(notes, start, end, pitch), std::nullopt});
        }
    }
}

// The "melodia trick": notes grown from the strongest remaining frame (the first of equal maxima in
// frame-major order, as np.argmax), both ways. Each frame's maximum is kept and refreshed where energy was
// spent, so that a long file does not rescan the whole grid per note.
void energy_notes(Grid& energy, const Grid& notes, const NoteSettings& s, std::vector<TranscribedNote>& found,
                  const std::atomic<bool>* cancel) {
    const int frames = notes.frames;
    std::vector<double> row_max(static_cast<std::size_t>(frames));
    const auto refresh = [&](int f) {
        const double* row = &energy.v[static_cast<std::size_t>(f) * energy.pitches];
        row_max[f] = *std::max_element(row, row + energy.pitches);
    };
    for (int f = 0; f < frames; ++f) refresh(f);
    for (int grown = 0;; ++grown) {
        if (grown % kCancelCheckEvery == 0) check(cancel);
        const auto top = std::max_element(row_max.begin(), row_max.end());
        if (!(*top > s.frame_threshold)) break;
        const int middle = static_cast<int>(top - row_max.begin());
        const double* row = &energy.v[static_cast<std::size_t>(middle) * energy.pitches];
        const int pitch = static_cast<int>(std::find(row, row + energy.pitches, *top) - row);
        energy.at(middle, pitch) = 0.0;
        const int end = walk_and_spend(energy, middle + 1, pitch, 1, frames - 1, s.frame_threshold);
        const int start = walk_and_spend(energy, middle - 1, pitch, -1, 0, s.frame_threshold);
        // walked frames: from the backward walk's last (start - 1 - tolerance at most) to the forward one's
        for (int f = std::max(start - kEnergyTolerance - 1, 0); f <= std::min(end + kEnergyTolerance + 1, frames - 1); ++f)
            refresh(f);
        if (end - start <= s.min_frames) continue;
        found.push_back({start, end, pitch, mean(notes, start, end, pitch), std::nullopt});
    }
}

// Per frame of the note: the Gaussian-weighted contour peak's distance from the note's pitch, in bins.
std::vector<int> bends(const Posteriorgrams& grams, const TranscribedNote& n, const NoteSettings& s) {
    const int centre = (n.pitch - s.lowest_note) * s.bins_per_semitone;
    const int lo = std::max(centre - kBendToleranceBins, 0);
    const int hi = std::min(centre + kBendToleranceBins + 1, grams.bins);
    std::vector<double> weights;
    for (int b = lo; b < hi; ++b) {
        const double z = (b - centre) / kBendGaussianStdBins;
        weights.push_back(std::exp(-0.5 * (z * z)));
    }
    std::vector<int> out;
    for (int f = n.start_frame; f < n.end_frame; ++f) {
        const float* row = &grams.contour[static_cast<std::size_t>(f) * grams.bins];
        int best = lo;
        double best_value = -1.0;
        for (int b = lo; b < hi; ++b) {
            const double v = static_cast<double>(row[b]) * weights[b - lo];
            if (v > best_value || b == lo) {
                best_value = v;
                best = b;
            }
        }
        out.push_back(best - centre);
    }
    return out;
}

}  // namespace

std::vector<TranscribedNote> extract_notes(const Posteriorgrams& grams, const NoteSettings& s,
                                           const std::atomic<bool>* cancel) {
    const Grid notes = to_grid(grams.note, grams.frames, grams.pitches, s);
    Grid onsets = to_grid(grams.onset, grams.frames, grams.pitches, s);
    if (grams.frames < 3) return {};
    infer_onsets(onsets, notes);
    Grid energy = notes;
    std::vector<TranscribedNote> found;
    onset_notes(energy, notes, onsets, s, found, cancel);
    energy_notes(energy, notes, s, found, cancel);
    for (auto& n : found) {
        n.pitch += s.lowest_note;
        n.bends = bends(grams, n, s);
    }
    // Sorted by start; a note that overlaps another in time keeps no bends.
    std::stable_sort(found.begin(), found.end(), [](const TranscribedNote& a, const TranscribedNote& b) {
        if (a.start_frame != b.start_frame) return a.start_frame < b.start_frame;
        if (a.end_frame != b.end_frame) return a.end_frame < b.end_frame;
        return a.pitch < b.pitch;
    });
    std::vector<bool> overlapping(found.size(), false);
    for (std::size_t i = 0; i < found.size(); ++i)
        for (std::size_t j = i + 1; j < found.size() && found[j].start_frame < found[i].end_frame; ++j)
            overlapping[i] = overlapping[j] = true;
    for (std::size_t i = 0; i < found.size(); ++i)
        if (overlapping[i]) found[i].bends.reset();
    return found;
}

std::vector<TranscribedNote> loudest_line(std::vector<TranscribedNote> notes, int min_frames) {
    std::stable_sort(notes.begin(), notes.end(), [](const TranscribedNote& a, const TranscribedNote& b) {
        if (a.start_frame != b.start_frame) return a.start_frame < b.start_frame;
        return a.amplitude > b.amplitude;
    });
    std::vector<TranscribedNote> kept;
    for (auto& n : notes) {
        if (!kept.empty() && kept.back().end_frame > n.start_frame) {
            TranscribedNote last = kept.back();
            if (n.start_frame - last.start_frame <= kTogetherFrames) {
                if (n.amplitude > last.amplitude) kept.back() = n;
                continue;
            }
            if (n.amplitude < kTakeOverRatio * last.amplitude) continue;
            kept.pop_back();
            if (n.start_frame - last.start_frame > min_frames) {
                last.end_frame = n.start_frame;  // cut where the new note starts
                if (last.bends) last.bends->resize(static_cast<std::size_t>(last.end_frame - last.start_frame));
                kept.push_back(std::move(last));
            }
        }
        kept.push_back(std::move(n));
    }
    return kept;
}

}  // namespace tonemorph::midi
