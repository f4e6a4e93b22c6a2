// The sampler's generator (training/sampler/): a rectified-flow network exported to ONNX (kind "sampler") and
// the sampling loop that runs it, the same loop as training/sampler/model.py's `sample`:
//     x_0 = noise [samples],  x_{k+1} = x_k + v(x_k, k / steps, c) / steps,  audio = x_steps * audio_scale
// with classifier-free guidance, one batched call of [x, x] with [c, unspecified] per step:
//     v = v_u + guidance (v_c - v_u)        (guidance 1, or c all unspecified: v_c alone, batch 1)
// Noise from a seed: Box-Muller normals from midi::Pcg32(seed), as the MIDI tools draw their latents.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace Ort {
struct Session;
}

namespace tonemorph::sampler {

constexpr const char* kSamplerKind = "sampler";
constexpr int kConditionCount = 7;  // kind, then the six descriptors (training/sampler/model.py CONDITIONS)
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
    std::vector<int> condition_values;  // how many values each condition takes, unspecified included
    std::vector<int> unspecified;       // each condition's "unspecified" value
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
};

// N(0, 1) noise of `count` samples from `seed`.
std::vector<float> sampler_noise(std::uint64_t seed, int count);

// One sound [samples] at the model's rate. SamplerError for a request out of range; tonemorph::Cancelled
// (Action.h) when *cancel becomes true. progress(fraction) after each step.
std::vector<float> generate(const SamplerModel& model, const SampleRequest& request, const Progress& progress = {},
                            const std::atomic<bool>* cancel = nullptr);

}  // namespace tonemorph::sampler
