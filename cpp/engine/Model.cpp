#include "Model.h"

#include <onnxruntime_cxx_api.h>

#include "NativeGraph.h"
#include "OnnxFile.h"
#include "OrtRuntime.h"
#include "RealFft.h"
#include "Resampler.h"
#include "Utf8.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>

namespace tonemorph {

namespace {

constexpr const char* kInputNames[] = {"f0_hz", "loudness_db", "state"};
constexpr const char* kOutputNames[] = {"amplitude", "harmonic_distribution", "noise_magnitudes", "state_out"};
constexpr int kFormatVersion = 1;
constexpr float kReverbTailFloor = 1e-4f;  // -80 dB below the IR's peak

// Bounds on what a model may ask of the engine. Every model a musician would train passes them with room
// to spare (the bundled trumpet asks 1/17 of kMaxWorkPerSecond); a file that asks a core for more than it
// has, or for seconds of latency, is refused before it runs.
constexpr double kMinModelRate = 8000.0, kMaxModelRate = 192000.0;
constexpr double kMaxHopSeconds = 0.05;           // a frame longer than this is latency no player accepts
constexpr int kMinHop = 8;
constexpr double kMaxReverbSeconds = 10.0;
constexpr std::size_t kMaxStateElements = 1 << 20;
constexpr double kMaxWorkPerSecond = 6e9;         // estimated multiply-adds per second of audio
// A model must convert to and from these host rates exactly (Resampler::kMaxPhases bounds the ratio).
constexpr double kHostRates[] = {22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000};

// Text from a file (names, metadata, the graph's node names) as valid UTF-8 without control characters, at
// most max_bytes long: invalid bytes become '?', so a hostile file cannot break the caller's strings.
std::string printable(const std::string& text, std::size_t max_bytes = 2000) {
    std::string out;
    for (std::size_t i = 0; i < text.size() && out.size() < max_bytes;) {
        std::uint32_t code = 0;
        const int length = next_code_point(text.data(), i, text.size(), code);
        if (length == 0) {
            out += '?';
            ++i;
        } else if (length == 1) {
            out += (code < 0x20 && code != '\n' && code != '\t') || code == 0x7F ? '?' : static_cast<char>(code);
            ++i;
        } else {
            out.append(text, i, static_cast<std::size_t>(length));
            i += static_cast<std::size_t>(length);
        }
    }
    return out;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw ModelError(printable("'" + path + "' is not a playable tonemorph model: " + what, 4000));
}

std::vector<float> decode_base64_floats(const std::string& text, const std::string& path, std::size_t max_values) {
    static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (text.size() / 4 * 3 / sizeof(float) > max_values + 1)
        fail(path, "metadata 'reverb_ir' is longer than " + std::to_string(kMaxReverbSeconds) + " s");
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

double parse_number(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& path) {
    const auto it = meta.find(key);
    if (it == meta.end()) fail(path, "metadata '" + key + "' is missing");
    try {
        std::size_t used = 0;
        const double v = std::stod(it->second, &used);
        if (used != it->second.size() || !std::isfinite(v)) throw std::invalid_argument(key);
        return v;
    } catch (const std::exception&) {
        fail(path, "metadata '" + key + "' is not a number ('" + it->second.substr(0, 40) + "')");
    }
}

int parse_int(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& path,
              int min_value, int max_value) {
    const double v = parse_number(meta, key, path);
    if (v != std::floor(v) || v < min_value || v > max_value)
        fail(path, "metadata '" + key + "' must be a whole number from " + std::to_string(min_value) + " to " +
                       std::to_string(max_value) + " (it is " + meta.at(key).substr(0, 40) + ")");
    return static_cast<int>(v);
}

float parse_float(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& path,
                  double min_value, double max_value) {
    const double v = parse_number(meta, key, path);
    if (v < min_value || v > max_value)
        fail(path, "metadata '" + key + "' must lie in " + std::to_string(min_value) + " .. " + std::to_string(max_value));
    return static_cast<float>(v);
}

std::string dims_text(const std::vector<std::int64_t>& dims) {
    std::string t = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) t += (i ? ", " : "") + (dims[i] < 0 ? std::string("?") : std::to_string(dims[i]));
    return t + "]";
}

// The graph's declared signature against the contract (docs/model-format.md): names, float32, ranks and
// every static size. T (the frame axis) may be symbolic.
void check_signature(const OnnxFile& file, ModelInfo& info, const std::string& path) {
    const auto& g = file.graph;
    auto declared = [&](const std::vector<OnnxValueInfo>& values, const char* name, const char* direction) {
        const OnnxValueInfo* v = find_value(values, name);
        if (!v) fail(path, std::string("the graph has no ") + direction + " '" + name + "'");
        if (v->elem_type != 1) fail(path, std::string(direction) + " '" + name + "' is not float32");
        if (!v->has_shape || v->dims.size() != 3)
            fail(path, std::string(direction) + " '" + name + "' must have 3 dimensions, it has " + dims_text(v->dims));
        return v;
    };
    for (const char* name : kInputNames) declared(g.inputs, name, "input");
    for (const char* name : kOutputNames) declared(g.outputs, name, "output");
    const auto* state = declared(g.inputs, "state", "input");
    info.state_shape = state->dims;
    if (std::any_of(info.state_shape.begin(), info.state_shape.end(), [](std::int64_t d) { return d < 1; }) ||
        info.state_shape[1] != 1)
        fail(path, "input 'state' must have a fixed shape [layers, 1, hidden], it has " + dims_text(info.state_shape));
    std::size_t state_size = 1;
    for (auto d : info.state_shape) {
        if (static_cast<std::size_t>(d) > kMaxStateElements) fail(path, "input 'state' is too large");
        state_size *= static_cast<std::size_t>(d);
    }
    if (state_size > kMaxStateElements) fail(path, "input 'state' is too large (" + std::to_string(state_size) + " values)");
    const auto* state_out = declared(g.outputs, "state_out", "output");
    if (state_out->dims != info.state_shape)
        fail(path, "output 'state_out' is " + dims_text(state_out->dims) + " but input 'state' is " +
                       dims_text(info.state_shape) + "; they must be equal");
    auto frame = [&](const std::vector<OnnxValueInfo>& values, const char* name, const char* direction, std::int64_t last) {
        const auto* v = declared(values, name, direction);
        if ((v->dims[0] != 1 && v->dims[0] != -1) || v->dims[1] == 0 || (v->dims[2] != last && v->dims[2] != -1) ||
            (v->dims[2] == -1 && std::string(direction) == "input"))
            fail(path, std::string(direction) + " '" + name + "' is " + dims_text(v->dims) + "; it must be [1, T, " +
                           std::to_string(last) + "]");
    };
    frame(g.inputs, "f0_hz", "input", 1);
    frame(g.inputs, "loudness_db", "input", 1);
    frame(g.outputs, "amplitude", "output", 1);
    frame(g.outputs, "harmonic_distribution", "output", info.n_harmonics);
    frame(g.outputs, "noise_magnitudes", "output", info.n_noise_bands);
}

void read_metadata(const OnnxFile& file, ModelInfo& info, const std::string& path) {
    const auto& meta = file.metadata;
    if (!meta.count("tonemorph_format"))
        fail(path, "metadata 'tonemorph_format' is missing (was it exported by `tonemorph export`?)");
    const double format = parse_number(meta, "tonemorph_format", path);
    if (format != kFormatVersion)
        fail(path, "its format is " + meta.at("tonemorph_format").substr(0, 20) + " but this tonemorph reads format " +
                       std::to_string(kFormatVersion) + "; update tonemorph or re-export the model");
    for (const char* key : {"name", "version"})
        if (!meta.count(key) || meta.at(key).empty()) fail(path, std::string("metadata '") + key + "' is missing");
    info.name = printable(meta.at("name"), 200);
    info.version = printable(meta.at("version"), 40);
    info.description = meta.count("description") ? printable(meta.at("description"), 2000) : "";
    info.sample_rate = parse_int(meta, "sample_rate", path, static_cast<int>(kMinModelRate), static_cast<int>(kMaxModelRate));
    info.hop_size = parse_int(meta, "hop_size", path, kMinHop, static_cast<int>(kMaxHopSeconds * info.sample_rate));
    info.n_harmonics = parse_int(meta, "n_harmonics", path, 1, 1024);
    info.n_noise_bands = parse_int(meta, "n_noise_bands", path, 2, 4097);
    info.loudness_n_fft = parse_int(meta, "loudness_n_fft", path, 2, 65536);
    if (!RealFft::supported(2 * static_cast<std::size_t>(info.hop_size)))
        fail(path, "metadata 'hop_size' " + std::to_string(info.hop_size) +
                       " is not supported: hop_size must be a product of 2, 3 and 5 (e.g. 64, 96, 120, 128)");
    if (!RealFft::supported(2 * static_cast<std::size_t>(info.n_noise_bands - 1)))
        fail(path, "metadata 'n_noise_bands' " + std::to_string(info.n_noise_bands) +
                       " is not supported: n_noise_bands - 1 must be a product of 2, 3 and 5 (e.g. 33, 65, 129)");
    if (!RealFft::supported(static_cast<std::size_t>(info.loudness_n_fft)))
        fail(path, "metadata 'loudness_n_fft' must be even with half of it a product of 2, 3 and 5 (e.g. 512)");
    info.loudness_mean = parse_float(meta, "loudness_mean", path, -200.0, 50.0);
    info.loudness_std = parse_float(meta, "loudness_std", path, 1e-3, 200.0);
    info.f0_min_hz = parse_float(meta, "f0_min_hz", path, 0.0, 0.5 * info.sample_rate);
    info.f0_max_hz = parse_float(meta, "f0_max_hz", path, info.f0_min_hz, 0.5 * info.sample_rate);
    if (!meta.count("reverb_ir")) fail(path, "metadata 'reverb_ir' is missing");
    const auto max_ir = static_cast<std::size_t>(kMaxReverbSeconds * info.sample_rate);
    info.reverb_ir = decode_base64_floats(meta.at("reverb_ir"), path, max_ir);
    if (info.reverb_ir.size() > max_ir) fail(path, "metadata 'reverb_ir' is longer than 10 s");
    // A learned IR decays into numerical dust; convolving with its last 80 dB costs time and adds nothing.
    float peak = 0.0f;
    for (float v : info.reverb_ir) peak = std::max(peak, std::fabs(v));
    std::size_t keep = info.reverb_ir.size();
    while (keep > 0 && std::fabs(info.reverb_ir[keep - 1]) <= kReverbTailFloor * peak) --keep;
    info.reverb_ir.resize(keep);
}

// The engine converts between every common host rate and the model's.
void check_rates(const ModelInfo& info, const std::string& path) {
    for (double host : kHostRates) {
        const auto model = static_cast<std::int64_t>(info.sample_rate), h = static_cast<std::int64_t>(host);
        const std::int64_t g = std::gcd(model, h);
        if (model / g > Resampler::kMaxPhases || h / g > Resampler::kMaxPhases)
            fail(path, "its sample rate " + std::to_string(model) + " Hz cannot be converted exactly to a " +
                           std::to_string(h) + " Hz host; use a common rate such as 16000, 22050, 24000, 32000, 44100 or 48000");
    }
}

// Multiply-adds per second of audio the model's settings imply (per frame: the decoder's weights, the
// loudness and pitch FFTs, the noise filter, the reverb's spectral products; per sample: the harmonics).
double work_per_second(const ModelInfo& info, std::size_t decoder_weights) {
    auto fft = [](double n) { return 2.5 * n * std::log2(std::max(n, 2.0)); };
    const double frames = info.sample_rate / info.hop_size;
    const double pitch_window = 0.06 * info.sample_rate;  // YIN: 20 ms window + the longest lag (50 Hz)
    const double per_frame = static_cast<double>(decoder_weights) + fft(info.loudness_n_fft) + 3.0 * fft(2.0 * pitch_window) +
                             2.0 * fft(2.0 * (info.n_noise_bands - 1)) + 4.0 * static_cast<double>(info.reverb_ir.size()) +
                             2.0 * fft(2.0 * info.hop_size);
    return frames * per_frame + info.sample_rate * 2.0 * info.n_harmonics;
}

std::shared_ptr<const Model> load_cached(const std::string& path, WeightFormat weights,
                                         std::shared_ptr<const Model> (*open)(const std::string&, WeightFormat)) {
    namespace fs = std::filesystem;
    std::error_code size_error, time_error, path_error;
    const fs::path p = fs::u8path(path);
    const auto size = fs::file_size(p, size_error);
    const auto modified = fs::last_write_time(p, time_error);
    const fs::path canonical = fs::weakly_canonical(p, path_error);
    if (size_error || time_error || path_error) return open(path, weights);  // open() says what is wrong
    const std::string key = canonical.u8string() + '\n' + std::to_string(size) + '\n' +
                            std::to_string(modified.time_since_epoch().count()) + '\n' +
                            std::to_string(static_cast<int>(weights));
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<const Model>> loaded;
    {
        const std::lock_guard<std::mutex> lock(mutex);
        const auto it = loaded.find(key);
        if (it != loaded.end())
            if (auto model = it->second.lock()) return model;
    }
    std::shared_ptr<const Model> model = open(path, weights);  // outside the lock: loading takes a while
    const std::lock_guard<std::mutex> lock(mutex);
    for (auto it = loaded.begin(); it != loaded.end();) it = it->second.expired() ? loaded.erase(it) : std::next(it);
    std::weak_ptr<const Model>& slot = loaded[key];
    if (auto other = slot.lock()) return other;  // another thread loaded it meanwhile
    slot = model;
    return model;
}

std::unique_ptr<Ort::Session> make_session(const std::string& path) {
    try {
        require_ort();  // before any Ort:: object: on Windows this is where the library is found
    } catch (const OrtUnavailable& e) {
        fail(path, std::string("its graph needs ONNX Runtime, which cannot be used here: ") + e.what());
    }
    try {
        return open_single_thread_session(path);
    } catch (const Ort::Exception& e) {
        fail(path, std::string("ONNX Runtime cannot open it (") + e.what() +
                       "). Is it a complete .onnx file? Re-export it with `tonemorph export`.");
    }
}

}  // namespace

Model::~Model() = default;

std::shared_ptr<const Model> Model::load(const std::string& path, WeightFormat weights) {
    return load_cached(path, weights, &Model::open);
}

Ort::Session& Model::session() const {
    std::call_once(session_once_, [this] { session_ = make_session(info_.path); });
    return *session_;
}

std::shared_ptr<const Model> Model::open(const std::string& path, WeightFormat weights) {
    OnnxFile file;
    try {
        file = OnnxFile::read(path, kMaxFileBytes);
    } catch (const std::runtime_error& e) {
        fail(path, std::string(e.what()) + ". If it is a tonemorph model, copy it again or re-export it with `tonemorph export`.");
    }
    std::shared_ptr<Model> model(new Model());
    ModelInfo& info = model->info_;
    info.path = path;
    // Another kind of tonemorph model (the MIDI tools', the sampler's) says so before its graph is judged.
    if (file.metadata.count("kind") && file.metadata.at("kind") != "instrument")
        fail(path, "it is a '" + printable(file.metadata.at("kind"), 40) + "' model, not an instrument");
    for (const char* name : kInputNames)
        if (!find_value(file.graph.inputs, name)) fail(path, std::string("the graph has no input '") + name + "'");
    for (const char* name : kOutputNames)
        if (!find_value(file.graph.outputs, name)) fail(path, std::string("the graph has no output '") + name + "'");
    read_metadata(file, info, path);
    check_signature(file, info, path);
    check_rates(info, path);

    try {
        model->native_ = NativeGraph::plan(file, weights);
    } catch (const NativeUnsupported& e) {
        model->native_refusal_ = printable(e.what(), 500);
    } catch (const std::exception& e) {
        model->native_refusal_ = printable(std::string("the graph could not be planned: ") + e.what(), 500);
    }
    std::size_t weight_count = 0;
    if (const NativeGraph* g = model->native_.get()) {
        // The plan's shapes at T = 1 are what the engine will read: they must be the contract's exactly.
        const std::vector<std::int64_t> expected[] = {
            {1, 1, 1}, {1, 1, info.n_harmonics}, {1, 1, info.n_noise_bands}, info.state_shape};
        const char* source[] = {"one value", "metadata n_harmonics", "metadata n_noise_bands", "input 'state'"};
        for (int i = 0; i < 4; ++i) {
            const NativeGraph::Slot* slot = g->output(kOutputNames[i]);
            if (!slot || slot->shape != expected[i])
                fail(path, std::string("output '") + kOutputNames[i] + "' comes out as " +
                               dims_text(slot ? slot->shape : std::vector<std::int64_t>{}) + " per frame, where " +
                               source[i] + " asks for " + dims_text(expected[i]));
        }
        for (const char* name : kInputNames)
            if (!g->input(name)) fail(path, std::string("the graph has no input '") + name + "'");
        weight_count = g->weight_count();
        info.runner = std::string("native (") + (weights == WeightFormat::Int8 ? "int8" : "float32") + " weights, " +
                      WeightMatrix::kernel_name() + " kernels)";
    } else {
        // The graph runs in ONNX Runtime: open it now and run one frame, so a graph whose real shapes
        // differ from the declared ones is refused here, not on the worker thread.
        Decoder probe(model, Decoder::Runner::OnnxRuntime);
        ControlFrame frame;
        probe.run(0.0f, -80.0f, frame);
        if (probe.failed())
            fail(path, "ONNX Runtime cannot run a frame of it (" + probe.error().substr(0, 500) +
                           "); re-export it with `tonemorph export`");
        for (const auto& t : file.graph.initializers) weight_count += t.element_count();
        info.runner = "ONNX Runtime on a worker thread, one host block of extra latency (" + model->native_refusal_ + ")";
    }
    const double work = work_per_second(info, weight_count);
    if (work > kMaxWorkPerSecond)
        fail(path, "its settings ask for about " + std::to_string(static_cast<long long>(work / 1e9)) +
                       " billion operations per second of audio, more than a plugin may take of one core (" +
                       std::to_string(static_cast<long long>(kMaxWorkPerSecond / 1e9)) + " billion)");
    return model;
}

Decoder::Decoder(std::shared_ptr<const Model> model, Runner runner) : model_(std::move(model)) {
    const ModelInfo& info = model_->info();
    std::size_t state_size = 1;
    for (auto d : info.state_shape) state_size *= static_cast<std::size_t>(d);
    state_in_.assign(state_size, 0.0f);
    if (runner == Runner::Native && !model_->native())
        throw ModelError("'" + info.path + "' does not run natively: " + model_->native_refusal());
    if (runner != Runner::OnnxRuntime && model_->native()) {
        graph_ = model_->native();
        arena_storage_.assign(graph_->arena_size() + 16, 0.0f);
        const auto base = reinterpret_cast<std::uintptr_t>(arena_storage_.data());
        arena_ = reinterpret_cast<float*>((base + 63) / 64 * 64);
        graph_->init_arena(arena_);
        f0_slot_ = graph_->input("f0_hz")->offset;
        loudness_slot_ = graph_->input("loudness_db")->offset;
        state_slot_ = graph_->input("state")->offset;
        amplitude_slot_ = graph_->output("amplitude")->offset;
        distribution_slot_ = graph_->output("harmonic_distribution")->offset;
        noise_slot_ = graph_->output("noise_magnitudes")->offset;
        state_out_slot_ = graph_->output("state_out")->offset;
        return;
    }
    f0_.assign(1, 0.0f);
    loudness_.assign(1, 0.0f);
    state_out_.assign(state_size, 0.0f);
    amplitude_.assign(1, 0.0f);
    distribution_.assign(static_cast<std::size_t>(info.n_harmonics), 0.0f);
    noise_.assign(static_cast<std::size_t>(info.n_noise_bands), 0.0f);

    model_->session();  // opened here, on a control thread (and ONNX Runtime found, before any Ort:: object)
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

void Decoder::reset() {
    std::fill(state_in_.begin(), state_in_.end(), 0.0f);
    if (graph_) std::fill(arena_ + state_slot_, arena_ + state_slot_ + state_in_.size(), 0.0f);
}

void Decoder::run_native(float f0_hz, float loudness_db) {
    arena_[f0_slot_] = f0_hz;
    arena_[loudness_slot_] = loudness_db;
    graph_->run(arena_);
    const std::size_t n = state_in_.size();
    float* state = arena_ + state_slot_;
    std::copy(arena_ + state_out_slot_, arena_ + state_out_slot_ + n, state);
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(state[i])) state[i] = 0.0f;
    std::copy(state, state + n, state_in_.begin());
}

void Decoder::run_onnxruntime(float f0_hz, float loudness_db) {
    f0_[0] = f0_hz;
    loudness_[0] = loudness_db;
    try {
        model_->session().Run(*run_options_, kInputNames, inputs_.data(), inputs_.size(), kOutputNames,
                              outputs_.data(), outputs_.size());
    } catch (const std::exception& e) {
        // A graph that passed every check and still fails to run: silence, never an exception on the
        // worker thread (it would end the host's process).
        if (!failed_) error_ = e.what();
        failed_ = true;
        std::fill(amplitude_.begin(), amplitude_.end(), 0.0f);
        std::fill(state_out_.begin(), state_out_.end(), 0.0f);
    }
    std::copy(state_out_.begin(), state_out_.end(), state_in_.begin());
    for (float& v : state_in_)
        if (!std::isfinite(v)) v = 0.0f;
}

void Decoder::run(float f0_hz, float loudness_db, ControlFrame& out) {
    // A model must never push NaN/inf or negative controls into the synths.
    auto clean = [](float v) { return std::isfinite(v) && v > 0.0f ? v : 0.0f; };
    const ModelInfo& info = model_->info();
    const float* amplitude;
    const float* distribution;
    const float* noise;
    if (graph_) {
        run_native(f0_hz, loudness_db);
        amplitude = arena_ + amplitude_slot_;
        distribution = arena_ + distribution_slot_;
        noise = arena_ + noise_slot_;
    } else {
        run_onnxruntime(f0_hz, loudness_db);
        amplitude = amplitude_.data();
        distribution = distribution_.data();
        noise = noise_.data();
    }
    out.f0_hz = f0_hz;
    out.amplitude = failed_ ? 0.0f : clean(amplitude[0]);
    out.harmonic_distribution.resize(static_cast<std::size_t>(info.n_harmonics));
    out.noise_magnitudes.resize(static_cast<std::size_t>(info.n_noise_bands));
    std::transform(distribution, distribution + info.n_harmonics, out.harmonic_distribution.begin(), clean);
    std::transform(noise, noise + info.n_noise_bands, out.noise_magnitudes.begin(), clean);
}

}  // namespace tonemorph
