#include "TonemorphEditor.h"

#include <cmath>

#include "MasterPanel.h"
#include "MidiPanel.h"
#include "SamplerPanel.h"

namespace tonemorph::plugin {

namespace {
constexpr int kRefreshHz = 30;
constexpr int kLoadFileItem = 100000;
constexpr int kOtherFileItem = 100001;
constexpr float kMinConfidenceShown = 0.05f;

// f0 -> "A3 +12 c" (equal temperament, A4 = 440 Hz).
juce::String noteName(float f0Hz) {
    static const char* names[] = {"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"};
    const double midi = 69.0 + 12.0 * std::log2(f0Hz / 440.0);
    const int nearest = static_cast<int>(std::lround(midi));
    const int cents = static_cast<int>(std::lround(100.0 * (midi - nearest)));
    const int octave = nearest / 12 - 1;
    return juce::String(names[((nearest % 12) + 12) % 12]) + juce::String(octave) + (cents >= 0 ? " +" : " ") +
           juce::String(cents) + " c";
}
}  // namespace

// The knobs of whichever plugin this is, in a grid.
class TonemorphEditor::PlayPanel final : public juce::Component {
public:
    explicit PlayPanel(juce::AudioProcessorValueTreeState& state) {
        for (std::size_t i = 0; i < kParamCount; ++i) {
            if (!isExposed(static_cast<Param>(i), TonemorphProcessor::kSynth)) continue;
            controls_.push_back(std::make_unique<ParameterControl>(state, kParamSpecs[i].name));
            addAndMakeVisible(*controls_.back());
        }
    }
    void resized() override {
        // As many columns as fit at kMinKnobWidth, then spread the knobs evenly over the rows needed.
        constexpr int kMinKnobWidth = 115;
        auto area = getLocalBounds().reduced(8);
        const int n = static_cast<int>(controls_.size());
        const int maxColumns = std::max(1, area.getWidth() / kMinKnobWidth);
        const int rows = std::max(1, (n + maxColumns - 1) / maxColumns);
        const int columns = std::max(1, (n + rows - 1) / rows);
        const int w = area.getWidth() / columns, h = area.getHeight() / rows;
        for (int i = 0; i < n; ++i)
            controls_[static_cast<std::size_t>(i)]->setBounds(
                juce::Rectangle<int>(area.getX() + (i % columns) * w, area.getY() + (i / columns) * h, w, h).reduced(4, 6));
    }

private:
    std::vector<std::unique_ptr<ParameterControl>> controls_;
};

TonemorphEditor::TonemorphEditor(TonemorphProcessor& owner) : juce::AudioProcessorEditor(owner), processor_(owner) {
    setLookAndFeel(&lookAndFeel_);

    title_.setText(TonemorphProcessor::kSynth ? "tonemorph Synth" : "tonemorph", juce::dontSendNotification);
    title_.setFont(juce::Font(22.0f, juce::Font::bold));
    title_.setColour(juce::Label::textColourId, colours::accent);
    addAndMakeVisible(title_);

    modelBox_.setTextWhenNothingSelected("choose a model");
    modelBox_.setTooltip("Bundled instruments, your models folder (" + ModelLibrary::userDir().getFullPathName() +
                         "), or any .onnx file");
    modelBox_.onChange = [this] { onModelChosen(); };
    addAndMakeVisible(modelBox_);
    refresh_.setTooltip("Look again for models in the bundle and in your models folder");
    refresh_.onClick = [this] { fillModelList(processor_.refreshModels()); };
    addAndMakeVisible(refresh_);

    message_.setJustificationType(juce::Justification::centredLeft);
    message_.setMinimumHorizontalScale(0.7f);
    addAndMakeVisible(message_);

    for (auto* label : {&pitch_, &confidence_, &latency_}) {
        label->setJustificationType(juce::Justification::centred);
        label->setColour(juce::Label::textColourId, colours::text);
        addAndMakeVisible(*label);
    }
    pitch_.setFont(juce::Font(24.0f, juce::Font::bold));
    addAndMakeVisible(inputMeter_);
    addAndMakeVisible(outputMeter_);

    tabs_.addTab("Play", colours::panel, new PlayPanel(processor_.parameters()), true);
    // Mastering is the effect's: a Synth's output is a part, not a mix to master. The MIDI tools and the
    // sampler are in both.
    auto* offline = new juce::TabbedComponent(juce::TabbedButtonBar::TabsAtTop);
    offline->setTabBarDepth(26);
    if (!TonemorphProcessor::kSynth) offline->addTab("Master", colours::panel, new MasterPanel(processor_), true);
    offline->addTab("MIDI tools", colours::panel, new MidiPanel(processor_), true);
    offline->addTab("Sampler", colours::panel, new SamplerPanel(processor_), true);
    tabs_.addTab("Offline tools", colours::panel, offline, true);
    addAndMakeVisible(tabs_);

    fillModelList(processor_.models());
    setResizable(true, true);
    setResizeLimits(620, 420, 1800, 1200);
    setSize(980, 600);
    timerCallback();
    startTimerHz(kRefreshHz);
}

TonemorphEditor::~TonemorphEditor() {
    stopTimer();
    setLookAndFeel(nullptr);
}

void TonemorphEditor::paint(juce::Graphics& g) { g.fillAll(colours::background); }

void TonemorphEditor::resized() {
    auto area = getLocalBounds().reduced(10);
    auto header = area.removeFromTop(32);
    title_.setBounds(header.removeFromLeft(200));
    refresh_.setBounds(header.removeFromRight(80));
    header.removeFromRight(6);
    modelBox_.setBounds(header);
    area.removeFromTop(4);
    message_.setBounds(area.removeFromTop(40));
    area.removeFromTop(4);

    auto side = area.removeFromRight(170);
    area.removeFromRight(8);
    tabs_.setBounds(area);
    latency_.setBounds(side.removeFromBottom(36));
    confidence_.setBounds(side.removeFromBottom(24));
    pitch_.setBounds(side.removeFromBottom(36));
    side.removeFromBottom(6);
    auto meters = side.reduced(20, 0);
    inputMeter_.setBounds(meters.removeFromLeft(meters.getWidth() / 2).reduced(6, 0));
    outputMeter_.setBounds(meters.reduced(6, 0));
    inputMeter_.setVisible(!TonemorphProcessor::kSynth);
}

void TonemorphEditor::fillModelList(const std::vector<ModelEntry>& entries) {
    entries_ = entries;
    modelBox_.clear(juce::dontSendNotification);
    for (auto source : {ModelEntry::Source::Bundled, ModelEntry::Source::User}) {
        bool heading = false;
        for (std::size_t i = 0; i < entries_.size(); ++i) {
            if (entries_[i].source != source) continue;
            if (!heading) {
                modelBox_.addSectionHeading(source == ModelEntry::Source::Bundled ? "Bundled" : "Your models");
                heading = true;
            }
            modelBox_.addItem(entries_[i].name, static_cast<int>(i) + 1);
        }
    }
    modelBox_.addSeparator();
    modelBox_.addItem("Load file...", kLoadFileItem);
    shownModel_ = juce::File();  // the timer selects the playing model again
}

void TonemorphEditor::onModelChosen() {
    const int id = modelBox_.getSelectedId();
    if (id == kLoadFileItem) {
        chooseFile();
    } else if (id >= 1 && id <= static_cast<int>(entries_.size())) {
        processor_.loadModel(entries_[static_cast<std::size_t>(id - 1)].file);
    }
}

void TonemorphEditor::chooseFile() {
    chooser_ = std::make_unique<juce::FileChooser>("Load a tonemorph model", ModelLibrary::userDir(), "*.onnx");
    chooser_->launchAsync(juce::FileBrowserComponent::openMode | juce::FileBrowserComponent::canSelectFiles,
                          [this](const juce::FileChooser& chooser) {
                              if (chooser.getResult().existsAsFile()) processor_.loadModel(chooser.getResult());
                              shownModel_ = juce::File();
                          });
}

void TonemorphEditor::timerCallback() {
    const auto model = processor_.modelStatus();
    message_.setText(model.loading ? model.message + "  (loading...)" : model.message, juce::dontSendNotification);
    message_.setColour(juce::Label::textColourId, model.isError ? colours::warn : colours::dim);

    if (model.file != shownModel_ && !model.loading) {
        shownModel_ = model.file;
        int id = 0;
        for (std::size_t i = 0; i < entries_.size(); ++i)
            if (entries_[i].file == model.file) id = static_cast<int>(i) + 1;
        if (id == 0 && model.file != juce::File()) {
            modelBox_.changeItemText(kOtherFileItem, model.file.getFileName());
            if (modelBox_.indexOfItemId(kOtherFileItem) < 0) modelBox_.addItem(model.file.getFileName(), kOtherFileItem);
            id = kOtherFileItem;
        }
        modelBox_.setSelectedId(id, juce::dontSendNotification);
    }

    const auto live = processor_.liveStatus();
    const float seconds = 1.0f / kRefreshHz;
    inputMeter_.push(live.inputPeak, seconds);
    outputMeter_.push(live.outputPeak, seconds);
    const bool pitched = live.f0Hz > 0.0f && live.confidence >= kMinConfidenceShown;
    pitch_.setText(pitched ? noteName(live.f0Hz) : juce::String("--"), juce::dontSendNotification);
    pitch_.setColour(juce::Label::textColourId, live.voiced ? colours::text : colours::dim);
    confidence_.setText("confidence " + juce::String(live.confidence, 2), juce::dontSendNotification);
    if (live.sampleRate > 0.0)
        latency_.setText("latency " + juce::String(live.latencySamples) + " samples\n(" +
                             juce::String(1000.0 * live.latencySamples / live.sampleRate, 1) + " ms)",
                         juce::dontSendNotification);
    else
        latency_.setText("latency: known once\naudio runs", juce::dontSendNotification);
}

}  // namespace tonemorph::plugin
