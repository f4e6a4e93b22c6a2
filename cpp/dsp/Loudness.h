// A-weighted loudness per frame, DDSP's definition (Engel et al. 2020, spectral_ops.compute_loudness)
// made causal: frame k analyses the n_fft samples that end at (k+1)*hop.
//   P[b]  = |rfft(x * hann_periodic)[b]|^2 * 10^(A(f_b)/10)     A: librosa.A_weighting, min -80 dB
//   L     = max(10 log10(max(mean_b P[b], 10^(-range/10))) - ref_db, -range_db)
#pragma once

#include <complex>
#include <memory>
#include <vector>

#include "RealFft.h"

namespace tonemorph {

class Loudness final {
public:
    struct Spec {
        double sample_rate = 24000.0;
        int hop = 96;
        int n_fft = 512;
        double range_db = 80.0;
        double ref_db = 0.0;
    };

    void prepare(const Spec& spec);  // allocates
    void reset();

    // Loudness in dB of the n_fft samples ending at history_end (history_end[-n_fft .. -1]).
    float analyse(const float* history_end);

    // Streaming: push n samples; each completed frame writes one value to out[]. Returns count.
    int process(const float* in, int n, float* out);

    static float a_weighting_db(double freq_hz);  // librosa.A_weighting, min_db = -80
    const Spec& spec() const { return spec_; }

private:
    Spec spec_;
    std::unique_ptr<RealFft> fft_;
    std::vector<float> window_, weights_, frame_;
    std::vector<std::complex<float>> spectrum_;
    std::vector<float> history_;  // 2 * n_fft: every sample is written twice, so the last n_fft
    int write_ = 0;               // samples always sit contiguously at history_[write_ .. write_ + n_fft)
    int phase_ = 0;               // samples into the current hop
};

}  // namespace tonemorph
