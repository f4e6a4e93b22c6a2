// The MIDI panel's background work (both plugins), on the shared JobRunner's thread: one of the MIDI tools
// (cpp/actions/midi: Continue, Generate, Interpolate, Groove, Drumify, Transcribe) on a dropped, recorded or
// transcribed clip; each variation written as a .mid into a run folder of its own,
// <temp>/tonemorph-midi/<date-time>-<tool>/<tool>-01.mid ... with <tool>.json beside them (settings, seed,
// what was done to the input), the folder renamed into place only when the run is complete; a result played
// through the loaded instrument (ClipRender) into a WAV beside it for the audition; Save copying a result
// atomically where the musician says.
//
// The models are looked for as the CLI looks for them: midi/<file> in the user's models folder, then in the
// plugin bundle's models folder (ModelLibrary). A tool whose model is in neither says so.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <juce_audio_formats/juce_audio_formats.h>

#include "JobRunner.h"
#include "Parameters.h"
#include "midi/Clip.h"

namespace tonemorph {
class Model;
}

namespace tonemorph::plugin {

class MidiJob final {
public:
    enum class Tool { Continue, Generate, Interpolate, Groove, Drumify, Transcribe };
    enum class Kind { Auto, Melody, Drums };
    static constexpr int kToolCount = 6;
    static const char* toolName(Tool tool);  // "continue", ... (file names, the sidecar)
    static const char* toolTitle(Tool tool); // "Continue", ... (the panel)

    struct Settings {
        Tool tool = Tool::Continue;
        juce::File clip;     // the input .mid (Interpolate: A); Transcribe: an audio file, or none for the input
        juce::File second;   // Interpolate's B
        Kind kind = Kind::Auto;
        int bars = 2;        // Continue, Generate
        int variations = 4;  // Continue, Generate, Groove, Drumify
        int steps = 5;       // Interpolate: clips from A to B, both ends included
        double temperature = 1.0;
        std::uint64_t seed = 0;  // 0: a fresh one each run (written into the sidecar)
        bool mono = true;        // Transcribe: one voice, for the melody tools
        double seconds = 20.0;   // Transcribe from the input: how much of it
    };
    enum class State { Idle, Running, Rendering, Saving, Done, Rendered, Saved, Failed, Cancelled };
    struct Result {
        juce::File file;  // the .mid
        int notes = 0, bars = 0;
        bool drums = false;
    };
    struct Snapshot {
        State state = State::Idle;
        double progress = 0.0;
        juce::String stage, error;
        Settings settings;            // of the latest successful run
        juce::File folder;            // its run folder
        std::vector<Result> results;  // its clips (kept while a new run works, and when one fails)
        juce::StringArray messages;   // what was done to the input
        juce::File rendered;          // the latest audition's WAV (Rendered)
        juce::File savedTo;           // the latest Save's destination (Saved)
    };

    // What the job needs from the processor, asked on the job thread.
    struct Instrument {
        std::shared_ptr<const Model> model;  // what plays (none: the audition says so)
        double sampleRate = 48000.0;
        std::vector<std::pair<Param, float>> settings;  // the knobs
    };
    struct Hooks {
        std::function<Instrument()> instrument;
        // The last `seconds` of the audio input, mono, and its rate (the effect; empty elsewhere).
        std::function<std::vector<float>(double seconds, double* rate)> input;
        std::function<double()> tempo;              // the host's tempo (or 120)
        std::function<void(const juce::File&)> play;  // a rendered WAV to the audition
    };

    explicit MidiJob(Hooks hooks);
    ~MidiJob();
    MidiJob(const MidiJob&) = delete;
    MidiJob& operator=(const MidiJob&) = delete;

    // Each returns false (and does nothing) while a task runs.
    bool start(const Settings& settings);
    bool audition(int index);                         // renders results[index] and plays it
    bool save(int index, const juce::File& destination);  // copies results[index] there, atomically

    void cancel() { runner_.cancel(); }
    bool busy() const { return runner_.busy(); }
    Snapshot status() const { return runner_.status(); }

    // <temp>/tonemorph-midi: run folders, and recordings (recorded-*.mid).
    static juce::File resultRoot();
    // midi/<fileName> in the user's models folder, else in the bundle's; none if in neither.
    static juce::File findModel(const juce::String& fileName);
    // "*.mid;*.midi;*.smf" and the audio Transcribe reads.
    static juce::String midiPattern();
    static juce::String audioPattern();
    // A clip written as a .mid into resultRoot() (a recording): its file.
    static juce::File writeRecording(const midi::Clip& clip);

private:
    void run(const Settings& settings);
    void render(int index);
    void copyResult(int index, const juce::File& destination);

    Hooks hooks_;
    JobRunner<Snapshot> runner_{"tonemorph midi"};  // last: its thread stops before hooks_ goes
};

}  // namespace tonemorph::plugin
