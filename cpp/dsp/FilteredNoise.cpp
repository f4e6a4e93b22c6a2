#include "FilteredNoise.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace tonemorph {

namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;
constexpr std::uint32_t kDefaultSeed = 0x9E3779B9u;

inline float sanitize_non_negative(float v) { return (std::isfinite(v) && v > 0.0f) ? v : 0.0f; }
inline float sanitize_finite(float v) { return std::isfinite(v) ? v : 0.0f; }

}  // namespace

void FilteredNoise::prepare(int hop, int n_bands) {
    if (hop <= 0) throw std::invalid_argument("FilteredNoise: hop must be > 0, got " + std::to_string(hop));
    if (n_bands < 2)
        throw std::invalid_argument(
            "FilteredNoise: n_bands must be >= 2 (the IR has 2 (n_bands - 1) taps), got " +
            std::to_string(n_bands));
    hop_ = hop;
    n_bands_ = n_bands;
    ir_size_ = 2 * (n_bands - 1);
    const auto n = static_cast<std::size_t>(ir_size_);
    fft_ = std::make_unique<RealFft>(n);
    spectrum_.assign(static_cast<std::size_t>(n_bands), {0.0f, 0.0f});
    // Periodic Hann: w[n] = 0.5 - 0.5 cos(2 pi n / N).
    window_.resize(n);
    for (std::size_t i = 0; i < n; ++i)
        window_[i] = static_cast<float>(0.5 - 0.5 * std::cos(kTwoPi * static_cast<double>(i) / ir_size_));
    ir_.assign(n, 0.0f);
    noise_.assign(static_cast<std::size_t>(hop), 0.0f);
    // tail_[j] is the output already owed to sample j of the current hop; u * h reaches hop + N - 1 samples.
    tail_.assign(static_cast<std::size_t>(hop + ir_size_ - 1), 0.0f);
    reset();
}

void FilteredNoise::reset(std::uint32_t seed) {
    rng_ = seed != 0 ? seed : kDefaultSeed;  // xorshift32 is stuck at 0
    std::fill(tail_.begin(), tail_.end(), 0.0f);
}

void FilteredNoise::process_frame(const float* magnitudes, float* out) {
    // xorshift32 (Marsaglia 2003); the top 24 bits map exactly to k / 2^23 - 1 in [-1, 1).
    for (int i = 0; i < hop_; ++i) {
        rng_ ^= rng_ << 13;
        rng_ ^= rng_ >> 17;
        rng_ ^= rng_ << 5;
        noise_[i] = static_cast<float>(rng_ >> 8) * (1.0f / 8388608.0f) - 1.0f;
    }
    process_frame_with_noise(magnitudes, noise_.data(), out);
}

void FilteredNoise::process_frame_with_noise(const float* magnitudes, const float* noise, float* out) {
    const int n_taps = ir_size_;
    const int half = n_bands_ - 1;

    // h = roll(irfft(m, N), B-1) * hann_periodic(N); irfft carries the 1/N that RealFft::inverse leaves out.
    for (int k = 0; k < n_bands_; ++k) spectrum_[k] = {sanitize_non_negative(magnitudes[k]), 0.0f};
    fft_->inverse(spectrum_.data(), ir_.data());
    const float inv_n = 1.0f / static_cast<float>(n_taps);
    // roll by N/2 = B-1 is a swap of the two halves; window after the roll.
    for (int i = 0; i < half; ++i) {
        const float lo = ir_[i];
        ir_[i] = ir_[i + half] * inv_n * window_[i];
        ir_[i + half] = lo * inv_n * window_[i + half];
    }

    // tail[n + j] += u[n] h[j]   (direct form: N ~ 128 taps)
    for (int n = 0; n < hop_; ++n) {
        const float u = sanitize_finite(noise[n]);
        float* dst = tail_.data() + n;
        for (int j = 0; j < n_taps; ++j) dst[j] += u * ir_[j];
    }

    std::copy(tail_.begin(), tail_.begin() + hop_, out);
    std::copy(tail_.begin() + hop_, tail_.end(), tail_.begin());
    std::fill(tail_.end() - hop_, tail_.end(), 0.0f);
}

}  // namespace tonemorph
