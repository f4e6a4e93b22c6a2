// The match EQ: a smoothed gain curve from one long-term spectrum to another, made into an FIR filter and
// run by overlap-add FFT convolution.
//   curve(f) = strength * clamp(smooth_1/6oct(target(f)) - smooth_1/6oct(track(f)) - offset, -12, +12) dB
//   offset   = mean over the 100 Hz .. 8 kHz bands of the mid difference (overall level is the loudness
//              stage's job), the same offset for side so the side-to-mid balance (the width) is matched too
// Bands the track does not really have (90 dB under its loudest band, or side 40 dB under mid) are never
// boosted; where the target has nothing (70 dB under its loudest band), below 20 Hz and above the lower
// Nyquist, the curve holds the value of the nearest band that was matched.
#pragma once

#include <complex>
#include <memory>
#include <vector>

#include "RealFft.h"
#include "Spectrum.h"

namespace tonemorph::master {

enum class Phase { Linear, Minimum };

struct MatchSettings {
    double strength = 1.0;
    double max_db = 12.0;  // largest boost or cut
    double smoothing_octaves = 1.0 / 6.0;
};

struct MatchCurve {
    std::vector<double> mid_db, side_db;  // on grid_hz(); side empty for a mono track
};

// target.side_db empty (a mono reference, or a preset): the side channel gets the mid's curve (width kept).
MatchCurve match_curve(const MidSide& track, const MidSide& target, const MatchSettings& settings);

// The neutral balance the presets aim at, as a PSD in dB on grid_hz(): pink (-3 dB per octave) from 50 Hz to
// 4 kHz, -6 dB per octave above, and no change asked outside 50 Hz .. 12 kHz (NaN there).
std::vector<double> neutral_target_db();

// An FIR filter of `taps` (odd) taps with the curve's magnitude at `sample_rate`: linear phase (delay
// (taps - 1) / 2) or minimum phase (cepstral method; no delay).
std::vector<float> design_fir(const std::vector<double>& curve_db, double sample_rate, int taps, Phase phase);

// Overlap-add convolution with an FFT of `fft_size` points, in blocks of exactly fft_size - taps + 1 samples
// (an FFT four times the filter's length costs about a third less per sample than one twice as long).
class FirFilter final {
public:
    void prepare(const std::vector<float>& taps, int fft_size);  // allocates
    int block() const { return block_; }
    void reset();
    void process(const float* in, float* out);  // `block` samples

private:
    int block_ = 0;
    std::unique_ptr<RealFft> fft_;
    std::vector<std::complex<float>> response_, spectrum_;
    std::vector<float> frame_, overlap_;
};

}  // namespace tonemorph::master
