// Transcribe: audio to notes with pitch bends, through Spotify's Basic Pitch model (kind midi-transcribe,
// models/midi/basic_pitch.onnx) in ONNX Runtime. The C++ port of tonemorph/midi/transcribe.py, for the
// plugin and the CLI:
//   1. the channels' mean, resampled to the model's rate (TranscribeAudio.h)
//   2. windows of window_samples that overlap by kOverlapFrames hops, the first starting half an overlap
//      early on zeros, kBatchWindows per model call; each window's posteriorgrams lose kOverlapFrames / 2
//      frames at either end and are laid end to end (Basic Pitch's own framing)
//   3. notes from the posteriorgrams (NoteExtraction.h), one voice with `mono`
// Model constants come from the file's metadata.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "NoteExtraction.h"
#include "Sampler.h"

namespace Ort {
struct Session;
}

namespace tonemorph::midi {

constexpr const char* kTranscribeKind = "midi-transcribe";
constexpr int kOverlapFrames = 30;  // hops shared by neighbouring windows; half is trimmed from each side
constexpr int kBatchWindows = 4;    // windows per model call (about 8 s of audio)
constexpr double kDefaultMinNoteMs = 127.70;  // Basic Pitch's default
// A recording is pitched if one note reaches this amplitude (velocity 64). The model hears a few faint,
// short notes in white noise (amplitude 0.25-0.42); played notes reach 0.77-0.86, quiet or loud.
constexpr double kPitchedAmplitude = 0.5;

struct TranscribeModelInfo {
    std::string path, name;
    int version = 0;
    int sample_rate = 0, hop = 0, window_samples = 0, frames_per_window = 0;
    int lowest_note = 0, bins_per_semitone = 0;
    int pitches = 0, contour_bins = 0;  // from the graph's output shapes
    std::string input, output_note, output_onset, output_contour;  // the graph's names

    int frame_rate() const { return sample_rate / hop; }  // Basic Pitch's ANNOTATIONS_FPS (86), whole on purpose
    int min_frames(double min_note_ms) const;             // round(ms / 1000 * sample_rate / hop)
};

class TranscribeModel final {
public:
    // Opens `path` as a transcription model; threads: ONNX Runtime's intra-op threads (0: its default, one per
    // core). Throws MidiError naming the file (unreadable, not ONNX, metadata missing or out of range, or "it is
    // a 'X' model, not a midi-transcribe model"); OrtUnavailable.
    static std::shared_ptr<const TranscribeModel> open(const std::string& path, int threads = 0);
    ~TranscribeModel();

    const TranscribeModelInfo& info() const { return info_; }

    // Mono audio at info().sample_rate -> posteriorgrams of floor(n frame_rate / sample_rate) frames.
    // progress(fraction of the windows done); throws Cancelled when *cancel becomes true.
    Posteriorgrams posteriorgrams(const std::vector<float>& audio, const Progress& progress = {},
                                  const std::atomic<bool>* cancel = nullptr) const;

    // The time in seconds of each frame posteriorgrams() returns. Window w keeps frames kOverlapFrames / 2 ..
    // frames_per_window - kOverlapFrames / 2 - 1 and windows start step = window - overlap samples apart while
    // the kept frames span kept = frames_per_window - kOverlapFrames hops, so frame k = kept w + j sits at
    // sample hop k - w (kept hop - step) of the input.
    double frame_time(int frame) const;

private:
    TranscribeModel() = default;
    TranscribeModelInfo info_;
    std::unique_ptr<Ort::Session> session_;
};

struct TranscribeRequest {
    std::vector<float> audio;  // planar: channels x frames, [channel][frame]
    int channels = 1;
    double sample_rate = 44100.0;
    bool mono = false;         // keep one voice, the loudest line (loudest_line)
    double onset_threshold = 0.5, frame_threshold = 0.3;  // 0 < t < 1
    double min_note_ms = kDefaultMinNoteMs;               // 0 .. 10000
    int lowest = 0, highest = 127;                        // MIDI notes kept, inclusive
};

struct TranscribeResult {
    std::vector<TranscribedNote> notes;  // sorted by start, with start_s / end_s
    int frames = 0;                      // of the posteriorgrams
    double seconds = 0.0;                // of the audio
    bool pitched = false;                // a note reaches kPitchedAmplitude
};

// Throws std::invalid_argument for a setting out of range or audio of the wrong size (a message for the
// musician), Cancelled when *cancel becomes true. progress(fraction 0..1) over resampling, the model and notes.
TranscribeResult transcribe(const TranscribeModel& model, const TranscribeRequest& request,
                            const Progress& progress = {}, const std::atomic<bool>* cancel = nullptr);

constexpr int kTranscribeTempoBpm = 120;  // the file's tempo map; note times are seconds, so any would do
constexpr int kTranscribeProgram = 4;     // General MIDI Electric Piano 1 (0-based), as Basic Pitch writes
constexpr int kBendRangeSemitones = 2;    // a General MIDI synth's default pitch-bend range

// The notes (with start_s / end_s) as a MIDI file, byte for byte what tonemorph/midi/transcribe.py's
// notes_to_midi writes: type 0, kWriteTicksPerQuarter at kTranscribeTempoBpm, track "transcribed", program
// kTranscribeProgram, the notes on channel 1 at their times with velocity round(127 amplitude) (1..127), and
// each note's bends as pitch-wheel events spread evenly from its start to its end (clipped to
// +-kBendRangeSemitones), the wheel centred where a bent note ends. Ties round to even, as Python's round.
std::string transcription_smf(const std::vector<TranscribedNote>& notes, int bins_per_semitone);

}  // namespace tonemorph::midi
