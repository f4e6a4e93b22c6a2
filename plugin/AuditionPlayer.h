// A/B of a mastering run through the plugin's output: the original track or the result replaces the
// effect's output while auditioning, each scaled to the same integrated loudness (the quieter one's), so
// the comparison is of tone and dynamics, not of level. Both loop, in step, so switching A <-> B lands on
// the same moment of the song (a 10 ms crossfade, and the same into and out of the audition).
//
// Real-time: the files are read and resampled to the host's rate on a feeder thread into a pair of
// lock-free rings (juce::AbstractFifo); a new pair reaches the audio thread through an atomic pointer and
// the one it replaces goes back through a lock-free queue to be deleted off the audio thread, as the
// engine hands over its pipelines. process() allocates nothing, takes no lock, touches no file.
//
// The MIDI panel's clip audition is the single-file mode: playClip() plays one WAV once (Choice::Clip), in a
// slot of its own (the A/B pair stays), then the plugin's own output comes back by itself.
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
    enum class Choice { Off, Original, Master, Clip };

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
    bool hasSources() const;  // an A/B pair
    // Plays `file` once at `gain` in place of the plugin's output (Choice::Clip), from its start; returns when
    // the first of it is ready to be heard. Another choice, or the file's end, stops it.
    void playClip(const juce::File& file, float gain = 1.0f);
    void collectGarbage();  // deletes pairs the audio thread has let go of

    // --- audio thread ---
    // While auditioning (or fading in or out of it), replaces the first n samples of `buffer`.
    void process(juce::AudioBuffer<float>& buffer, int n) noexcept;

private:
    class Stream;
    // Where a stream waits for the audio thread, and the one it plays.
    struct Slot {
        std::atomic<Stream*> pending{nullptr};  // made, not yet taken by the audio thread
        Stream* current = nullptr;              // the audio thread's
    };
    void remake();         // a new pair from the files, gains and rate (controlMutex_ held)
    void remakeClip();     // a new clip stream (controlMutex_ held)
    void publish(Slot& slot, Stream* stream);  // (controlMutex_ held)
    void take(Slot& slot) noexcept;            // audio thread
    void deleteRetired();  // (controlMutex_ held)

    std::atomic<Choice> choice_{Choice::Off};
    std::atomic<double> rate_{0.0};

    mutable std::mutex controlMutex_;  // control threads only: the files and gains, making pairs, deleting them
    juce::File original_, master_, clip_;
    float originalGain_ = 1.0f, masterGain_ = 1.0f, clipGain_ = 1.0f;

    Slot pair_, clipSlot_;
    moodycamel::ReaderWriterQueue<Stream*> retired_{64};  // let go of by the audio thread
    // The audio thread's fade: the weights of the effect, the original, the master and the clip (they sum to 1).
    float fx_ = 1.0f, a_ = 0.0f, b_ = 0.0f, c_ = 0.0f;
};

}  // namespace tonemorph::plugin
