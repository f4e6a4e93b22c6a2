// Filtered noise, one hop per call (Engel et al. 2020, synths.FilteredNoise), made causal.
//
// Frame k's band magnitudes m[0..B-1] (linear, >= 0) become a linear-phase FIR of N = 2(B-1) taps:
//   h = roll(irfft(m, N), B-1) * hann_periodic(N)     (zero-phase response centred, then windowed)
// Hop k's noise u[0..hop-1] is convolved with h and overlap-added: the hop's output is the
// first hop samples of (u * h) plus the tails of earlier hops.
// The noise source is a xorshift32 uniform in [-1, 1), seeded at reset(); process_frame_with_noise
// takes the noise explicitly (parity tests against the torch synth).
#pragma once

#include <complex>
#include <cstdint>
#include <memory>
#include <vector>

#include "RealFft.h"

namespace tonemorph {

class FilteredNoise final {
public:
    void prepare(int hop, int n_bands);  // allocates
    void reset(std::uint32_t seed = 0x9E3779B9u);

    void process_frame(const float* magnitudes, float* out);
    void process_frame_with_noise(const float* magnitudes, const float* noise, float* out);

    int ir_size() const { return ir_size_; }
    int n_bands() const { return n_bands_; }

private:
    int hop_ = 0;
    int n_bands_ = 0;
    int ir_size_ = 0;
    std::uint32_t rng_ = 1;
    std::unique_ptr<RealFft> fft_;
    std::vector<std::complex<float>> spectrum_;
    std::vector<float> window_, ir_, noise_, tail_;
};

}  // namespace tonemorph
