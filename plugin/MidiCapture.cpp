#include "MidiCapture.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace tonemorph::plugin {

namespace {
constexpr float kMaxOffset = 0.49f;  // micro-timing kept below half a step, so a note rounds back to its step

void onGrid(double steps, int& step, float& offset) {
    step = static_cast<int>(std::lround(steps));
    offset = std::clamp(static_cast<float>(steps - step), -kMaxOffset, kMaxOffset);
}
}  // namespace

midi::Note gridNote(double startSteps, double endSteps, int pitch, int velocity) {
    midi::Note note;
    onGrid(startSteps, note.start_step, note.start_offset);
    onGrid(endSteps, note.end_step, note.end_offset);
    if (note.end_step <= note.start_step) {  // shorter than a sixteenth: one step
        note.end_step = note.start_step + 1;
        note.end_offset = 0.0f;
    }
    note.pitch = std::clamp(pitch, 0, 127);
    note.velocity = std::clamp(velocity, 1, 127);
    return note;
}

// --- MidiRecorder ---

void MidiRecorder::start() {
    const std::lock_guard<std::mutex> lock(mutex_);
    recording_.store(false);
    Event e;
    while (queue_.try_dequeue(e)) {}
    events_.clear();
    lost_.store(0);
    startedAt_.store(clock_.load());
    recording_.store(true);
}

void MidiRecorder::drain() {
    const std::lock_guard<std::mutex> lock(mutex_);
    Event e;
    while (queue_.try_dequeue(e)) {
        if (static_cast<int>(events_.size()) < kMaxEvents) events_.push_back(e);
        else lost_.fetch_add(1);
    }
}

int MidiRecorder::eventsRecorded() {
    drain();
    const std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(events_.size());
}

MidiRecorder::Recording MidiRecorder::stop() {
    recording_.store(false);
    const std::int64_t end = clock_.load();
    drain();
    const std::lock_guard<std::mutex> lock(mutex_);
    Recording r;
    r.clip = clipFrom(events_, end, rate_.load(), bpm_.load());
    r.notes = static_cast<int>(r.clip.notes.size());
    r.overflowed = lost_.load();
    r.seconds = static_cast<double>(end - startedAt_.load()) / rate_.load();
    return r;
}

void MidiRecorder::process(const juce::MidiBuffer& midi, int n, double bpm) noexcept {
    const std::int64_t now = clock_.load(std::memory_order_relaxed);
    if (bpm > 0.0 && std::isfinite(bpm)) bpm_.store(std::clamp(bpm, 10.0, 1000.0), std::memory_order_relaxed);
    if (recording_.load(std::memory_order_acquire)) {
        for (const auto meta : midi) {
            if (meta.numBytes != 3) continue;
            const std::uint8_t type = meta.data[0] & 0xF0;
            if (type != 0x80 && type != 0x90) continue;
            Event e;
            e.sample = now + std::clamp(meta.samplePosition, 0, std::max(0, n - 1));
            e.status = meta.data[0];
            e.pitch = static_cast<std::uint8_t>(meta.data[1] & 0x7F);
            e.velocity = static_cast<std::uint8_t>(meta.data[2] & 0x7F);
            if (!queue_.try_enqueue(e)) lost_.fetch_add(1, std::memory_order_relaxed);
        }
    }
    clock_.store(now + n, std::memory_order_relaxed);
}

midi::Clip MidiRecorder::clipFrom(const std::vector<Event>& events, std::int64_t end, double rate, double bpm) {
    midi::Clip clip;
    clip.bpm = bpm;
    const double stepSamples = rate * 60.0 / (bpm * midi::kStepsPerQuarter);
    std::int64_t origin = -1;
    bool drumChannel = false, otherChannel = false;
    for (const Event& e : events)
        if ((e.status & 0xF0) == 0x90 && e.velocity > 0) {
            if (origin < 0) origin = e.sample;
            ((e.status & 0x0F) == midi::kGmDrumChannel - 1 ? drumChannel : otherChannel) = true;
        }
    if (origin < 0) return clip;  // nothing played
    clip.drums = drumChannel && !otherChannel;

    const auto steps = [&](std::int64_t sample) { return static_cast<double>(sample - origin) / stepSamples; };
    struct Held {
        std::int64_t sample = -1;
        int velocity = 0;
    };
    std::array<std::array<Held, 128>, 16> held{};  // per channel and pitch
    const auto release = [&](int channel, int pitch, std::int64_t sample) {
        Held& h = held[static_cast<std::size_t>(channel)][static_cast<std::size_t>(pitch)];
        if (h.sample < 0) return;
        clip.notes.push_back(gridNote(steps(h.sample), steps(sample), pitch, h.velocity));
        h.sample = -1;
    };
    for (const Event& e : events) {
        const int channel = e.status & 0x0F, pitch = e.pitch;
        if (clip.drums != (channel == midi::kGmDrumChannel - 1)) continue;  // a melody leaves channel 10 out
        if (e.sample < origin) continue;
        const bool on = (e.status & 0xF0) == 0x90 && e.velocity > 0;
        release(channel, pitch, e.sample);  // a note-off, or a repeated note-on that ends the one held
        if (on) held[static_cast<std::size_t>(channel)][static_cast<std::size_t>(pitch)] = {e.sample, e.velocity};
    }
    for (int c = 0; c < 16; ++c)
        for (int p = 0; p < 128; ++p) release(c, p, std::max(end, origin + 1));
    midi::sort_notes(clip.notes);
    int last = 0;
    for (const auto& note : clip.notes) last = std::max(last, note.end_step);
    clip.steps = midi::whole_bars(last);
    return clip;
}

// --- AudioCapture ---

void AudioCapture::prepare(double sampleRate) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto size = static_cast<std::int64_t>(std::ceil(kSeconds * sampleRate));
    if (size != size_ || ring_ == nullptr) {
        ring_ = std::make_unique<std::atomic<float>[]>(static_cast<std::size_t>(size));
        size_ = size;
    }
    for (std::int64_t i = 0; i < size_; ++i) ring_[static_cast<std::size_t>(i)].store(0.0f, std::memory_order_relaxed);
    rate_ = sampleRate;
    written_.store(0);
}

void AudioCapture::process(const juce::AudioBuffer<float>& buffer, int channels, int n) noexcept {
    if (ring_ == nullptr || size_ <= 0 || channels <= 0) return;
    const std::int64_t at = written_.load(std::memory_order_relaxed);
    const float scale = 1.0f / static_cast<float>(channels);
    for (int i = 0; i < n; ++i) {
        float sum = 0.0f;
        for (int c = 0; c < channels; ++c) sum += buffer.getReadPointer(c)[i];
        const float x = std::isfinite(sum) ? sum * scale : 0.0f;
        ring_[static_cast<std::size_t>((at + i) % size_)].store(x, std::memory_order_relaxed);
    }
    written_.store(at + n, std::memory_order_release);
}

double AudioCapture::heardSeconds() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return rate_ > 0.0 ? static_cast<double>(std::min(written_.load(), size_)) / rate_ : 0.0;
}

std::vector<float> AudioCapture::last(double seconds, double* rate) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (rate != nullptr) *rate = rate_;
    if (ring_ == nullptr || rate_ <= 0.0) return {};
    const std::int64_t end = written_.load(std::memory_order_acquire);
    // A little less than the ring holds: the audio thread keeps writing at the oldest end while this copies.
    const std::int64_t wanted = static_cast<std::int64_t>(std::clamp(seconds, 0.0, kSeconds - 1.0) * rate_);
    const std::int64_t count = std::min(wanted, end);
    std::vector<float> out(static_cast<std::size_t>(count));
    for (std::int64_t i = 0; i < count; ++i)
        out[static_cast<std::size_t>(i)] = ring_[static_cast<std::size_t>((end - count + i) % size_)].load(std::memory_order_relaxed);
    return out;
}

}  // namespace tonemorph::plugin
