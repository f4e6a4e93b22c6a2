#include "SoundGenerator.h"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cmath>

#include "Action.h"
#include "ModelMetadata.h"
#include "NoiseFloor.h"
#include "OnnxFile.h"
#include "OrtRuntime.h"
#include "midi/Groove.h"
#include "midi/Sampler.h"
#include "midi/TranscribeAudio.h"

namespace tonemorph::sampler {

namespace {

constexpr std::size_t kMaxSamplerModelBytes = std::size_t{64} << 20;
constexpr int kMaxSampleRate = 192000;
constexpr int kMaxLengthSeconds = 60;
constexpr double kMinSoundRate = 1000.0, kMaxSoundRate = 768000.0;
constexpr double kHalfPi = 1.57079632679489661923;
const char* const kInputs[] = {"x", "t", "conditions"};
const char* const kOutputs[] = {"velocity"};

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
    throw SamplerError("'" + path + "' cannot be used as a sampler: " + why + ".");
}

void check_cancel(const std::atomic<bool>* cancel) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Cancelled();
}

}  // namespace

SamplerModel::~SamplerModel() = default;

std::shared_ptr<const SamplerModel> SamplerModel::open(const std::string& path) {
    OnnxFile file;
    try {
        file = OnnxFile::read(path, kMaxSamplerModelBytes);
    } catch (const std::runtime_error& e) {
        refuse(path, e.what());
    }
    const auto& meta = file.metadata;
    // Instruments, the first kind, carry tonemorph_format and no kind.
    const auto kind = meta.find("kind");
    if (kind == meta.end() && !meta.count("tonemorph_format"))
        refuse(path, "it has no 'kind' in its metadata; it is not one of tonemorph's models");
    const std::string found = kind == meta.end() ? "instrument" : printable_text(kind->second);
    if (found != kSamplerKind)
        throw SamplerError("'" + path + "' is a '" + found + "' model, not a sampler; give a sampler model "
                           "(`tonemorph sampler train` makes them).");
    std::shared_ptr<SamplerModel> model(new SamplerModel());
    SamplerInfo& info = model->info_;
    info.path = path;
    info.name = meta.count("name") ? printable_text(meta.at("name")) : "";
    info.description = meta.count("description") ? meta.at("description").substr(0, 500) : "";
    try {
        info.version = metadata_int(meta, "version", 0, 1 << 20);
        info.sample_rate = metadata_int(meta, "sample_rate", 8000, kMaxSampleRate);
        info.hop = metadata_int(meta, "hop", 1, 1 << 16);
        info.length = metadata_int(meta, "length", info.hop, kMaxLengthSeconds * info.sample_rate);
        info.audio_scale = static_cast<float>(metadata_double(meta, "audio_scale", 1e-6, 100.0));
        info.default_steps = metadata_int(meta, "default_steps", 1, kMaxSteps);
        info.default_guidance = metadata_double(meta, "default_guidance", 0.0, kMaxGuidance);
        // models exported before the shift have even steps
        info.time_shift = meta.count("time_shift") ? metadata_double(meta, "time_shift", 0.1, 20.0) : 1.0;
        info.condition_values = metadata_ints(meta, "condition_values", kConditionCount, 1, 1 << 16);
        info.unspecified = metadata_ints(meta, "unspecified_conditions", kConditionCount, 0, 1 << 16);
        info.vocabulary = read_vocabulary(meta, info.condition_values);
    } catch (const BadMetadata& e) {
        refuse(path, e.what());
    }
    if (info.length % info.hop != 0) refuse(path, "its length is not a whole number of hops");
    for (int c = 0; c < kConditionCount; ++c)
        if (info.unspecified[static_cast<std::size_t>(c)] >= info.condition_values[static_cast<std::size_t>(c)])
            refuse(path, "its unspecified condition values are out of range");
    for (const char* name : kInputs)
        if (!find_value(file.graph.inputs, name)) refuse(path, std::string("the graph has no input '") + name + "'");
    for (const char* name : kOutputs)
        if (!find_value(file.graph.outputs, name)) refuse(path, std::string("the graph has no output '") + name + "'");

    try {
        model->session_ = open_single_thread_session(path);
    } catch (const Ort::Exception& e) {
        refuse(path, std::string("ONNX Runtime cannot open it (") + e.what() + ")");
    }
    return model;
}

std::vector<float> SamplerModel::velocity(const std::vector<float>& x, const std::vector<float>& t,
                                          const std::vector<std::int64_t>& conditions, int batch) const {
    if (batch < 1 || t.size() != static_cast<std::size_t>(batch) ||
        conditions.size() != static_cast<std::size_t>(batch) * kConditionCount || x.empty() ||
        x.size() % static_cast<std::size_t>(batch) != 0)
        throw SamplerError("a sampler call needs batch rows of x, one t and " + std::to_string(kConditionCount) +
                           " conditions per row.");
    const std::int64_t samples = static_cast<std::int64_t>(x.size() / static_cast<std::size_t>(batch));
    if (samples % info_.hop != 0)
        throw SamplerError("the length (" + std::to_string(samples) + " samples) must be a multiple of the model's hop (" +
                           std::to_string(info_.hop) + ").");
    for (int c = 0; c < kConditionCount; ++c)
        for (int b = 0; b < batch; ++b) {
            const std::int64_t v = conditions[static_cast<std::size_t>(b * kConditionCount + c)];
            if (v < 0 || v >= info_.condition_values[static_cast<std::size_t>(c)])
                throw SamplerError("condition " + std::to_string(c) + " is " + std::to_string(v) + "; this model takes 0.." +
                                   std::to_string(info_.condition_values[static_cast<std::size_t>(c)] - 1) + ".");
        }
    const Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    const std::int64_t x_shape[] = {batch, samples};
    const std::int64_t t_shape[] = {batch};
    const std::int64_t c_shape[] = {batch, kConditionCount};
    Ort::Value inputs[] = {
        Ort::Value::CreateTensor<float>(memory, const_cast<float*>(x.data()), x.size(), x_shape, 2),
        Ort::Value::CreateTensor<float>(memory, const_cast<float*>(t.data()), t.size(), t_shape, 1),
        Ort::Value::CreateTensor<std::int64_t>(memory, const_cast<std::int64_t*>(conditions.data()), conditions.size(),
                                               c_shape, 2),
    };
    auto outputs = session_->Run(Ort::RunOptions{nullptr}, kInputs, inputs, 3, kOutputs, 1);
    if (outputs[0].GetTensorTypeAndShapeInfo().GetElementCount() != x.size())
        throw SamplerError("'" + info_.path + "' gave a velocity of the wrong size; it does not match its metadata.");
    const float* data = outputs[0].GetTensorData<float>();
    return std::vector<float>(data, data + x.size());
}

std::vector<float> sampler_noise(std::uint64_t seed, int count) {
    midi::Pcg32 rng(seed);
    return midi::groove_latent(rng, count, 1.0);
}

std::vector<float> fit_sound(const SamplerInfo& info, const std::vector<float>& planar, int channels, double rate,
                             int samples) {
    if (channels < 1 || planar.empty() || planar.size() % static_cast<std::size_t>(channels) != 0)
        throw SamplerError("the sound is empty (or its samples are not a whole number of frames of " +
                           std::to_string(channels) + " channels).");
    if (!(rate >= kMinSoundRate && rate <= kMaxSoundRate))
        throw SamplerError("the sound's sample rate is " + std::to_string(rate) + " Hz; give one of 1000..768000 Hz.");
    const std::size_t frames = planar.size() / static_cast<std::size_t>(channels);
    std::vector<float> mono = midi::mix_to_mono(planar.data(), channels, frames);
    if (std::lround(rate) != info.sample_rate) mono = midi::resample_whole(mono, rate, info.sample_rate);
    mono.resize(static_cast<std::size_t>(samples == 0 ? info.length : samples), 0.0f);
    return mono;
}

std::vector<float> morph_start(const std::vector<float>& a, const std::vector<float>& b, double position) {
    if (a.size() != b.size())
        throw SamplerError("a morph's two sounds must have one length, not " + std::to_string(a.size()) + " and " +
                           std::to_string(b.size()) + " samples.");
    if (!(position >= 0.0 && position <= 1.0))
        throw SamplerError("a morph's position must be 0..1, not " + std::to_string(position) + ".");
    // equal power: two unrelated sounds keep their loudness in the middle of the walk; the ends are exact
    const float wa = position == 1.0 ? 0.0f : static_cast<float>(std::cos(position * kHalfPi));
    const float wb = position == 0.0 ? 0.0f : static_cast<float>(std::sin(position * kHalfPi));
    std::vector<float> start(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) start[i] = wa * a[i] + wb * b[i];
    return start;
}

std::vector<double> time_grid(int count, double strength, double shift) {
    std::vector<double> grid(static_cast<std::size_t>(count) + 1);
    for (int k = 0; k <= count; ++k) {
        const double sigma = 1.0 - static_cast<double>(k) / count;
        grid[static_cast<std::size_t>(k)] = 1.0 - strength * (shift * sigma / (1.0 + (shift - 1.0) * sigma));
    }
    return grid;
}

std::vector<float> generate(const SamplerModel& model, const SampleRequest& request, const Progress& progress,
                            const std::atomic<bool>* cancel) {
    const SamplerInfo& info = model.info();
    const int steps = request.steps == 0 ? info.default_steps : request.steps;
    if (steps < 1 || steps > kMaxSteps)
        throw SamplerError("steps must be 1.." + std::to_string(kMaxSteps) + ", not " + std::to_string(request.steps) +
                           ".");
    const double guidance = request.guidance < 0.0 ? info.default_guidance : request.guidance;
    if (!(guidance <= kMaxGuidance))
        throw SamplerError("guidance must be 0..20 (0: ignore the words; 1: as trained; higher: follow them harder), "
                           "not " + std::to_string(request.guidance) + ".");
    const int samples = request.samples == 0 ? info.length : request.samples;
    if (samples < info.hop || samples % info.hop != 0 || samples > kMaxLengthSeconds * info.sample_rate)
        throw SamplerError("the length must be a multiple of " + std::to_string(info.hop) + " samples up to " +
                           std::to_string(kMaxLengthSeconds) + " s, not " + std::to_string(samples) + ".");
    const std::vector<std::int64_t> null(info.unspecified.begin(), info.unspecified.end());
    const std::vector<std::int64_t> conditions = request.conditions.empty() ? null : request.conditions;
    if (conditions.size() != kConditionCount)
        throw SamplerError("a sampler takes " + std::to_string(kConditionCount) + " conditions, not " +
                           std::to_string(conditions.size()) + ".");
    const bool varied = !request.start.empty();
    const double strength = varied ? request.strength : 1.0;
    if (!(strength >= 0.0 && strength <= 1.0))
        throw SamplerError("strength must be 0..1 (0 returns the sound, 1 ignores it), not " +
                           std::to_string(request.strength) + ".");
    if (varied && request.start.size() != static_cast<std::size_t>(samples))
        throw SamplerError("the starting sound has " + std::to_string(request.start.size()) + " samples; the sound has " +
                           std::to_string(samples) + ".");
    std::vector<float> x = request.noise.empty() ? sampler_noise(request.seed, samples) : request.noise;
    if (x.size() != static_cast<std::size_t>(samples))
        throw SamplerError("the noise has " + std::to_string(x.size()) + " samples; the sound has " +
                           std::to_string(samples) + ".");
    if (strength == 0.0) {
        if (progress) progress(1.0f);
        return request.start;
    }
    const auto n = static_cast<std::size_t>(samples);
    const float s = static_cast<float>(strength);
    // x_t0 = s noise + (1 - s) x_1 at t0 = 1 - s (model.py's x_t = (1 - t) x_0 + t x_1)
    const float keep = static_cast<float>(1.0 - strength);  // as torch rounds the Python number
    if (varied)
        for (std::size_t i = 0; i < n; ++i) x[i] = s * x[i] + keep * (request.start[i] / info.audio_scale);
    const int count = varied ? static_cast<int>(std::ceil(strength * steps)) : steps;
    const bool guided = guidance != 1.0 && conditions != null;
    std::vector<float> batch_x(guided ? 2 * n : n);
    std::vector<std::int64_t> batch_conditions(conditions);
    if (guided) batch_conditions.insert(batch_conditions.end(), null.begin(), null.end());
    const float g = static_cast<float>(guidance);
    const auto step_count = static_cast<float>(count);
    const std::vector<double> times = time_grid(count, strength, info.time_shift);
    for (int k = 0; k < count; ++k) {
        check_cancel(cancel);
        // t and the step as Python computes them (in double), then float32 as torch stores them
        const auto index = static_cast<std::size_t>(k);
        const float t = static_cast<float>(times[index]);
        const float dt = static_cast<float>(times[index + 1] - times[index]);
        std::copy(x.begin(), x.end(), batch_x.begin());
        if (guided) std::copy(x.begin(), x.end(), batch_x.begin() + static_cast<std::ptrdiff_t>(n));
        const std::vector<float> v =
            model.velocity(batch_x, std::vector<float>(guided ? 2 : 1, t), batch_conditions, guided ? 2 : 1);
        for (std::size_t i = 0; i < n; ++i) {
            const float velocity = guided ? v[n + i] + g * (v[i] - v[n + i]) : v[i];
            x[i] = x[i] + velocity * dt;
        }
        if (progress) progress(static_cast<float>(k + 1) / step_count);
    }
    for (float& value : x) value *= info.audio_scale;
    if (request.finish) finish_sound(x, info.sample_rate);
    return x;
}

std::vector<std::vector<float>> morph(const SamplerModel& model, const SampleRequest& request,
                                      const std::vector<float>& a, const std::vector<float>& b, int count,
                                      const Progress& progress, const std::atomic<bool>* cancel) {
    if (count < 2)
        throw SamplerError("a morph walks over 2 or more sounds (its ends near the two given), not " +
                           std::to_string(count) + ".");
    SampleRequest item = request;
    if (item.noise.empty()) item.noise = sampler_noise(request.seed, static_cast<int>(a.size()));
    std::vector<std::vector<float>> sounds;
    for (int i = 0; i < count; ++i) {
        item.start = morph_start(a, b, static_cast<double>(i) / (count - 1));
        const Progress part = [&progress, i, count](float fraction) {
            if (progress) progress((static_cast<float>(i) + fraction) / static_cast<float>(count));
        };
        sounds.push_back(generate(model, item, part, cancel));
    }
    return sounds;
}

}  // namespace tonemorph::sampler
