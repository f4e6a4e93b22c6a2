// What the MIDI panel takes from the live signal, captured on the audio thread without a lock or an allocation:
//   MidiRecorder (the Synth): note events of its MIDI input, stamped in samples, pushed into a preallocated
//     single-producer queue; a control thread drains them, and Stop turns them into a Clip at the host's tempo
//     (the play head's, else 120 bpm).
//   AudioCapture (the effect): the mean of its input channels into a ring of kSeconds, made in prepare();
//     the job thread copies the last seconds out for Transcribe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <juce_audio_basics/juce_audio_basics.h>

#include "LockFreeQueue.h"
#include "midi/Clip.h"

namespace tonemorph::plugin {

constexpr double kDefaultBpm = 120.0;

// A note from its onset and release in (fractional) sixteenths: each on the nearest step, what is left kept as
// micro-timing (below half a step, so it rounds back to its own step); at least one step long.
midi::Note gridNote(double startSteps, double endSteps, int pitch, int velocity);

class MidiRecorder final {
public:
    static constexpr int kQueueEvents = 1 << 14;  // drained ten times a second: far more than two hands play
    static constexpr int kMaxEvents = 400000;      // a recording stops growing past this (2 x the clip limit)

    struct Event {
        std::int64_t sample = 0;  // on the recorder's clock (samples since prepare)
        std::uint8_t status = 0, pitch = 0, velocity = 0;
    };
    struct Recording {
        midi::Clip clip;
        int notes = 0;         // in the clip
        int overflowed = 0;    // events lost (the queue was full, or past kMaxEvents)
        double seconds = 0.0;  // from Record to Stop
    };

    // --- control threads ---
    void prepare(double sampleRate) { rate_.store(sampleRate); }
    void start();               // forgets what was recorded, starts recording
    Recording stop();           // stops, and the notes played meanwhile as a clip (held notes end at Stop)
    void drain();               // moves queued events into the recording (a timer calls this)
    bool recording() const { return recording_.load(); }
    int eventsRecorded();       // so far (drains first)
    double tempo() const { return bpm_.load(); }

    // --- audio thread ---
    // Note-ons and note-offs of `midi` (channel kept in status) while recording; the clock advances by n.
    // bpm: the host's tempo this block, or <= 0 when the host does not say.
    void process(const juce::MidiBuffer& midi, int n, double bpm) noexcept;

    // A clip from events (sorted by sample) at `rate` and `bpm`: the first note-on at step 0, onsets and
    // releases on the nearest sixteenth with the rest kept as micro-timing; channel 10 alone makes a drum clip.
    // Notes still held at `end` end there.
    static midi::Clip clipFrom(const std::vector<Event>& events, std::int64_t end, double rate, double bpm);

private:
    moodycamel::ReaderWriterQueue<Event> queue_{kQueueEvents};
    std::atomic<bool> recording_{false};
    std::atomic<std::int64_t> clock_{0};
    std::atomic<std::int64_t> startedAt_{0};
    std::atomic<double> rate_{48000.0}, bpm_{kDefaultBpm};
    std::atomic<int> lost_{0};

    std::mutex mutex_;  // control threads: events_ (the queue has one consumer at a time)
    std::vector<Event> events_;
};

class AudioCapture final {
public:
    static constexpr double kSeconds = 30.0;

    // --- control threads (prepareToPlay: the audio thread is not running) ---
    void prepare(double sampleRate);
    // The last `seconds` heard (fewer if not that much has been), mono, at *rate. Empty before prepare.
    std::vector<float> last(double seconds, double* rate) const;
    double heardSeconds() const;

    // --- audio thread ---
    void process(const juce::AudioBuffer<float>& buffer, int channels, int n) noexcept;

private:
    mutable std::mutex mutex_;  // control threads only: prepare against last()
    std::unique_ptr<std::atomic<float>[]> ring_;
    std::int64_t size_ = 0;
    double rate_ = 0.0;
    std::atomic<std::int64_t> written_{0};
};

}  // namespace tonemorph::plugin
