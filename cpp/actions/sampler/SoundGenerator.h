// The sampler's generator (training/sampler/): a rectified-flow network exported to ONNX (kind "sampler") and
// the sampling loop that runs it, the same loop as training/sampler/model.py's `sample`:
//     x_0 = noise [samples],  x_{k+1} = x_k + v(x_k, k / steps, c) / steps,  audio = x_steps * audio_scale
// with classifier-free guidance, one batched call of [x, x] with [c, unspecified] per step:
//     v = v_u + guidance (v_c - v_u)        (guidance 1, or c all unspecified: v_c alone, batch 1)
// Noise from a seed: Box-Muller normals from midi::Pcg32(seed), as the MIDI tools draw their latents.
//
// A variation starts from a given sound at strength s (0 < s <= 1): the flow's point at t0 = 1 - s,
//     x_t0 = s noise + (1 - s) sound / audio_scale        (model.py: x_t = (1 - t) noise + t x_1)
// and n = ceil(s steps) Euler steps of s / n from there, t_k = t0 + s k / n. s = 1 is the plain sampler.
// A morph from A to B walks its start from A to B with an equal-power blend (cos, sin of a pi/2) and keeps
// one noise for every item, so neighbours differ only by the blend; its ends are variations of A and B.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "Prompt.h"

namespace Ort {
struct Session;
}

namespace tonemorph::sampler {

constexpr const char* kSamplerKind = "sampler";
constexpr int kConditionCount = 7;  // kind, then the six descriptors (training/sampler/model.py CONDITIONS)
constexpr const char* kConditionNames[kConditionCount] = {"kind",   "brightness_hz", "decay_s", "pitch_hz",
                                                          "crest_db", "rms_db",        "flatness"};
constexpr int kMaxSteps = 1000;
constexpr double kMaxGuidance = 20.0;

// A file that is not a usable sampler, or a request out of range; the message says what and where.
class SamplerError final : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct SamplerInfo {
    std::string path, name, description;
    int version = 0;
    int sample_rate = 0;
    int length = 0;  // samples the model was trained on
    int hop = 0;     // a generated length must be a multiple of it
    float audio_scale = 1.0f;
    int default_steps = 0;
    double default_guidance = 1.0;
    double time_shift = 1.0;            // the step schedule's shift (time_grid); 1: even steps
    std::vector<int> condition_values;  // how many values each condition takes, unspecified included
    std::vector<int> unspecified;       // each condition's "unspecified" value
    Vocabulary vocabulary;              // the words prompts may use (Prompt.h)
};

using Progress = std::function<void(float)>;  // fraction done, 0..1

class SamplerModel final {
public:
    // Opens `path` as a sampler; SamplerError naming the file (unreadable, not ONNX, another kind: "it is an
    // 'instrument' model, not a sampler", metadata that does not fit), OrtUnavailable.
    static std::shared_ptr<const SamplerModel> open(const std::string& path);
    ~SamplerModel();

    const SamplerInfo& info() const { return info_; }

    // The network once: x [batch * samples], t [batch], conditions [batch * kConditionCount] -> velocity
    // [batch * samples]. Thread-safe.
    std::vector<float> velocity(const std::vector<float>& x, const std::vector<float>& t,
                                const std::vector<std::int64_t>& conditions, int batch) const;

private:
    SamplerModel() = default;
    SamplerInfo info_;
    std::unique_ptr<Ort::Session> session_;
};

struct SampleRequest {
    std::vector<std::int64_t> conditions;  // kConditionCount values; empty: all unspecified
    int steps = 0;                         // 0: the model's default_steps
    double guidance = -1.0;                // < 0: the model's default_guidance
    std::uint64_t seed = 0;
    std::vector<float> noise;  // the starting noise; empty: drawn from `seed` (sampler_noise)
    int samples = 0;           // 0: the model's length; else a multiple of its hop
    std::vector<float> start;  // a variation's sound [samples] at the model's rate (fit_sound); empty: none
    double strength = 1.0;     // with a start: 0 returns it, 1 ignores it
    bool finish = true;        // clear the sound's noise floor and keep it under full scale (NoiseFloor.h)
};

// A sound for `start`: `channels` planar channels ([channel][frame]) at `rate` -> mono (their mean,
// midi::mix_to_mono) at the model's rate (midi::resample_whole), cut or padded with silence to `samples` (0: the
// model's length). SamplerError for an empty sound or a rate out of range.
std::vector<float> fit_sound(const SamplerInfo& info, const std::vector<float>& planar, int channels, double rate,
                             int samples = 0);

// The start of a morph's item at `position` 0..1 from `a` to `b` (same length): cos(p pi/2) a + sin(p pi/2) b.
std::vector<float> morph_start(const std::vector<float>& a, const std::vector<float>& b, double position);

// The times t_0 .. t_count of a run of `count` steps from t = 1 - strength to 1 (model.py's time_grid):
// t_k = 1 - strength f(1 - k / count), f(sigma) = shift sigma / (1 + (shift - 1) sigma). shift 1 spaces them
// evenly; above 1 it spends more of the steps where the sound is still mostly noise.
std::vector<double> time_grid(int count, double strength, double shift);

// N(0, 1) noise of `count` samples from `seed`.
std::vector<float> sampler_noise(std::uint64_t seed, int count);

// One sound [samples] at the model's rate, finished (finish_sound: its noise floor cleared, its peak kept under
// full scale) unless the request says not. SamplerError for a request out of range; tonemorph::Cancelled
// (Action.h) when *cancel becomes true. progress(fraction) after each step.
std::vector<float> generate(const SamplerModel& model, const SampleRequest& request, const Progress& progress = {},
                            const std::atomic<bool>* cancel = nullptr);

// `count` sounds walking from `a` to `b` (fit_sound'ed): item i is `request` with start morph_start(a, b,
// i / (count - 1)) and the same noise (request.noise, or drawn from request.seed). progress over all items.
std::vector<std::vector<float>> morph(const SamplerModel& model, const SampleRequest& request,
                                      const std::vector<float>& a, const std::vector<float>& b, int count,
                                      const Progress& progress = {}, const std::atomic<bool>* cancel = nullptr);

}  // namespace tonemorph::sampler
