#include "Limiter.h"

#include <algorithm>
#include <cmath>

namespace tonemorph::master {

void TruePeakLimiter::prepare(const Spec& spec) {
    spec_ = spec;
    window_ = std::max(1, static_cast<int>(std::lround(spec.lookahead_s * spec.sample_rate)));
    release_ = static_cast<float>(std::exp(-1.0 / (spec.release_s * spec.sample_rate)));
    lines_.assign(static_cast<std::size_t>(spec.channels),
                  std::vector<float>(static_cast<std::size_t>(Oversampler4x::kTaps + spec.max_block)));
    delays_.assign(static_cast<std::size_t>(spec.channels), std::vector<float>(static_cast<std::size_t>(latency())));
    segments_.resize(static_cast<std::size_t>(spec.max_block));
    peaks_.resize(static_cast<std::size_t>(spec.max_block));
    min_values_.resize(static_cast<std::size_t>(window_ + 1));
    min_times_.resize(static_cast<std::size_t>(window_ + 1));
    releases_.resize(static_cast<std::size_t>(window_));
    reset();
}

void TruePeakLimiter::reset() {
    for (auto& line : lines_) std::fill(line.begin(), line.end(), 0.0f);
    for (auto& d : delays_) std::fill(d.begin(), d.end(), 0.0f);
    previous_segment_ = 0.0f;
    min_head_ = min_size_ = 0;
    std::fill(releases_.begin(), releases_.end(), 1.0f);
    release_sum_ = window_;
    released_ = 1.0f;
    time_ = 0;
    delay_position_ = 0;
}

float TruePeakLimiter::process(float* const* channels, int n) {
    constexpr int kHistory = Oversampler4x::kTaps;
    const auto capacity = static_cast<std::size_t>(window_ + 1);
    const auto ceiling = static_cast<float>(spec_.ceiling);
    const int delay_size = latency();  // a slot is read the moment before it is rewritten: delay = size
    float smallest = 1.0f;
    for (int start = 0; start < n; start += spec_.max_block) {
        const int count = std::min(spec_.max_block, n - start);
        std::fill(peaks_.begin(), peaks_.begin() + count, 0.0f);
        for (int c = 0; c < spec_.channels; ++c) {
            auto& line = lines_[static_cast<std::size_t>(c)];
            std::copy(channels[c] + start, channels[c] + start + count, line.begin() + kHistory);
            oversampler_.segment_peaks(line.data() + kHistory - Oversampler4x::kAfter, count, segments_.data());
            for (int i = 0; i < count; ++i) peaks_[static_cast<std::size_t>(i)] = std::max(peaks_[static_cast<std::size_t>(i)], segments_[static_cast<std::size_t>(i)]);
            std::copy(line.begin() + count, line.begin() + count + kHistory, line.begin());
        }
        for (int i = 0; i < count; ++i, ++time_) {
            const float segment = peaks_[static_cast<std::size_t>(i)];
            const float peak = std::max(segment, previous_segment_);
            previous_segment_ = segment;
            const float g = peak > ceiling ? ceiling / peak : 1.0f;
            // Sliding minimum over the last W values of g (a queue of increasing values).
            while (min_size_ > 0 && min_values_[(static_cast<std::size_t>(min_head_ + min_size_ - 1)) % capacity] >= g) --min_size_;
            const auto tail = static_cast<std::size_t>(min_head_ + min_size_) % capacity;
            min_values_[tail] = g;
            min_times_[tail] = time_;
            ++min_size_;
            if (min_times_[static_cast<std::size_t>(min_head_)] <= time_ - window_) {
                min_head_ = (min_head_ + 1) % static_cast<int>(capacity);
                --min_size_;
            }
            const float h = min_values_[static_cast<std::size_t>(min_head_)];
            released_ = std::min(h, release_ * released_ + (1.0f - release_) * h);
            auto& oldest = releases_[static_cast<std::size_t>(time_ % window_)];
            release_sum_ += static_cast<double>(released_) - static_cast<double>(oldest);
            oldest = released_;
            const auto gain = static_cast<float>(release_sum_ / window_);
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
