#include "Limiter.h"

#include <algorithm>
#include <cmath>

namespace tonemorph::master {

void PeakDetector::prepare(int channels, int max_block) {
    lines_.assign(static_cast<std::size_t>(channels),
                  std::vector<float>(static_cast<std::size_t>(Oversampler4x::kTaps + max_block)));
    segments_.resize(static_cast<std::size_t>(max_block));
    reset();
}

void PeakDetector::reset() {
    for (auto& line : lines_) std::fill(line.begin(), line.end(), 0.0f);
    previous_ = 0.0f;
}

void PeakDetector::process(const float* const* channels, int n, float* peaks) {
    constexpr int kHistory = Oversampler4x::kTaps;
    std::fill(peaks, peaks + n, 0.0f);
    for (std::size_t c = 0; c < lines_.size(); ++c) {
        auto& line = lines_[c];
        std::copy(channels[c], channels[c] + n, line.begin() + kHistory);
        oversampler_.segment_peaks(line.data() + kHistory - Oversampler4x::kAfter, n, segments_.data());
        for (int i = 0; i < n; ++i) peaks[i] = std::max(peaks[i], segments_[static_cast<std::size_t>(i)]);
        std::copy(line.begin() + n, line.begin() + n + kHistory, line.begin());
    }
    for (int i = 0; i < n; ++i) {
        const float segment = peaks[i];
        peaks[i] = std::max(segment, previous_);
        previous_ = segment;
    }
}

void GainSmoother::prepare(int window, float release, float slow_attack, float slow_release) {
    window_ = window;
    release_ = release;
    slow_attack_ = slow_attack;
    slow_release_ = slow_release;
    min_values_.resize(static_cast<std::size_t>(window + 1));
    min_times_.resize(static_cast<std::size_t>(window + 1));
    releases_.resize(static_cast<std::size_t>(window));
    reset();
}

void GainSmoother::reset() {
    min_head_ = min_size_ = 0;
    std::fill(releases_.begin(), releases_.end(), 1.0f);
    release_sum_ = window_;
    released_ = slow_ = 1.0f;
    time_ = 0;
    release_position_ = 0;
}

float GainSmoother::next(float g) {
    // Sliding minimum over the last W values of g: a queue of increasing values in a ring of W + 1.
    const int capacity = window_ + 1;
    const auto wrap = [capacity](int i) { return i >= capacity ? i - capacity : i; };
    while (min_size_ > 0 && min_values_[static_cast<std::size_t>(wrap(min_head_ + min_size_ - 1))] >= g) --min_size_;
    const auto tail = static_cast<std::size_t>(wrap(min_head_ + min_size_));
    min_values_[tail] = g;
    min_times_[tail] = time_;
    ++min_size_;
    if (min_times_[static_cast<std::size_t>(min_head_)] <= time_ - window_) {
        min_head_ = wrap(min_head_ + 1);
        --min_size_;
    }
    const float h = min_values_[static_cast<std::size_t>(min_head_)];
    released_ = std::min(h, release_ * released_ + (1.0f - release_) * h);
    slow_ += (h < slow_ ? slow_attack_ : slow_release_) * (h - slow_);
    const float r = std::min(released_, slow_);
    auto& oldest = releases_[static_cast<std::size_t>(release_position_)];
    release_sum_ += static_cast<double>(r) - static_cast<double>(oldest);
    oldest = r;
    release_position_ = release_position_ + 1 == window_ ? 0 : release_position_ + 1;
    ++time_;
    return static_cast<float>(release_sum_ / window_);
}

GainSmoother TruePeakLimiter::smoother(const Spec& spec) {
    GainSmoother s;
    const auto coefficient = [&](double seconds) { return static_cast<float>(std::exp(-1.0 / (seconds * spec.sample_rate))); };
    s.prepare(std::max(1, static_cast<int>(std::lround(spec.lookahead_s * spec.sample_rate))), coefficient(spec.release_s),
              1.0f - coefficient(spec.slow_attack_s), 1.0f - coefficient(spec.slow_release_s));
    return s;
}

void TruePeakLimiter::prepare(const Spec& spec) {
    spec_ = spec;
    detector_.prepare(spec.channels, spec.max_block);
    smoother_ = smoother(spec);
    delays_.assign(static_cast<std::size_t>(spec.channels), std::vector<float>(static_cast<std::size_t>(latency())));
    peaks_.resize(static_cast<std::size_t>(spec.max_block));
    reset();
}

void TruePeakLimiter::reset() {
    detector_.reset();
    smoother_.reset();
    for (auto& d : delays_) std::fill(d.begin(), d.end(), 0.0f);
    delay_position_ = 0;
}

float TruePeakLimiter::process(float* const* channels, int n) {
    const auto ceiling = static_cast<float>(spec_.ceiling);
    const int delay_size = latency();  // a slot is read the moment before it is rewritten: delay = size
    float smallest = 1.0f;
    for (int start = 0; start < n; start += spec_.max_block) {
        const int count = std::min(spec_.max_block, n - start);
        const float* inputs[2] = {channels[0] + start, spec_.channels == 2 ? channels[1] + start : nullptr};
        detector_.process(inputs, count, peaks_.data());
        for (int i = 0; i < count; ++i) {
            const float peak = peaks_[static_cast<std::size_t>(i)];
            const float gain = smoother_.next(peak > ceiling ? ceiling / peak : 1.0f);
            smallest = std::min(smallest, gain);
            for (int c = 0; c < spec_.channels; ++c) {
                float& x = channels[c][start + i];
                auto& delay = delays_[static_cast<std::size_t>(c)];
                const float delayed = delay[static_cast<std::size_t>(delay_position_)];
                delay[static_cast<std::size_t>(delay_position_)] = x;
                x = delayed * gain;
            }
            delay_position_ = (delay_position_ + 1) % delay_size;
        }
    }
    return smallest;
}

}  // namespace tonemorph::master
