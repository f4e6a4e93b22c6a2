#include "Reverb.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace tonemorph {

void Reverb::Stage::prepare(const float* ir, int ir_length, int offset, int block_size, int count) {
    block = block_size;
    partitions = count;
    newest = 0;
    const auto fft_size = static_cast<std::size_t>(2 * block);
    const std::size_t bins = fft_size / 2 + 1;
    fft = std::make_unique<RealFft>(fft_size);
    window.assign(fft_size, 0.0f);
    time.assign(fft_size, 0.0f);
    accum.assign(bins, {0.0f, 0.0f});
    input_spectra.assign(static_cast<std::size_t>(std::max(1, partitions)), std::vector<std::complex<float>>(bins));
    // H_p = FFT_2B([ir[offset + pB .. offset + pB + B - 1], 0 ... 0]) / 2B: the inverse FFT's 1/N folded in here.
    ir_spectra.assign(static_cast<std::size_t>(partitions), std::vector<std::complex<float>>(bins));
    const float inv_n = 1.0f / static_cast<float>(fft_size);
    for (int p = 0; p < partitions; ++p) {
        std::fill(time.begin(), time.end(), 0.0f);
        const int start = offset + p * block;
        const int n = std::min(block, ir_length - start);
        for (int i = 0; i < n; ++i) {
            const float v = ir[start + i];
            time[static_cast<std::size_t>(i)] = std::isfinite(v) ? v * inv_n : 0.0f;
        }
        fft->forward(time.data(), ir_spectra[static_cast<std::size_t>(p)].data());
    }
    reset();
}

void Reverb::Stage::reset() {
    newest = 0;
    std::fill(window.begin(), window.end(), 0.0f);
    std::fill(accum.begin(), accum.end(), std::complex<float>{});
    for (auto& spectrum : input_spectra) std::fill(spectrum.begin(), spectrum.end(), std::complex<float>{});
}

void Reverb::Stage::push(const float* block_in) {
    // Overlap-save: the window [previous block, this block] circularly convolved with a B-tap partition is
    // linear in its last B samples.
    std::copy(window.begin() + block, window.end(), window.begin());
    for (int i = 0; i < block; ++i) window[static_cast<std::size_t>(block + i)] = std::isfinite(block_in[i]) ? block_in[i] : 0.0f;
    newest = (newest + 1) % static_cast<int>(input_spectra.size());
    fft->forward(window.data(), input_spectra[static_cast<std::size_t>(newest)].data());
}

void Reverb::Stage::accumulate(int first, int last, int lag) {
    // Y += sum_p X_{newest - lag - p} H_p  (a frequency-domain delay line)
    const int ring = static_cast<int>(input_spectra.size());
    const std::size_t bins = accum.size();
    for (int p = first; p < last; ++p) {
        int slot = (newest - lag - p) % ring;
        if (slot < 0) slot += ring;
        const std::complex<float>* x = input_spectra[static_cast<std::size_t>(slot)].data();
        const std::complex<float>* h = ir_spectra[static_cast<std::size_t>(p)].data();
        // Written out: std::complex operator* carries C99 inf/NaN recovery (__mulsc3); this is 2x faster.
        for (std::size_t b = 0; b < bins; ++b) {
            const float re = x[b].real() * h[b].real() - x[b].imag() * h[b].imag();
            const float im = x[b].real() * h[b].imag() + x[b].imag() * h[b].real();
            accum[b] += std::complex<float>(re, im);
        }
    }
}

void Reverb::Stage::finish(float* out) {
    fft->inverse(accum.data(), time.data());
    std::copy(time.begin() + block, time.end(), out);
    std::fill(accum.begin(), accum.end(), std::complex<float>{});
}

void Reverb::prepare(const float* ir, int ir_length, int hop) {
    if (hop <= 0) throw std::invalid_argument("Reverb: hop must be > 0, got " + std::to_string(hop));
    if (ir_length < 0) throw std::invalid_argument("Reverb: ir_length must be >= 0, got " + std::to_string(ir_length));
    if (ir_length > 0 && ir == nullptr) throw std::invalid_argument("Reverb: ir is null but ir_length > 0");
    hop_ = hop;
    ir_length_ = ir_length;
    const int tail_block = kTailBlockHops * hop;
    const int head_length = std::min(ir_length, 2 * tail_block);
    head_.prepare(ir, ir_length, 0, hop, (head_length + hop - 1) / hop);
    const int tail_length = std::max(0, ir_length - 2 * tail_block);
    tail_.prepare(ir, ir_length, 2 * tail_block, tail_block, (tail_length + tail_block - 1) / tail_block);
    tail_in_.assign(static_cast<std::size_t>(tail_block), 0.0f);
    tail_out_.assign(static_cast<std::size_t>(tail_block), 0.0f);
    reset();
}

void Reverb::reset() {
    frame_ = 0;
    head_.reset();
    tail_.reset();
    std::fill(tail_in_.begin(), tail_in_.end(), 0.0f);
    std::fill(tail_out_.begin(), tail_out_.end(), 0.0f);
}

void Reverb::process_frame(const float* in, float* wet_out) {
    if (head_.partitions == 0) {
        std::fill(wet_out, wet_out + hop_, 0.0f);
        return;
    }
    const bool tail = tail_.partitions > 0;
    // Tail block b fills over frames 0..7. Its first frame takes in block b - 1, whose spectrum is the newest
    // one output block b + 1 needs: Y_{b+1} = sum_p X_{b-1-p} H_p, a share of p per frame, the inverse FFT on
    // the last frame, read a hop at a time during block b + 1.
    if (tail && frame_ == 0) tail_.push(tail_in_.data());
    const std::size_t at = static_cast<std::size_t>(frame_) * static_cast<std::size_t>(hop_);
    if (tail) std::copy(in, in + hop_, tail_in_.begin() + static_cast<std::ptrdiff_t>(at));

    head_.push(in);
    head_.accumulate(0, head_.partitions, 0);
    head_.finish(wet_out);
    if (tail) {
        for (int i = 0; i < hop_; ++i) wet_out[i] += tail_out_[at + static_cast<std::size_t>(i)];
        tail_.accumulate(frame_ * tail_.partitions / kTailBlockHops, (frame_ + 1) * tail_.partitions / kTailBlockHops, 0);
        if (frame_ == kTailBlockHops - 1) tail_.finish(tail_out_.data());
    }
    frame_ = (frame_ + 1) % kTailBlockHops;
}

}  // namespace tonemorph
