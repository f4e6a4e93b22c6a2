// The editor's building blocks: a dark look, level meters, knobs bound to parameters.
#pragma once

#include <juce_audio_processors/juce_audio_processors.h>
#include <juce_gui_basics/juce_gui_basics.h>

#include <functional>
#include <vector>

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

// The pieces the offline-tool panels with a list of results share (MIDI tools, Sampler).

// Lays out a panel's heading and hint lines at its top (inside its margin); returns the area below them.
juce::Rectangle<int> layOutHeading(const juce::Component& panel, juce::Label& heading, juce::Label& hint);

// A horizontal slider and its label, shown in `parent`; the value box `textBoxWidth` wide.
void setUpSlider(juce::Component& parent, juce::Label& label, const juce::String& text, juce::Slider& slider, double lo,
                 double hi, double step, double value, const juce::String& tip, int textBoxWidth);

// A job panel's progress bar, message label and result list, styled and shown in `parent`.
void setUpJobViews(juce::Component& parent, juce::ProgressBar& progressBar, juce::Label& messages,
                   juce::ListBox& results, int resultRowHeight);

// What a job panel's progress bar says: the job's stage while it runs, else Cancelled or Playing (or nothing).
juce::String jobProgressText(bool busy, const juce::String& stage, bool cancelled, bool playing);

// Shows `text` in `messages` (in the warning colour when the job failed) unless it is `shown` already.
void showJobMessage(juce::Label& messages, juce::String& shown, const juce::String& text, bool failed);

// Starts dragging `file` into the host (a DAW takes it as a file), when it still exists.
void dragFileOut(const juce::File& file, juce::Component* source);

// A result list's row: the result's name (the row's mouse clicks go to the row), painted as a card; dragging it
// further than a few pixels calls dragOut(index) once per drag.
class ResultRowBase : public juce::Component, public juce::SettableTooltipClient {
public:
    explicit ResultRowBase(std::function<void(int)> dragOut);
    void paint(juce::Graphics& g) override;
    void mouseDrag(const juce::MouseEvent& e) override;

protected:
    std::function<void(int)> dragOut_;
    int index_ = -1;
    bool dragging_ = false;
    juce::Label name_;
};

// Whether a job's results (anything with a `file`) are other files than those shown.
template <typename Result>
bool resultsChanged(const std::vector<Result>& results, const std::vector<Result>& shown) {
    bool changed = results.size() != shown.size();
    for (std::size_t i = 0; !changed && i < shown.size(); ++i) changed = results[i].file != shown[i].file;
    return changed;
}

// Drags result `index`'s file into the host (nothing for an index out of range).
template <typename Result>
void dragResultOut(const std::vector<Result>& results, int index, juce::Component* source) {
    if (index < 0 || index >= static_cast<int>(results.size())) return;
    dragFileOut(results[static_cast<std::size_t>(index)].file, source);
}

// The component for list row `row` of `rows`: `existing` when it is a Row, else a new Row(owner) in its
// place; nullptr (`existing` deleted) past the end.
template <typename Row, typename Owner>
Row* resultRowFor(Owner& owner, int row, int rows, juce::Component* existing) {
    auto* component = dynamic_cast<Row*>(existing);
    if (row < 0 || row >= rows) {
        delete existing;
        return nullptr;
    }
    if (component == nullptr) {
        delete existing;
        component = new Row(owner);
    }
    return component;
}

}  // namespace tonemorph::plugin
