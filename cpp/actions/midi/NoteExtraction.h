// Notes from Basic Pitch's posteriorgrams: onset peak picking, note tracking, pitch bends, one voice.
//
// The C++ port of tonemorph/midi/notes.py (itself Basic Pitch's basic_pitch/note_creation.py, Apache-2.0,
// Spotify 2022, written again in numpy), step for step and in double precision, so that the same
// posteriorgrams give the same notes (tests/test_transcribe_cpp.py checks it):
//   1. onsets = max(onset posteriorgram, rises of the note posteriorgram scaled to the onsets' maximum)
//   2. peaks: strict local maxima in time >= onset_threshold, latest frame first, highest pitch first
//   3. tracking forward until kEnergyTolerance frames in a row fall below frame_threshold; notes of
//      min_frames or fewer are dropped; a note's energy (its pitch and the semitones beside it) is spent
//   4. the "melodia trick": the strongest remaining frame grows into a note both ways
//   5. bends: per note frame, the Gaussian-weighted contour peak within +-25 bins of the pitch; notes that
//      overlap another keep none (one pitch wheel per channel)
#pragma once

#include <atomic>
#include <optional>
#include <vector>

namespace tonemorph::midi {

constexpr int kEnergyTolerance = 11;      // frames below the frame threshold that end a note
constexpr int kBendToleranceBins = 25;    // contour bins either side of a note's pitch searched for its bend
constexpr double kBendGaussianStdBins = 5.0;
constexpr int kTogetherFrames = 2;        // one voice: notes starting this close (23 ms) are one attack
constexpr double kTakeOverRatio = 0.7;    // one voice: how strong a new note must be to replace the sounding one

// The model's three outputs, row-major [frames][pitches] (note, onset) and [frames][bins] (contour).
struct Posteriorgrams {
    int frames = 0, pitches = 0, bins = 0;
    std::vector<float> note, onset, contour;
};

struct NoteSettings {
    double onset_threshold = 0.5, frame_threshold = 0.3;  // 0 < t < 1
    int min_frames = 11;           // notes of this many frames or fewer are dropped
    int lowest_note = 21;          // MIDI note of the posteriorgrams' first pitch
    int bins_per_semitone = 3;     // of the contour
    int lowest_kept = 0, highest_kept = 127;  // MIDI, inclusive: pitches outside are zeroed before tracking
};

struct TranscribedNote {
    int start_frame = 0, end_frame = 0;  // end exclusive
    int pitch = 0;                       // MIDI note number
    double amplitude = 0.0;              // mean note posteriorgram over the note, 0..1
    std::optional<std::vector<int>> bends;  // per frame, in contour bins; none for a note overlapping another
    double start_s = 0.0, end_s = 0.0;   // filled by transcribe() from the frames' times
};

// Notes sorted by (start, end, pitch). Throws Cancelled (Action.h) when *cancel becomes true.
std::vector<TranscribedNote> extract_notes(const Posteriorgrams& grams, const NoteSettings& settings,
                                           const std::atomic<bool>* cancel = nullptr);

// One line, the loudest (notes.py one_voice): of notes starting within kTogetherFrames the strongest is kept;
// a note starting while another sounds takes over (the other is cut there) if at least kTakeOverRatio as
// strong, else it is dropped; a cut note of min_frames or fewer goes. Sorted by start, never overlapping.
std::vector<TranscribedNote> loudest_line(std::vector<TranscribedNote> notes, int min_frames);

}  // namespace tonemorph::midi
