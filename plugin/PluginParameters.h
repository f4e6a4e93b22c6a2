// The plugin's automatable parameters, built from the engine's table (cpp/engine/Parameters.h):
// same ids, ranges, defaults and units. Each plugin shows the parameters that mean something in it:
// the effect has no MIDI envelope, the Synth has no audio input (gate, input gain, dry/wet).
#pragma once

#include <array>

#include <juce_audio_processors/juce_audio_processors.h>

#include "Parameters.h"

namespace tonemorph::plugin {

// Whether the effect (synth = false) or the Synth (synth = true) exposes p.
bool isExposed(Param p, bool synth);

// "input_gain_db" -> "Input gain": the id without its unit suffix, as a label.
juce::String displayName(Param p);

juce::AudioProcessorValueTreeState::ParameterLayout createParameterLayout(bool synth);

// Reads the host-facing parameters once per block and writes them into the engine's atomics;
// parameters a plugin does not expose get the value that plugin needs (midi_mode, dry_wet).
class ParameterBridge final {
public:
    ParameterBridge(juce::AudioProcessorValueTreeState& state, bool synth);
    void pushTo(Parameters& engineParams) const;  // audio thread: atomics only

private:
    bool synth_;
    std::array<std::atomic<float>*, kParamCount> values_{};
};

}  // namespace tonemorph::plugin
