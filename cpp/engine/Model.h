// A tonemorph model: one ONNX file whose metadata_props describe it (docs/model-format.md), validated
// before anything runs it, planned for the native runner (NativeGraph) when its graph is one the runner
// knows, else opened in ONNX Runtime; and the per-stream Decoder that runs it frame by frame.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "MatVec.h"

namespace Ort {
struct Session;
struct Value;
struct MemoryInfo;
struct RunOptions;
}  // namespace Ort

namespace tonemorph {

class NativeGraph;

// A file that is not a playable tonemorph model. The message names the file and what is wrong.
class ModelError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct ModelInfo {
    std::string path;
    std::string name;
    std::string version;
    std::string description;
    std::string kind = "instrument";
    double sample_rate = 0.0;
    int hop_size = 0;
    int n_harmonics = 0;
    int n_noise_bands = 0;
    int loudness_n_fft = 0;
    float loudness_mean = 0.0f;
    float loudness_std = 1.0f;
    float f0_min_hz = 0.0f;
    float f0_max_hz = 0.0f;
    std::vector<float> reverb_ir;
    std::vector<std::int64_t> state_shape;  // [layers, 1, hidden]
    std::string runner;  // how it runs: "native (int8 weights)", or "ONNX Runtime on a worker thread (why)"
};

class Model final {
public:
    // The largest model file read, and the weight format the engine runs native graphs with.
    static constexpr std::size_t kMaxFileBytes = std::size_t{256} << 20;
    static constexpr WeightFormat kDefaultWeights = WeightFormat::Int8;

    // Throws ModelError: missing/unreadable file, not ONNX, wrong graph signature, missing or out-of-bounds
    // metadata, more work per second than a plugin may ask of a core. Loads of a file that is still loaded
    // (same file, size, modification time and weight format) share that Model, so ten plugin instances
    // playing the trumpet hold one copy of it.
    static std::shared_ptr<const Model> load(const std::string& path, WeightFormat weights = kDefaultWeights);
    ~Model();

    const ModelInfo& info() const { return info_; }
    // The native plan, or nullptr when the graph runs in ONNX Runtime (native_refusal() says why).
    const NativeGraph* native() const { return native_.get(); }
    const std::string& native_refusal() const { return native_refusal_; }
    // ONNX Runtime's session (opened on first use, from a control thread: never from the audio thread).
    Ort::Session& session() const;

private:
    Model() = default;
    static std::shared_ptr<const Model> open(const std::string& path, WeightFormat weights);
    ModelInfo info_;
    std::unique_ptr<const NativeGraph> native_;
    std::string native_refusal_;
    mutable std::once_flag session_once_;
    mutable std::unique_ptr<Ort::Session> session_;
};

// Decoder output for one frame.
struct ControlFrame {
    std::int64_t index = -1;  // frame number since reset
    float f0_hz = 0.0f;
    float amplitude = 0.0f;
    std::vector<float> harmonic_distribution;  // n_harmonics
    std::vector<float> noise_magnitudes;       // n_noise_bands
};

// Runs the model one frame at a time with the GRU state carried across calls.
//  - native: the planned graph over this decoder's own arena; run() allocates nothing and takes no lock,
//    so it runs on the audio thread.
//  - ONNX Runtime: tensors are allocated once here, but Run allocates internally, so run() belongs on a
//    worker thread or in offline rendering. A Run that throws gives a silent frame and sets failed().
class Decoder final {
public:
    enum class Runner { Auto, Native, OnnxRuntime };
    explicit Decoder(std::shared_ptr<const Model> model, Runner runner = Runner::Auto);
    ~Decoder();
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    void reset();  // zero state
    void run(float f0_hz, float loudness_db, ControlFrame& out);

    const Model& model() const { return *model_; }
    bool native() const { return graph_ != nullptr; }
    bool failed() const { return failed_; }
    const std::string& error() const { return error_; }  // why the first failed frame failed
    const std::vector<float>& state() const { return state_in_; }

private:
    void run_native(float f0_hz, float loudness_db);
    void run_onnxruntime(float f0_hz, float loudness_db);

    std::shared_ptr<const Model> model_;
    const NativeGraph* graph_ = nullptr;
    std::vector<float> arena_storage_;
    float* arena_ = nullptr;
    int f0_slot_ = 0, loudness_slot_ = 0, state_slot_ = 0;
    int amplitude_slot_ = 0, distribution_slot_ = 0, noise_slot_ = 0, state_out_slot_ = 0;
    bool failed_ = false;
    std::string error_;

    std::vector<float> f0_, loudness_, state_in_, state_out_, amplitude_, distribution_, noise_;
    std::unique_ptr<Ort::MemoryInfo> memory_;
    std::unique_ptr<Ort::RunOptions> run_options_;
    std::vector<Ort::Value> inputs_, outputs_;
};

}  // namespace tonemorph
