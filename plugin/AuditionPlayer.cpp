#include "AuditionPlayer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include <juce_audio_formats/juce_audio_formats.h>

namespace tonemorph::plugin {

namespace {
constexpr double kFadeSeconds = 0.01;
constexpr int kChannels = 2;

float approach(float value, float target, float step) {
    return value < target ? std::min(target, value + step) : std::max(target, value - step);
}
}  // namespace

// One pair (original, master) read in step, looped, at the host's rate, into two rings that share one
// AbstractFifo (so both always hold the same stretch of the song); or one file (a clip) played once into the
// first ring. The feeder thread fills them; the audio thread reads them.
class AuditionPlayer::Stream final {
public:
    // Enough for the largest host block several times over, even at 192 kHz.
    static constexpr int kCapacity = 1 << 17;
    static constexpr int kChunk = 4096;
    static constexpr int kIdleMs = 5;

    Stream(juce::File originalFile, float originalLevel, juce::File masterFile, float masterLevel, double hostRate)
        : originalGain(originalLevel), masterGain(masterLevel), rate(hostRate), originalFile_(std::move(originalFile)),
          masterFile_(std::move(masterFile)) {
        feeder_ = std::thread([this] { feed(); });
    }
    ~Stream() {
        stop_.store(true);
        feeder_.join();
    }

    // Waits (up to `ms`) until the first chunk is in the rings or the feeder has given up.
    void waitUntilReady(int ms) const {
        for (int i = 0; i < ms && fifo.getNumReady() < kChunk && !ended.load(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }

    juce::AbstractFifo fifo{kCapacity};
    juce::AudioBuffer<float> original{kChannels, kCapacity}, master{kChannels, kCapacity};
    const float originalGain, masterGain;
    const double rate;
    std::atomic<bool> ended{false};  // a single file: all of it is in the ring (or it could not be read)

private:
    bool single() const { return masterFile_ == juce::File(); }

    // The file (looped for a pair), resampled to `rate` (JUCE's sources: this is not the audio thread). `frames`:
    // its length at `rate`.
    std::unique_ptr<juce::AudioSource> open(juce::AudioFormatManager& formats, const juce::File& file,
                                            juce::int64& frames) const {
        auto* reader = formats.createReaderFor(file);
        if (reader == nullptr) return nullptr;
        const double ratio = reader->sampleRate / rate;
        frames = static_cast<juce::int64>(std::ceil(static_cast<double>(reader->lengthInSamples) / ratio));
        auto readerSource = std::make_unique<juce::AudioFormatReaderSource>(reader, true);
        readerSource->setLooping(!single());
        auto resampled = std::make_unique<juce::ResamplingAudioSource>(readerSource.release(), true, kChannels);
        resampled->setResamplingRatio(ratio);
        resampled->prepareToPlay(kChunk, rate);
        return resampled;
    }

    void feed() {
        juce::Thread::setCurrentThreadName("tonemorph audition");
        juce::AudioFormatManager formats;
        formats.registerBasicFormats();
        juce::int64 frames = 0, unused = 0;
        const auto a = open(formats, originalFile_, frames);
        const auto b = single() ? nullptr : open(formats, masterFile_, unused);
        if (a == nullptr || (!single() && b == nullptr)) {  // a file gone since the run: the audition stays silent
            ended.store(true);
            return;
        }
        juce::AudioBuffer<float> chunkA(kChannels, kChunk), chunkB(kChannels, kChunk);
        chunkB.clear();
        juce::int64 fed = 0;
        while (!stop_.load()) {
            if (single() && fed >= frames) {
                ended.store(true);
                return;
            }
            if (fifo.getFreeSpace() < kChunk) {
                std::this_thread::sleep_for(std::chrono::milliseconds(kIdleMs));
                continue;
            }
            const int n = single() ? static_cast<int>(std::min<juce::int64>(kChunk, frames - fed)) : kChunk;
            a->getNextAudioBlock(juce::AudioSourceChannelInfo(&chunkA, 0, n));
            if (b != nullptr) b->getNextAudioBlock(juce::AudioSourceChannelInfo(&chunkB, 0, n));
            int start1, size1, start2, size2;
            fifo.prepareToWrite(n, start1, size1, start2, size2);
            for (int c = 0; c < kChannels; ++c) {
                original.copyFrom(c, start1, chunkA, c, 0, size1);
                master.copyFrom(c, start1, chunkB, c, 0, size1);
                if (size2 > 0) {
                    original.copyFrom(c, start2, chunkA, c, size1, size2);
                    master.copyFrom(c, start2, chunkB, c, size1, size2);
                }
            }
            fifo.finishedWrite(size1 + size2);
            fed += size1 + size2;
        }
    }

    const juce::File originalFile_, masterFile_;
    std::atomic<bool> stop_{false};
    std::thread feeder_;
};

AuditionPlayer::~AuditionPlayer() {
    // No audio runs any more: everything is the destructor's.
    deleteRetired();
    for (auto* slot : {&pair_, &clipSlot_}) {
        delete slot->pending.exchange(nullptr);
        delete slot->current;
    }
}

void AuditionPlayer::prepare(double sampleRate) {
    const std::lock_guard<std::mutex> lock(controlMutex_);
    if (rate_.exchange(sampleRate) != sampleRate) {
        remake();
        remakeClip();
    }
}

void AuditionPlayer::setSources(const juce::File& original, float originalGain, const juce::File& master,
                                float masterGain) {
    const std::lock_guard<std::mutex> lock(controlMutex_);
    original_ = original;
    master_ = master;
    originalGain_ = originalGain;
    masterGain_ = masterGain;
    remake();
}

void AuditionPlayer::playClip(const juce::File& file, float gain) {
    {
        const std::lock_guard<std::mutex> lock(controlMutex_);
        clip_ = file;
        clipGain_ = gain;
        remakeClip();
    }
    choose(Choice::Clip);
}

bool AuditionPlayer::hasSources() const {
    const std::lock_guard<std::mutex> lock(controlMutex_);
    return original_ != juce::File();
}

// Not yet prepared: prepare() makes the streams, at the host's rate.
void AuditionPlayer::remake() {
    deleteRetired();
    const double rate = rate_.load();
    if (original_ != juce::File() && rate > 0.0)
        publish(pair_, new Stream(original_, originalGain_, master_, masterGain_, rate));
}

void AuditionPlayer::remakeClip() {
    deleteRetired();
    const double rate = rate_.load();
    if (clip_ == juce::File() || !(rate > 0.0)) return;
    auto* stream = new Stream(clip_, clipGain_, juce::File(), 0.0f, rate);
    stream->waitUntilReady(200);  // heard from its first note, not after a gap
    publish(clipSlot_, stream);
}

// One the audio thread never took is ours to delete.
void AuditionPlayer::publish(Slot& slot, Stream* stream) {
    delete slot.pending.exchange(stream, std::memory_order_acq_rel);
}

void AuditionPlayer::deleteRetired() {
    Stream* stream = nullptr;
    while (retired_.try_dequeue(stream)) delete stream;
}

void AuditionPlayer::collectGarbage() {
    const std::lock_guard<std::mutex> lock(controlMutex_);  // the queue has one consumer at a time
    deleteRetired();
}

// A new stream is taken once the old one has a place in the queue back (it always has: 64 places).
void AuditionPlayer::take(Slot& slot) noexcept {
    if (slot.pending.load(std::memory_order_acquire) != nullptr && (slot.current == nullptr || retired_.try_enqueue(slot.current)))
        slot.current = slot.pending.exchange(nullptr, std::memory_order_acq_rel);
}

void AuditionPlayer::process(juce::AudioBuffer<float>& buffer, int n) noexcept {
    take(pair_);
    take(clipSlot_);
    const double rate = rate_.load(std::memory_order_relaxed);
    Choice choice = choice_.load(std::memory_order_relaxed);
    Stream* const current = choice == Choice::Clip ? clipSlot_.current : pair_.current;
    Stream* const s = current != nullptr && current->rate == rate ? current : nullptr;
    if (s == nullptr) choice = Choice::Off;
    const float toFx = choice == Choice::Off ? 1.0f : 0.0f;
    const float toA = choice == Choice::Original ? 1.0f : 0.0f;
    const float toB = choice == Choice::Master ? 1.0f : 0.0f;
    const float toC = choice == Choice::Clip ? 1.0f : 0.0f;
    if (fx_ == 1.0f && toFx == 1.0f) return;  // not auditioning, not fading: the plugin plays untouched
    const float step = rate > 0.0 ? static_cast<float>(1.0 / (kFadeSeconds * rate)) : 1.0f;

    // The rings advance while any of them is heard; paused, the audition resumes where it stopped. (A fade out
    // of one slot into the other reads the one now chosen: the 10 ms fade hides the switch.)
    int ready = 0, start1 = 0, size1 = 0, start2 = 0, size2 = 0;
    if (s != nullptr) {
        ready = std::min(n, s->fifo.getNumReady());  // fewer (the feeder is late): silence for the rest
        s->fifo.prepareToRead(ready, start1, size1, start2, size2);
    }
    const int channels = buffer.getNumChannels();
    float* const* out = buffer.getArrayOfWritePointers();
    for (int i = 0; i < n; ++i) {
        fx_ = approach(fx_, toFx, step);
        a_ = approach(a_, toA, step);
        b_ = approach(b_, toB, step);
        c_ = approach(c_, toC, step);
        float left = 0.0f, right = 0.0f;
        if (i < ready) {
            const int k = i < size1 ? start1 + i : start2 + (i - size1);
            const float ga = (a_ + c_) * s->originalGain, gb = b_ * s->masterGain;
            left = ga * s->original.getReadPointer(0)[k] + gb * s->master.getReadPointer(0)[k];
            right = ga * s->original.getReadPointer(1)[k] + gb * s->master.getReadPointer(1)[k];
        }
        if (channels == 1) {
            out[0][i] = fx_ * out[0][i] + 0.5f * (left + right);
            continue;
        }
        out[0][i] = fx_ * out[0][i] + left;
        out[1][i] = fx_ * out[1][i] + right;
        for (int c = 2; c < channels; ++c) out[c][i] *= fx_;
    }
    if (s != nullptr) {
        s->fifo.finishedRead(ready);
        // A clip played to its end: back to the plugin's own output.
        if (choice == Choice::Clip && s->ended.load(std::memory_order_acquire) && s->fifo.getNumReady() == 0) {
            Choice expected = Choice::Clip;
            choice_.compare_exchange_strong(expected, Choice::Off);
        }
    }
}

}  // namespace tonemorph::plugin
