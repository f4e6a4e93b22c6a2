// The editor's building blocks: a dark look, level meters, knobs bound to parameters.
#pragma once

#include <juce_audio_processors/juce_audio_processors.h>
#include <juce_gui_basics/juce_gui_basics.h>

namespace tonemorph::plugin {

namespace colours {
const juce::Colour background{0xff16181d}, panel{0xff1f232b}, text{0xffe6e8ee}, dim{0xff8a91a1},
    accent{0xffe0a030}, good{0xff4cc38a}, warn{0xffe05a4f};
}

class DarkLookAndFeel final : public juce::LookAndFeel_V4 {
public:
    DarkLookAndFeel();
};

// A vertical peak meter, -60..+6 dBFS, with a falling peak (20 dB/s).
class LevelMeter final : public juce::Component {
public:
    explicit LevelMeter(juce::String label) : label_(std::move(label)) {}
    void push(float peak, float seconds);
    void paint(juce::Graphics& g) override;

private:
    juce::String label_;
    float db_ = -100.0f;
};

// One parameter as a labelled rotary knob (or a toggle for on/off parameters).
class ParameterControl final : public juce::Component {
public:
    ParameterControl(juce::AudioProcessorValueTreeState& state, const juce::String& id);
    void resized() override;

private:
    juce::Label name_;
    std::unique_ptr<juce::Slider> slider_;
    std::unique_ptr<juce::ToggleButton> toggle_;
    std::unique_ptr<juce::AudioProcessorValueTreeState::SliderAttachment> sliderAttachment_;
    std::unique_ptr<juce::AudioProcessorValueTreeState::ButtonAttachment> toggleAttachment_;
};

}  // namespace tonemorph::plugin
