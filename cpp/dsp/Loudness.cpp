#include "Loudness.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>

#include "ArgumentError.h"
#include "SampleGuard.h"

namespace tonemorph {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kMinWeightDb = -80.0;  // librosa.A_weighting's min_db, as DDSP calls it

}  // namespace

// IEC 61672 A-weighting as librosa writes it (s = f^2, c_i = constants^2):
//   A(f) = 2 + 20 (log10 c0 + 2 log10 s - log10(s + c0) - log10(s + c1)
//                  - 0.5 log10(s + c2) - 0.5 log10(s + c3))
float Loudness::a_weighting_db(double freq_hz) {
    const double s = freq_hz * freq_hz;
    if (!(s > 0.0) || !std::isfinite(s)) return static_cast<float>(kMinWeightDb);
    const double c0 = 12194.217 * 12194.217, c1 = 20.598997 * 20.598997;
    const double c2 = 107.65265 * 107.65265, c3 = 737.86223 * 737.86223;
    const double db = 2.0 + 20.0 * (std::log10(c0) + 2.0 * std::log10(s) - std::log10(s + c0) -
                                    std::log10(s + c1) - 0.5 * std::log10(s + c2) - 0.5 * std::log10(s + c3));
    return static_cast<float>(std::max(kMinWeightDb, db));
}

void Loudness::prepare(const Spec& spec) {
    if (!(spec.sample_rate > 0.0) || !std::isfinite(spec.sample_rate))
        throw argument_error("Loudness: sample_rate must be a positive number of Hz, got ", spec.sample_rate);
    if (spec.hop < 1) throw argument_error("Loudness: hop must be at least 1 sample, got ", spec.hop);
    if (spec.n_fft < 2 || spec.n_fft % 2 != 0 || spec.n_fft > (1 << 20))
        throw argument_error("Loudness: n_fft must be even, from 2 to ", 1 << 20, " (DDSP uses 512), got ",
                             spec.n_fft);
    // KissFFT runs n_fft / 2 as a complex FFT; a prime factor above 5 takes its generic butterfly,
    // which mallocs on every call: not on the audio thread.
    int rest = spec.n_fft / 2;
    for (int radix : {2, 3, 5})
        while (rest % radix == 0) rest /= radix;
    if (rest != 1)
        throw argument_error(
            "Loudness: n_fft / 2 must have no prime factor above 5 (512, 480, 1024 are fine), got ",
            spec.n_fft);
    if (!(spec.range_db > 0.0) || !std::isfinite(spec.range_db))
        throw argument_error("Loudness: range_db must be a positive number of dB (DDSP uses 80), got ",
                             spec.range_db);
    if (!std::isfinite(spec.ref_db))
        throw argument_error("Loudness: ref_db must be a finite number of dB, got ", spec.ref_db);

    spec_ = spec;
    const int n = spec.n_fft;
    fft_ = std::make_unique<RealFft>(static_cast<std::size_t>(n));
    const std::size_t bins = fft_->bins();

    // Periodic Hann (tf.signal.hann_window, scipy's fftbins=True): w[i] = 0.5 - 0.5 cos(2 pi i / N).
    window_.resize(n);
    for (int i = 0; i < n; ++i) window_[i] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * kPi * i / n));

    // 10^(A(f_b)/10) with the mean over bins folded in; f_b = b sr / N.
    weights_.resize(bins);
    for (std::size_t b = 0; b < bins; ++b) {
        const double db = a_weighting_db(static_cast<double>(b) * spec.sample_rate / n);
        weights_[b] = static_cast<float>(std::pow(10.0, db / 10.0) / static_cast<double>(bins));
    }

    frame_.assign(n, 0.0f);
    spectrum_.assign(bins, {});
    history_.assign(2 * static_cast<std::size_t>(n), 0.0f);
    reset();
}

void Loudness::reset() {
    std::fill(history_.begin(), history_.end(), 0.0f);
    write_ = 0;
    phase_ = 0;
}

// L = max(10 log10(max(sum_b w_b |X_b|^2, 10^(-range/10))) - ref_db, -range_db), w_b = 10^(A_b/10) / bins
float Loudness::analyse(const float* history_end) {
    const int n = spec_.n_fft;
    const float* x = history_end - n;
    for (int i = 0; i < n; ++i) frame_[i] = guard_sample(x[i]) * window_[i];
    fft_->forward(frame_.data(), spectrum_.data());
    double power = 0.0;
    for (std::size_t b = 0; b < spectrum_.size(); ++b)
        power += static_cast<double>(weights_[b]) * std::norm(std::complex<double>(spectrum_[b]));
    const double floor_power = std::pow(10.0, -spec_.range_db / 10.0);
    const double db = 10.0 * std::log10(std::max(power, floor_power)) - spec_.ref_db;
    return static_cast<float>(std::max(db, -spec_.range_db));
}

int Loudness::process(const float* in, int n, float* out) {
    const int size = spec_.n_fft;
    int count = 0;
    for (int i = 0; i < n; ++i) {
        history_[write_] = in[i];
        history_[write_ + size] = in[i];
        if (++write_ == size) write_ = 0;
        if (++phase_ == spec_.hop) {
            phase_ = 0;
            out[count++] = analyse(history_.data() + write_ + size);
        }
    }
    return count;
}

}  // namespace tonemorph
