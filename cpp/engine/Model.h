// A tonemorph model: one ONNX file whose metadata_props describe it (docs/model-format.md),
// loaded into an ONNX Runtime session, and the per-stream Decoder that runs it frame by frame.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace Ort {
struct Session;
struct Value;
struct MemoryInfo;
struct RunOptions;
}  // namespace Ort

namespace tonemorph {

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
};

class Model final {
public:
    // Throws ModelError: missing/unreadable file, not ONNX, wrong graph signature, missing metadata.
    // Loads of a file that is still loaded (same file, size and modification time) share that Model: one
    // ONNX Runtime session serves every Decoder (Run may be called from several threads; each stream's
    // state lives in its Decoder), so ten plugin instances playing the trumpet hold one copy of it.
    static std::shared_ptr<const Model> load(const std::string& path);
    ~Model();

    const ModelInfo& info() const { return info_; }
    Ort::Session& session() const { return *session_; }

private:
    Model() = default;
    static std::shared_ptr<const Model> open(const std::string& path);
    ModelInfo info_;
    std::unique_ptr<Ort::Session> session_;
};

// Decoder output for one frame.
struct ControlFrame {
    std::int64_t index = -1;  // frame number since reset
    float f0_hz = 0.0f;
    float amplitude = 0.0f;
    std::vector<float> harmonic_distribution;  // n_harmonics
    std::vector<float> noise_magnitudes;       // n_noise_bands
};

// Runs the model one frame at a time with the GRU state carried across calls. Tensors are
// allocated once here; ONNX Runtime's Run still allocates internally, so run() belongs on a
// worker thread (real time) or in offline rendering, never on the audio thread.
class Decoder final {
public:
    explicit Decoder(std::shared_ptr<const Model> model);
    ~Decoder();
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    void reset();  // zero state
    void run(float f0_hz, float loudness_db, ControlFrame& out);

    const Model& model() const { return *model_; }

private:
    std::shared_ptr<const Model> model_;
    std::vector<float> f0_, loudness_, state_in_, state_out_, amplitude_, distribution_, noise_;
    std::unique_ptr<Ort::MemoryInfo> memory_;
    std::unique_ptr<Ort::RunOptions> run_options_;
    std::vector<Ort::Value> inputs_, outputs_;
};

}  // namespace tonemorph
