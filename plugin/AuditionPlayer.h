// A/B of a mastering run through the plugin's output: the original track or the result replaces the
// effect's output while auditioning, each scaled to the same integrated loudness (the quieter one's), so
// the comparison is of tone and dynamics, not of level. Both loop, in step, so switching A <-> B lands on
// the same moment of the song (a 10 ms crossfade, and the same into and out of the audition).
//
// Real-time: the files are read and resampled to the host's rate on a feeder thread into a pair of
// lock-free rings (juce::AbstractFifo); a new pair reaches the audio thread through an atomic pointer and
// the one it replaces goes back through a lock-free queue to be deleted off the audio thread, as the
// engine hands over its pipelines. process() allocates nothing, takes no lock, touches no file.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include <juce_audio_basics/juce_audio_basics.h>
#include <juce_core/juce_core.h>

#include "LockFreeQueue.h"

namespace tonemorph::plugin {

class AuditionPlayer final {
public:
    enum class Choice { Off, Original, Master };

    AuditionPlayer() = default;
    ~AuditionPlayer();
    AuditionPlayer(const AuditionPlayer&) = delete;
    AuditionPlayer& operator=(const AuditionPlayer&) = delete;

    // --- control threads (message thread, the mastering job's thread) ---
    void prepare(double sampleRate);  // prepareToPlay: a pair made for another rate is made again
    // The pair to audition, and the gains (linear) that bring each to the same loudness.
    void setSources(const juce::File& original, float originalGain, const juce::File& master, float masterGain);
    void choose(Choice choice) { choice_.store(choice); }  // any thread
    Choice choice() const { return choice_.load(); }
    bool hasSources() const;
    void collectGarbage();  // deletes pairs the audio thread has let go of

    // --- audio thread ---
    // While auditioning (or fading in or out of it), replaces the first n samples of `buffer`.
    void process(juce::AudioBuffer<float>& buffer, int n) noexcept;

private:
    class Stream;
    void remake();         // a new pair from the files, gains and rate (controlMutex_ held)
    void deleteRetired();  // (controlMutex_ held)

    std::atomic<Choice> choice_{Choice::Off};
    std::atomic<double> rate_{0.0};

    mutable std::mutex controlMutex_;  // control threads only: the files and gains, making pairs, deleting them
    juce::File original_, master_;
    float originalGain_ = 1.0f, masterGain_ = 1.0f;

    std::atomic<Stream*> pending_{nullptr};           // made, not yet taken by the audio thread
    Stream* current_ = nullptr;                       // the audio thread's
    moodycamel::ReaderWriterQueue<Stream*> retired_{64};  // let go of by the audio thread
    // The audio thread's fade: the weights of the effect, the original and the master (they sum to 1).
    float fx_ = 1.0f, a_ = 0.0f, b_ = 0.0f;
};

}  // namespace tonemorph::plugin
