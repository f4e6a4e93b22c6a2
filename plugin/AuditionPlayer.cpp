#include "AuditionPlayer.h"

#include <algorithm>
#include <chrono>
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
// AbstractFifo (so both always hold the same stretch of the song). The feeder thread fills them; the audio
// thread reads them.
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

    juce::AbstractFifo fifo{kCapacity};
    juce::AudioBuffer<float> original{kChannels, kCapacity}, master{kChannels, kCapacity};
    const float originalGain, masterGain;
    const double rate;

private:
    // The file looped, resampled to `rate` (JUCE's sources: this is not the audio thread).
    std::unique_ptr<juce::AudioSource> open(juce::AudioFormatManager& formats, const juce::File& file) const {
        auto* reader = formats.createReaderFor(file);
        if (reader == nullptr) return nullptr;
        const double ratio = reader->sampleRate / rate;
        auto readerSource = std::make_unique<juce::AudioFormatReaderSource>(reader, true);
        readerSource->setLooping(true);
        auto resampled = std::make_unique<juce::ResamplingAudioSource>(readerSource.release(), true, kChannels);
        resampled->setResamplingRatio(ratio);
        resampled->prepareToPlay(kChunk, rate);
        return resampled;
    }

    void feed() {
        juce::Thread::setCurrentThreadName("tonemorph audition");
        juce::AudioFormatManager formats;
        formats.registerBasicFormats();
        const auto a = open(formats, originalFile_), b = open(formats, masterFile_);
        if (a == nullptr || b == nullptr) return;  // a file gone since the run: the audition stays silent
        juce::AudioBuffer<float> chunkA(kChannels, kChunk), chunkB(kChannels, kChunk);
        while (!stop_.load()) {
            if (fifo.getFreeSpace() < kChunk) {
                std::this_thread::sleep_for(std::chrono::milliseconds(kIdleMs));
                continue;
            }
            a->getNextAudioBlock(juce::AudioSourceChannelInfo(&chunkA, 0, kChunk));
            b->getNextAudioBlock(juce::AudioSourceChannelInfo(&chunkB, 0, kChunk));
            int start1, size1, start2, size2;
            fifo.prepareToWrite(kChunk, start1, size1, start2, size2);
            for (int c = 0; c < kChannels; ++c) {
                original.copyFrom(c, start1, chunkA, c, 0, size1);
                master.copyFrom(c, start1, chunkB, c, 0, size1);
                if (size2 > 0) {
                    original.copyFrom(c, start2, chunkA, c, size1, size2);
                    master.copyFrom(c, start2, chunkB, c, size1, size2);
                }
            }
            fifo.finishedWrite(size1 + size2);
        }
    }

    const juce::File originalFile_, masterFile_;
    std::atomic<bool> stop_{false};
    std::thread feeder_;
};

AuditionPlayer::~AuditionPlayer() {
    // No audio runs any more: everything is the destructor's.
    deleteRetired();
    delete pending_.exchange(nullptr);
    delete current_;
}

void AuditionPlayer::prepare(double sampleRate) {
    const std::lock_guard<std::mutex> lock(controlMutex_);
    if (rate_.exchange(sampleRate) != sampleRate) remake();
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

bool AuditionPlayer::hasSources() const {
    const std::lock_guard<std::mutex> lock(controlMutex_);
    return original_ != juce::File();
}

void AuditionPlayer::remake() {
    deleteRetired();
    // Not yet prepared: prepare() makes the pair, at the host's rate. One the audio thread never took is ours
    // to delete.
    const double rate = rate_.load();
    if (original_ != juce::File() && rate > 0.0)
        delete pending_.exchange(new Stream(original_, originalGain_, master_, masterGain_, rate), std::memory_order_acq_rel);
}

void AuditionPlayer::deleteRetired() {
    Stream* stream = nullptr;
    while (retired_.try_dequeue(stream)) delete stream;
}

void AuditionPlayer::collectGarbage() {
    const std::lock_guard<std::mutex> lock(controlMutex_);  // the queue has one consumer at a time
    deleteRetired();
}

void AuditionPlayer::process(juce::AudioBuffer<float>& buffer, int n) noexcept {
    // A new pair is taken once the old one has a place in the queue back (it always has: 64 places).
    if (pending_.load(std::memory_order_acquire) != nullptr && (current_ == nullptr || retired_.try_enqueue(current_)))
        current_ = pending_.exchange(nullptr, std::memory_order_acq_rel);
    const double rate = rate_.load(std::memory_order_relaxed);
    Stream* const s = current_ != nullptr && current_->rate == rate ? current_ : nullptr;
    const Choice choice = s != nullptr ? choice_.load(std::memory_order_relaxed) : Choice::Off;
    const float toFx = choice == Choice::Off ? 1.0f : 0.0f;
    const float toA = choice == Choice::Original ? 1.0f : 0.0f;
    const float toB = choice == Choice::Master ? 1.0f : 0.0f;
    if (fx_ == 1.0f && toFx == 1.0f) return;  // not auditioning, not fading: the effect plays untouched
    const float step = rate > 0.0 ? static_cast<float>(1.0 / (kFadeSeconds * rate)) : 1.0f;

    // The rings advance while any of them is heard; paused, the audition resumes where it stopped.
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
        float left = 0.0f, right = 0.0f;
        if (i < ready) {
            const int k = i < size1 ? start1 + i : start2 + (i - size1);
            const float ga = a_ * s->originalGain, gb = b_ * s->masterGain;
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
    if (s != nullptr) s->fifo.finishedRead(ready);
}

}  // namespace tonemorph::plugin
