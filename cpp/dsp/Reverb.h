// Convolution reverb with an impulse response carried in the model file, with no latency:
//   wet = x * ir      (the dry path is added by the caller: out = x + mix * wet)
//
// Two uniformly partitioned overlap-save convolutions (Gardner 1995, non-uniform partitioning):
//  - the head: partitions of one hop H (FFT 2H), the first 2N samples of the IR, every frame;
//  - the tail: partitions of N = 8H (FFT 2N), the IR from 2N on. Output block m (N samples) needs input
//    blocks up to m - 2 only, so its spectral products are spread evenly over the 8 frames of block m - 1
//    (one forward FFT on the first, the inverse on the last): every frame costs about the same.
// For a 1 s IR at 24 kHz, hop 96, a frame does 16 x 97 + 30 x 769 / 8 complex multiply-adds instead of
// 250 x 97 with hop partitions alone, and reads an eighth of the tail's spectra.
#pragma once

#include <complex>
#include <memory>
#include <vector>

#include "RealFft.h"

namespace tonemorph {

class Reverb final {
public:
    static constexpr int kTailBlockHops = 8;  // N / H

    void prepare(const float* ir, int ir_length, int hop);  // allocates; ir_length may be 0
    void reset();

    void process_frame(const float* in, float* wet_out);  // hop samples in, hop samples out

    int hop() const { return hop_; }
    int ir_length() const { return ir_length_; }

private:
    // One uniformly partitioned overlap-save convolution: block B, FFT 2B, partitions of the IR from `offset`.
    struct Stage {
        int block = 0, partitions = 0, newest = 0;
        std::unique_ptr<RealFft> fft;
        std::vector<std::vector<std::complex<float>>> ir_spectra, input_spectra;  // input: a ring, newest first
        std::vector<std::complex<float>> accum;
        std::vector<float> window, time;  // the last 2B inputs; the inverse FFT's output

        void prepare(const float* ir, int ir_length, int offset, int block_size, int count);
        void reset();
        void push(const float* block_in);                   // the newest B inputs: slide, FFT into the ring
        void accumulate(int first, int last, int lag);      // accum += sum_{p in [first, last)} X_{newest-lag-p} H_p
        void finish(float* out);                            // inverse FFT of accum into B outputs; clears accum
    };

    int hop_ = 0;
    int ir_length_ = 0;
    int frame_ = 0;  // frame within the current tail block, 0 .. kTailBlockHops - 1
    Stage head_, tail_;
    std::vector<float> tail_in_;   // the current tail block's input, filled a hop at a time
    std::vector<float> tail_out_;  // the current tail block's output, read a hop at a time
};

}  // namespace tonemorph
