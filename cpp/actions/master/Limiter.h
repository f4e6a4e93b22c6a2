// A look-ahead true-peak limiter. Per sample m, over all channels:
//   g[m] = min(1, ceiling / max(segment peak at m, at m-1))   (TruePeak.h: the sample and the 4x points around it)
//   h[m] = min(g[m-W+1 .. m])                                  (W: the look-ahead, 5 ms)
//   r[m] = min(h[m], a r[m-1] + (1 - a) h[m])                  (release, a = exp(-1 / (0.15 s * rate)))
//   s[m] = mean(r[m-W+1 .. m])  applied to the input delayed by W - 1
// Every r in s's window covers the sample it is applied to, so s <= g there: the gain is down before a peak
// arrives and the ramp into it is W long (no clicks); the release is what keeps it from pumping.
#pragma once

#include <vector>

#include "TruePeak.h"

namespace tonemorph::master {

class TruePeakLimiter final {
public:
    struct Spec {
        double sample_rate = 48000.0;
        int channels = 2;
        int max_block = 8192;
        double ceiling = 0.891;  // linear true peak
        double lookahead_s = 0.005;
        double release_s = 0.15;
    };
    void prepare(const Spec& spec);  // allocates
    void reset();
    // In place, planar channels[c][0 .. n): the output is the input `latency()` samples earlier, limited.
    // Returns the smallest gain applied in this call.
    float process(float* const* channels, int n);
    int latency() const { return Oversampler4x::kAfter + window_ - 1; }

private:
    Spec spec_;
    Oversampler4x oversampler_;
    int window_ = 240;
    float release_ = 0.0f;
    std::vector<std::vector<float>> lines_;  // per channel: kTaps of history, then the block (the detector)
    std::vector<std::vector<float>> delays_;  // per channel: ring of latency() samples
    std::vector<float> segments_, peaks_;
    float previous_segment_ = 0.0f;
    std::vector<float> min_values_;  // monotonic queue for the sliding minimum
    std::vector<long long> min_times_;
    int min_head_ = 0, min_size_ = 0;
    std::vector<float> releases_;  // ring of the last W released gains
    double release_sum_ = 0.0;
    float released_ = 1.0f;
    long long time_ = 0;
    int delay_position_ = 0;
};

}  // namespace tonemorph::master
