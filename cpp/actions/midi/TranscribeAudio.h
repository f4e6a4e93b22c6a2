// Audio as the transcription model hears it: the channels' mean, at the model's rate. The Python reference
// (tonemorph/midi/transcribe.py mono_at) resamples with soxr's HQ setting, as librosa.load does for Basic
// Pitch; this is the C++ equivalent for a whole recording at once.
//
// Why not cpp/dsp/Resampler: that one streams with a fixed latency of (taps L - 1) / 2L input samples,
// which for most ratios is not a whole number of output samples, so its output cannot be aligned with
// soxr's (which is zero-phase: output m sits exactly at input time m / out_rate); and its default band
// ends at 0.68 of Nyquist where soxr HQ's passband reaches 0.913. Here every output is a windowed sinc
// centred on its exact input position:
//   y[m] = sum_k x[k] h(m M / L - k),  h(t) = 2 fc sinc(2 fc t) w_kaiser(t / half),  ratio L / M = out / in
// with a band fitted to soxr HQ's measured response (its passband ends at 0.913 of the lower Nyquist; pass
// 0.912, stop 1.002 and 140 dB bring the transition within 3e-4 of it). On FluidSynth renders at 44.1 and
// 48 kHz this differs from soxr HQ's output by 1e-6 to 1.2e-5 RMS (signals 0.1 RMS), 1e-4 at most.
#pragma once

#include <atomic>
#include <cstddef>
#include <vector>

namespace tonemorph::midi {

constexpr double kResamplePassband = 0.912;  // fractions of the lower rate's Nyquist
constexpr double kResampleStopband = 1.002;
constexpr double kResampleStopbandDb = 140.0;
constexpr int kResampleMaxPhases = 4096;     // beyond this many, positions round down to 1/4096 input sample

// The mean of `channels` planar channels of `frames` samples each ([channel][frame]), in float as
// np.mean(axis=0, dtype=float32) sums them.
std::vector<float> mix_to_mono(const float* planar, int channels, std::size_t frames);

// `x` at in_rate to out_rate (rates rounded to whole Hz): ceil(n out / in) samples, zero-phase, the signal
// taken as zero outside. Throws std::invalid_argument for a rate <= 0; Cancelled when *cancel becomes true.
std::vector<float> resample_whole(const std::vector<float>& x, double in_rate, double out_rate,
                                  const std::atomic<bool>* cancel = nullptr);

}  // namespace tonemorph::midi
