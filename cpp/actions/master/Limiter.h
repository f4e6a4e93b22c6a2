// A look-ahead true-peak limiter, in two parts so one detector can drive several gain computers (the mastering
// pass that tries several gains at once). Per sample m, over all channels:
//   peak[m] = max(segment peak at m, at m-1)                  (TruePeak.h: the sample and the 4x points around it)
//   g[m] = min(1, ceiling / peak[m])
//   h[m] = min(g[m-W+1 .. m])                                  (W: the look-ahead, 5 ms)
//   f[m] = min(h[m], a f[m-1] + (1 - a) h[m])                  (fast release, a = exp(-1 / (0.05 s * rate)))
//   l[m] = l[m-1] + (h[m] < l[m-1] ? b : c) (h[m] - l[m-1])     (slow: in over 0.4 s, out over 2 s)
//   r[m] = min(f[m], l[m]);  s[m] = mean(r[m-W+1 .. m])  applied to the input delayed by W - 1
// Every r in s's window covers the sample it is applied to, so s <= g there: the gain is down before a peak
// arrives and the ramp into it is W long (no clicks). Two releases so it does not pump: an isolated peak
// (a drum hit) is let go of within a tenth of a second, and where the music stays loud the slow follower
// holds the gain steady at what it needs on average instead of riding every beat.
#pragma once

#include <vector>

#include "TruePeak.h"

namespace tonemorph::master {

// peak[m] for each sample, kAfter samples after it arrives.
class PeakDetector final {
public:
    void prepare(int channels, int max_block);  // allocates
    void reset();
    void process(const float* const* channels, int n, float* peaks);  // n <= max_block
    static constexpr int latency() { return Oversampler4x::kAfter; }

private:
    Oversampler4x oversampler_;
    std::vector<std::vector<float>> lines_;  // per channel: kTaps of history, then the block
    std::vector<float> segments_;
    float previous_ = 0.0f;
};

// The largest of the last W values: a queue of decreasing values in a ring of W + 1 (O(1) a value, amortised).
class SlidingMax final {
public:
    void prepare(int window);  // allocates
    void reset();
    float next(float x);

private:
    int window_ = 1, head_ = 0, size_ = 0;
    long long time_ = 0;
    std::vector<float> values_;
    std::vector<long long> times_;
};

// From each sample's peak to the gain applied to the sample W - 1 earlier (s), for `Lanes` gain computers at
// once that see the same peaks under different ceilings (the limiter: one; the probe: a ceiling per gain
// tried, ceiling / gain). h = min(g[m-W+1 .. m]) = min(1, ceiling / max(peak[m-W+1 .. m])), so one sliding
// maximum serves every lane, and the lanes' releases run side by side.
template <int Lanes>
class GainSmoother final {
public:
    // Allocates; coefficients as in the header comment, ceilings[Lanes] linear.
    void prepare(int window, float release, float slow_attack, float slow_release, const float* ceilings);
    void reset();
    void next(float peak, float* gains);  // gains[Lanes]
    int latency() const { return window_ - 1; }

private:
    int window_ = 1, position_ = 0;
    float release_ = 0.0f, slow_attack_ = 0.0f, slow_release_ = 0.0f;
    SlidingMax peaks_;
    float ceilings_[Lanes] = {}, released_[Lanes] = {}, slow_[Lanes] = {};
    double sums_[Lanes] = {};
    std::vector<float> ring_;  // the last W values of r, Lanes per sample
};

class TruePeakLimiter final {
public:
    struct Spec {
        double sample_rate = 48000.0;
        int channels = 2;
        int max_block = 8192;
        double ceiling = 0.891;  // linear true peak
        double lookahead_s = 0.005;
        double release_s = 0.05, slow_attack_s = 0.4, slow_release_s = 2.0;
    };
    void prepare(const Spec& spec);  // allocates
    void reset();
    // In place, planar channels[c][0 .. n): the output is the input `latency()` samples earlier, limited.
    // Returns the smallest gain applied in this call.
    float process(float* const* channels, int n);
    int latency() const { return PeakDetector::latency() + smoother_.latency(); }
    // Prepared as the limiter's own, with lane k's ceiling at spec.ceiling / gains[k] (gains[Lanes], linear).
    template <int Lanes>
    static GainSmoother<Lanes> smoother(const Spec& spec, const float* gains);

private:
    Spec spec_;
    PeakDetector detector_;
    GainSmoother<1> smoother_;
    std::vector<std::vector<float>> delays_;  // per channel: ring of latency() samples
    std::vector<float> peaks_;
    int delay_position_ = 0;
};

}  // namespace tonemorph::master
