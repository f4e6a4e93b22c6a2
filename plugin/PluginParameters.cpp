#include "PluginParameters.h"

namespace tonemorph::plugin {

namespace {
const ParamSpec& spec(Param p) { return kParamSpecs[static_cast<std::size_t>(p)]; }

bool isToggle(Param p) { return p == Param::AutoAdjust; }
bool isStepped(Param p) { return p == Param::Octave; }

// Times span 0..2000+ ms but matter most below 200 ms: a skewed knob puts that range in the middle.
bool isTime(Param p) { return p == Param::GlideMs || p == Param::AttackMs || p == Param::ReleaseMs; }

// The value alone: hosts show the unit (the parameter's label) beside it.
juce::String formatValue(float v) {
    return std::abs(v) >= 100.0f ? juce::String(juce::roundToInt(v)) : juce::String(v, 2);
}
}  // namespace

bool isExposed(Param p, bool synth) {
    if (p == Param::MidiMode) return false;  // fixed by the plugin kind
    const bool audioOnly = p == Param::InputGainDb || p == Param::GateDb || p == Param::ConfidenceThreshold ||
                           p == Param::AutoAdjust || p == Param::DryWet;
    const bool midiOnly =
        p == Param::GlideMs || p == Param::AttackMs || p == Param::ReleaseMs || p == Param::PitchBendRange;
    return synth ? !audioOnly : !midiOnly;
}

juce::String displayName(Param p) {
    juce::String id(spec(p).name);
    for (const char* suffix : {"_db", "_ms"})
        if (id.endsWith(suffix)) id = id.dropLastCharacters(3);
    id = id.replaceCharacter('_', ' ');
    return id.substring(0, 1).toUpperCase() + id.substring(1);
}

juce::AudioProcessorValueTreeState::ParameterLayout createParameterLayout(bool synth) {
    juce::AudioProcessorValueTreeState::ParameterLayout layout;
    for (std::size_t i = 0; i < kParamCount; ++i) {
        const auto p = static_cast<Param>(i);
        if (!isExposed(p, synth)) continue;
        const ParamSpec& s = spec(p);
        const juce::ParameterID id{s.name, 1};
        const juce::String unit(s.unit);
        if (isToggle(p)) {
            layout.add(std::make_unique<juce::AudioParameterBool>(
                id, displayName(p), s.default_value >= 0.5f,
                juce::AudioParameterBoolAttributes().withLabel(unit)));
            continue;
        }
        juce::NormalisableRange<float> range(s.min, s.max, isStepped(p) ? 1.0f : 0.0f);
        if (isTime(p)) range.setSkewForCentre(200.0f);
        layout.add(std::make_unique<juce::AudioParameterFloat>(
            id, displayName(p), range, s.default_value,
            juce::AudioParameterFloatAttributes().withLabel(unit).withStringFromValueFunction(
                [](float v, int) { return formatValue(v); })));
    }
    return layout;
}

ParameterBridge::ParameterBridge(juce::AudioProcessorValueTreeState& state, bool synth) : synth_(synth) {
    for (std::size_t i = 0; i < kParamCount; ++i)
        if (isExposed(static_cast<Param>(i), synth)) values_[i] = state.getRawParameterValue(kParamSpecs[i].name);
}

void ParameterBridge::pushTo(Parameters& engineParams) const {
    for (std::size_t i = 0; i < kParamCount; ++i)
        if (values_[i] != nullptr) engineParams.set(static_cast<Param>(i), values_[i]->load(std::memory_order_relaxed));
    engineParams.set(Param::MidiMode, synth_ ? 1.0f : 0.0f);
    if (synth_) engineParams.set(Param::DryWet, 1.0f);
}

}  // namespace tonemorph::plugin
