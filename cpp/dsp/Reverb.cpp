#include "Reverb.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace tonemorph {

void Reverb::prepare(const float* ir, int ir_length, int hop) {
    if (hop <= 0) throw std::invalid_argument("Reverb: hop must be > 0, got " + std::to_string(hop));
    if (ir_length < 0)
        throw std::invalid_argument("Reverb: ir_length must be >= 0, got " + std::to_string(ir_length));
    if (ir_length > 0 && ir == nullptr) throw std::invalid_argument("Reverb: ir is null but ir_length > 0");
    hop_ = hop;
    ir_length_ = ir_length;
    partitions_ = (ir_length + hop - 1) / hop;
    head_ = 0;

    const auto fft_size = static_cast<std::size_t>(2 * hop);
    const std::size_t bins = fft_size / 2 + 1;
    fft_ = std::make_unique<RealFft>(fft_size);
    input_buffer_.assign(fft_size, 0.0f);
    time_.assign(fft_size, 0.0f);
    accum_.assign(bins, {0.0f, 0.0f});
    input_spectra_.assign(static_cast<std::size_t>(partitions_), std::vector<std::complex<float>>(bins));

    // H_p = FFT_2P([ir[pP .. pP+P-1], 0 ... 0]) / 2P: the inverse FFT's 1/N folded in once here.
    ir_spectra_.assign(static_cast<std::size_t>(partitions_), std::vector<std::complex<float>>(bins));
    const float inv_n = 1.0f / static_cast<float>(fft_size);
    for (int p = 0; p < partitions_; ++p) {
        std::fill(time_.begin(), time_.end(), 0.0f);
        const int start = p * hop;
        const int count = std::min(hop, ir_length - start);
        for (int i = 0; i < count; ++i) {
            const float v = ir[start + i];
            time_[i] = std::isfinite(v) ? v * inv_n : 0.0f;
        }
        fft_->forward(time_.data(), ir_spectra_[p].data());
    }
    reset();
}

void Reverb::reset() {
    head_ = 0;
    std::fill(input_buffer_.begin(), input_buffer_.end(), 0.0f);
    for (auto& spectrum : input_spectra_) std::fill(spectrum.begin(), spectrum.end(), std::complex<float>{});
}

void Reverb::process_frame(const float* in, float* wet_out) {
    if (partitions_ == 0) {
        std::fill(wet_out, wet_out + hop_, 0.0f);
        return;
    }

    // Overlap-save: the window [previous hop, this hop] circularly convolved with a P-tap partition
    // is linear in its last P samples. X_k = FFT([x_{k-1}, x_k]).
    std::copy(input_buffer_.begin() + hop_, input_buffer_.end(), input_buffer_.begin());
    for (int i = 0; i < hop_; ++i) input_buffer_[hop_ + i] = std::isfinite(in[i]) ? in[i] : 0.0f;
    head_ = (head_ + 1) % partitions_;
    fft_->forward(input_buffer_.data(), input_spectra_[head_].data());

    // Y_k = sum_p X_{k-p} H_p  (frequency-domain delay line, newest spectrum at head_).
    std::fill(accum_.begin(), accum_.end(), std::complex<float>{});
    const std::size_t bins = accum_.size();
    for (int p = 0; p < partitions_; ++p) {
        int slot = head_ - p;
        if (slot < 0) slot += partitions_;
        const std::complex<float>* x = input_spectra_[slot].data();
        const std::complex<float>* h = ir_spectra_[p].data();
        // Written out: std::complex operator* carries C99 inf/NaN recovery (__mulsc3); this is 2x faster.
        for (std::size_t b = 0; b < bins; ++b) {
            const float re = x[b].real() * h[b].real() - x[b].imag() * h[b].imag();
            const float im = x[b].real() * h[b].imag() + x[b].imag() * h[b].real();
            accum_[b] += std::complex<float>(re, im);
        }
    }

    fft_->inverse(accum_.data(), time_.data());
    std::copy(time_.begin() + hop_, time_.end(), wet_out);
}

}  // namespace tonemorph
