// Long-term spectra of mid and side (Welch: Hann frames of about 0.19 s, side by side: over minutes of audio
// overlap would halve the variance of an average of hundreds of frames at twice the cost), as power spectral
// density on one log-frequency grid shared by every sample rate, so a track and a reference at different
// rates compare band by band.
//   mid = (L + R) / 2, side = (L - R) / 2 (mono: mid = x, no side)
//   PSD[f] = mean over frames of 2 |FFT(frame * hann)[f]|^2 / (rate * sum(hann^2))   (power per Hz)
//   grid: 1/24-octave bands centred on 1 kHz * 2^(k/24), 15.6 Hz .. 20.2 kHz; a band above 0.98 x Nyquist is NaN
#pragma once

#include <complex>
#include <memory>
#include <vector>

#include "RealFft.h"

namespace tonemorph::master {

constexpr int kBandsPerOctave = 24;
const std::vector<double>& grid_hz();

struct MidSide {
    std::vector<double> mid_db, side_db;  // PSD in dB re 1/Hz on grid_hz(); side is empty for mono
};

// The FFT size the spectra and the match filter use at a rate: the power of two nearest 0.19 s.
int analysis_size(double sample_rate);

class SpectrumAnalyser final {
public:
    void prepare(double sample_rate, int channels);  // allocates
    void reset();
    void process(const float* interleaved, int frames);
    MidSide finish();  // a signal shorter than one frame is analysed zero-padded

    double mid_power() const { return mid_power_; }  // sums of squares, for the stereo width
    double side_power() const { return side_power_; }

private:
    double sample_rate_ = 48000.0;
    int channels_ = 1, size_ = 8192, fill_ = 0;
    long long frames_ = 0;
    std::unique_ptr<RealFft> fft_;
    std::vector<float> window_, mid_, side_, frame_;
    std::vector<std::complex<float>> bins_;
    std::vector<double> mid_sum_, side_sum_;
    double mid_power_ = 0.0, side_power_ = 0.0;
    void analyse_frame();
    std::vector<double> to_grid(const std::vector<double>& sum) const;
};

// Power smoothing over +-width/2 octaves on grid_hz() (NaN bands stay NaN and are skipped).
std::vector<double> smooth_db(const std::vector<double>& db, double octaves);

}  // namespace tonemorph::master
