// Convolution reverb with an impulse response carried in the model file.
// Uniformly partitioned overlap-save FFT convolution (partition = hop, FFT = 2 hop):
// each call takes exactly one hop and returns that hop's wet signal, so it adds no latency.
//   wet = x * ir      (the dry path is added by the caller: out = x + mix * wet)
#pragma once

#include <complex>
#include <memory>
#include <vector>

#include "RealFft.h"

namespace tonemorph {

class Reverb final {
public:
    void prepare(const float* ir, int ir_length, int hop);  // allocates; ir_length may be 0
    void reset();

    void process_frame(const float* in, float* wet_out);  // hop samples in, hop samples out

    int hop() const { return hop_; }
    int ir_length() const { return ir_length_; }

private:
    int hop_ = 0;
    int ir_length_ = 0;
    int partitions_ = 0;
    int head_ = 0;  // index of the newest input spectrum in the ring
    std::unique_ptr<RealFft> fft_;
    std::vector<std::vector<std::complex<float>>> ir_spectra_, input_spectra_;
    std::vector<std::complex<float>> accum_;
    std::vector<float> input_buffer_, time_;
};

}  // namespace tonemorph
