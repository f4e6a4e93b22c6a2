// Phase-continuous additive synth, one hop per call (Engel et al. 2020, synths.Harmonic).
//
// Per frame j:  dist_j[i] = 0 where (i+1) f0_j >= sr/2;  a_j[i] = amp_j * dist_j[i] / max(sum_i dist_j[i], 1e-7)
// Per sample n of hop k (alpha = n / hop), linear interpolation from frame k-1 to frame k:
//   f(n)   = f0_{k-1} + alpha (f0_k - f0_{k-1}),     a_i(n) likewise
//   phi   <- wrap_2pi(phi + 2 pi f(n) / sr)
//   y(n)   = sum_i a_i(n) sin((i+1) phi),           a_i(n) := 0 where (i+1) f(n) >= sr/2
// State: phi and frame k-1. After reset phi = 0 and frame -1 has f0 = f0_0, amplitudes 0.
#pragma once

#include <vector>

namespace tonemorph {

class HarmonicSynth final {
public:
    void prepare(double sample_rate, int hop, int n_harmonics);  // allocates
    void reset();

    // One hop: f0 in Hz, amplitude >= 0, distribution[n_harmonics] >= 0 (need not sum to 1).
    // Writes hop samples to out (overwrites).
    void process_frame(float f0_hz, float amplitude, const float* distribution, float* out);

    int hop() const { return hop_; }
    int n_harmonics() const { return n_harmonics_; }

private:
    double sample_rate_ = 0.0;
    int hop_ = 0;
    int n_harmonics_ = 0;
    double phase_ = 0.0;
    bool first_ = true;
    float prev_f0_ = 0.0f;
    std::vector<float> prev_amps_, amps_;
};

}  // namespace tonemorph
