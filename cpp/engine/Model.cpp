#include "Model.h"

#include <onnxruntime_cxx_api.h>

#include "OrtRuntime.h"
#include "RealFft.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace tonemorph {

namespace {

constexpr const char* kInputNames[] = {"f0_hz", "loudness_db", "state"};
constexpr const char* kOutputNames[] = {"amplitude", "harmonic_distribution", "noise_magnitudes", "state_out"};
constexpr int kFormatVersion = 1;
constexpr float kReverbTailFloor = 1e-4f;  // -80 dB below the IR's peak

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw ModelError("'" + path + "' is not a playable tonemorph model: " + what);
}

std::vector<float> decode_base64_floats(const std::string& text, const std::string& path) {
    static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::vector<unsigned char> bytes;
    bytes.reserve(text.size() * 3 / 4);
    unsigned int buffer = 0;
    int bits = 0;
    for (char c : text) {
        if (c == '=' || c == '\n' || c == '\r') continue;
        const auto pos = alphabet.find(c);
        if (pos == std::string::npos) fail(path, "metadata 'reverb_ir' is not base64");
        buffer = (buffer << 6) | static_cast<unsigned int>(pos);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes.push_back(static_cast<unsigned char>((buffer >> bits) & 0xFF));
        }
    }
    if (bytes.size() % sizeof(float) != 0) fail(path, "metadata 'reverb_ir' is not a whole number of float32 values");
    std::vector<float> values(bytes.size() / sizeof(float));
    std::memcpy(values.data(), bytes.data(), bytes.size());  // little-endian on every platform we build for
    for (float& v : values)
        if (!std::isfinite(v)) v = 0.0f;
    return values;
}

double parse_number(const std::map<std::string, std::string>& meta, const std::string& key,
                    const std::string& path) {
    const auto it = meta.find(key);
    if (it == meta.end()) fail(path, "metadata '" + key + "' is missing");
    try {
        std::size_t used = 0;
        const double v = std::stod(it->second, &used);
        if (used != it->second.size() || !std::isfinite(v)) throw std::invalid_argument(key);
        return v;
    } catch (const std::exception&) {
        fail(path, "metadata '" + key + "' is not a number ('" + it->second + "')");
    }
}

int parse_positive_int(const std::map<std::string, std::string>& meta, const std::string& key,
                       const std::string& path, int max_value) {
    const double v = parse_number(meta, key, path);
    if (v != std::floor(v) || v < 1 || v > max_value)
        fail(path, "metadata '" + key + "' must be a whole number from 1 to " + std::to_string(max_value));
    return static_cast<int>(v);
}

std::vector<std::int64_t> tensor_shape(const Ort::TypeInfo& info) {
    return info.GetTensorTypeAndShapeInfo().GetShape();
}

}  // namespace

Model::~Model() = default;

std::shared_ptr<const Model> Model::load(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code size_error, time_error, path_error;
    const fs::path file = fs::u8path(path);  // paths are UTF-8 (Windows spells them in UTF-16)
    const auto size = fs::file_size(file, size_error);
    const auto modified = fs::last_write_time(file, time_error);
    const fs::path canonical = fs::weakly_canonical(file, path_error);
    if (size_error || time_error || path_error) return open(path);  // open() says what is wrong
    const std::string key = canonical.u8string() + '\n' + std::to_string(size) + '\n' +
                            std::to_string(modified.time_since_epoch().count());

    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<const Model>> loaded;
    {
        const std::lock_guard<std::mutex> lock(mutex);
        const auto it = loaded.find(key);
        if (it != loaded.end())
            if (auto model = it->second.lock()) return model;
    }
    std::shared_ptr<const Model> model = open(path);  // outside the lock: loading takes a while
    const std::lock_guard<std::mutex> lock(mutex);
    for (auto it = loaded.begin(); it != loaded.end();)
        it = it->second.expired() ? loaded.erase(it) : std::next(it);
    std::weak_ptr<const Model>& slot = loaded[key];
    if (auto other = slot.lock()) return other;  // another thread loaded it meanwhile
    slot = model;
    return model;
}

std::shared_ptr<const Model> Model::open(const std::string& path) {
    {
        std::ifstream file(std::filesystem::u8path(path), std::ios::binary | std::ios::ate);
        if (!file) fail(path, "the file does not exist or cannot be read");
        if (file.tellg() == 0) fail(path, "the file is empty");
    }
    std::shared_ptr<Model> model(new Model());
    ModelInfo& info = model->info_;
    info.path = path;

    require_ort();
    Ort::SessionOptions options;
    options.SetIntraOpNumThreads(1);
    options.SetInterOpNumThreads(1);
    options.SetExecutionMode(ExecutionMode::ORT_SEQUENTIAL);
    options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    options.AddConfigEntry("session.intra_op.allow_spinning", "0");
    try {
        model->session_ = open_session(path, options);
    } catch (const Ort::Exception& e) {
        fail(path, std::string("ONNX Runtime cannot open it (") + e.what() +
                       "). Is it a complete .onnx file? Re-export it with `tonemorph export`.");
    }
    Ort::Session& session = *model->session_;
    Ort::AllocatorWithDefaultOptions allocator;

    // Graph signature.
    std::map<std::string, std::vector<std::int64_t>> inputs, outputs;
    for (std::size_t i = 0; i < session.GetInputCount(); ++i)
        inputs[session.GetInputNameAllocated(i, allocator).get()] = tensor_shape(session.GetInputTypeInfo(i));
    for (std::size_t i = 0; i < session.GetOutputCount(); ++i)
        outputs[session.GetOutputNameAllocated(i, allocator).get()] = tensor_shape(session.GetOutputTypeInfo(i));
    for (const char* name : kInputNames)
        if (!inputs.count(name)) fail(path, std::string("the graph has no input '") + name + "'");
    for (const char* name : kOutputNames)
        if (!outputs.count(name)) fail(path, std::string("the graph has no output '") + name + "'");
    info.state_shape = inputs["state"];
    if (info.state_shape.size() != 3 ||
        std::any_of(info.state_shape.begin(), info.state_shape.end(), [](std::int64_t d) { return d < 1; }))
        fail(path, "input 'state' must have a fixed shape [layers, 1, hidden]");
    info.state_shape[1] = 1;

    // Metadata.
    std::map<std::string, std::string> meta;
    Ort::ModelMetadata metadata = session.GetModelMetadata();
    for (const auto& key : metadata.GetCustomMetadataMapKeysAllocated(allocator))
        meta[key.get()] = metadata.LookupCustomMetadataMapAllocated(key.get(), allocator).get();
    if (!meta.count("tonemorph_format"))
        fail(path, "metadata 'tonemorph_format' is missing (was it exported by `tonemorph export`?)");
    const double format = parse_number(meta, "tonemorph_format", path);
    if (format != kFormatVersion)
        fail(path, "its format is " + meta["tonemorph_format"] + " but this tonemorph reads format " +
                       std::to_string(kFormatVersion) + "; update tonemorph or re-export the model");
    for (const char* key : {"name", "version"})
        if (!meta.count(key) || meta[key].empty()) fail(path, std::string("metadata '") + key + "' is missing");
    info.name = meta["name"];
    info.version = meta["version"];
    info.description = meta.count("description") ? meta["description"] : "";
    info.sample_rate = parse_positive_int(meta, "sample_rate", path, 384000);
    if (info.sample_rate < 8000) fail(path, "metadata 'sample_rate' must be at least 8000 Hz");
    info.hop_size = parse_positive_int(meta, "hop_size", path, 8192);
    info.n_harmonics = parse_positive_int(meta, "n_harmonics", path, 1024);
    info.n_noise_bands = parse_positive_int(meta, "n_noise_bands", path, 4096);
    if (info.n_noise_bands < 2) fail(path, "metadata 'n_noise_bands' must be at least 2");
    info.loudness_n_fft = parse_positive_int(meta, "loudness_n_fft", path, 65536);
    if (info.loudness_n_fft % 2 != 0) fail(path, "metadata 'loudness_n_fft' must be even");
    if (!RealFft::supported(2 * static_cast<std::size_t>(info.hop_size)))
        fail(path, "metadata 'hop_size' " + std::to_string(info.hop_size) +
                       " is not supported: hop_size must be a product of 2, 3 and 5 (e.g. 64, 96, 120, 128)");
    if (!RealFft::supported(2 * static_cast<std::size_t>(info.n_noise_bands - 1)))
        fail(path, "metadata 'n_noise_bands' " + std::to_string(info.n_noise_bands) +
                       " is not supported: n_noise_bands - 1 must be a product of 2, 3 and 5 (e.g. 33, 65, 129)");
    if (!RealFft::supported(static_cast<std::size_t>(info.loudness_n_fft)))
        fail(path, "metadata 'loudness_n_fft' must be even with half of it a product of 2, 3 and 5 (e.g. 512)");
    info.loudness_mean = static_cast<float>(parse_number(meta, "loudness_mean", path));
    info.loudness_std = static_cast<float>(parse_number(meta, "loudness_std", path));
    if (!(info.loudness_std > 0.0f)) fail(path, "metadata 'loudness_std' must be > 0");
    info.f0_min_hz = static_cast<float>(parse_number(meta, "f0_min_hz", path));
    info.f0_max_hz = static_cast<float>(parse_number(meta, "f0_max_hz", path));
    if (!meta.count("reverb_ir")) fail(path, "metadata 'reverb_ir' is missing");
    info.reverb_ir = decode_base64_floats(meta["reverb_ir"], path);
    // A learned IR decays into numerical dust; convolving with its last 80 dB costs time and adds nothing.
    float peak = 0.0f;
    for (float v : info.reverb_ir) peak = std::max(peak, std::fabs(v));
    std::size_t keep = info.reverb_ir.size();
    while (keep > 0 && std::fabs(info.reverb_ir[keep - 1]) <= kReverbTailFloor * peak) --keep;
    info.reverb_ir.resize(keep);

    const auto& dist = outputs["harmonic_distribution"];
    const auto& noise = outputs["noise_magnitudes"];
    if (dist.size() != 3 || (dist[2] > 0 && dist[2] != info.n_harmonics))
        fail(path, "output 'harmonic_distribution' does not have n_harmonics = " +
                       std::to_string(info.n_harmonics) + " channels");
    if (noise.size() != 3 || (noise[2] > 0 && noise[2] != info.n_noise_bands))
        fail(path, "output 'noise_magnitudes' does not have n_noise_bands = " +
                       std::to_string(info.n_noise_bands) + " channels");
    return model;
}

Decoder::Decoder(std::shared_ptr<const Model> model) : model_(std::move(model)) {
    const ModelInfo& info = model_->info();
    std::size_t state_size = 1;
    for (auto d : info.state_shape) state_size *= static_cast<std::size_t>(d);
    f0_.assign(1, 0.0f);
    loudness_.assign(1, 0.0f);
    state_in_.assign(state_size, 0.0f);
    state_out_.assign(state_size, 0.0f);
    amplitude_.assign(1, 0.0f);
    distribution_.assign(static_cast<std::size_t>(info.n_harmonics), 0.0f);
    noise_.assign(static_cast<std::size_t>(info.n_noise_bands), 0.0f);

    memory_ = std::make_unique<Ort::MemoryInfo>(Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault));
    run_options_ = std::make_unique<Ort::RunOptions>();
    const std::int64_t frame_shape[] = {1, 1, 1};
    const std::int64_t dist_shape[] = {1, 1, info.n_harmonics};
    const std::int64_t noise_shape[] = {1, 1, info.n_noise_bands};
    auto tensor = [&](std::vector<float>& data, const std::int64_t* shape, std::size_t rank) {
        return Ort::Value::CreateTensor<float>(*memory_, data.data(), data.size(), shape, rank);
    };
    inputs_.push_back(tensor(f0_, frame_shape, 3));
    inputs_.push_back(tensor(loudness_, frame_shape, 3));
    inputs_.push_back(tensor(state_in_, info.state_shape.data(), 3));
    outputs_.push_back(tensor(amplitude_, frame_shape, 3));
    outputs_.push_back(tensor(distribution_, dist_shape, 3));
    outputs_.push_back(tensor(noise_, noise_shape, 3));
    outputs_.push_back(tensor(state_out_, info.state_shape.data(), 3));
}

Decoder::~Decoder() = default;

void Decoder::reset() { std::fill(state_in_.begin(), state_in_.end(), 0.0f); }

void Decoder::run(float f0_hz, float loudness_db, ControlFrame& out) {
    f0_[0] = f0_hz;
    loudness_[0] = loudness_db;
    model_->session().Run(*run_options_, kInputNames, inputs_.data(), inputs_.size(), kOutputNames,
                          outputs_.data(), outputs_.size());
    std::copy(state_out_.begin(), state_out_.end(), state_in_.begin());
    // A model must never push NaN/inf or negative controls into the synths.
    auto clean = [](float v) { return std::isfinite(v) && v > 0.0f ? v : 0.0f; };
    out.f0_hz = f0_hz;
    out.amplitude = clean(amplitude_[0]);
    out.harmonic_distribution.resize(distribution_.size());
    out.noise_magnitudes.resize(noise_.size());
    std::transform(distribution_.begin(), distribution_.end(), out.harmonic_distribution.begin(), clean);
    std::transform(noise_.begin(), noise_.end(), out.noise_magnitudes.begin(), clean);
    for (float& v : state_in_)
        if (!std::isfinite(v)) v = 0.0f;
}

}  // namespace tonemorph
