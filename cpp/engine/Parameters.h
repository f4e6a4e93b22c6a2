// The engine's parameters: one table (id, name, range, default, unit) shared by the
// Python binding and the plugin. Values live in atomics: any thread may set them, the audio
// thread reads them once per block.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>

#include "YinPitch.h"

namespace tonemorph {

enum class Param : int {
    InputGainDb,
    Semitones,
    Octave,
    GateDb,
    ConfidenceThreshold,
    LoudnessOffsetDb,
    AutoAdjust,
    HarmonicGain,
    NoiseGain,
    ReverbMix,
    DryWet,
    OutputGainDb,
    MidiMode,
    GlideMs,
    AttackMs,
    ReleaseMs,
    PitchBendRange,
    Count
};

struct ParamSpec {
    const char* name;
    float min, max, default_value;
    const char* unit;
    const char* description;
};

constexpr std::size_t kParamCount = static_cast<std::size_t>(Param::Count);

// Confidence below which a frame is unvoiced: YIN's own line (see YinPitch.h, tests/test_pitch.py).
constexpr float kDefaultConfidenceThreshold = kVoicedConfidence;

inline constexpr std::array<ParamSpec, kParamCount> kParamSpecs = {{
    {"input_gain_db", -24.0f, 24.0f, 0.0f, "dB", "Gain applied to the input before analysis"},
    {"semitones", -24.0f, 24.0f, 0.0f, "st", "Pitch shift in semitones"},
    {"octave", -2.0f, 2.0f, 0.0f, "oct", "Pitch shift in octaves"},
    {"gate_db", -120.0f, 0.0f, -70.0f, "dB", "Input below this loudness is silence"},
    {"confidence_threshold", 0.0f, 1.0f, kDefaultConfidenceThreshold, "", "A new pitch needs this confidence; a playing note holds its pitch through short dips below it"},
    {"loudness_offset_db", -40.0f, 40.0f, 0.0f, "dB", "Added to the input loudness the model sees"},
    {"auto_adjust", 0.0f, 1.0f, 1.0f, "", "Fold pitch into the model's range by octaves; map loudness onto its training data"},
    {"harmonic_gain", 0.0f, 4.0f, 1.0f, "x", "Gain of the harmonic (pitched) part"},
    {"noise_gain", 0.0f, 4.0f, 1.0f, "x", "Gain of the noise (breath, bow) part"},
    {"reverb_mix", 0.0f, 2.0f, 1.0f, "x", "Amount of the model's learned reverb"},
    {"dry_wet", 0.0f, 1.0f, 1.0f, "", "0 = input only, 1 = instrument only"},
    {"output_gain_db", -60.0f, 24.0f, 0.0f, "dB", "Output gain"},
    {"midi_mode", 0.0f, 1.0f, 0.0f, "", "1 = play from MIDI notes instead of the audio input"},
    {"glide_ms", 0.0f, 2000.0f, 40.0f, "ms", "MIDI: time to glide to a new note"},
    {"attack_ms", 0.0f, 2000.0f, 15.0f, "ms", "MIDI: loudness attack time"},
    {"release_ms", 0.0f, 5000.0f, 150.0f, "ms", "MIDI: loudness release time"},
    {"pitch_bend_range", 0.0f, 24.0f, 2.0f, "st", "MIDI: pitch bend range"},
}};

class Parameters final {
public:
    Parameters() {
        for (std::size_t i = 0; i < kParamCount; ++i) values_[i].store(kParamSpecs[i].default_value);
    }
    float get(Param p) const { return values_[static_cast<std::size_t>(p)].load(std::memory_order_relaxed); }
    // Clamps to the parameter's range; non-finite values are ignored.
    void set(Param p, float value) {
        const ParamSpec& s = kParamSpecs[static_cast<std::size_t>(p)];
        if (!(value == value) || value > 3e38f || value < -3e38f) return;
        values_[static_cast<std::size_t>(p)].store(value < s.min ? s.min : (value > s.max ? s.max : value),
                                                   std::memory_order_relaxed);
    }

    // A consistent copy for one block.
    struct Snapshot {
        std::array<float, kParamCount> v;
        float operator[](Param p) const { return v[static_cast<std::size_t>(p)]; }
    };
    Snapshot snapshot() const {
        Snapshot s;
        for (std::size_t i = 0; i < kParamCount; ++i) s.v[i] = values_[i].load(std::memory_order_relaxed);
        return s;
    }

private:
    std::array<std::atomic<float>, kParamCount> values_;
};

}  // namespace tonemorph
