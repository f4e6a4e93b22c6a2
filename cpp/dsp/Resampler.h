// Streaming rational resampler: polyphase windowed-sinc FIR (Kaiser window), exact
// rational positions, so the output depends only on the input samples, never on how
// they were split into blocks.
//   out[m] = sum_j x[floor(m M / L) - j] h_p[j],   p = (m M) mod L,   ratio = L / M = out / in
// The delay from input to output is fixed: latency_in() input samples.
#pragma once

#include <cstdint>
#include <vector>

namespace tonemorph {

// A resampling filter's band, as fractions of the lower rate's Nyquist: flat (within 0.01 dB) up to
// `pass`, at least 80 dB down from `stop` on. The transition between them sets the filter's length and so
// its latency: twice as wide, half the delay. stop <= 1 removes everything that would alias or image;
// stop > 1 lets the band just above Nyquist through partly attenuated, for a shorter filter.
struct ResamplerBand {
    double pass = 0.68;
    double stop = 1.0;
};

class Resampler final {
public:
    using Band = ResamplerBand;

    // Throws std::invalid_argument for rates <= 0, a band outside 0 < pass < stop <= 2, or a ratio whose
    // reduced numerator needs more than kMaxPhases filter phases.
    void prepare(double in_rate, double out_rate, int max_input_block, Band band = Band{});  // allocates
    void reset();

    // Push n input samples; writes the output samples they complete and returns their count
    // (at most max_output(n)).
    int process(const float* in, int n, float* out);

    int max_output(int n) const;       // upper bound on outputs for n inputs
    double latency_in() const;         // group delay, in input samples
    int up() const { return up_; }      // L
    int down() const { return down_; }  // M
    bool passthrough() const { return up_ == down_; }

    int taps_per_phase() const { return taps_; }

    static constexpr int kMaxPhases = 4096;
    static constexpr int kMaxTapsPerPhase = 8192;
    static constexpr double kStopbandDb = 80.0;

private:
    int up_ = 1, down_ = 1;
    int taps_ = 1;
    std::vector<float> coeffs_;   // [up_][taps_], phase-major, reversed for a forward dot product
    std::vector<float> history_;  // ring of the last taps_ inputs, doubled for contiguous reads
    int write_ = 0;
    std::int64_t consumed_ = 0;   // inputs pushed since reset
    std::int64_t produced_ = 0;   // outputs emitted since reset
};

}  // namespace tonemorph
