// Clips as a model's events, one per sixteenth step, and back (training/midi/melody_data.py for melodies,
// CONTRACT's nine drum classes as Magenta's drums_rnn for drums).
#pragma once

#include <string>
#include <vector>

#include "Clip.h"
#include "EventModel.h"

namespace tonemorph::midi {

// Events of steps [0, clip.steps) for priming, with what was changed to fit the model.
struct Encoded {
    std::vector<int> events;
    int transpose = 0;  // melody: semitones added to fit min_pitch..max_pitch (a whole number of octaves)
    std::vector<std::string> messages;
};

// melody: a one-voice clip (see one_voice) -> no-event / note-off / note-on events, shifted by octaves into
// the model's range (notes still outside move by octaves one at a time, and a message says so).
// drums: each step's bitmask of the drum classes struck; notes of no class are left out (a message says so).
Encoded encode(const Clip& clip, const EventModelInfo& model);

// Events from `first_step` on -> notes (pitches shifted back by -transpose; drums: the first GM note of each
// class, one step long). A melody note sounding at the end runs to first_step + events.size().
// `held` (melody): the clip's note that was sounding when the events began, extended while they hold it.
std::vector<Note> decode(const std::vector<int>& events, int first_step, const EventModelInfo& model,
                         int transpose = 0, int velocity = 100, Note* held = nullptr);

// The drum class of a General MIDI note, or -1.
int drum_class(const EventModelInfo& model, int pitch);

}  // namespace tonemorph::midi
