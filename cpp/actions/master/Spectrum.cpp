#include "Spectrum.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tonemorph::master {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kLowestBand = -144, kHighestBand = 104;  // 15.6 Hz .. 20.2 kHz
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

}  // namespace

const std::vector<double>& grid_hz() {
    static const std::vector<double> grid = [] {
        std::vector<double> g;
        for (int k = kLowestBand; k <= kHighestBand; ++k) g.push_back(1000.0 * std::pow(2.0, k / double(kBandsPerOctave)));
        return g;
    }();
    return grid;
}

int analysis_size(double sample_rate) {
    const double wanted = 0.1857 * sample_rate;
    int size = 256;
    while (size * 2 <= 65536 && std::abs(std::log2(size * 2.0 / wanted)) < std::abs(std::log2(size / wanted))) size *= 2;
    return size;
}

void SpectrumAnalyser::prepare(double sample_rate, int channels) {
    sample_rate_ = sample_rate;
    channels_ = channels;
    size_ = analysis_size(sample_rate);
    fft_ = std::make_unique<RealFft>(static_cast<std::size_t>(size_));
    window_.resize(static_cast<std::size_t>(size_));
    for (int i = 0; i < size_; ++i) window_[static_cast<std::size_t>(i)] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * kPi * i / size_));
    mid_.assign(static_cast<std::size_t>(size_), 0.0f);
    side_.assign(static_cast<std::size_t>(size_), 0.0f);
    frame_.resize(static_cast<std::size_t>(size_));
    bins_.resize(fft_->bins());
    mid_sum_.assign(fft_->bins(), 0.0);
    side_sum_.assign(fft_->bins(), 0.0);
    reset();
}

void SpectrumAnalyser::reset() {
    std::fill(mid_.begin(), mid_.end(), 0.0f);
    std::fill(side_.begin(), side_.end(), 0.0f);  // stays zero for mono
    std::fill(mid_sum_.begin(), mid_sum_.end(), 0.0);
    std::fill(side_sum_.begin(), side_sum_.end(), 0.0);
    fill_ = 0;
    frames_ = 0;
    mid_power_ = side_power_ = 0.0;
}

void SpectrumAnalyser::process(const float* interleaved, int frames) {
    for (int start = 0; start < frames;) {
        const int n = std::min(frames - start, size_ - fill_);
        float* mid = mid_.data() + fill_;
        float* side = side_.data() + fill_;
        const float* x = interleaved + static_cast<std::size_t>(start) * channels_;
        if (channels_ == 2) {
            for (int i = 0; i < n; ++i) {
                mid[i] = 0.5f * (x[2 * i] + x[2 * i + 1]);
                side[i] = 0.5f * (x[2 * i] - x[2 * i + 1]);
            }
        } else {
            std::copy(x, x + n, mid);
        }
        for (int i = 0; i < n; ++i) {
            mid_power_ += double(mid[i]) * mid[i];
            side_power_ += double(side[i]) * side[i];
        }
        fill_ += n;
        start += n;
        if (fill_ == size_) {
            analyse_frame();
            fill_ = 0;
        }
    }
}

void SpectrumAnalyser::analyse_frame() {
    for (auto [signal, sum] : {std::pair{&mid_, &mid_sum_}, std::pair{&side_, &side_sum_}}) {
        if (signal == &side_ && channels_ != 2) break;
        for (int i = 0; i < size_; ++i) frame_[static_cast<std::size_t>(i)] = (*signal)[static_cast<std::size_t>(i)] * window_[static_cast<std::size_t>(i)];
        fft_->forward(frame_.data(), bins_.data());
        for (std::size_t b = 0; b < bins_.size(); ++b) (*sum)[b] += std::norm(bins_[b]);
    }
    ++frames_;
}

MidSide SpectrumAnalyser::finish() {
    if (frames_ == 0) {  // shorter than a frame: the part there is, zero-padded
        std::fill(mid_.begin() + fill_, mid_.end(), 0.0f);
        std::fill(side_.begin() + fill_, side_.end(), 0.0f);
        analyse_frame();
    }
    MidSide out;
    out.mid_db = to_grid(mid_sum_);
    if (channels_ == 2) out.side_db = to_grid(side_sum_);
    return out;
}

std::vector<double> SpectrumAnalyser::to_grid(const std::vector<double>& sum) const {
    double window_power = 0.0;
    for (float w : window_) window_power += double(w) * w;
    const double scale = 2.0 / (sample_rate_ * window_power * static_cast<double>(frames_));
    const double bin_hz = sample_rate_ / size_;
    const auto psd = [&](double bin) {  // linear interpolation between bins
        const auto b = std::min(static_cast<std::size_t>(bin), sum.size() - 2);
        const double t = bin - static_cast<double>(b);
        return scale * ((1.0 - t) * sum[b] + t * sum[b + 1]);
    };
    const double half_band = std::pow(2.0, 0.5 / kBandsPerOctave);
    std::vector<double> out;
    for (double f : grid_hz()) {
        if (f > 0.98 * sample_rate_ / 2.0) {
            out.push_back(kNan);
            continue;
        }
        const auto first = static_cast<std::size_t>(std::ceil(f / half_band / bin_hz));
        const auto last = static_cast<std::size_t>(std::floor(f * half_band / bin_hz));
        double power = 0.0;
        if (last >= first && last < sum.size()) {
            for (std::size_t b = first; b <= last; ++b) power += scale * sum[b];
            power /= static_cast<double>(last - first + 1);
        } else {
            power = psd(f / bin_hz);
        }
        out.push_back(10.0 * std::log10(std::max(power, 1e-30)));
    }
    return out;
}

std::vector<double> smooth_db(const std::vector<double>& db, double octaves) {
    const int reach = static_cast<int>(std::lround(octaves / 2.0 * kBandsPerOctave));
    std::vector<double> out(db.size(), kNan);
    for (int i = 0; i < static_cast<int>(db.size()); ++i) {
        if (std::isnan(db[static_cast<std::size_t>(i)])) continue;
        double sum = 0.0, weights = 0.0;
        for (int k = -reach; k <= reach; ++k) {
            const int j = i + k;
            if (j < 0 || j >= static_cast<int>(db.size()) || std::isnan(db[static_cast<std::size_t>(j)])) continue;
            const double w = 0.5 + 0.5 * std::cos(kPi * k / (reach + 1));  // Hann over the span
            sum += w * std::pow(10.0, db[static_cast<std::size_t>(j)] / 10.0);
            weights += w;
        }
        out[static_cast<std::size_t>(i)] = 10.0 * std::log10(std::max(sum / weights, 1e-30));
    }
    return out;
}

}  // namespace tonemorph::master
