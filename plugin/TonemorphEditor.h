// The plugin window: model picker (bundled, user folder, "Load file..."; Refresh), the knobs, input and
// output meters, the detected pitch and its confidence, the latency, and the offline-tools tab (the
// Master panel in the effect, the MIDI tools and the Sampler in both).
#pragma once

#include <juce_audio_processors/juce_audio_processors.h>

#include "EditorParts.h"
#include "TonemorphProcessor.h"

namespace tonemorph::plugin {

class TonemorphEditor final : public juce::AudioProcessorEditor, private juce::Timer {
public:
    explicit TonemorphEditor(TonemorphProcessor& owner);
    ~TonemorphEditor() override;

    void paint(juce::Graphics& g) override;
    void resized() override;

private:
    class PlayPanel;
    void timerCallback() override;
    void fillModelList(const std::vector<ModelEntry>& entries);
    void onModelChosen();
    void chooseFile();

    TonemorphProcessor& processor_;
    DarkLookAndFeel lookAndFeel_;
    juce::Label title_, message_, pitch_, confidence_, latency_;
    juce::ComboBox modelBox_;
    juce::TextButton refresh_{"Refresh"};
    LevelMeter inputMeter_{"in"}, outputMeter_{"out"};
    juce::TabbedComponent tabs_{juce::TabbedButtonBar::TabsAtTop};
    std::vector<ModelEntry> entries_;
    juce::File shownModel_;
    std::unique_ptr<juce::FileChooser> chooser_;

    JUCE_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(TonemorphEditor)
};

}  // namespace tonemorph::plugin
