// The Master panel's background work: mastering a track to a reference (cpp/actions/master) and saving the
// result, each on this job's own thread, never the audio thread or the message thread (an hour of audio
// takes a while, and the audio keeps playing meanwhile).
//
// Files are read through JUCE's readers (WAV, AIFF and MP3 here; FLAC and Ogg where the JUCE build has
// their codecs) and the result is a 24-bit WAV at the track's rate, written to a temporary file beside the
// target and renamed over it only when the run has finished: a cancelled or failed run leaves nothing. The
// track and the reference are never overwritten.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include <juce_audio_formats/juce_audio_formats.h>

#include "JobRunner.h"
#include "actions/master/Master.h"

namespace tonemorph::plugin {

class MasterJob final {
public:
    struct Settings {
        juce::File track, reference, output;
        double strength = 1.0;      // of the match EQ, 0..1
        double ceilingDbtp = -1.0;  // the limiter's ceiling
    };
    enum class State { Idle, Mastering, Saving, Done, Saved, Failed, Cancelled };
    struct Snapshot {
        State state = State::Idle;
        double progress = 0.0;             // 0..1 of the running task
        juce::String stage;                // what it is doing, for the progress bar
        juce::String error;                // why the latest task failed (Failed), for the musician
        Settings settings;                 // of the latest mastering run
        std::optional<master::Result> result;  // of the latest successful run (kept while a new one runs)
        juce::File resultFile;             // where that result is
        juce::File savedTo;                // the latest Save's destination (Saved)
    };
    // Called on the job thread when a run has finished and its file is in place.
    using Finished = std::function<void(const Settings&, const master::Result&)>;

    explicit MasterJob(Finished onFinished);
    ~MasterJob();  // cancels a running task and waits for it
    MasterJob(const MasterJob&) = delete;
    MasterJob& operator=(const MasterJob&) = delete;

    // Each returns false (and does nothing) while a task runs.
    bool start(const Settings& settings);
    bool save(const juce::File& destination);  // copies the latest result there, atomically

    void cancel() { runner_.cancel(); }
    bool busy() const { return runner_.busy(); }
    Snapshot status() const { return runner_.status(); }

    // Where the Master panel writes its results before Save copies them: <temp>/tonemorph-master.
    static juce::File resultFolder();
    // The formats the job reads, as a file chooser's pattern ("*.wav;*.aiff;...").
    static juce::String readablePattern();

private:
    void master(const Settings& settings);
    void copyResult(const juce::File& destination);

    Finished onFinished_;
    JobRunner<Snapshot> runner_{"tonemorph master"};  // last: its thread stops before onFinished_ goes
};

}  // namespace tonemorph::plugin
