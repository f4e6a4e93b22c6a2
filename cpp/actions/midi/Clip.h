// A MIDI clip on the sixteenth-note grid, as every MIDI tool sees it (Magenta's quantised NoteSequence):
// 16 steps per 4/4 bar whatever the tempo, notes as step ranges, micro-timing kept beside them for Groove.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace tonemorph::midi {

constexpr int kStepsPerQuarter = 4;
constexpr int kStepsPerBar = 16;
constexpr int kGmDrumChannel = 10;  // 1-based, as musicians count

// A file or clip the tools cannot use; what() is a message for the musician (which file, what, what to do).
class MidiError final : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Note {
    int start_step = 0, end_step = 0;  // end > start
    int pitch = 60, velocity = 100;    // 0..127, 1..127
    // micro-timing: where the onset / release really fell, in fractions of a step from the grid (-0.5..0.5)
    float start_offset = 0.0f, end_offset = 0.0f;
};

struct Clip {
    std::vector<Note> notes;  // sorted by start_step, then pitch
    int steps = 0;            // length; whole bars when read from a file
    double bpm = 120.0;       // the first tempo of the file (written back out)
    bool drums = false;       // General MIDI drum map, written on channel 10
};

// Sorts notes by onset, then pitch (the order every tool and the writer rely on).
void sort_notes(std::vector<Note>& notes);

// Rounds a length in steps up to whole bars (at least one bar).
int whole_bars(int steps);

// One voice for the melody tools: of notes that start on one step the highest is kept, and a note is cut
// where the next one starts (as melody_rnn's extractor does). `dropped` counts the notes left out.
struct OneVoice {
    Clip clip;
    int dropped = 0;
    int shortened = 0;  // notes cut short by a later onset
};
OneVoice one_voice(const Clip& clip);

// The part of `clip` from step `from` on, shifted to start at 0 (notes that began earlier are cut at `from`).
Clip tail(const Clip& clip, int from);

}  // namespace tonemorph::midi
