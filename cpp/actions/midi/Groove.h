// Groove and Drumify (Magenta Studio's GrooVAE tools, "humanize" and "tap2drum") with a midi-groove model
// (training/midi/groove_export.py): one ONNX call per 2-bar window,
//     condition  float [1, 32, 14]   per step: the hits of the 9 drum classes (Groove) | the tap track: onset,
//                                     velocity / 127, offset (Drumify) | flags Groove, Drumify
//     z          float [1, latent]   the feel of the variation
//  -> hit_logits, velocity (0..1), offset (steps, -0.5..0.5)   float [1, 32, 9]
//
// A clip of any length up to kGrooveMaxBars is cut into 2-bar windows (the last padded with silence); every
// window of a variation uses the same z, so the whole clip has one feel. Variation v of seed s draws from
// Pcg32(s + v): first z (latent normals by Box-Muller, times the temperature), then for Drumify with
// temperature > 0 one uniform per window, step and class (a hit where u < sigmoid(logit / temperature));
// temperature 0 takes z = 0 and the hits whose logit is above 0. training/midi/groove_reference.py does the
// same in Python and the tests compare the two.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "Clip.h"
#include "Sampler.h"
#include "Tools.h"

namespace Ort {
struct Session;
}

namespace tonemorph::midi {

constexpr const char* kGrooveKind = "midi-groove";
constexpr int kGrooveWindowSteps = 32;
constexpr int kGrooveClasses = 9;
constexpr int kGrooveConditionSize = 14;
constexpr int kGrooveMaxBars = 64;
constexpr float kGrooveMaxOffset = 0.49f;  // so a written note rounds back to its own step

// The nine drum classes (CONTRACT.md, Magenta's drums_rnn) and their GM notes, the first one written out.
const std::vector<std::vector<int>>& groove_drum_classes();
// The class of a GM drum note, or -1.
int groove_drum_class(int pitch);

struct GrooveModelInfo {
    std::string path, name, description;
    int version = 0;
    int latent = 0;
};

// The model's outputs for one window, [32 * 9] each, step-major.
struct GrooveWindow {
    std::vector<float> hit_logits, velocity, offset;
};

class GrooveModel final {
public:
    // Opens `path` as a midi-groove model; MidiError naming the file (not readable, another kind: "it is a
    // 'X' model, not a midi-groove model", metadata that does not fit), OrtUnavailable.
    static std::shared_ptr<const GrooveModel> open(const std::string& path);
    ~GrooveModel();

    const GrooveModelInfo& info() const { return info_; }

    // One window: condition [32 * 14], z [latent]. Thread-safe.
    GrooveWindow run(const std::vector<float>& condition, const std::vector<float>& z) const;

private:
    GrooveModel() = default;
    GrooveModelInfo info_;
    std::unique_ptr<Ort::Session> session_;
};

struct GrooveRequest {
    Clip clip;
    int variations = 4;        // 1..kMaxVariations
    double temperature = 1.0;  // 0..10: how far each variation's feel strays from the model's mean
    std::uint64_t seed = 0;
};

// Groove: the drum clip with each variation's velocities and micro-timing; which notes hit, their pitches,
// steps and lengths stay (notes outside the nine classes are kept as they are, and a message says so).
// MidiError: no notes, not a drum clip, no note of the nine classes, longer than kGrooveMaxBars, settings
// out of range. Cancelled when *cancel becomes true.
ToolResult groove(const GrooveModel& model, const GrooveRequest& request, const Progress& progress = {},
                  const std::atomic<bool>* cancel = nullptr);

// Drumify: a drum clip (9 classes, a sixteenth per hit) that follows the onsets and accents of any clip (its
// notes collapsed to one tap track: onset, loudest velocity, its offset), as long as the clip.
ToolResult drumify(const GrooveModel& model, const GrooveRequest& request, const Progress& progress = {},
                   const std::atomic<bool>* cancel = nullptr);

// Box-Muller normals from `rng`, as groove and drumify draw z (for tests).
std::vector<float> groove_latent(Pcg32& rng, int count, double temperature);

}  // namespace tonemorph::midi
