#include "TruePeak.h"

#include "Kaiser.h"

#include <algorithm>
#include <cmath>

namespace tonemorph::master {

Oversampler4x::Oversampler4x() {
    constexpr double kPi = 3.14159265358979323846, kBeta = 8.0;
    for (int p = 1; p <= 3; ++p) {
        auto& taps = phases_[static_cast<std::size_t>(p - 1)];
        double sum = 0.0;
        std::array<double, kTaps> h{};
        for (int j = 0; j < kTaps; ++j) {
            const int k = j - kBefore;
            const double t = p / 4.0 - k;  // distance from tap to the interpolated point, in samples
            const double r = t / (kAfter + 0.5);
            const double window = kaiser(r, kBeta);
            h[static_cast<std::size_t>(j)] = std::sin(kPi * t) / (kPi * t) * window;
            sum += h[static_cast<std::size_t>(j)];
        }
        for (int j = 0; j < kTaps; ++j) taps[static_cast<std::size_t>(j)] = static_cast<float>(h[static_cast<std::size_t>(j)] / sum);
    }
}

namespace {

// The three phases for 64 samples at a time, summed across samples so the compiler vectorises each tap.
template <typename Taps>
__attribute__((always_inline)) inline void peaks_body(const Taps& phases, const float* x, int n, float* out) {
    constexpr int kChunk = 64;
    float y[3][kChunk];
    for (int start = 0; start < n; start += kChunk) {
        const int m = std::min(kChunk, n - start);
        const float* window = x + start - Oversampler4x::kBefore;
        for (int p = 0; p < 3; ++p) {
            for (int i = 0; i < m; ++i) y[p][i] = 0.0f;
            for (int j = 0; j < Oversampler4x::kTaps; ++j) {
                const float h = phases[static_cast<std::size_t>(p)][static_cast<std::size_t>(j)];
                for (int i = 0; i < m; ++i) y[p][i] += window[i + j] * h;
            }
        }
        for (int i = 0; i < m; ++i)
            out[start + i] = std::max(std::max(std::abs(x[start + i]), std::abs(y[0][i])),
                                      std::max(std::abs(y[1][i]), std::abs(y[2][i])));
    }
}

template <typename Taps>
__attribute__((target("avx2,fma"))) void peaks_avx2(const Taps& phases, const float* x, int n, float* out) {
    peaks_body(phases, x, n, out);
}

template <typename Taps>
void peaks_default(const Taps& phases, const float* x, int n, float* out) {
    peaks_body(phases, x, n, out);
}

bool has_avx2() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

}  // namespace

void Oversampler4x::segment_peaks(const float* x, int n, float* out) const {
    static const bool avx2 = has_avx2();
    if (avx2)
        peaks_avx2(phases_, x, n, out);
    else
        peaks_default(phases_, x, n, out);
}

void TruePeakMeter::prepare(int channels, int max_frames) {
    channels_ = channels;
    lines_.assign(static_cast<std::size_t>(channels),
                  std::vector<float>(static_cast<std::size_t>(Oversampler4x::kTaps + max_frames)));
    peaks_.resize(static_cast<std::size_t>(max_frames));
    reset();
}

void TruePeakMeter::reset() {
    for (auto& line : lines_) std::fill(line.begin(), line.end(), 0.0f);
    peak_ = 0.0f;
}

// The line holds kTaps samples of history then `frames` new ones; the segments that now have their whole
// context are those kAfter samples back from the newest.
void TruePeakMeter::scan(int frames) {
    constexpr int kHistory = Oversampler4x::kTaps;
    for (auto& line : lines_) {
        oversampler_.segment_peaks(line.data() + kHistory - Oversampler4x::kAfter, frames, peaks_.data());
        for (int i = 0; i < frames; ++i) peak_ = std::max(peak_, peaks_[static_cast<std::size_t>(i)]);
        std::copy(line.begin() + frames, line.begin() + frames + kHistory, line.begin());
    }
}

void TruePeakMeter::process(const float* interleaved, int frames) {
    const int max_frames = static_cast<int>(peaks_.size());
    for (int start = 0; start < frames; start += max_frames) {
        const int n = std::min(max_frames, frames - start);
        for (int c = 0; c < channels_; ++c) {
            float* line = lines_[static_cast<std::size_t>(c)].data() + Oversampler4x::kTaps;
            for (int i = 0; i < n; ++i)
                line[i] = interleaved[static_cast<std::size_t>(start + i) * channels_ + c];
        }
        scan(n);
    }
}

float TruePeakMeter::finish() {
    for (auto& line : lines_)
        std::fill(line.begin() + Oversampler4x::kTaps, line.begin() + Oversampler4x::kTaps + Oversampler4x::kAfter, 0.0f);
    scan(Oversampler4x::kAfter);
    return peak_;
}

}  // namespace tonemorph::master
