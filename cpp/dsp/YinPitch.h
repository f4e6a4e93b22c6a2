// Causal YIN pitch tracker (de Cheveigné & Kawahara 2002), one estimate per hop.
//
// Frame k ends at input sample (k+1)*hop and looks only at the samples before it:
//   d(tau)  = sum_{j=0}^{W-1} (x[e-W+j] - x[e-W+j-tau])^2      e = (k+1)*hop
//   d'(tau) = d(tau) * tau / sum_{t=1}^{tau} d(t)                (cumulative mean normalised)
// The first tau in [sr/fmax, sr/fmin] with d' below the absolute threshold (then its local
// minimum), else the global minimum. An octave guard replaces a mediocre first dip by the one near
// k*tau (k = 2, 3) when that is clearly deeper. Voiced periods are refined by parabolic interpolation,
// then Newton steps on the band-limited d (YinPitch.cpp).
// confidence = 1 - d'(tau*) clamped to [0, 1]; f0 = sr / tau*.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace tonemorph {

struct PitchEstimate {
    float f0_hz = 0.0f;       // best period's frequency; held from the last voiced frame when unvoiced
    float confidence = 0.0f;  // 0..1
};

class YinPitch final {
public:
    struct Spec {
        double sample_rate = 24000.0;
        int hop = 96;
        double fmin_hz = 50.0;
        double fmax_hz = 2000.0;
        double window_ms = 20.0;  // W, the integration window
        double threshold = 0.15;  // YIN absolute threshold
    };

    YinPitch();
    ~YinPitch();
    void prepare(const Spec& spec);  // allocates
    void reset();

    // Push n samples; each completed frame writes one estimate to out[] (capacity
    // must be >= n / hop + 1). Returns the number of estimates written.
    int process(const float* in, int n, PitchEstimate* out);

    // Analyse a whole buffer that ends at a frame boundary: the window is the last
    // samples of `history` (length >= history_size()). Used by the engine, which
    // keeps its own input history.
    PitchEstimate analyse(const float* history_end);

    int history_size() const;     // W + tau_max, tau_max = ceil(sr / fmin) + 1
    int latency_samples() const;  // centre of the analysis window behind the frame end
    const Spec& spec() const { return spec_; }

private:
    struct Impl;
    Spec spec_;
    std::unique_ptr<Impl> impl_;
};

// The engine treats a frame as voiced when confidence >= kVoicedConfidence. It is 1 - the default YIN
// threshold, the same line the tracker draws when it holds f0 (a dip below the threshold means
// confidence above it), so gate and f0 agree. With another threshold the line is 1 - threshold.
inline constexpr float kVoicedConfidence = 1.0f - static_cast<float>(YinPitch::Spec{}.threshold);

}  // namespace tonemorph
