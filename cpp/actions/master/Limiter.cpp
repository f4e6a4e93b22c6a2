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

void SlidingMax::prepare(int window) {
    window_ = window;
    values_.resize(static_cast<std::size_t>(window + 1));
    times_.resize(static_cast<std::size_t>(window + 1));
    reset();
}

void SlidingMax::reset() {
    head_ = size_ = 0;
    time_ = 0;
}

float SlidingMax::next(float x) {
    const int capacity = window_ + 1;
    const auto wrap = [capacity](int i) { return i >= capacity ? i - capacity : i; };
    while (size_ > 0 && values_[static_cast<std::size_t>(wrap(head_ + size_ - 1))] <= x) --size_;
    const auto tail = static_cast<std::size_t>(wrap(head_ + size_));
    values_[tail] = x;
    times_[tail] = time_;
    ++size_;
    if (times_[static_cast<std::size_t>(head_)] <= time_ - window_) {
        head_ = wrap(head_ + 1);
        --size_;
    }
    ++time_;
    return values_[static_cast<std::size_t>(head_)];
}

template <int Lanes>
void GainSmoother<Lanes>::prepare(int window, float release, float slow_attack, float slow_release, const float* ceilings) {
    window_ = window;
    release_ = release;
    slow_attack_ = slow_attack;
    slow_release_ = slow_release;
    std::copy(ceilings, ceilings + Lanes, ceilings_);
    peaks_.prepare(window);
    ring_.resize(static_cast<std::size_t>(window) * Lanes);
    reset();
}

template <int Lanes>
void GainSmoother<Lanes>::reset() {
    peaks_.reset();
    std::fill(ring_.begin(), ring_.end(), 1.0f);
    std::fill(sums_, sums_ + Lanes, static_cast<double>(window_));
    std::fill(released_, released_ + Lanes, 1.0f);
    std::fill(slow_, slow_ + Lanes, 1.0f);
    position_ = 0;
}

template <int Lanes>
void GainSmoother<Lanes>::next(float peak, float* gains) {
    const float highest = peaks_.next(peak);
    float* oldest = ring_.data() + static_cast<std::size_t>(position_) * Lanes;
    for (int k = 0; k < Lanes; ++k) {  // side by side: the compiler vectorises this loop over the lanes
        const float h = highest > ceilings_[k] ? ceilings_[k] / highest : 1.0f;
        released_[k] = std::min(h, release_ * released_[k] + (1.0f - release_) * h);
        slow_[k] += (h < slow_[k] ? slow_attack_ : slow_release_) * (h - slow_[k]);
        const float r = std::min(released_[k], slow_[k]);
        sums_[k] += static_cast<double>(r) - static_cast<double>(oldest[k]);
        oldest[k] = r;
        gains[k] = static_cast<float>(sums_[k] / window_);
    }
    position_ = position_ + 1 == window_ ? 0 : position_ + 1;
}

template class GainSmoother<1>;
template class GainSmoother<8>;

template <int Lanes>
GainSmoother<Lanes> TruePeakLimiter::smoother(const Spec& spec, const float* gains) {
    GainSmoother<Lanes> s;
    const auto coefficient = [&](double seconds) { return static_cast<float>(std::exp(-1.0 / (seconds * spec.sample_rate))); };
    float ceilings[Lanes];
    for (int k = 0; k < Lanes; ++k) ceilings[k] = static_cast<float>(spec.ceiling / gains[k]);
    s.prepare(std::max(1, static_cast<int>(std::lround(spec.lookahead_s * spec.sample_rate))), coefficient(spec.release_s),
              1.0f - coefficient(spec.slow_attack_s), 1.0f - coefficient(spec.slow_release_s), ceilings);
    return s;
}

template GainSmoother<1> TruePeakLimiter::smoother<1>(const Spec&, const float*);
template GainSmoother<8> TruePeakLimiter::smoother<8>(const Spec&, const float*);

void TruePeakLimiter::prepare(const Spec& spec) {
    spec_ = spec;
    detector_.prepare(spec.channels, spec.max_block);
    const float unity = 1.0f;
    smoother_ = smoother<1>(spec, &unity);
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
    const int delay_size = latency();  // a slot is read the moment before it is rewritten: delay = size
    float smallest = 1.0f;
    for (int start = 0; start < n; start += spec_.max_block) {
        const int count = std::min(spec_.max_block, n - start);
        const float* inputs[2] = {channels[0] + start, spec_.channels == 2 ? channels[1] + start : nullptr};
        detector_.process(inputs, count, peaks_.data());
        for (int i = 0; i < count; ++i) {
            float gain;
            smoother_.next(peaks_[static_cast<std::size_t>(i)], &gain);
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
