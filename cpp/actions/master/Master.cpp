#include "Master.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <limits>
#include <sstream>

#include "ArgumentError.h"
#include "Limiter.h"
#include "LoudnessMeter.h"
#include "Spectrum.h"
#include "TruePeak.h"

namespace tonemorph::master {

namespace {

constexpr double kLoudnessTolerance = 0.1;  // LU: a pass this close to the target is the output
constexpr double kLoudnessReachable = 0.5;  // LU: further than this after the last pass, the result says so
constexpr int kMaxPasses = 6;
constexpr double kProbeStepsDb[] = {-2.0, 0.0, 2.0, 4.0, 6.0, 9.0, 12.0, 16.0};  // around the first guess
constexpr int kProbeGains = static_cast<int>(std::size(kProbeStepsDb));  // GainSmoother<8> is built for it
constexpr double kMaxGainDb = 36.0;
constexpr double kLimiterMarginDb = 0.1;     // the limiter aims this far under the ceiling (true peak by
                                             // another 4x interpolator reads up to ~0.05 dB higher)
constexpr double kShortestReferenceS = 3.0;
constexpr double kShortestTrackS = 0.5;      // the loudness of less than one 400 ms block is undefined
constexpr float kClipLevel = 0.999f;
constexpr int kClipRun = 3;
constexpr double kNegativeInfinity = -std::numeric_limits<double>::infinity();

double to_db(double linear) { return linear > 0.0 ? 20.0 * std::log10(linear) : kNegativeInfinity; }

std::string seconds_text(double seconds) {
    std::ostringstream s;
    s.precision(seconds < 10 ? 2 : 3);
    s << seconds << " s";
    return s.str();
}

void check_cancel(const std::atomic<bool>* cancel) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Cancelled();
}

// Reads exactly `frames` frames unless the source ends first.
int read_block(AudioSource& source, float* interleaved, int frames) {
    int got = 0;
    while (got < frames) {
        const int n = source.read(interleaved + static_cast<std::size_t>(got) * source.channels(), frames - got);
        if (n <= 0) break;
        got += n;
    }
    return got;
}

void check_source(AudioSource& source, const std::string& name) {
    const int channels = source.channels();
    if (channels < 1 || channels > 2)
        throw argument_error(name, " has ", channels, " channels; mastering takes mono or stereo audio (mix it down to "
                             "stereo first).");
    const double rate = source.sample_rate();
    if (!(rate >= 8000.0 && rate <= 768000.0))
        throw argument_error(name, " has a sample rate of ", rate, " Hz; mastering takes 8 kHz to 768 kHz.");
}

// Everything measured about one stream of interleaved audio: the analysis pass, and each processing pass's output.
class Meters {
public:
    void prepare(double rate, int channels, int block) {
        analysis_.sample_rate = rate;
        analysis_.channels = channels;
        loudness_.prepare(rate, channels);
        true_peak_.prepare(channels, block);
        spectrum_.prepare(rate, channels);
        runs_.assign(static_cast<std::size_t>(channels), 0);
        reset();
    }
    void reset() {
        loudness_.reset();
        true_peak_.reset();
        spectrum_.reset();
        std::fill(runs_.begin(), runs_.end(), 0);
        sample_peak_ = 0.0f;
        analysis_.frames = 0;
        analysis_.clipped_runs = 0;
    }
    void process(const float* interleaved, int frames) {
        const int channels = analysis_.channels;
        loudness_.process(interleaved, frames);
        true_peak_.process(interleaved, frames);
        spectrum_.process(interleaved, frames);
        for (int c = 0; c < channels; ++c) {
            int run = runs_[static_cast<std::size_t>(c)];
            float peak = sample_peak_;
            for (int i = 0; i < frames; ++i) {
                const float a = std::abs(interleaved[static_cast<std::size_t>(i) * channels + c]);
                peak = std::max(peak, a);
                run = a >= kClipLevel ? run + 1 : 0;
                analysis_.clipped_runs += run == kClipRun;
            }
            runs_[static_cast<std::size_t>(c)] = run;
            sample_peak_ = peak;
        }
        analysis_.frames += frames;
    }
    Analysis finish() {
        Analysis a = analysis_;
        a.integrated_lufs = loudness_.integrated_lufs();
        a.loudness_range_lu = loudness_.loudness_range_lu();
        a.true_peak_dbtp = to_db(true_peak_.finish());
        a.sample_peak_dbfs = to_db(sample_peak_);
        a.spectrum = spectrum_.finish();
        a.width_db = a.channels == 2 && spectrum_.mid_power() > 0.0 && spectrum_.side_power() > 0.0
                         ? 10.0 * std::log10(spectrum_.side_power() / spectrum_.mid_power())
                         : kNegativeInfinity;
        return a;
    }

private:
    Analysis analysis_;
    LoudnessMeter loudness_;
    TruePeakMeter true_peak_;
    SpectrumAnalyser spectrum_;
    std::vector<int> runs_;
    float sample_peak_ = 0.0f;
};

// TPDF dither (two uniform variables, +-1 LSB) and rounding to `bits`, left-justified in int32.
class Quantizer {
public:
    explicit Quantizer(int bits, std::uint64_t seed) : bits_(bits), scale_(std::ldexp(1.0f, bits - 1)), state_(seed * 2 + 1) {}
    std::int32_t operator()(float x) {
        const float dither = uniform() + uniform() - 1.0f;
        const float q = std::clamp(std::nearbyint(x * scale_ + dither), -scale_, scale_ - 1.0f);
        return static_cast<std::int32_t>(q) * (std::int32_t{1} << (32 - bits_));
    }
    float value(std::int32_t q) const { return static_cast<float>(q / (std::int32_t{1} << (32 - bits_))) / scale_; }

private:
    int bits_;
    float scale_;
    std::uint64_t state_;
    float uniform() {  // xorshift64*, top 24 bits: [0, 1)
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return static_cast<float>((state_ * 2685821657736338717ull) >> 40) * (1.0f / 16777216.0f);
    }
};

// The first guess of the gain: the loudness change the EQ makes, from the track's mid spectrum (each band's
// power times its width and the K-weighting), before the limiter; the passes measure the rest.
double eq_loudness_change_db(const Analysis& track, const MatchCurve& eq) {
    LoudnessMeter weighting;
    weighting.prepare(track.sample_rate, 1);
    const auto& grid = grid_hz();
    double before = 0.0, after = 0.0;
    for (std::size_t i = 0; i < grid.size(); ++i) {
        if (std::isnan(track.spectrum.mid_db[i])) continue;
        const double power = std::pow(10.0, track.spectrum.mid_db[i] / 10.0) * grid[i] * weighting.weighting_power(grid[i]);
        before += power;
        after += power * std::pow(10.0, eq.mid_db[i] / 10.0);
    }
    return before > 0.0 ? 10.0 * std::log10(after / before) : 0.0;
}

// The next gain to try, from the passes so far: secant steps, kept inside the bracket once one pass came out
// too quiet and another too loud (the limiter makes loudness a concave function of gain, so a plain secant
// step from the loud side overshoots).
class GainSearch {
public:
    GainSearch(double target, double slope) : target_(target), slope_(slope) {}
    double next(double gain, double loudness) {
        Point p{gain, loudness};
        Point& side = loudness < target_ ? quiet_ : loud_;
        const bool had_side = side.valid;
        const Point before = last_;
        side = p;
        last_ = p;
        if (quiet_.valid && loud_.valid) {
            const double t = (target_ - quiet_.loudness) / (loud_.loudness - quiet_.loudness);
            return quiet_.gain + std::clamp(t, 0.1, 0.9) * (loud_.gain - quiet_.gain);
        }
        double slope = slope_;  // the probe's, until two passes on one side measure it
        if (had_side && before.valid && before.gain != gain)
            slope = std::clamp((loudness - before.loudness) / (gain - before.gain), 0.05, 1.0);
        return gain + std::clamp((target_ - loudness) / slope, -kMaxGainDb, kMaxGainDb);
    }

private:
    struct Point {
        double gain = 0.0, loudness = 0.0;
        bool valid = true;
    };
    double target_, slope_;
    Point quiet_{0, 0, false}, loud_{0, 0, false}, last_{0, 0, false};
};

class Processor {
public:
    Processor(const Request& request, const Analysis& track, const MatchCurve& eq)
        : request_(request), channels_(track.channels) {
        const int taps = analysis_size(track.sample_rate) - 1;  // about 0.19 s
        const int fft_size = 4 * (taps + 1);
        mid_.prepare(design_fir(eq.mid_db, track.sample_rate, taps, request.phase), fft_size);
        if (channels_ == 2) side_.prepare(design_fir(eq.side_db, track.sample_rate, taps, request.phase), fft_size);
        block_ = mid_.block();
        fir_delay_ = request.phase == Phase::Linear ? (taps - 1) / 2 : 0;
        sample_rate_ = track.sample_rate;
        limiter_spec_.sample_rate = track.sample_rate;
        limiter_spec_.channels = channels_;
        limiter_spec_.max_block = block_;
        limiter_spec_.ceiling = std::pow(10.0, (request.ceiling_dbtp - kLimiterMarginDb) / 20.0);
        limiter_.prepare(limiter_spec_);
        meters_.prepare(track.sample_rate, channels_, block_);
        for (auto* v : {&in_, &out_float_}) v->resize(static_cast<std::size_t>(block_ * channels_));
        out_int_.resize(static_cast<std::size_t>(block_ * channels_));
        for (auto& p : planar_) p.resize(static_cast<std::size_t>(block_));
        for (auto& p : filtered_) p.resize(static_cast<std::size_t>(block_));
        gain_reduction_step_s_ = block_ / track.sample_rate;
    }

    int delay() const { return fir_delay_ + limiter_.latency(); }
    double gain_reduction_step_s() const { return gain_reduction_step_s_; }

    // One pass over the track at `gain_db` into `sink`; the measurements of what was written.
    Analysis pass(AudioSource& source, AudioSink& sink, double gain_db, std::vector<float>& gain_reduction,
                  const std::function<void(std::int64_t)>& advanced, const std::atomic<bool>* cancel) {
        limiter_.reset();
        meters_.reset();
        gain_reduction.clear();
        Quantizer quantize(request_.bits == 32 ? 24 : request_.bits, request_.seed);
        sink.begin();
        const auto gain = static_cast<float>(std::pow(10.0, gain_db / 20.0));
        float reduction = 0.0f;
        stream(source, advanced, cancel, [&] { reduction = limit_block(gain); }, [&](int offset, int count) {
            gain_reduction.push_back(reduction);
            emit(offset, count, quantize, sink);
        });
        return meters_.finish();
    }

    // The integrated loudness the output would have at each of `gains_db`, from one pass: one peak detector
    // and one K-weighting of the filtered track, a gain computer per gain. The K-weighting is applied before
    // the limiter's gain rather than after it, which is exact for a constant gain and within a few hundredths
    // of a LU for one that moves at the limiter's pace; the pass that writes measures the real thing.
    std::vector<double> probe(AudioSource& source, const std::vector<double>& gains_db,
                              const std::function<void(std::int64_t)>& advanced, const std::atomic<bool>* cancel) {
        constexpr std::size_t count = kProbeGains;
        if (gains_db.size() != count) throw std::logic_error("the probe takes kProbeGains gains");
        PeakDetector detector;
        detector.prepare(channels_, block_);
        LoudnessMeter weigher;
        weigher.prepare(sample_rate_, channels_);
        float gains[count];
        double gain_powers[count];
        for (std::size_t k = 0; k < count; ++k) {
            gains[k] = static_cast<float>(std::pow(10.0, gains_db[k] / 20.0));
            gain_powers[k] = double(gains[k]) * gains[k];
        }
        auto smoother = TruePeakLimiter::smoother<kProbeGains>(limiter_spec_, gains);
        std::vector<LoudnessMeter> meters(count);
        for (auto& m : meters) m.prepare(sample_rate_, channels_);
        std::vector<std::vector<double>> powers(count, std::vector<double>(static_cast<std::size_t>(block_)));
        std::vector<float> peaks(static_cast<std::size_t>(block_));
        std::vector<double> power(static_cast<std::size_t>(block_));
        std::vector<double> ring(static_cast<std::size_t>(limiter_.latency()), 0.0);  // the limiter's delay
        std::size_t ring_position = 0;
        stream(source, advanced, cancel, [&] {
            filter_block();
            const float* channels[2] = {filtered_[0].data(), filtered_[1].data()};
            detector.process(channels, block_, peaks.data());
            interleave(0, block_);
            weigher.weigh(out_float_.data(), block_, power.data());
            for (auto& p : power) {
                std::swap(p, ring[ring_position]);
                ring_position = (ring_position + 1) % ring.size();
            }
            float s[count];
            for (int i = 0; i < block_; ++i) {
                const auto n = static_cast<std::size_t>(i);
                smoother.next(peaks[n], s);
                for (std::size_t k = 0; k < count; ++k) powers[k][n] = power[n] * gain_powers[k] * s[k] * s[k];
            }
        }, [&](int offset, int n) {
            for (std::size_t k = 0; k < count; ++k) meters[k].add_power(powers[k].data() + offset, n);
        });
        std::vector<double> loudness;
        for (const auto& m : meters) loudness.push_back(m.integrated_lufs());
        return loudness;
    }

private:
    const Request& request_;
    int channels_, block_ = 0, fir_delay_ = 0;
    double sample_rate_ = 0.0, gain_reduction_step_s_ = 0.0;
    TruePeakLimiter::Spec limiter_spec_;
    FirFilter mid_, side_;
    TruePeakLimiter limiter_;
    Meters meters_;
    std::vector<float> in_, out_float_;
    std::vector<std::int32_t> out_int_;
    std::array<std::vector<float>, 2> planar_, filtered_;

    // Runs the whole track through `process` (one block of in_ into filtered_ at a time); `emit(offset, count)`
    // gets the part of each processed block that is output: the filters' and the limiter's delay taken off the
    // start, the flush cut at the end.
    template <typename Process, typename Emit>
    void stream(AudioSource& source, const std::function<void(std::int64_t)>& advanced, const std::atomic<bool>* cancel,
                Process process, Emit emit) {
        mid_.reset();
        side_.reset();
        source.rewind();
        std::int64_t consumed = 0, produced = 0, emitted = 0;
        bool ended = false;
        while (!ended || emitted < consumed) {
            check_cancel(cancel);
            int n = 0;
            if (!ended) {
                n = read_block(source, in_.data(), block_);
                ended = n < block_;
                consumed += n;
                advanced(n);
            }
            std::fill(in_.begin() + static_cast<std::ptrdiff_t>(n) * channels_, in_.end(), 0.0f);
            process();
            // Processed positions [produced, produced + block) are output positions shifted by delay().
            const std::int64_t first = std::max<std::int64_t>(produced, delay() + emitted);
            const std::int64_t last = std::min<std::int64_t>(produced + block_, delay() + consumed);
            produced += block_;
            if (last <= first) continue;
            const int count = static_cast<int>(last - first);
            emit(static_cast<int>(first - (produced - block_)), count);
            emitted += count;
        }
    }

    // in_ -> mid/side -> the match EQ -> left/right in filtered_.
    void filter_block() {
        for (int i = 0; i < block_; ++i) {
            const float* x = &in_[static_cast<std::size_t>(i * channels_)];
            if (channels_ == 2) {
                planar_[0][static_cast<std::size_t>(i)] = 0.5f * (x[0] + x[1]);
                planar_[1][static_cast<std::size_t>(i)] = 0.5f * (x[0] - x[1]);
            } else {
                planar_[0][static_cast<std::size_t>(i)] = x[0];
            }
        }
        mid_.process(planar_[0].data(), filtered_[0].data());
        if (channels_ == 2) {
            side_.process(planar_[1].data(), filtered_[1].data());
            for (int i = 0; i < block_; ++i) {
                const auto k = static_cast<std::size_t>(i);
                const float m = filtered_[0][k], s = filtered_[1][k];
                filtered_[0][k] = m + s;
                filtered_[1][k] = m - s;
            }
        }
    }

    // filter_block, the gain, the limiter; the largest gain reduction in dB.
    float limit_block(float gain) {
        filter_block();
        for (int c = 0; c < channels_; ++c)
            for (auto& v : filtered_[static_cast<std::size_t>(c)]) v *= gain;
        float* channels[2] = {filtered_[0].data(), filtered_[1].data()};
        return static_cast<float>(-to_db(limiter_.process(channels, block_)));
    }

    void interleave(int offset, int count) {
        for (int i = 0; i < count; ++i)
            for (int c = 0; c < channels_; ++c)
                out_float_[static_cast<std::size_t>(i * channels_ + c)] =
                    filtered_[static_cast<std::size_t>(c)][static_cast<std::size_t>(offset + i)];
    }

    void emit(int offset, int count, Quantizer& quantize, AudioSink& sink) {
        for (int i = 0; i < count; ++i)
            for (int c = 0; c < channels_; ++c) {
                const auto k = static_cast<std::size_t>(i * channels_ + c);
                const float x = filtered_[static_cast<std::size_t>(c)][static_cast<std::size_t>(offset + i)];
                if (request_.bits == 32) {
                    out_float_[k] = x;
                } else {
                    out_int_[k] = quantize(x);
                    out_float_[k] = quantize.value(out_int_[k]);
                }
            }
        meters_.process(out_float_.data(), count);
        if (request_.bits == 32)
            sink.write_float(out_float_.data(), count);
        else
            sink.write_int(out_int_.data(), count);
    }
};

// Audio that cannot be mastered, or matched: empty, shorter than `shortest` seconds ("NAME is 1 s long; " +
// too_short + "3 s"), or silent ("NAME is silent (...)" + if_silent).
void check_analysis(const Analysis& a, const std::string& name, double shortest, const char* too_short,
                    const char* if_silent) {
    if (a.frames == 0) throw argument_error(name, " contains no audio (0 samples).");
    const double seconds = static_cast<double>(a.frames) / a.sample_rate;
    if (seconds < shortest) throw argument_error(name, " is ", seconds_text(seconds), " long; ", too_short, seconds_text(shortest), ".");
    if (!std::isfinite(a.integrated_lufs))
        throw argument_error(name, " is silent (quieter than -70 LUFS throughout)", if_silent);
}

void check_request(const Request& r) {
    if (!(r.strength >= 0.0 && r.strength <= 1.0))
        throw argument_error("strength must be between 0 (no EQ) and 1 (the whole match), got ", r.strength, ".");
    if (!(r.ceiling_dbtp >= -20.0 && r.ceiling_dbtp <= 0.0))
        throw argument_error("the ceiling must be between -20 and 0 dBTP, got ", r.ceiling_dbtp, ".");
    if (!r.match_reference && !(r.target_lufs >= -40.0 && r.target_lufs <= -3.0))
        throw argument_error("the target loudness must be between -40 and -3 LUFS, got ", r.target_lufs, ".");
    if (!(r.max_eq_db > 0.0 && r.max_eq_db <= 24.0))
        throw argument_error("the largest EQ boost or cut must be above 0 and at most 24 dB, got ", r.max_eq_db, ".");
    if (r.bits != 16 && r.bits != 24 && r.bits != 32)
        throw argument_error("bits must be 16, 24 (integer, dithered) or 32 (float), got ", r.bits, ".");
}

}  // namespace

Analysis analyse(AudioSource& source, const Progress& progress, const std::atomic<bool>* cancel) {
    check_source(source, "the audio");
    const int block = analysis_size(source.sample_rate());
    Meters meters;
    meters.prepare(source.sample_rate(), source.channels(), block);
    std::vector<float> buffer(static_cast<std::size_t>(block * source.channels()));
    source.rewind();
    for (int n; (n = read_block(source, buffer.data(), block)) > 0;) {
        check_cancel(cancel);
        meters.process(buffer.data(), n);
        if (progress) progress(0.0, "analysing");
        if (n < block) break;
    }
    return meters.finish();
}

Result run(const Request& request, AudioSource& track, AudioSource* reference, AudioSink& out,
           const Progress& progress, const std::atomic<bool>* cancel) {
    check_request(request);
    if (request.match_reference && !reference) throw argument_error("no reference to match was given.");
    check_source(track, request.track_name);
    if (reference) check_source(*reference, request.reference_name);

    Result result;
    // Progress counts frames read: both analyses, then (a guess of) three passes over the track.
    double done = 0.0, total = 1.0;
    const auto report = [&](const std::string& stage) {
        if (progress) progress(std::min(0.99, done / total), stage);
    };
    const auto analysis_progress = [&](const std::string& stage) {
        return [&, stage](double, const std::string&) { report(stage); };
    };
    result.track = analyse(track, analysis_progress("analysing " + request.track_name), cancel);
    const Analysis& t = result.track;
    check_analysis(t, request.track_name, kShortestTrackS, "mastering needs at least ",
                   ": there is nothing to master.");
    if (t.clipped_runs > 0)
        result.warnings.push_back(request.track_name + " is clipped (" + std::to_string(t.clipped_runs) +
                                  " runs of samples at full scale): mastered anyway, but the clipping stays in it.");
    total = 4.0 * static_cast<double>(t.frames);  // analysis, the reference's, the probe, one pass
    done = static_cast<double>(t.frames);

    MidSide target;
    if (request.match_reference) {
        result.reference = analyse(*reference, analysis_progress("analysing " + request.reference_name), cancel);
        const Analysis& r = result.reference;
        check_analysis(r, request.reference_name, kShortestReferenceS, "a reference needs at least ",
                       "; choose a reference with music in it.");
        result.target_lufs = r.integrated_lufs;
        target = r.spectrum;
        if (t.channels == 2 && r.channels == 1)
            result.warnings.push_back(request.reference_name + " is mono: the track's stereo width is kept as it is.");
    } else {
        result.target_lufs = request.target_lufs;
        target.mid_db = neutral_target_db();
    }
    MatchSettings settings;
    settings.strength = request.strength;
    settings.max_db = request.max_eq_db;
    result.eq = match_curve(t.spectrum, target, settings);

    Processor processor(request, t, result.eq);
    result.gain_reduction_step_s = processor.gain_reduction_step_s();
    double gain = std::min(kMaxGainDb, result.target_lufs - t.integrated_lufs - eq_loudness_change_db(t, result.eq));
    const auto advanced = [&](std::int64_t frames) {
        done += static_cast<double>(frames);
        report("mastering");
    };
    // One pass tries a spread of gains at once (the limiter only ever takes loudness away, so the gain that
    // reaches the target lies above the first guess), then the gain is read off between the two that bracket
    // the target.
    std::vector<double> gains;
    for (double step : kProbeStepsDb) gains.push_back(std::min(kMaxGainDb, gain + step));
    const std::vector<double> probed = processor.probe(track, gains, advanced, cancel);
    double slope = 1.0;
    for (std::size_t k = 0; k + 1 < gains.size(); ++k) {
        const bool last = k + 2 == gains.size();
        if (!(probed[k + 1] >= result.target_lufs || last) || gains[k + 1] <= gains[k]) continue;
        slope = std::clamp((probed[k + 1] - probed[k]) / (gains[k + 1] - gains[k]), 0.05, 1.0);
        if (result.target_lufs <= probed[0])
            gain = gains[0] + (result.target_lufs - probed[0]);
        else
            gain = std::min(kMaxGainDb, gains[k] + (result.target_lufs - probed[k]) / slope);
        break;
    }
    GainSearch search(result.target_lufs, slope);
    for (int pass = 1;; ++pass) {
        result.result = processor.pass(track, out, gain, result.gain_reduction_db, advanced, cancel);
        result.gain_db = gain;
        result.passes = pass;
        const double loudness = result.result.integrated_lufs;
        if (std::abs(result.target_lufs - loudness) <= kLoudnessTolerance || pass == kMaxPasses || !std::isfinite(loudness))
            break;
        const double next = std::min(kMaxGainDb, search.next(gain, loudness));
        if (next == gain) break;
        gain = next;
        total = std::max(total, done + static_cast<double>(t.frames));
    }
    const double miss = result.target_lufs - result.result.integrated_lufs;
    if (std::abs(miss) > kLoudnessReachable) {
        std::ostringstream s;
        s.precision(3);
        s << "the loudness target " << result.target_lufs << " LUFS is out of reach under a ceiling of "
          << request.ceiling_dbtp << " dBTP; the result is " << result.result.integrated_lufs << " LUFS.";
        result.warnings.push_back(s.str());
    }
    if (progress) progress(1.0, "done");
    return result;
}

}  // namespace tonemorph::master
