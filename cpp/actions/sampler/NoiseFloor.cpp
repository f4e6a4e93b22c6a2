#include "NoiseFloor.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace tonemorph::sampler {

namespace {

double to_db(double power) { return 10.0 * std::log10(power); }

}  // namespace

double clear_noise_floor(std::vector<float>& audio, int rate) {
    const auto frame = static_cast<std::size_t>(std::max(1L, std::lround(kFrameS * rate)));
    const std::size_t n = audio.size();
    const std::size_t frames = (n + frame - 1) / frame;
    if (frames < static_cast<std::size_t>(kFloorFrames) + 1) return 0.0;
    std::vector<double> power(frames, 0.0);
    double peak = 0.0;
    for (std::size_t j = 0; j < frames; ++j) {
        const std::size_t begin = j * frame, end = std::min(n, begin + frame);
        double sum = 0.0;
        for (std::size_t i = begin; i < end; ++i) {
            sum += static_cast<double>(audio[i]) * audio[i];
            peak = std::max(peak, std::abs(static_cast<double>(audio[i])));
        }
        power[j] = sum / static_cast<double>(end - begin);
    }
    double floor = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j + kFloorFrames <= frames; ++j) {
        double sum = 0.0;
        for (std::size_t k = j; k < j + kFloorFrames; ++k) sum += power[k];
        floor = std::min(floor, sum / kFloorFrames);
    }
    if (!(floor > 0.0) || to_db(floor) > kMaxFloorDb ||
        20.0 * std::log10(peak) - to_db(floor) < kMinRangeDb) return 0.0;
    const double threshold = to_db(floor) + kAboveFloorDb;
    std::vector<double> gain(frames);
    for (std::size_t j = 0; j < frames; ++j) {
        const double level = power[j] > 0.0 ? to_db(power[j]) : threshold + kMinGainDb;
        gain[j] = level >= threshold ? 0.0 : std::max(kMinGainDb, (kRatio - 1.0) * (level - threshold));
    }
    const double release = kReleaseDbPerS * kFrameS;
    for (std::size_t j = 1; j < frames; ++j) gain[j] = std::max(gain[j], gain[j - 1] - release);
    for (std::size_t j = 0; j + 1 < frames; ++j) gain[j] = std::max(gain[j], gain[j + 1]);  // opens one frame early
    // Per sample: linear in dB between frame centres (frame j's centre at (j + 0.5) frame), held at the ends.
    const double half = 0.5 * static_cast<double>(frame);
    for (std::size_t i = 0; i < n; ++i) {
        const double position = (static_cast<double>(i) - half) / static_cast<double>(frame);
        double db;
        if (position <= 0.0) {
            db = gain[0];
        } else if (position >= static_cast<double>(frames - 1)) {
            db = gain[frames - 1];
        } else {
            const auto j = static_cast<std::size_t>(position);
            const double w = position - static_cast<double>(j);
            db = gain[j] + w * (gain[j + 1] - gain[j]);
        }
        audio[i] = static_cast<float>(audio[i] * std::pow(10.0, db / 20.0));
    }
    return (kRatio - 1.0) * -kAboveFloorDb;
}

double keep_under_full_scale(std::vector<float>& audio) {
    float peak = 0.0f;
    for (const float value : audio) peak = std::max(peak, std::fabs(value));
    if (!(peak > kPeakCeiling)) return 0.0;
    const double gain = kPeakCeiling / static_cast<double>(peak);
    for (float& value : audio) value = static_cast<float>(value * gain);
    return 20.0 * std::log10(gain);
}

void finish_sound(std::vector<float>& audio, int rate) {
    clear_noise_floor(audio, rate);
    keep_under_full_scale(audio);
}

}  // namespace tonemorph::sampler
