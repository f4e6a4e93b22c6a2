// Mastering to a reference (or to a loudness target): analyse, then process in passes, streamed in blocks so
// memory does not depend on the length of the audio. The CLI (through the binding) and the plugin run this.
//   1. analyse the track and the reference: loudness (BS.1770), loudness range, true peak, mid/side spectra
//   2. the match EQ (MatchEq.h) from the track's spectra to the reference's (or to the neutral balance)
//   3. process: EQ mid and side -> gain -> true-peak limiter -> dither; each pass measures its own output's
//      loudness, and the gain is corrected (secant steps) until it is within 0.1 LU of the target
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "Action.h"
#include "MatchEq.h"

namespace tonemorph::master {

// Audio read in passes: rewind() starts a pass, read() fills interleaved frames and returns how many (0: end).
class AudioSource {
public:
    virtual ~AudioSource() = default;
    virtual double sample_rate() const = 0;
    virtual int channels() const = 0;
    virtual void rewind() = 0;
    virtual int read(float* interleaved, int max_frames) = 0;
};

// Where a pass's output goes: begin() starts over (a later pass replaces an earlier one). Samples are float in
// [-1, 1] (bits 32) or integers left-justified in int32 (bits 16 and 24: the sample times 2^(32 - bits)).
class AudioSink {
public:
    virtual ~AudioSink() = default;
    virtual void begin() = 0;
    virtual void write_float(const float* interleaved, int frames) = 0;
    virtual void write_int(const std::int32_t* interleaved, int frames) = 0;
};

struct Request {
    std::string track_name = "the track", reference_name = "the reference";  // for messages
    bool match_reference = true;  // false: target_lufs and the neutral balance (the presets)
    double target_lufs = -14.0;
    double strength = 1.0;       // of the match EQ, 0 .. 1
    double max_eq_db = 12.0;     // largest boost or cut of the match EQ
    double ceiling_dbtp = -1.0;  // the limiter's ceiling, dB true peak
    Phase phase = Phase::Linear;
    int bits = 24;               // 16 or 24 (TPDF dither) or 32 (float)
    std::uint64_t seed = 1;      // of the dither: the same request gives the same file
};

struct Analysis {
    double sample_rate = 0.0;
    int channels = 0;
    std::int64_t frames = 0;
    double integrated_lufs = 0.0, loudness_range_lu = 0.0, true_peak_dbtp = 0.0, sample_peak_dbfs = 0.0;
    double width_db = 0.0;  // side power over mid power (-inf for mono)
    std::int64_t clipped_runs = 0;  // runs of 3+ samples at full scale (a track clipped before it got here)
    MidSide spectrum;
};

struct Result {
    Analysis track, reference, result;  // reference: empty (frames 0) without one
    double target_lufs = 0.0;
    MatchCurve eq;                      // the curve applied, on grid_hz()
    double gain_db = 0.0;               // before the limiter
    int passes = 0;                     // processing passes run (the last one is the output)
    double gain_reduction_step_s = 0.0;
    std::vector<float> gain_reduction_db;  // the limiter's largest reduction per step (>= 0)
    std::vector<std::string> warnings;
};

// Thrown when `cancel` becomes true; nothing the sink holds is a finished file.
using Cancelled = tonemorph::Cancelled;

// progress(fraction 0..1, what is being done). Throws std::invalid_argument with a message for the musician
// for audio that cannot be mastered (silent, too short, more than two channels, a bad setting).
using Progress = std::function<void(double, const std::string&)>;
Result run(const Request& request, AudioSource& track, AudioSource* reference, AudioSink& out,
           const Progress& progress = {}, const std::atomic<bool>* cancel = nullptr);

// The analysis alone (step 1), for a file's report.
Analysis analyse(AudioSource& source, const Progress& progress = {}, const std::atomic<bool>* cancel = nullptr);

}  // namespace tonemorph::master
