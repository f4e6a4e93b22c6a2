// Loudness per ITU-R BS.1770-4 and loudness range per EBU Tech 3342, streamed: memory does not grow with
// the length of the audio (gating blocks are counted in 0.01 LU histograms, not stored).
//   K-weighting: the standard's two biquads (high shelf, then high pass), re-derived for any rate from their
//                analogue prototypes (the values libebur128 uses; at 48 kHz they are the standard's).
//   z_j = sum_c mean_square(K(x_c) over 400 ms block j), blocks every 100 ms
//   L   = -0.691 + 10 log10(mean z_j over blocks above -70 LUFS and above (their mean - 10 LU))
//   LRA = P95 - P10 of 3 s short-term loudness above -70 LUFS and above (their mean - 20 LU)
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

namespace tonemorph::master {

class LoudnessMeter final {
public:
    void prepare(double sample_rate, int channels);  // allocates
    void reset();

    // Interleaved frames [frames * channels].
    void process(const float* interleaved, int frames);
    // process() in two steps, for measuring one signal under several gains: the K-weighted power of each frame
    // summed over channels (the filters' state advances), then the powers (scaled as the caller likes) metered.
    void weigh(const float* interleaved, int frames, double* power);
    void add_power(const double* power, int frames);

    double integrated_lufs() const;  // -inf when no block passes the gates (silence, or under 400 ms)
    double loudness_range_lu() const;  // 0 when fewer than two short-term blocks pass
    bool has_block() const { return blocks_.total > 0; }

    static double to_lufs(double mean_square) { return -0.691 + 10.0 * std::log10(mean_square); }
    // |K(f)|^2, the K-weighting's power gain at `hz` (after prepare).
    double weighting_power(double hz) const;

private:
    struct Biquad {
        double b0 = 1, b1 = 0, b2 = 0, a1 = 0, a2 = 0;
    };
    struct Histogram {
        static constexpr double kLowest = -70.0, kStep = 0.01;
        static constexpr int kBins = 8000;  // -70 .. +10 LUFS; louder blocks count in the top bin
        std::vector<std::uint64_t> count;
        std::vector<double> sum;  // of the blocks' mean squares, so gated means are exact
        std::uint64_t total = 0;
        void clear();
        void add(double mean_square);
        double gated_mean(double gate_lufs) const;  // mean square of the blocks at or above gate_lufs
        double percentile(double gate_lufs, double fraction) const;
    };
    static constexpr int kSubBlocksPerBlock = 4, kSubBlocksPerShortTerm = 30, kChunk = 1024;

    double sample_rate_ = 48000.0;
    int channels_ = 1;
    std::array<Biquad, 2> stages_{};
    std::vector<double> state_;  // per channel and stage: two delay values (transposed direct form II)
    std::vector<double> power_;  // process()'s scratch: kChunk frames' weighted power
    int sub_block_length_ = 4800;  // 100 ms
    int sub_block_fill_ = 0;
    double sub_block_sum_ = 0.0;
    std::array<double, kSubBlocksPerShortTerm> recent_{};  // the last 30 sub-blocks' sums of squares
    std::int64_t sub_blocks_ = 0;
    Histogram blocks_, short_terms_;
};

}  // namespace tonemorph::master
