#include "LoudnessMeter.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>

namespace tonemorph::master {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kAbsoluteGate = -70.0;
constexpr double kIntegratedRelativeGate = -10.0;
constexpr double kRangeRelativeGate = -20.0;

}  // namespace

void LoudnessMeter::prepare(double sample_rate, int channels) {
    sample_rate_ = sample_rate;
    channels_ = channels;
    // Stage 1, high shelf: f0 1681.97 Hz, +4 dB, Q 0.7072 (BS.1770's pre-filter as an analogue prototype).
    {
        const double f0 = 1681.974450955533, gain_db = 3.999843853973347, q = 0.7071752369554196;
        const double k = std::tan(kPi * f0 / sample_rate);
        const double vh = std::pow(10.0, gain_db / 20.0), vb = std::pow(vh, 0.4996667741545416);
        const double a0 = 1.0 + k / q + k * k;
        stages_[0] = {(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
                      2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0};
    }
    // Stage 2, high pass: f0 38.14 Hz, Q 0.5003 (the RLB weighting).
    {
        const double f0 = 38.13547087602444, q = 0.5003270373238773;
        const double k = std::tan(kPi * f0 / sample_rate);
        const double a0 = 1.0 + k / q + k * k;
        stages_[1] = {1.0, -2.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0};
    }
    state_.assign(static_cast<std::size_t>(channels) * 4, 0.0);
    power_.resize(kChunk);
    sub_block_length_ = std::max(1, static_cast<int>(std::lround(sample_rate * 0.1)));
    blocks_.count.resize(Histogram::kBins);
    blocks_.sum.resize(Histogram::kBins);
    short_terms_.count.resize(Histogram::kBins);
    short_terms_.sum.resize(Histogram::kBins);
    reset();
}

void LoudnessMeter::reset() {
    std::fill(state_.begin(), state_.end(), 0.0);
    sub_block_fill_ = 0;
    sub_block_sum_ = 0.0;
    recent_.fill(0.0);
    sub_blocks_ = 0;
    blocks_.clear();
    short_terms_.clear();
}

void LoudnessMeter::process(const float* interleaved, int frames) {
    for (int start = 0; start < frames; start += kChunk) {
        const int n = std::min(kChunk, frames - start);
        weigh(interleaved + static_cast<std::size_t>(start) * channels_, n, power_.data());
        add_power(power_.data(), n);
    }
}

void LoudnessMeter::weigh(const float* interleaved, int frames, double* power) {
    const auto& s1 = stages_[0];
    const auto& s2 = stages_[1];
    for (int i = 0; i < frames; ++i) {
        double sum = 0.0;
        for (int c = 0; c < channels_; ++c) {
            double* z = &state_[static_cast<std::size_t>(c) * 4];
            const double x = interleaved[static_cast<std::size_t>(i) * channels_ + c];
            const double y1 = s1.b0 * x + z[0];
            z[0] = s1.b1 * x - s1.a1 * y1 + z[1];
            z[1] = s1.b2 * x - s1.a2 * y1;
            const double y2 = s2.b0 * y1 + z[2];
            z[2] = s2.b1 * y1 - s2.a1 * y2 + z[3];
            z[3] = s2.b2 * y1 - s2.a2 * y2;
            sum += y2 * y2;  // channel weights are 1 for mono and stereo
        }
        power[i] = sum;
    }
}

void LoudnessMeter::add_power(const double* power, int frames) {
    for (int i = 0; i < frames;) {
        const int n = std::min(frames - i, sub_block_length_ - sub_block_fill_);
        for (int k = 0; k < n; ++k) sub_block_sum_ += power[i + k];
        i += n;
        sub_block_fill_ += n;
        if (sub_block_fill_ < sub_block_length_) continue;
        recent_[static_cast<std::size_t>(sub_blocks_ % kSubBlocksPerShortTerm)] = sub_block_sum_;
        ++sub_blocks_;
        sub_block_fill_ = 0;
        sub_block_sum_ = 0.0;
        const auto sum_last = [&](int count) {
            double sum = 0.0;
            for (int k = 1; k <= count; ++k)
                sum += recent_[static_cast<std::size_t>((sub_blocks_ - k) % kSubBlocksPerShortTerm)];
            return sum / (static_cast<double>(count) * sub_block_length_);
        };
        if (sub_blocks_ >= kSubBlocksPerBlock) blocks_.add(sum_last(kSubBlocksPerBlock));
        if (sub_blocks_ >= kSubBlocksPerShortTerm) short_terms_.add(sum_last(kSubBlocksPerShortTerm));
    }
}

double LoudnessMeter::weighting_power(double hz) const {
    const std::complex<double> z1 = std::polar(1.0, -2.0 * kPi * hz / sample_rate_), z2 = z1 * z1;
    double power = 1.0;
    for (const auto& s : stages_)
        power *= std::norm((s.b0 + s.b1 * z1 + s.b2 * z2) / (1.0 + s.a1 * z1 + s.a2 * z2));
    return power;
}

double LoudnessMeter::integrated_lufs() const {
    const double absolute = blocks_.gated_mean(kAbsoluteGate);
    if (!(absolute > 0.0)) return -std::numeric_limits<double>::infinity();
    return to_lufs(blocks_.gated_mean(to_lufs(absolute) + kIntegratedRelativeGate));
}

double LoudnessMeter::loudness_range_lu() const {
    const double absolute = short_terms_.gated_mean(kAbsoluteGate);
    if (!(absolute > 0.0)) return 0.0;
    const double gate = to_lufs(absolute) + kRangeRelativeGate;
    return short_terms_.percentile(gate, 0.95) - short_terms_.percentile(gate, 0.10);
}

void LoudnessMeter::Histogram::clear() {
    std::fill(count.begin(), count.end(), 0);
    std::fill(sum.begin(), sum.end(), 0.0);
    total = 0;
}

void LoudnessMeter::Histogram::add(double mean_square) {
    if (!(mean_square > 0.0)) return;
    const double lufs = to_lufs(mean_square);
    if (lufs < kLowest) return;  // the absolute gate
    const auto bin = std::min(kBins - 1, static_cast<int>((lufs - kLowest) / kStep));
    ++count[static_cast<std::size_t>(bin)];
    sum[static_cast<std::size_t>(bin)] += mean_square;
    ++total;
}

// A bin counts when its centre is at or above the gate: a block within 0.005 LU of a gate may fall either side.
static int first_bin(double gate_lufs, double lowest, double step) {
    return std::max(0, static_cast<int>(std::ceil((gate_lufs - lowest) / step - 0.5)));
}

double LoudnessMeter::Histogram::gated_mean(double gate_lufs) const {
    double s = 0.0;
    std::uint64_t n = 0;
    for (int b = first_bin(gate_lufs, kLowest, kStep); b < kBins; ++b) {
        n += count[static_cast<std::size_t>(b)];
        s += sum[static_cast<std::size_t>(b)];
    }
    return n ? s / static_cast<double>(n) : 0.0;
}

double LoudnessMeter::Histogram::percentile(double gate_lufs, double fraction) const {
    const int first = first_bin(gate_lufs, kLowest, kStep);
    std::uint64_t n = 0;
    for (int b = first; b < kBins; ++b) n += count[static_cast<std::size_t>(b)];
    if (n == 0) return kLowest;
    const auto rank = static_cast<std::uint64_t>(std::floor(fraction * static_cast<double>(n - 1)));
    std::uint64_t seen = 0;
    for (int b = first; b < kBins; ++b) {
        seen += count[static_cast<std::size_t>(b)];
        if (seen > rank) return kLowest + (b + 0.5) * kStep;
    }
    return kLowest + (kBins - 0.5) * kStep;
}

}  // namespace tonemorph::master
