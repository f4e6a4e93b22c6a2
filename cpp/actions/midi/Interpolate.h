// Interpolate (Magenta Studio's MusicVAE tool): clips that morph from melody A to melody B through the latent
// space of a melody VAE (training/midi/vae_model.py, kind midi-melody-vae).
//
// The model is two ONNX files that name each other (ONNX Runtime runs a graph only with every input fed):
//     <stem>_encoder.onnx   events int64 [1, 32] -> mu float [1, Z]
//     <stem>_decoder.onnx   event int64 [1, 1], z float [1, Z], state float [2L, 1, H] -> logits [1, 1, N], state_out
// Its window is 2 bars (32 sixteenth steps). Clips of 1 to kMaxInterpolateBars bars are cut into 2-bar chunks
// (as Magenta Studio does with its 4-bar limit); each chunk of A is paired with the same chunk of B, encoded
// once to its mean z, and the in-between points are spherical interpolations (slerp) of the two; each point is
// decoded from the start token, argmax at temperature 0, else drawn with Pcg32(seed + output index).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "Clip.h"
#include "EventModel.h"
#include "Sampler.h"

namespace Ort {
struct Session;
}

namespace tonemorph::midi {

constexpr const char* kMelodyVaeKind = "midi-melody-vae";
constexpr int kMaxInterpolateBars = 4;
constexpr int kMinInterpolateSteps = 2, kMaxInterpolateSteps = 32;

struct MelodyVaeInfo {
    std::string encoder_path, decoder_path, name, description;
    int version = 0;
    int latent = 0;       // Z
    int window = 32;      // steps the encoder reads and the decoder writes
    // the melody encoding (kind kMelodyKind, so Encoding.h's encode/decode read it), layers/hidden of the decoder
    EventModelInfo events;
};

class MelodyVae final {
public:
    // `path`: either file, or their common stem ("models/midi/melody_vae"); the other file is found beside it.
    // Throws MidiError naming the file: missing, not an ONNX file, "it is a 'X' model, not a midi-melody-vae
    // model", the two parts do not belong together; OrtUnavailable.
    static std::shared_ptr<const MelodyVae> open(const std::string& path);
    ~MelodyVae();

    const MelodyVaeInfo& info() const { return info_; }

    // window() events -> the mean of q(z | events), latent() floats. Thread-safe.
    std::vector<float> encode(const std::vector<int>& events) const;

    // window() events decoded from z, from a zero state and the start token; temperature 0 takes the argmax,
    // otherwise draws with `rng`. Throws Cancelled when *cancel becomes true. Thread-safe.
    std::vector<int> decode(const std::vector<float>& z, double temperature, Pcg32& rng,
                            const std::atomic<bool>* cancel = nullptr) const;

private:
    MelodyVae() = default;
    MelodyVaeInfo info_;
    std::unique_ptr<Ort::Session> encoder_, decoder_;
};

struct InterpolateRequest {
    Clip a, b;                     // as read; each is reduced to one voice here (the result says so)
    std::string a_name = "A", b_name = "B";  // for messages ("'riff.mid'")
    int steps = 5;                 // clips written, A's end and B's end included: kMinInterpolateSteps..kMax...
    double temperature = 0.0;      // 0: the likeliest event at each step; > 0 draws (seeded)
    std::uint64_t seed = 0;
};

struct InterpolateResult {
    std::vector<Clip> clips;            // `steps` clips of A's length, first near A, last near B
    std::vector<double> positions;      // where each clip lies between A (0) and B (1)
    int chunks = 0;                     // 2-bar windows per clip
    int transpose = 0;                  // semitones both clips were moved by to fit the model (moved back)
    std::vector<std::string> messages;  // what was done to the input (one voice kept, chunks, octave moves)
};

// Spherical interpolation between a and b at t (0..1); linear where they are (nearly) parallel.
std::vector<float> slerp(const std::vector<float>& a, const std::vector<float>& b, double t);

// Throws MidiError for input the tool cannot take (a drum clip, a clip with no notes, clips of different
// lengths, more than kMaxInterpolateBars bars, steps out of range, temperature < 0), Cancelled when *cancel
// becomes true. progress(fraction 0..1) over all clips.
InterpolateResult interpolate(const MelodyVae& model, const InterpolateRequest& request,
                              const Progress& progress = {}, const std::atomic<bool>* cancel = nullptr);

}  // namespace tonemorph::midi
