// Streaming rational resampler: polyphase windowed-sinc FIR (Kaiser window), exact
// rational positions, so the output depends only on the input samples, never on how
// they were split into blocks.
//   out[m] = sum_j x[floor(m M / L) - j] h_p[j],   p = (m M) mod L,   ratio = L / M = out / in
// The delay from input to output is fixed: latency_in() input samples.
#pragma once

#include <cstdint>
#include <vector>

namespace tonemorph {

class Resampler final {
public:
    // Throws std::invalid_argument for rates <= 0, taps_per_phase outside 2..kMaxTapsPerPhase, or a
    // ratio whose reduced numerator needs more than kMaxPhases filter phases. More taps per phase narrow
    // the transition band below the lower Nyquist (its width is ~ 5 fs_min / taps_per_phase) and add
    // latency.
    void prepare(double in_rate, double out_rate, int max_input_block,
                 int taps_per_phase = kTapsPerPhase);  // allocates
    void reset();

    // Push n input samples; writes the output samples they complete and returns their count
    // (at most max_output(n)).
    int process(const float* in, int n, float* out);

    int max_output(int n) const;       // upper bound on outputs for n inputs
    double latency_in() const;         // group delay, in input samples
    int up() const { return up_; }      // L
    int down() const { return down_; }  // M
    bool passthrough() const { return up_ == down_; }

    static constexpr int kMaxPhases = 4096;
    static constexpr int kTapsPerPhase = 32;
    static constexpr int kMaxTapsPerPhase = 1024;

private:
    int up_ = 1, down_ = 1;
    int taps_ = kTapsPerPhase;
    std::vector<float> coeffs_;   // [up_][taps_], phase-major, reversed for a forward dot product
    std::vector<float> history_;  // ring of the last taps_ inputs, doubled for contiguous reads
    int write_ = 0;
    std::int64_t consumed_ = 0;   // inputs pushed since reset
    std::int64_t produced_ = 0;   // outputs emitted since reset
};

}  // namespace tonemorph
