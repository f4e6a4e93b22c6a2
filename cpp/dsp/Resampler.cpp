#include "Resampler.h"

#include "Kaiser.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace tonemorph {

namespace {

std::int64_t integer_rate(double rate, const char* which) {
    if (!(rate > 0.0) || !std::isfinite(rate))
        throw std::invalid_argument(std::string("Resampler: ") + which + " rate must be > 0, got " +
                                    std::to_string(rate));
    return std::llround(rate);
}

}  // namespace

void Resampler::prepare(double in_rate, double out_rate, int max_input_block, Band band) {
    (void)max_input_block;
    if (!(band.pass > 0.0 && band.pass < band.stop && band.stop <= 2.0))
        throw std::invalid_argument("Resampler: the band must have 0 < pass < stop <= 2 (fractions of Nyquist), got " +
                                    std::to_string(band.pass) + " .. " + std::to_string(band.stop));
    const std::int64_t in = integer_rate(in_rate, "input"), out = integer_rate(out_rate, "output");
    const std::int64_t g = std::gcd(in, out);
    if (out / g > kMaxPhases || in / g > kMaxPhases)
        throw std::invalid_argument("Resampler: cannot convert " + std::to_string(in) + " Hz to " +
                                    std::to_string(out) + " Hz (the ratio " + std::to_string(out / g) + "/" +
                                    std::to_string(in / g) + " needs too many filter phases)");
    up_ = static_cast<int>(out / g);
    down_ = static_cast<int>(in / g);

    if (passthrough()) {
        taps_ = 1;
        coeffs_.assign(1, 1.0f);
    } else {
        // Kaiser-windowed sinc at the upsampled rate in*L (Kaiser 1974):
        //   length N = (A - 7.95) / (2.285 * 2 pi (f_stop - f_pass) / fs_up) + 1,  beta = 0.1102 (A - 8.7)
        //   cutoff (-6 dB) halfway between f_pass and f_stop.
        const double fs_up = static_cast<double>(in) * up_;
        const double nyquist = 0.5 * static_cast<double>(std::min(in, out));
        const double pass = band.pass * nyquist, stop = band.stop * nyquist;
        const double a = kStopbandDb;
        const double n_min = (a - 7.95) / (2.285 * 2.0 * M_PI * (stop - pass) / fs_up) + 1.0;
        taps_ = std::max(2, static_cast<int>(std::ceil(n_min / up_)));
        if (taps_ > kMaxTapsPerPhase)
            throw std::invalid_argument("Resampler: the band is too narrow for " + std::to_string(in) + " -> " +
                                        std::to_string(out) + " Hz (it would need " + std::to_string(taps_) +
                                        " taps per phase)");
        const int length = taps_ * up_;
        const double cutoff = 0.5 * (pass + stop) / fs_up;  // cycles/sample
        const double beta = 0.1102 * (a - 8.7);
        const double centre = 0.5 * (length - 1);
        std::vector<double> h(static_cast<std::size_t>(length));
        for (int i = 0; i < length; ++i) {
            const double t = i - centre;
            const double sinc = t == 0.0 ? 2.0 * cutoff : std::sin(2.0 * M_PI * cutoff * t) / (M_PI * t);
            const double r = t / (centre + 0.5);
            h[static_cast<std::size_t>(i)] = sinc * kaiser(r, beta);
        }
        // Phase p uses h[p + j L], j = 0..taps-1, against x[n0 - j]; store reversed so that the
        // dot product runs over the history oldest-first. The factor L restores the gain of zero-stuffing.
        coeffs_.assign(static_cast<std::size_t>(up_) * taps_, 0.0f);
        for (int p = 0; p < up_; ++p)
            for (int j = 0; j < taps_; ++j)
                coeffs_[static_cast<std::size_t>(p) * taps_ + (taps_ - 1 - j)] =
                    static_cast<float>(up_ * h[static_cast<std::size_t>(p + j * up_)]);
    }
    history_.assign(2 * static_cast<std::size_t>(taps_), 0.0f);
    reset();
}

void Resampler::reset() {
    std::fill(history_.begin(), history_.end(), 0.0f);
    write_ = 0;
    consumed_ = 0;
    produced_ = 0;
}

int Resampler::max_output(int n) const {
    return static_cast<int>((static_cast<std::int64_t>(n) * up_ + down_ - 1) / down_) + 1;
}

double Resampler::latency_in() const {
    return passthrough() ? 0.0 : 0.5 * (static_cast<double>(taps_) * up_ - 1.0) / up_;
}

int Resampler::process(const float* in, int n, float* out) {
    int written = 0;
    for (int i = 0; i < n; ++i) {
        // Doubled ring: the newest taps_ samples are contiguous at [write_ + 1, write_ + taps_].
        write_ = write_ + 1 == taps_ ? 0 : write_ + 1;
        history_[write_] = in[i];
        history_[write_ + taps_] = in[i];
        const std::int64_t newest = consumed_++;
        const float* window = history_.data() + write_ + 1;
        // Output m sits at input position m M / L; it is complete once x[floor(m M / L)] arrived.
        while ((produced_ * down_) / up_ <= newest) {
            const int phase = static_cast<int>((produced_ * down_) % up_);
            const float* c = coeffs_.data() + static_cast<std::size_t>(phase) * taps_;
            float acc = 0.0f;
            for (int t = 0; t < taps_; ++t) acc += c[t] * window[t];
            out[written++] = acc;
            ++produced_;
        }
    }
    return written;
}

}  // namespace tonemorph
