// The effect's Master panel (the "Offline tools" tab): choose or drop a track and a reference, master the
// track to it (strength, ceiling), watch the progress or cancel, read what came out, A/B the result against
// the original at matched loudness through the plugin's output, and save it. The work runs in the
// processor's MasterJob; the result waits in MasterJob::resultFolder() until Save copies it.
#pragma once

#include <juce_gui_basics/juce_gui_basics.h>

#include "TonemorphProcessor.h"

namespace tonemorph::plugin {

class MasterPanel final : public juce::Component, public juce::FileDragAndDropTarget, private juce::Timer {
public:
    explicit MasterPanel(TonemorphProcessor& processor);
    ~MasterPanel() override;

    void paint(juce::Graphics& g) override;
    void resized() override;

    bool isInterestedInFileDrag(const juce::StringArray& files) override;
    void fileDragEnter(const juce::StringArray&, int, int) override { setDragging(true); }
    void fileDragExit(const juce::StringArray&) override { setDragging(false); }
    void filesDropped(const juce::StringArray& files, int x, int y) override;

private:
    // A labelled file field: name shown, full path as tooltip, "Choose..." beside it.
    struct FileRow {
        juce::Label caption, name;
        juce::TextButton choose{"Choose..."};
        juce::File file;
        juce::Rectangle<int> bounds;
    };

    void timerCallback() override;
    void setupRow(FileRow& row, const juce::String& caption, const juce::String& chooserTitle);
    void setFile(FileRow& row, const juce::File& file);
    void startMaster();
    void saveResult();
    void showStatus(const MasterJob::Snapshot& status);
    static juce::String summary(const MasterJob::Snapshot& status);
    void setDragging(bool dragging);

    TonemorphProcessor& processor_;
    juce::Label heading_, hint_, strengthLabel_, ceilingLabel_;
    FileRow track_, reference_;
    juce::Slider strength_{juce::Slider::LinearHorizontal, juce::Slider::TextBoxRight};
    juce::Slider ceiling_{juce::Slider::LinearHorizontal, juce::Slider::TextBoxRight};
    juce::TextButton master_{"Master"}, cancel_{"Cancel"}, save_{"Save..."};
    double progress_ = 0.0;  // the progress bar's, set by the timer
    juce::ProgressBar progressBar_{progress_};
    juce::TextEditor report_;
    juce::Label listen_;
    juce::TextButton listenOriginal_{"A: original"}, listenMaster_{"B: master"}, listenOff_{"Off"};
    std::unique_ptr<juce::FileChooser> chooser_;
    juce::String shownReport_;
    bool dragging_ = false;

    JUCE_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(MasterPanel)
};

}  // namespace tonemorph::plugin
