#include "MatchEq.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tonemorph::master {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kLowestHz = 20.0;
constexpr double kOffsetLowHz = 100.0, kOffsetHighHz = 8000.0;
constexpr double kTrackFloorDb = 90.0;  // under the track's loudest band: nothing there to boost
constexpr double kSideFloorDb = 40.0;   // side this far under mid: (near) mono there, no width to bring out
constexpr double kTargetFloorDb = 70.0;  // under the target's loudest band: nothing to match (a lossy file's
                                         // cut-off, the empty band above a low rate's Nyquist); the EQ holds

// NaN bands take the value of the nearest band that has one.
void hold_edges(std::vector<double>& curve) {
    const auto valid = [](double v) { return !std::isnan(v); };
    const auto first = std::find_if(curve.begin(), curve.end(), valid);
    if (first == curve.end()) {
        std::fill(curve.begin(), curve.end(), 0.0);
        return;
    }
    std::fill(curve.begin(), first, *first);
    double last = *first;
    for (auto it = first; it != curve.end(); ++it) {
        if (std::isnan(*it)) *it = last;
        last = *it;
    }
}

// The curve at `hz`, linear in log frequency between grid bands, held beyond the ends.
double curve_at(const std::vector<double>& curve_db, double hz) {
    const auto& grid = grid_hz();
    if (hz <= grid.front()) return curve_db.front();
    if (hz >= grid.back()) return curve_db.back();
    const double position = std::log2(hz / grid.front()) * kBandsPerOctave;
    const auto k = std::min(static_cast<std::size_t>(position), grid.size() - 2);
    const double t = position - static_cast<double>(k);
    return (1.0 - t) * curve_db[k] + t * curve_db[k + 1];
}

std::size_t power_of_two_at_least(std::size_t n) {
    std::size_t p = 1;
    while (p < n) p *= 2;
    return p;
}

}  // namespace

MatchCurve match_curve(const MidSide& track, const MidSide& target, const MatchSettings& settings) {
    const auto& grid = grid_hz();
    const auto track_mid = smooth_db(track.mid_db, settings.smoothing_octaves);
    const auto target_mid = smooth_db(target.mid_db, settings.smoothing_octaves);
    std::vector<double> mid(grid.size(), kNan);
    const auto loudest = [](const std::vector<double>& db) {
        double top = -std::numeric_limits<double>::infinity();
        for (double v : db)
            if (!std::isnan(v)) top = std::max(top, v);
        return top;
    };
    const double track_loudest = loudest(track_mid), target_loudest = loudest(target_mid);
    double offset_sum = 0.0, all_sum = 0.0;
    int offset_count = 0, all_count = 0;
    for (std::size_t i = 0; i < grid.size(); ++i) {
        if (grid[i] < kLowestHz || std::isnan(track_mid[i]) || std::isnan(target_mid[i]) ||
            target_mid[i] < target_loudest - kTargetFloorDb)
            continue;
        mid[i] = target_mid[i] - track_mid[i];
        all_sum += mid[i];
        ++all_count;
        if (grid[i] >= kOffsetLowHz && grid[i] <= kOffsetHighHz) {
            offset_sum += mid[i];
            ++offset_count;
        }
    }
    const double offset = offset_count ? offset_sum / offset_count : all_count ? all_sum / all_count : 0.0;
    const auto shape = [&](double difference, bool may_boost) {
        const double db = std::clamp(difference - offset, -settings.max_db, settings.max_db);
        return settings.strength * (may_boost ? db : std::min(db, 0.0));
    };
    for (std::size_t i = 0; i < grid.size(); ++i)
        if (!std::isnan(mid[i])) mid[i] = shape(mid[i], track_mid[i] >= track_loudest - kTrackFloorDb);
    hold_edges(mid);

    MatchCurve out;
    if (!track.side_db.empty()) {
        if (target.side_db.empty()) {
            out.side_db = mid;
        } else {
            const auto track_side = smooth_db(track.side_db, settings.smoothing_octaves);
            const auto target_side = smooth_db(target.side_db, settings.smoothing_octaves);
            out.side_db.assign(grid.size(), kNan);
            for (std::size_t i = 0; i < grid.size(); ++i) {
                if (grid[i] < kLowestHz || std::isnan(track_side[i]) || std::isnan(target_side[i]) ||
                    target_side[i] < target_loudest - kTargetFloorDb)
                    continue;
                const bool may_boost = track_side[i] >= track_mid[i] - kSideFloorDb &&
                                       track_side[i] >= track_loudest - kTrackFloorDb;
                out.side_db[i] = shape(target_side[i] - track_side[i], may_boost);
            }
            hold_edges(out.side_db);
        }
    }
    out.mid_db = std::move(mid);
    return out;
}

std::vector<double> neutral_target_db() {
    std::vector<double> out;
    for (double f : grid_hz()) {
        if (f < 50.0 || f > 12000.0) {
            out.push_back(kNan);
            continue;
        }
        const double pink = -10.0 * std::log10(f / 1000.0);
        out.push_back(f <= 4000.0 ? pink : pink - 3.0 * std::log2(f / 4000.0));
    }
    return out;
}

std::vector<float> design_fir(const std::vector<double>& curve_db, double sample_rate, int taps, Phase phase) {
    const std::size_t n = power_of_two_at_least(static_cast<std::size_t>(taps) * (phase == Phase::Linear ? 4 : 8));
    RealFft fft(n);
    std::vector<std::complex<float>> spectrum(fft.bins());
    std::vector<float> signal(n);
    std::vector<double> gain(fft.bins());
    for (std::size_t j = 0; j < gain.size(); ++j)
        gain[j] = std::pow(10.0, curve_at(curve_db, static_cast<double>(j) * sample_rate / static_cast<double>(n)) / 20.0);
    std::vector<float> h(static_cast<std::size_t>(taps));
    const auto scale = static_cast<float>(1.0 / static_cast<double>(n));
    if (phase == Phase::Linear) {
        // Frequency sampling: the zero-phase response, centred and windowed (Hann).
        for (std::size_t j = 0; j < gain.size(); ++j) spectrum[j] = static_cast<float>(gain[j]);
        fft.inverse(spectrum.data(), signal.data());
        const int centre = (taps - 1) / 2;
        for (int i = 0; i < taps; ++i) {
            const auto source = static_cast<std::size_t>((i - centre + static_cast<int>(n)) % static_cast<int>(n));
            const double window = 0.5 - 0.5 * std::cos(2.0 * kPi * (i + 1) / (taps + 1));
            h[static_cast<std::size_t>(i)] = static_cast<float>(signal[source] * scale * window);
        }
        return h;
    }
    // Minimum phase (homomorphic): fold the real cepstrum of log|H| onto positive quefrencies, exponentiate.
    for (std::size_t j = 0; j < gain.size(); ++j) spectrum[j] = static_cast<float>(std::log(std::max(gain[j], 1e-6)));
    fft.inverse(spectrum.data(), signal.data());
    for (std::size_t k = 0; k < n; ++k) {
        const float fold = k == 0 || k == n / 2 ? 1.0f : k < n / 2 ? 2.0f : 0.0f;
        signal[k] *= scale * fold;
    }
    fft.forward(signal.data(), spectrum.data());
    for (auto& bin : spectrum) bin = std::exp(bin);
    fft.inverse(spectrum.data(), signal.data());
    const int fade = taps / 4;  // the last quarter fades out (half Hann)
    for (int i = 0; i < taps; ++i) {
        const int into_fade = i - (taps - fade);
        const double window = into_fade < 0 ? 1.0 : 0.5 + 0.5 * std::cos(kPi * (into_fade + 1) / (fade + 1));
        h[static_cast<std::size_t>(i)] = static_cast<float>(signal[static_cast<std::size_t>(i)] * scale * window);
    }
    return h;
}

void FirFilter::prepare(const std::vector<float>& taps, int fft_size) {
    const auto size = static_cast<std::size_t>(fft_size);
    block_ = fft_size - static_cast<int>(taps.size()) + 1;
    fft_ = std::make_unique<RealFft>(size);
    frame_.assign(size, 0.0f);
    std::copy(taps.begin(), taps.end(), frame_.begin());
    response_.resize(fft_->bins());
    spectrum_.resize(fft_->bins());
    fft_->forward(frame_.data(), response_.data());
    const float scale = 1.0f / static_cast<float>(size);
    for (auto& bin : response_) bin *= scale;
    overlap_.assign(size - static_cast<std::size_t>(block_), 0.0f);
}

void FirFilter::reset() { std::fill(overlap_.begin(), overlap_.end(), 0.0f); }

// y = the block convolved (block + taps - 1 samples): the first `block` go out with the tail carried so far,
// the rest is carried.
void FirFilter::process(const float* in, float* out) {
    std::copy(in, in + block_, frame_.begin());
    std::fill(frame_.begin() + block_, frame_.end(), 0.0f);
    fft_->forward(frame_.data(), spectrum_.data());
    for (std::size_t b = 0; b < spectrum_.size(); ++b) spectrum_[b] *= response_[b];
    fft_->inverse(spectrum_.data(), frame_.data());
    const auto carried = overlap_.size();
    for (int i = 0; i < block_; ++i)
        out[i] = frame_[static_cast<std::size_t>(i)] + (static_cast<std::size_t>(i) < carried ? overlap_[static_cast<std::size_t>(i)] : 0.0f);
    // The new carry: what is left of the old one past this block, plus this block's tail.
    for (std::size_t i = 0; i < carried; ++i) {
        const std::size_t old = i + static_cast<std::size_t>(block_);
        overlap_[i] = frame_[old] + (old < carried ? overlap_[old] : 0.0f);
    }
}

}  // namespace tonemorph::master
