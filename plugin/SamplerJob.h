// The Sampler panel's background work (both plugins), on the shared JobRunner's thread: a sampler model
// (cpp/actions/sampler: kind "sampler") opened and described (its rate, length, defaults and the words its
// prompt understands), then N one-shots generated from a prompt, each seed after the first one more than the
// last, as `tonemorph sampler generate` numbers them. Each sound is a 24-bit WAV at the model's rate with a
// JSON sidecar (seed, steps, prompt, ... as the CLI writes it) in a run folder of its own,
// <temp>/tonemorph-sampler/<date-time>-<prompt>/, renamed into place only when the run is complete: a
// cancelled or failed run leaves nothing. Save copies the sounds the musician keeps (and their sidecars) into
// a folder, never over a file that is there.
//
// Samplers are looked for as the CLI looks for them (tonemorph/cli_sampler.py sampler_dirs): sampler/ in the
// user's models folder, then in the plugin bundle's models folder; or any .onnx file the musician loads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <juce_audio_formats/juce_audio_formats.h>

#include "JobRunner.h"
#include "ModelLibrary.h"

namespace tonemorph::sampler {
class SamplerModel;
}

namespace tonemorph::plugin {

class SamplerJob final {
public:
    static constexpr const char* kFolder = "sampler";  // beside the instruments, as the CLI keeps them
    static constexpr int kMaxCount = 256;
    static constexpr double kMaxSeconds = 10.0;

    struct Settings {
        juce::File model;
        juce::String prompt;     // words from the model's vocabulary; empty: any sound
        int count = 8;           // 1..kMaxCount
        double seconds = 0.0;    // 0: the model's own length; else rounded to whole hops
        int steps = 0;           // 0: the model's default
        double guidance = -1.0;  // < 0: the model's default
        std::optional<std::uint64_t> seed;  // the first sound's; none: a fresh one each run (the sidecars keep it)
    };
    // What the panel shows of the chosen model.
    struct ModelFacts {
        juce::File file;
        juce::String name, description;
        int sampleRate = 0, length = 0, hop = 0, defaultSteps = 0;
        double defaultGuidance = 1.0;
        juce::StringArray kinds;           // the kinds of sound it knows ("kick", "snare", ...)
        juce::StringArray words;           // every word its prompt takes, synonyms included, sorted
        juce::StringArray descriptorWords; // the words that are not kinds ("bright", "short", ...)
    };
    enum class State { Idle, Opening, Generating, Saving, Opened, Done, Saved, Failed, Cancelled };
    struct Result {
        juce::File file;  // the .wav (its sidecar: the same name, .json)
        std::uint64_t seed = 0;
        double seconds = 0.0;
        float peak = 0.0f;  // largest |sample|, 0..1
    };
    struct Snapshot {
        State state = State::Idle;
        double progress = 0.0;
        juce::String stage, error;
        ModelFacts model;             // the model opened last (none when the latest failed to open)
        Settings settings;            // of the latest successful run (its seed filled in)
        juce::File folder;            // its run folder
        std::vector<Result> results;  // its sounds (kept while a new run works, and when one fails)
        juce::File savedTo;           // the latest Save's folder (Saved)
        int savedCount = 0;
    };
    using Play = std::function<void(const juce::File&)>;  // a WAV to the audition (the plugin's output)

    explicit SamplerJob(Play play);
    ~SamplerJob();
    SamplerJob(const SamplerJob&) = delete;
    SamplerJob& operator=(const SamplerJob&) = delete;

    // Each returns false (and does nothing) while a task runs.
    bool open(const juce::File& model);  // opens and describes it (Opened, or Failed with the reason)
    bool start(const Settings& settings);
    // Copies results[indices] (every result if empty) with their sidecars into `folder`, atomically, none if
    // any name is taken there.
    bool save(const std::vector<int>& indices, const juce::File& folder);

    // Plays results[index] through the plugin's output, once (control thread; not a job task).
    void play(int index);
    void cancel() { runner_.cancel(); }
    bool busy() const { return runner_.busy(); }
    Snapshot status() const { return runner_.status(); }

    // <temp>/tonemorph-sampler: the run folders.
    static juce::File resultRoot();
    // The samplers in the bundle's and the user's sampler/ folders (the user's listed last, as instruments are).
    static std::vector<ModelEntry> findSamplers();
    // The name a result is written under, as the CLI names them: "<index from 1, 4 digits>-seed<seed>.wav".
    static juce::String fileName(int index, std::uint64_t seed);

private:
    std::shared_ptr<const sampler::SamplerModel> load(const juce::File& file);
    void describe(const juce::File& file);
    void run(const Settings& settings);
    void copyResults(const std::vector<int>& indices, const juce::File& folder);

    Play play_;
    // The job thread's: the model opened last and its file, reused by the next run.
    std::shared_ptr<const sampler::SamplerModel> model_;
    juce::File modelFile_;
    juce::Time modelTime_;
    JobRunner<Snapshot> runner_{"tonemorph sampler"};  // last: its thread stops before what it touches goes
};

}  // namespace tonemorph::plugin
