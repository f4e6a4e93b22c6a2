// Input guard for the analysis blocks: the audio thread may hand them anything.
#pragma once

#include <algorithm>
#include <cmath>

namespace tonemorph {

// 120 dB above full scale: far beyond real audio, yet a whole window's squares and FFT sums stay
// finite in float.
inline constexpr float kMaxAnalysisSample = 1.0e6f;

// Non-finite samples (NaN, inf) count as silence; finite ones are bounded by kMaxAnalysisSample.
inline float guard_sample(float x) {
    if (!std::isfinite(x)) return 0.0f;
    return std::clamp(x, -kMaxAnalysisSample, kMaxAnalysisSample);
}

}  // namespace tonemorph
