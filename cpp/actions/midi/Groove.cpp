#include "Groove.h"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>

#include "ModelMetadata.h"
#include "OnnxFile.h"
#include "OrtRuntime.h"

namespace tonemorph::midi {

namespace {

constexpr std::size_t kMaxGrooveModelBytes = std::size_t{64} << 20;
constexpr int kMaxLatent = 1024;
constexpr double kMaxGrooveTemperature = 10.0;
constexpr int kTapIndex = 9;
constexpr int kGrooveFlag = 12, kDrumifyFlag = 13;
constexpr double kPi = 3.14159265358979323846;
const char* const kGrooveInputs[] = {"condition", "z"};
const char* const kGrooveOutputs[] = {"hit_logits", "velocity", "offset"};

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
    throw MidiError("'" + path + "' cannot be used as a groove model: " + why + ".");
}

int meta_int(const Metadata& meta, const std::string& path, const std::string& key, int low, int high) {
    try {
        return metadata_int(meta, key, low, high);
    } catch (const BadMetadata& e) {
        refuse(path, e.what());
    }
}

// The classes as Python's json.dumps writes them, to compare with the model's metadata.
std::string classes_json() {
    std::string out = "[";
    const auto& classes = groove_drum_classes();
    for (std::size_t c = 0; c < classes.size(); ++c) {
        out += c ? ", [" : "[";
        for (std::size_t k = 0; k < classes[c].size(); ++k) out += (k ? ", " : "") + std::to_string(classes[c][k]);
        out += "]";
    }
    return out + "]";
}

void check_request(const GrooveRequest& request, const char* tool) {
    if (request.variations < 1 || request.variations > kMaxVariations)
        throw MidiError("variations must be 1.." + std::to_string(kMaxVariations) + ", not " +
                        std::to_string(request.variations) + ".");
    if (!(request.temperature >= 0.0 && request.temperature <= kMaxGrooveTemperature))
        throw MidiError("temperature must be 0..10 (0: the model's most likely feel; 1: as it learned; higher: "
                        "wilder), not " + std::to_string(request.temperature) + ".");
    if (request.clip.notes.empty())
        throw MidiError(std::string("the clip has no notes; ") + tool + " needs a clip with notes in it.");
    int last = 0;
    for (const Note& n : request.clip.notes) last = std::max(last, n.start_step + 1);
    if (std::max(last, request.clip.steps) > kGrooveMaxBars * kStepsPerBar)
        throw MidiError("the clip is longer than " + std::to_string(kGrooveMaxBars) + " bars; " + tool +
                        " takes up to " + std::to_string(kGrooveMaxBars) + " bars (in 2-bar windows): cut it "
                        "into parts.");
}

// Whole bars covering the clip's length and every onset.
int clip_length(const Clip& clip) {
    int last = clip.steps;
    for (const Note& n : clip.notes) last = std::max(last, n.start_step + 1);
    return whole_bars(last);
}

int window_count(int steps) { return (steps + kGrooveWindowSteps - 1) / kGrooveWindowSteps; }

float clamp_offset(float offset) { return std::clamp(offset, -kGrooveMaxOffset, kGrooveMaxOffset); }

int to_velocity(float v) {
    return std::clamp(static_cast<int>(std::floor(static_cast<double>(v) * 127.0 + 0.5)), 1, 127);
}

void check_cancel(const std::atomic<bool>* cancel) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Cancelled();
}

}  // namespace

const std::vector<std::vector<int>>& groove_drum_classes() {
    static const std::vector<std::vector<int>> classes = {
        {36, 35},
        {38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85},
        {42, 44, 54, 68, 69, 70, 71, 73, 78, 80},
        {46, 67, 72, 74, 79, 81},
        {45, 29, 41, 61, 64, 84},
        {48, 47, 60, 63, 77, 86, 87},
        {50, 30, 43, 62, 76, 83},
        {49, 55, 57, 58},
        {51, 52, 53, 59, 82},
    };
    return classes;
}

int groove_drum_class(int pitch) {
    const auto& classes = groove_drum_classes();
    for (std::size_t c = 0; c < classes.size(); ++c)
        if (std::find(classes[c].begin(), classes[c].end(), pitch) != classes[c].end()) return static_cast<int>(c);
    return -1;
}

std::vector<float> groove_latent(Pcg32& rng, int count, double temperature) {
    std::vector<float> z(static_cast<std::size_t>(count), 0.0f);
    if (temperature <= 0.0) return z;
    for (int k = 0; k < count; k += 2) {
        const double u1 = rng.uniform(), u2 = rng.uniform();
        const double r = std::sqrt(-2.0 * std::log(1.0 - u1));
        z[static_cast<std::size_t>(k)] = static_cast<float>(r * std::cos(2.0 * kPi * u2) * temperature);
        if (k + 1 < count) z[static_cast<std::size_t>(k + 1)] = static_cast<float>(r * std::sin(2.0 * kPi * u2) * temperature);
    }
    return z;
}

GrooveModel::~GrooveModel() = default;

std::shared_ptr<const GrooveModel> GrooveModel::open(const std::string& path) {
    OnnxFile file;
    try {
        file = OnnxFile::read(path, kMaxGrooveModelBytes);
    } catch (const std::runtime_error& e) {
        refuse(path, e.what());
    }
    const auto& meta = file.metadata;
    const auto kind = meta.find("kind");
    if (kind == meta.end()) refuse(path, "it has no 'kind' in its metadata; it is not one of tonemorph's MIDI models");
    if (kind->second != kGrooveKind)
        throw MidiError("'" + path + "' is a '" + printable_text(kind->second) + "' model, not a " + kGrooveKind + " model.");
    std::shared_ptr<GrooveModel> model(new GrooveModel());
    GrooveModelInfo& info = model->info_;
    info.path = path;
    info.name = meta.count("name") ? printable_text(meta.at("name")) : "";
    info.description = meta.count("description") ? meta.at("description").substr(0, 500) : "";
    info.version = meta_int(meta, path, "version", 0, 1 << 20);
    info.latent = meta_int(meta, path, "latent", 1, kMaxLatent);
    meta_int(meta, path, "steps", kGrooveWindowSteps, kGrooveWindowSteps);
    meta_int(meta, path, "steps_per_bar", kStepsPerBar, kStepsPerBar);
    meta_int(meta, path, "num_classes", kGrooveClasses, kGrooveClasses);
    meta_int(meta, path, "condition_size", kGrooveConditionSize, kGrooveConditionSize);
    meta_int(meta, path, "tap_index", kTapIndex, kTapIndex);
    meta_int(meta, path, "groove_flag_index", kGrooveFlag, kGrooveFlag);
    meta_int(meta, path, "drumify_flag_index", kDrumifyFlag, kDrumifyFlag);
    const auto classes = meta.find("drum_classes");
    if (classes == meta.end() || classes->second != classes_json())
        refuse(path, "its metadata 'drum_classes' is not the nine drum classes this tonemorph knows");
    for (const char* name : kGrooveInputs)
        if (!find_value(file.graph.inputs, name)) refuse(path, std::string("the graph has no input '") + name + "'");
    for (const char* name : kGrooveOutputs)
        if (!find_value(file.graph.outputs, name)) refuse(path, std::string("the graph has no output '") + name + "'");

    try {
        model->session_ = open_single_thread_session(path);
    } catch (const Ort::Exception& e) {
        refuse(path, std::string("ONNX Runtime cannot open it (") + e.what() + ")");
    }
    return model;
}

GrooveWindow GrooveModel::run(const std::vector<float>& condition, const std::vector<float>& z) const {
    constexpr std::size_t cells = std::size_t{kGrooveWindowSteps} * kGrooveClasses;
    if (condition.size() != std::size_t{kGrooveWindowSteps} * kGrooveConditionSize ||
        z.size() != static_cast<std::size_t>(info_.latent))
        throw MidiError("a groove window needs 32 x 14 condition values and " + std::to_string(info_.latent) +
                        " latent values.");
    const Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    const std::int64_t condition_shape[] = {1, kGrooveWindowSteps, kGrooveConditionSize};
    const std::int64_t z_shape[] = {1, info_.latent};
    Ort::Value inputs[] = {
        Ort::Value::CreateTensor<float>(memory, const_cast<float*>(condition.data()), condition.size(),
                                        condition_shape, 3),
        Ort::Value::CreateTensor<float>(memory, const_cast<float*>(z.data()), z.size(), z_shape, 2),
    };
    auto outputs = session_->Run(Ort::RunOptions{nullptr}, kGrooveInputs, inputs, 2, kGrooveOutputs, 3);
    GrooveWindow window;
    std::vector<float>* targets[] = {&window.hit_logits, &window.velocity, &window.offset};
    for (int k = 0; k < 3; ++k) {
        if (outputs[k].GetTensorTypeAndShapeInfo().GetElementCount() != cells)
            throw MidiError("'" + info_.path + "' gave outputs of the wrong size; it does not match its metadata.");
        const float* data = outputs[k].GetTensorData<float>();
        targets[k]->assign(data, data + cells);
    }
    return window;
}

ToolResult groove(const GrooveModel& model, const GrooveRequest& request, const Progress& progress,
                  const std::atomic<bool>* cancel) {
    check_request(request, "groove");
    const Clip& clip = request.clip;
    if (!clip.drums)
        throw MidiError("the clip is not a drum clip (no notes on channel 10): groove gives a drum part a drummer's "
                        "timing and dynamics. For drums that follow a melody or a bassline, use drumify.");
    const int steps = clip_length(clip);
    const int windows = window_count(steps);
    std::vector<float> hits(static_cast<std::size_t>(windows) * kGrooveWindowSteps * kGrooveClasses, 0.0f);
    int mapped = 0, unmapped = 0;
    for (const Note& n : clip.notes) {
        const int c = groove_drum_class(n.pitch);
        if (c < 0) {
            ++unmapped;
            continue;
        }
        ++mapped;
        hits[static_cast<std::size_t>(n.start_step) * kGrooveClasses + static_cast<std::size_t>(c)] = 1.0f;
    }
    if (mapped == 0)
        throw MidiError("none of the clip's notes is a General MIDI drum of the nine kinds groove knows (kick, snare, "
                        "hi-hats, toms, crash, ride); is it a drum clip?");
    ToolResult result;
    result.new_from_step = 0;
    if (unmapped)
        result.messages.push_back(std::to_string(unmapped) + " note" + (unmapped == 1 ? " is" : "s are") +
                                  " not one of the nine drum kinds (kick, snare, hi-hats, toms, crash, ride) and "
                                  "kept as played.");
    if (windows > 2)
        result.messages.push_back("the clip is " + std::to_string(steps / kStepsPerBar) + " bars: grooved in " +
                                  std::to_string(windows) + " windows of 2 bars, one feel for all.");
    for (int v = 0; v < request.variations; ++v) {
        Pcg32 rng(request.seed + static_cast<std::uint64_t>(v));
        const std::vector<float> z = groove_latent(rng, model.info().latent, request.temperature);
        std::vector<float> velocity(hits.size()), offset(hits.size());
        for (int w = 0; w < windows; ++w) {
            check_cancel(cancel);
            std::vector<float> condition(std::size_t{kGrooveWindowSteps} * kGrooveConditionSize, 0.0f);
            for (int s = 0; s < kGrooveWindowSteps; ++s) {
                for (int c = 0; c < kGrooveClasses; ++c)
                    condition[static_cast<std::size_t>(s * kGrooveConditionSize + c)] =
                        hits[static_cast<std::size_t>((w * kGrooveWindowSteps + s) * kGrooveClasses + c)];
                condition[static_cast<std::size_t>(s * kGrooveConditionSize + kGrooveFlag)] = 1.0f;
            }
            const GrooveWindow out = model.run(condition, z);
            const auto base = static_cast<std::ptrdiff_t>(w) * kGrooveWindowSteps * kGrooveClasses;
            std::copy(out.velocity.begin(), out.velocity.end(), velocity.begin() + base);
            std::copy(out.offset.begin(), out.offset.end(), offset.begin() + base);
            if (progress) progress(static_cast<float>(v * windows + w + 1) / static_cast<float>(request.variations * windows));
        }
        Clip grooved = clip;
        grooved.steps = steps;
        for (Note& n : grooved.notes) {
            const int c = groove_drum_class(n.pitch);
            if (c < 0) continue;
            const auto cell = static_cast<std::size_t>(n.start_step) * kGrooveClasses + static_cast<std::size_t>(c);
            n.velocity = to_velocity(velocity[cell]);
            n.start_offset = n.end_offset = clamp_offset(offset[cell]);
        }
        result.clips.push_back(std::move(grooved));
    }
    return result;
}

ToolResult drumify(const GrooveModel& model, const GrooveRequest& request, const Progress& progress,
                   const std::atomic<bool>* cancel) {
    check_request(request, "drumify");
    const Clip& clip = request.clip;
    const int steps = clip_length(clip);
    const int windows = window_count(steps);
    // the tap track: onset, loudest velocity / 127, that note's offset (the first of equally loud ones)
    const std::size_t rows = static_cast<std::size_t>(windows) * kGrooveWindowSteps;
    std::vector<float> tap(rows * 3, 0.0f);
    std::vector<int> loudest(rows, 0);
    for (const Note& n : clip.notes) {
        const auto s = static_cast<std::size_t>(n.start_step);
        if (n.velocity > loudest[s]) {
            loudest[s] = n.velocity;
            tap[s * 3] = 1.0f;
            tap[s * 3 + 1] = static_cast<float>(n.velocity) / 127.0f;
            tap[s * 3 + 2] = n.start_offset;
        }
    }
    ToolResult result;
    if (windows > 2)
        result.messages.push_back("the clip is " + std::to_string(steps / kStepsPerBar) + " bars: drummed in " +
                                  std::to_string(windows) + " windows of 2 bars, one feel for all.");
    const auto& classes = groove_drum_classes();
    for (int v = 0; v < request.variations; ++v) {
        Pcg32 rng(request.seed + static_cast<std::uint64_t>(v));
        const std::vector<float> z = groove_latent(rng, model.info().latent, request.temperature);
        Clip drums;
        drums.steps = steps;
        drums.bpm = clip.bpm;
        drums.drums = true;
        for (int w = 0; w < windows; ++w) {
            check_cancel(cancel);
            std::vector<float> condition(std::size_t{kGrooveWindowSteps} * kGrooveConditionSize, 0.0f);
            for (int s = 0; s < kGrooveWindowSteps; ++s) {
                const auto row = static_cast<std::size_t>(w * kGrooveWindowSteps + s);
                for (int k = 0; k < 3; ++k)
                    condition[static_cast<std::size_t>(s * kGrooveConditionSize + kTapIndex + k)] = tap[row * 3 + k];
                condition[static_cast<std::size_t>(s * kGrooveConditionSize + kDrumifyFlag)] = 1.0f;
            }
            const GrooveWindow out = model.run(condition, z);
            for (int s = 0; s < kGrooveWindowSteps; ++s) {
                for (int c = 0; c < kGrooveClasses; ++c) {
                    const auto cell = static_cast<std::size_t>(s * kGrooveClasses + c);
                    const double logit = out.hit_logits[cell];
                    bool hit;
                    if (request.temperature > 0.0) {
                        const double u = rng.uniform();
                        hit = u < 1.0 / (1.0 + std::exp(-logit / request.temperature));
                    } else {
                        hit = logit > 0.0;
                    }
                    const int step = w * kGrooveWindowSteps + s;
                    if (!hit || step >= steps) continue;
                    Note n;
                    n.start_step = step;
                    n.end_step = step + 1;
                    n.pitch = classes[static_cast<std::size_t>(c)][0];
                    n.velocity = to_velocity(out.velocity[cell]);
                    n.start_offset = n.end_offset = clamp_offset(out.offset[cell]);
                    drums.notes.push_back(n);
                }
            }
            if (progress) progress(static_cast<float>(v * windows + w + 1) / static_cast<float>(request.variations * windows));
        }
        sort_notes(drums.notes);
        result.clips.push_back(std::move(drums));
    }
    return result;
}

}  // namespace tonemorph::midi
