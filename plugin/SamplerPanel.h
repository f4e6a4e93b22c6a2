// The Sampler panel (both plugins): a sampler model (bundled, the user's sampler folder, or any .onnx file),
// described when chosen (its rate, length and the words its prompt understands); words, count, length,
// steps and guidance; Generate, progress, Cancel; the sounds listed, each played with a click through the
// plugin's output, ticked to keep, and dragged out into the host as a WAV file; Save copies the kept sounds
// (all of them when none is ticked) with their sidecars into a folder. The work runs in the processor's
// SamplerJob.
#pragma once

#include <set>

#include <juce_gui_basics/juce_gui_basics.h>

#include "TonemorphProcessor.h"

namespace tonemorph::plugin {

class SamplerPanel final : public juce::Component, private juce::ListBoxModel, private juce::Timer {
public:
    explicit SamplerPanel(TonemorphProcessor& processor);
    ~SamplerPanel() override;

    void paint(juce::Graphics& g) override;
    void resized() override;

private:
    class ResultRow;

    // ListBoxModel
    int getNumRows() override;
    void paintListBoxItem(int, juce::Graphics&, int, int, bool) override {}
    juce::Component* refreshComponentForRow(int row, bool selected, juce::Component* existing) override;

    void timerCallback() override;
    void fillModelList();
    void onModelChosen();
    void chooseFile();
    void generate();
    void play(int index);
    void setKept(int index, bool kept);
    void showKeptCount();  // on the Save button
    void saveKept();
    void dragOut(int index);
    void showModel(const SamplerJob::ModelFacts& model);
    void showStatus(const SamplerJob::Snapshot& status);

    TonemorphProcessor& processor_;
    juce::Label heading_, hint_, modelLabel_, facts_, wordsLabel_, vocabulary_, messages_;
    juce::ComboBox model_;
    juce::TextButton refresh_{"Refresh"};
    juce::TextEditor prompt_, seed_;
    juce::Label seedLabel_;
    juce::Label countLabel_, secondsLabel_, stepsLabel_, guidanceLabel_;
    juce::Slider count_, seconds_, steps_, guidance_;
    juce::TextButton generate_{"Generate"}, cancel_{"Cancel"}, save_{"Save..."};
    double progress_ = 0.0;
    juce::ProgressBar progressBar_{progress_};
    juce::ListBox results_{"sounds", this};
    std::vector<ModelEntry> entries_;
    juce::File chosenFile_;   // a file loaded with "Load file..."
    juce::File shownModel_;   // the model whose facts are shown
    juce::File settingsFrom_; // the model whose length, steps and guidance the sliders were set to
    std::vector<SamplerJob::Result> shownResults_;
    std::set<int> kept_;      // rows ticked to keep
    int played_ = -1;         // the row played last
    juce::String shownMessages_;
    std::unique_ptr<juce::FileChooser> chooser_;

    JUCE_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(SamplerPanel)
};

}  // namespace tonemorph::plugin
