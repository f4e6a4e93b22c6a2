// The MIDI tools panel (both plugins): a tool (Continue, Generate, Interpolate, Groove, Drumify, Transcribe)
// and its settings; a clip dropped or chosen (two for Interpolate), recorded from the MIDI input (the Synth:
// Record / Stop) or transcribed from the last seconds of the audio input (the effect); Run, progress, Cancel;
// the variations listed, each with Play (through the loaded instrument), Save..., Use (as the next input) and
// dragged out into the host as a .mid. The work runs in the processor's MidiJob.
#pragma once

#include <juce_gui_basics/juce_gui_basics.h>

#include "TonemorphProcessor.h"

namespace tonemorph::plugin {

class MidiPanel final : public juce::Component,
                        public juce::FileDragAndDropTarget,
                        private juce::ListBoxModel,
                        private juce::Timer {
public:
    explicit MidiPanel(TonemorphProcessor& processor);
    ~MidiPanel() override;

    void paint(juce::Graphics& g) override;
    void resized() override;

    bool isInterestedInFileDrag(const juce::StringArray& files) override;
    void fileDragEnter(const juce::StringArray&, int, int) override { setDragging(true); }
    void fileDragExit(const juce::StringArray&) override { setDragging(false); }
    void filesDropped(const juce::StringArray& files, int x, int y) override;

private:
    class ResultRow;
    struct FileRow {
        juce::Label caption, name;
        juce::TextButton choose{"Choose..."};
        juce::File file;
        juce::Rectangle<int> bounds;
    };

    // ListBoxModel
    int getNumRows() override;
    void paintListBoxItem(int, juce::Graphics&, int, int, bool) override {}
    juce::Component* refreshComponentForRow(int row, bool selected, juce::Component* existing) override;

    void timerCallback() override;
    void setupRow(FileRow& row, const juce::String& caption);
    void setFile(FileRow& row, const juce::File& file);
    void choose(FileRow& row);
    void toolChanged();
    void toggleRecord();
    void run();
    void play(int index);
    void save(int index);
    void use(int index);
    void dragOut(int index);
    MidiJob::Tool tool() const;
    void showStatus(const MidiJob::Snapshot& status);
    void setDragging(bool dragging);

    TonemorphProcessor& processor_;
    juce::Label heading_, hint_, toolLabel_, kindLabel_, messages_;
    juce::ComboBox tool_, kind_;
    FileRow first_, second_;
    juce::TextButton record_{"Record"};
    juce::Label barsLabel_, variationsLabel_, temperatureLabel_, stepsLabel_, secondsLabel_;
    juce::Slider bars_, variations_, temperature_, steps_, seconds_;
    juce::ToggleButton mono_{"One voice"};
    juce::TextButton run_{"Run"}, cancel_{"Cancel"};
    double progress_ = 0.0;
    juce::ProgressBar progressBar_{progress_};
    juce::ListBox results_{"results", this};
    std::vector<MidiJob::Result> shownResults_;
    int played_ = -1;  // the row Play was pressed on last
    juce::String shownMessages_;
    std::unique_ptr<juce::FileChooser> chooser_;
    bool dragging_ = false;

    JUCE_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(MidiPanel)
};

}  // namespace tonemorph::plugin
