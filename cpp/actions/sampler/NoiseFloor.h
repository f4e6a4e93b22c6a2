// Clearing a generated sound's noise floor. The sampler's network leaves a steady broadband hiss under every
// sound it makes (-55 to -65 dBFS on the drums model, where real one-shots end in a decay or digital
// silence); a downward expander below the sound's own floor pushes it 24 dB down and leaves the sound above:
//
//   frames of kFrameS; the floor P_f = the least mean power of kFloorFrames frames in a row
//   nothing is done when P_f is 0 (digital silence: nothing to clear), above kMaxFloorDb (the sound is loud
//   throughout: a sustain, not a floor) or less than kMinRangeDb under the peak
//   T = P_f + kAboveFloorDb; a frame of power P < T gets (kRatio - 1) (P - T) dB (at least kMinGainDb), 0 dB
//   above; the gains then fall by at most kReleaseDbPerS (a decay is followed, not chopped) and open one frame
//   early (an attack is never dimmed); per sample, linear in dB between the frames' centres.
//
// Then a sound whose peak passes kPeakCeiling is turned down to peak there (keep_under_full_scale): a faithful
// generator of drums makes sounds at full scale as often as the kits hold them (9 % of the Hydrogen kits'
// one-shots peak at 0.99 or more, some above 1 after resampling), and a 24-bit file would clip them.
//
// tonemorph/sampler/noise_floor.py is the same in numpy (the reference the tests hold this to).
#pragma once

#include <vector>

namespace tonemorph::sampler {

constexpr double kFrameS = 0.005;
constexpr int kFloorFrames = 4;  // 20 ms
constexpr double kMaxFloorDb = -50.0;
constexpr double kMinRangeDb = 20.0;
constexpr double kAboveFloorDb = 12.0;
constexpr double kRatio = 3.0;
constexpr double kMinGainDb = -60.0;
constexpr double kReleaseDbPerS = 200.0;

constexpr double kPeakCeiling = 0.977;  // -0.2 dBFS

// `audio` (mono, at `rate`) with its noise floor cleared, in place. Returns the gain applied at the floor in dB
// (0 when it was left as it was).
double clear_noise_floor(std::vector<float>& audio, int rate);

// `audio` scaled, in place, to peak at kPeakCeiling if it peaks above it. Returns the gain in dB (0: untouched).
double keep_under_full_scale(std::vector<float>& audio);

// What every generated sound goes through: clear_noise_floor, then keep_under_full_scale.
void finish_sound(std::vector<float>& audio, int rate);

}  // namespace tonemorph::sampler
