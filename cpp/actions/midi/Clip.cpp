#include "Clip.h"

#include <algorithm>
#include <map>

namespace tonemorph::midi {

void sort_notes(std::vector<Note>& notes) {
    std::stable_sort(notes.begin(), notes.end(), [](const Note& a, const Note& b) {
        return a.start_step != b.start_step ? a.start_step < b.start_step : a.pitch < b.pitch;
    });
}

int whole_bars(int steps) { return std::max(1, (steps + kStepsPerBar - 1) / kStepsPerBar) * kStepsPerBar; }

OneVoice one_voice(const Clip& clip) {
    OneVoice out;
    out.clip = clip;
    out.clip.notes.clear();
    std::map<int, Note> by_onset;  // the highest note of each onset
    for (const Note& n : clip.notes) {
        auto [it, inserted] = by_onset.emplace(n.start_step, n);
        if (!inserted) {
            ++out.dropped;
            if (n.pitch > it->second.pitch) it->second = n;
        }
    }
    for (auto it = by_onset.begin(); it != by_onset.end(); ++it) {
        Note n = it->second;
        const auto next = std::next(it);
        if (next != by_onset.end() && n.end_step > next->first) {
            n.end_step = next->first;
            n.end_offset = 0.0f;
            ++out.shortened;
        }
        out.clip.notes.push_back(n);
    }
    return out;
}

Clip tail(const Clip& clip, int from) {
    Clip out = clip;
    out.notes.clear();
    from = std::clamp(from, 0, clip.steps);
    out.steps = clip.steps - from;
    for (Note n : clip.notes) {
        if (n.end_step <= from) continue;
        if (n.start_step < from) {
            n.start_step = from;
            n.start_offset = 0.0f;
        }
        n.start_step -= from;
        n.end_step -= from;
        out.notes.push_back(n);
    }
    return out;
}

}  // namespace tonemorph::midi
