#include "Encoding.h"

#include <algorithm>
#include <cmath>

namespace tonemorph::midi {

namespace {

std::string octaves_text(int semitones) {
    const int octaves = std::abs(semitones) / 12;
    return std::string(semitones > 0 ? "up " : "down ") + (octaves == 1 ? "an octave" : std::to_string(octaves) + " octaves");
}

// The fewest whole octaves that bring low..high into min..max; for a melody wider than the range, the shift
// that centres it (its outer notes then move on their own, see into_range).
int fitting_shift(int low, int high, const EventModelInfo& m) {
    for (int octaves = 0; octaves <= 10; ++octaves)
        for (int shift : {12 * octaves, -12 * octaves})
            if (low + shift >= m.min_pitch && high + shift <= m.max_pitch) return shift;
    int shift = 12 * static_cast<int>(std::lround(((m.min_pitch + m.max_pitch) / 2.0 - (low + high) / 2.0) / 12.0));
    while (low + shift < m.min_pitch) shift += 12;
    while (high + shift > m.max_pitch && low + shift - 12 >= m.min_pitch) shift -= 12;
    return shift;
}

int into_range(int pitch, const EventModelInfo& m) {
    while (pitch < m.min_pitch) pitch += 12;
    while (pitch > m.max_pitch) pitch -= 12;
    return pitch;
}

Encoded encode_melody(const Clip& clip, const EventModelInfo& m) {
    Encoded out;
    out.events.assign(static_cast<std::size_t>(std::max(clip.steps, 0)), m.no_event);
    if (clip.notes.empty()) return out;
    int low = 127, high = 0;
    for (const Note& n : clip.notes) {
        low = std::min(low, n.pitch);
        high = std::max(high, n.pitch);
    }
    out.transpose = fitting_shift(low, high, m);
    if (out.transpose != 0)
        out.messages.push_back("the melody was moved " + octaves_text(out.transpose) + " to fit the model's range (MIDI " +
                               std::to_string(m.min_pitch) + ".." + std::to_string(m.max_pitch) +
                               "); the new notes are moved back");
    int folded = 0;
    for (std::size_t k = 0; k < clip.notes.size(); ++k) {
        const Note& n = clip.notes[k];
        if (n.start_step < 0 || n.start_step >= clip.steps) continue;
        const int shifted = n.pitch + out.transpose;
        const int pitch = into_range(shifted, m);
        folded += pitch != shifted;
        out.events[static_cast<std::size_t>(n.start_step)] = m.first_note_on + pitch - m.min_pitch;
        const bool next_starts_later = k + 1 == clip.notes.size() || clip.notes[k + 1].start_step > n.end_step;
        if (next_starts_later && n.end_step < clip.steps) out.events[static_cast<std::size_t>(n.end_step)] = m.note_off;
    }
    if (folded > 0)
        out.messages.push_back(std::to_string(folded) + " note" + (folded == 1 ? "" : "s") +
                               " outside the model's range moved by octaves to fit it (the melody spans more than " +
                               std::to_string(m.max_pitch - m.min_pitch) + " semitones)");
    return out;
}

Encoded encode_drums(const Clip& clip, const EventModelInfo& m) {
    Encoded out;
    out.events.assign(static_cast<std::size_t>(std::max(clip.steps, 0)), 0);
    int unknown = 0;
    for (const Note& n : clip.notes) {
        if (n.start_step < 0 || n.start_step >= clip.steps) continue;
        const int c = drum_class(m, n.pitch);
        if (c < 0) {
            ++unknown;
            continue;
        }
        out.events[static_cast<std::size_t>(n.start_step)] |= 1 << c;
    }
    if (unknown > 0)
        out.messages.push_back(std::to_string(unknown) + " note" + (unknown == 1 ? "" : "s") +
                               " outside the General MIDI drum map left out");
    return out;
}

}  // namespace

int drum_class(const EventModelInfo& model, int pitch) {
    for (std::size_t c = 0; c < model.drum_classes.size(); ++c)
        for (int note : model.drum_classes[c])
            if (note == pitch) return static_cast<int>(c);
    return -1;
}

Encoded encode(const Clip& clip, const EventModelInfo& model) {
    return model.kind == kDrumsKind ? encode_drums(clip, model) : encode_melody(clip, model);
}

std::vector<Note> decode(const std::vector<int>& events, int first_step, const EventModelInfo& model, int transpose,
                         int velocity, Note* held) {
    std::vector<Note> notes;
    if (model.kind == kDrumsKind) {
        for (std::size_t i = 0; i < events.size(); ++i)
            for (std::size_t c = 0; c < model.drum_classes.size(); ++c)
                if (events[i] & (1 << c)) {
                    const int step = first_step + static_cast<int>(i);
                    notes.push_back({step, step + 1, model.drum_classes[c].front(), velocity});
                }
        return notes;
    }
    Note* sounding = held;
    Note current;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const int e = events[i];
        const int step = first_step + static_cast<int>(i);
        if (e != model.no_event && sounding) {
            sounding->end_step = step;
            sounding->end_offset = 0.0f;
            if (sounding == &current) notes.push_back(current);
            sounding = nullptr;
        }
        if (e >= model.first_note_on) {
            const int pitch = std::clamp(model.min_pitch + e - model.first_note_on - transpose, 0, 127);
            current = Note{step, step + 1, pitch, velocity};
            sounding = &current;
        }
    }
    if (sounding) {
        sounding->end_step = first_step + static_cast<int>(events.size());
        sounding->end_offset = 0.0f;
        if (sounding == &current) notes.push_back(current);
    }
    return notes;
}

}  // namespace tonemorph::midi
