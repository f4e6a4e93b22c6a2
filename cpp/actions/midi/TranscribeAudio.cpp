#include "TranscribeAudio.h"

#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>

#include "Action.h"
#include "Kaiser.h"

namespace tonemorph::midi {

namespace {

constexpr std::int64_t kCancelCheckEvery = 1 << 16;  // output samples between looks at the cancel flag

std::int64_t whole_rate(double rate, const char* which) {
    if (!(rate > 0.0) || !std::isfinite(rate) || rate > 1e7)
        throw std::invalid_argument(std::string("the ") + which + " sample rate must be 1 Hz .. 10 MHz, got " +
                                    std::to_string(rate));
    return std::max<std::int64_t>(1, std::llround(rate));
}

double sinc(double x) { return x == 0.0 ? 1.0 : std::sin(M_PI * x) / (M_PI * x); }

// sum h[i] x[i] in float over kLanes independent partial sums, which the compiler turns into vector
// instructions (a single running sum would have to be added in order); 1e-7 relative error on ~400 taps.
float dot(const float* h, const float* x, std::int64_t n) {
    constexpr int kLanes = 8;
    float lane[kLanes] = {};
    std::int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (int k = 0; k < kLanes; ++k) lane[k] += h[i + k] * x[i + k];
    float sum = 0.0f;
    for (; i < n; ++i) sum += h[i] * x[i];
    for (int k = 0; k < kLanes; ++k) sum += lane[k];
    return sum;
}

}  // namespace

std::vector<float> mix_to_mono(const float* planar, int channels, std::size_t frames) {
    std::vector<float> mono(planar, planar + frames);
    if (channels <= 1) return mono;
    for (int c = 1; c < channels; ++c) {
        const float* x = planar + static_cast<std::size_t>(c) * frames;
        for (std::size_t i = 0; i < frames; ++i) mono[i] += x[i];
    }
    const float n = static_cast<float>(channels);
    for (float& v : mono) v /= n;
    return mono;
}

std::vector<float> resample_whole(const std::vector<float>& x, double in_rate, double out_rate,
                                  const std::atomic<bool>* cancel) {
    const std::int64_t in = whole_rate(in_rate, "input"), out = whole_rate(out_rate, "output");
    if (in == out) return x;
    const std::int64_t g = std::gcd(in, out);
    const std::int64_t up = out / g, down = in / g;  // L, M
    const auto n = static_cast<std::int64_t>(x.size());
    const std::int64_t n_out = (n * up + down - 1) / down;

    // Kaiser (1974): length (A - 7.95) / (2.285 * 2 pi (f_stop - f_pass) / f_in) + 1, beta = 0.1102 (A - 8.7);
    // cutoff (-6 dB) halfway between pass and stop. In input samples: h spans -half .. half.
    const double nyquist = 0.5 * static_cast<double>(std::min(in, out));
    const double pass = kResamplePassband * nyquist, stop = kResampleStopband * nyquist;
    const double length = (kResampleStopbandDb - 7.95) / (2.285 * 2.0 * M_PI * (stop - pass) / in) + 1.0;
    const int half = static_cast<int>(std::ceil(0.5 * length));
    const double cutoff = 0.5 * (pass + stop) / static_cast<double>(in);  // cycles per input sample
    const double beta = 0.1102 * (kResampleStopbandDb - 8.7);

    // Phase r (output position q + r / phases): taps j = -half + 1 .. half on x[q + j], weight h(r / phases - j).
    const std::int64_t phases = std::min<std::int64_t>(up, kResampleMaxPhases);
    const int taps = 2 * half;
    std::vector<float> table(static_cast<std::size_t>(phases * taps));
    for (std::int64_t r = 0; r < phases; ++r)
        for (int j = -half + 1; j <= half; ++j) {
            const double t = static_cast<double>(r) / static_cast<double>(phases) - j;
            table[static_cast<std::size_t>(r * taps + j + half - 1)] =
                static_cast<float>(2.0 * cutoff * sinc(2.0 * cutoff * t) * kaiser(t / half, beta));
        }

    std::vector<float> y(static_cast<std::size_t>(n_out));
    for (std::int64_t m = 0; m < n_out; ++m) {
        if (m % kCancelCheckEvery == 0 && cancel != nullptr && cancel->load(std::memory_order_relaxed))
            throw Cancelled();
        const std::int64_t q = m * down / up;
        const std::int64_t phase = (m * down % up) * phases / up;
        const float* h = &table[static_cast<std::size_t>(phase * taps)];
        const std::int64_t first = q - half + 1;  // x index of tap 0
        const std::int64_t lo = std::max<std::int64_t>(0, -first), hi = std::min<std::int64_t>(taps, n - first);
        y[static_cast<std::size_t>(m)] = dot(h + lo, x.data() + first + lo, hi - lo);
    }
    return y;
}

}  // namespace tonemorph::midi
