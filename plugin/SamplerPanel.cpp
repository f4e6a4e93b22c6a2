#include "SamplerPanel.h"

#include <cmath>

#include "EditorParts.h"

namespace tonemorph::plugin {

namespace {
constexpr int kRefreshHz = 15;
constexpr int kRowHeight = 28;
constexpr int kResultRowHeight = 30;
constexpr int kLoadFileItem = 100000;
constexpr int kOtherFileItem = 100001;
constexpr int kDefaultCount = 8;
constexpr int kMaxCountShown = 64;  // the slider's end; the job takes up to SamplerJob::kMaxCount
constexpr int kMaxStepsShown = 200;

juce::String peakText(float peak) {
    return peak > 0.0f ? juce::String(juce::Decibels::gainToDecibels(peak), 1) + " dB" : juce::String("silent");
}
}  // namespace

// One sound: its name and facts (drag it into the host), Keep, Play.
class SamplerPanel::ResultRow final : public ResultRowBase {
public:
    explicit ResultRow(SamplerPanel& owner)
        : ResultRowBase([&owner](int index) { owner.dragOut(index); }), owner_(owner) {
        keep_.setTooltip("Keep it: Save copies the kept sounds (all of them when none is ticked)");
        keep_.onClick = [this] { owner_.setKept(index_, keep_.getToggleState()); };
        play_.setTooltip("Play it through the plugin's output (click again to stop)");
        play_.onClick = [this] { owner_.play(index_); };
        for (juce::Component* c : {static_cast<juce::Component*>(&keep_), static_cast<juce::Component*>(&play_)})
            addAndMakeVisible(*c);
        setTooltip("Click to play; drag into your DAW as a WAV file");
    }
    void show(int index, const SamplerJob::Result& result, bool kept) {
        index_ = index;
        name_.setText(result.file.getFileName() + "   " + juce::String(result.seconds, 2) + " s, peak " + peakText(result.peak),
                      juce::dontSendNotification);
        keep_.setToggleState(kept, juce::dontSendNotification);
    }
    void resized() override {
        auto area = getLocalBounds().reduced(2);
        play_.setBounds(area.removeFromRight(60).reduced(2, 0));
        keep_.setBounds(area.removeFromRight(70).reduced(2, 0));
        name_.setBounds(area);
    }
    void mouseUp(const juce::MouseEvent& e) override {
        if (!dragging_ && !e.mouseWasDraggedSinceMouseDown()) owner_.play(index_);
        dragging_ = false;
    }

private:
    SamplerPanel& owner_;
    juce::ToggleButton keep_{"Keep"};
    juce::TextButton play_{"Play"};
};

SamplerPanel::SamplerPanel(TonemorphProcessor& processor) : processor_(processor) {
    heading_.setText("Sampler", juce::dontSendNotification);
    heading_.setFont(juce::Font(18.0f, juce::Font::bold));
    heading_.setColour(juce::Label::textColourId, colours::accent);
    hint_.setText("One-shots from a sampler model, steered by a few words. Click a sound to hear it, drag it into "
                  "your DAW, tick the good ones and save them.",
                  juce::dontSendNotification);
    for (auto* label : {&hint_, &facts_, &vocabulary_}) {
        label->setColour(juce::Label::textColourId, colours::dim);
        label->setMinimumHorizontalScale(0.7f);
    }
    for (auto* label : {&heading_, &hint_, &facts_, &vocabulary_}) addAndMakeVisible(*label);

    modelLabel_.setText("Model", juce::dontSendNotification);
    model_.setTextWhenNothingSelected("choose a sampler");
    model_.setTooltip("Bundled samplers, your sampler folder (" +
                      ModelLibrary::userDir().getChildFile(SamplerJob::kFolder).getFullPathName() +
                      ", where `tonemorph sampler train` puts them), or any sampler .onnx file");
    model_.onChange = [this] { onModelChosen(); };
    refresh_.setTooltip("Look again for samplers in the bundle and in your sampler folder");
    refresh_.onClick = [this] { fillModelList(); };
    for (juce::Component* c : {static_cast<juce::Component*>(&modelLabel_), static_cast<juce::Component*>(&model_),
                               static_cast<juce::Component*>(&refresh_)})
        addAndMakeVisible(*c);

    wordsLabel_.setText("Words", juce::dontSendNotification);
    prompt_.setTextToShowWhenEmpty("e.g. short bright snare (empty: any sound)", colours::dim);
    prompt_.setTooltip("Words from the model's vocabulary (listed below); an unknown word is named, with the "
                       "nearest known ones");
    prompt_.onReturnKey = [this] { generate(); };
    seedLabel_.setText("Seed", juce::dontSendNotification);
    seed_.setInputRestrictions(19, "0123456789");
    seed_.setTextToShowWhenEmpty("any", colours::dim);
    seed_.setTooltip("The first sound's seed (each next one is one more); empty: a new one each time. The same "
                     "seed, words and settings give the same sounds, here and in `tonemorph sampler generate`.");
    for (juce::Component* c : {static_cast<juce::Component*>(&wordsLabel_), static_cast<juce::Component*>(&prompt_),
                               static_cast<juce::Component*>(&seedLabel_), static_cast<juce::Component*>(&seed_)})
        addAndMakeVisible(*c);

    const auto slider = [this](juce::Label& label, const juce::String& text, juce::Slider& s, double lo, double hi,
                               double step, double value, const juce::String& tip) {
        setUpSlider(*this, label, text, s, lo, hi, step, value, tip, 52);
    };
    slider(countLabel_, "Count", count_, 1, kMaxCountShown, 1, kDefaultCount, "How many sounds to generate");
    slider(secondsLabel_, "Length", seconds_, 0.05, SamplerJob::kMaxSeconds, 0.01, 1.0,
           "Seconds of each sound (the model was trained on its own length, shown above)");
    seconds_.setTextValueSuffix(" s");
    seconds_.setSkewFactorFromMidPoint(1.0);
    slider(stepsLabel_, "Steps", steps_, 1, kMaxStepsShown, 1, 16, "Sampling steps: more is slower and cleaner");
    slider(guidanceLabel_, "Guidance", guidance_, 0.0, 10.0, 0.1, 2.0,
           "How hard the sounds follow the words: 0 ignores them, 1 as trained, higher follows them harder");

    generate_.setTooltip("Generate the sounds (into " + SamplerJob::resultRoot().getFullPathName() + ")");
    generate_.onClick = [this] { generate(); };
    cancel_.onClick = [this] { processor_.samplerJob().cancel(); };
    save_.setTooltip("Copy the kept sounds (all of them when none is ticked) and their sidecars into a folder");
    save_.onClick = [this] { saveKept(); };
    for (auto* b : {&generate_, &cancel_, &save_}) addAndMakeVisible(*b);
    setUpJobViews(*this, progressBar_, messages_, results_, kResultRowHeight);

    fillModelList();
    const auto status = processor_.samplerJob().status();
    if (status.model.file == juce::File() && !processor_.samplerJob().busy() && !entries_.empty()) {
        model_.setSelectedId(1, juce::dontSendNotification);  // the first bundled sampler, described at once
        processor_.samplerJob().open(entries_.front().file);
    }
    timerCallback();
    startTimerHz(kRefreshHz);
}

SamplerPanel::~SamplerPanel() { stopTimer(); }

void SamplerPanel::fillModelList() {
    entries_ = SamplerJob::findSamplers();
    model_.clear(juce::dontSendNotification);
    for (auto source : {ModelEntry::Source::Bundled, ModelEntry::Source::User}) {
        bool heading = false;
        for (std::size_t i = 0; i < entries_.size(); ++i) {
            if (entries_[i].source != source) continue;
            if (!heading) {
                model_.addSectionHeading(source == ModelEntry::Source::Bundled ? "Bundled" : "Your samplers");
                heading = true;
            }
            model_.addItem(entries_[i].name, static_cast<int>(i) + 1);
        }
    }
    model_.addSeparator();
    model_.addItem("Load file...", kLoadFileItem);
    shownModel_ = juce::File();  // the timer selects the described model again
}

void SamplerPanel::onModelChosen() {
    const int id = model_.getSelectedId();
    if (id == kLoadFileItem) {
        chooseFile();
    } else if (id >= 1 && id <= static_cast<int>(entries_.size())) {
        processor_.samplerJob().open(entries_[static_cast<std::size_t>(id - 1)].file);
    } else if (id == kOtherFileItem && chosenFile_ != juce::File()) {
        processor_.samplerJob().open(chosenFile_);
    }
}

void SamplerPanel::chooseFile() {
    chooser_ = std::make_unique<juce::FileChooser>("Load a sampler model",
                                                   ModelLibrary::userDir().getChildFile(SamplerJob::kFolder), "*.onnx");
    chooser_->launchAsync(juce::FileBrowserComponent::openMode | juce::FileBrowserComponent::canSelectFiles,
                          [this](const juce::FileChooser& chooser) {
                              const juce::File file = chooser.getResult();
                              if (file.existsAsFile()) {
                                  chosenFile_ = file;
                                  processor_.samplerJob().open(file);
                              }
                              shownModel_ = juce::File();  // the timer shows what is described
                          });
}

void SamplerPanel::paint(juce::Graphics& g) { g.fillAll(colours::panel); }

void SamplerPanel::resized() {
    auto area = layOutHeading(*this, heading_, hint_);

    auto line = area.removeFromTop(kRowHeight);
    modelLabel_.setBounds(line.removeFromLeft(60));
    refresh_.setBounds(line.removeFromRight(80).reduced(2, 0));
    line.removeFromRight(4);
    model_.setBounds(line.removeFromLeft(std::min(line.getWidth(), 240)).reduced(0, 2));
    line.removeFromLeft(10);
    facts_.setBounds(line);
    vocabulary_.setBounds(area.removeFromTop(20).withTrimmedLeft(60));
    area.removeFromTop(2);

    line = area.removeFromTop(kRowHeight);
    wordsLabel_.setBounds(line.removeFromLeft(60));
    seed_.setBounds(line.removeFromRight(110).reduced(0, 2));
    seedLabel_.setBounds(line.removeFromRight(50).withTrimmedLeft(10));
    prompt_.setBounds(line.reduced(0, 2));
    area.removeFromTop(4);

    // Two settings to a line.
    const std::pair<juce::Label*, juce::Slider*> settings[] = {
        {&countLabel_, &count_}, {&secondsLabel_, &seconds_}, {&stepsLabel_, &steps_}, {&guidanceLabel_, &guidance_}};
    for (std::size_t i = 0; i < std::size(settings); i += 2) {
        line = area.removeFromTop(kRowHeight);
        const int half = line.getWidth() / 2;
        for (std::size_t k = i; k < i + 2; ++k) {
            auto cell = line.removeFromLeft(half).withTrimmedRight(10);
            settings[k].first->setBounds(cell.removeFromLeft(70));
            settings[k].second->setBounds(cell.reduced(0, 2));
        }
    }
    area.removeFromTop(6);

    line = area.removeFromTop(kRowHeight);
    generate_.setBounds(line.removeFromLeft(90));
    save_.setBounds(line.removeFromRight(80));
    line.removeFromRight(6);
    cancel_.setBounds(line.removeFromRight(80));
    progressBar_.setBounds(line.reduced(8, 2));
    area.removeFromTop(4);
    messages_.setBounds(area.removeFromTop(36));
    results_.setBounds(area);
}

void SamplerPanel::generate() {
    const auto status = processor_.samplerJob().status();
    SamplerJob::Settings settings;
    settings.model = status.model.file;
    settings.prompt = prompt_.getText();
    settings.count = static_cast<int>(count_.getValue());
    settings.seconds = seconds_.getValue();
    settings.steps = static_cast<int>(steps_.getValue());
    settings.guidance = guidance_.getValue();
    if (seed_.getText().isNotEmpty()) settings.seed = static_cast<std::uint64_t>(seed_.getText().getLargeIntValue());
    processor_.samplerJob().start(settings);
}

void SamplerPanel::play(int index) {
    auto& audition = processor_.audition();
    if (index == played_ && audition.choice() == AuditionPlayer::Choice::Clip) {
        audition.choose(AuditionPlayer::Choice::Off);  // a second click stops it
        return;
    }
    played_ = index;
    processor_.samplerJob().play(index);
}

void SamplerPanel::setKept(int index, bool kept) {
    if (kept) kept_.insert(index);
    else kept_.erase(index);
    showKeptCount();
}

void SamplerPanel::showKeptCount() {
    save_.setButtonText(kept_.empty() ? "Save..." : "Save " + juce::String(static_cast<int>(kept_.size())) + "...");
}

void SamplerPanel::saveKept() {
    const auto status = processor_.samplerJob().status();
    if (status.results.empty()) return;
    const juce::File start = status.savedTo != juce::File() ? status.savedTo
                                                            : juce::File::getSpecialLocation(juce::File::userMusicDirectory);
    chooser_ = std::make_unique<juce::FileChooser>("Save the sounds into a folder", start);
    const std::vector<int> indices(kept_.begin(), kept_.end());
    chooser_->launchAsync(juce::FileBrowserComponent::openMode | juce::FileBrowserComponent::canSelectDirectories,
                          [this, indices](const juce::FileChooser& chooser) {
                              const juce::File folder = chooser.getResult();
                              if (folder != juce::File()) processor_.samplerJob().save(indices, folder);
                          });
}

void SamplerPanel::dragOut(int index) { dragResultOut(shownResults_, index, this); }

int SamplerPanel::getNumRows() { return static_cast<int>(shownResults_.size()); }

juce::Component* SamplerPanel::refreshComponentForRow(int row, bool, juce::Component* existing) {
    auto* component = resultRowFor<ResultRow>(*this, row, getNumRows(), existing);
    if (component == nullptr) return nullptr;
    component->show(row, shownResults_[static_cast<std::size_t>(row)], kept_.count(row) > 0);
    return component;
}

void SamplerPanel::timerCallback() { showStatus(processor_.samplerJob().status()); }

void SamplerPanel::showModel(const SamplerJob::ModelFacts& model) {
    shownModel_ = model.file;
    int id = 0;
    for (std::size_t i = 0; i < entries_.size(); ++i)
        if (entries_[i].file == model.file) id = static_cast<int>(i) + 1;
    if (id == 0 && model.file != juce::File()) {
        chosenFile_ = model.file;
        if (model_.indexOfItemId(kOtherFileItem) < 0) model_.addItem(model.file.getFileName(), kOtherFileItem);
        model_.changeItemText(kOtherFileItem, model.file.getFileName());
        id = kOtherFileItem;
    }
    model_.setSelectedId(id, juce::dontSendNotification);
    if (model.file == juce::File()) {
        facts_.setText({}, juce::dontSendNotification);
        vocabulary_.setText({}, juce::dontSendNotification);
        return;
    }

    const double length = static_cast<double>(model.length) / model.sampleRate;
    facts_.setText(model.name + ": " + juce::String(model.sampleRate) + " Hz, trained on " + juce::String(length, 2) +
                       " s sounds" + (model.description.isNotEmpty() ? "; " + model.description : juce::String()),
                   juce::dontSendNotification);
    facts_.setTooltip(model.file.getFullPathName());
    juce::String words;
    if (model.words.isEmpty()) {
        words = "This model knows no words: leave Words empty.";
    } else {
        words << "Kinds: " << (model.kinds.isEmpty() ? juce::String("none") : model.kinds.joinIntoString(", "))
              << "   Words: " << model.descriptorWords.joinIntoString(", ");
    }
    vocabulary_.setText(words, juce::dontSendNotification);
    vocabulary_.setTooltip("Every word this model takes: " + model.words.joinIntoString(", "));
    if (settingsFrom_ == model.file) return;
    settingsFrom_ = model.file;  // a newly chosen model's own settings: its length, steps and guidance
    seconds_.setValue(length, juce::dontSendNotification);
    steps_.setValue(model.defaultSteps, juce::dontSendNotification);
    guidance_.setValue(model.defaultGuidance, juce::dontSendNotification);
}

void SamplerPanel::showStatus(const SamplerJob::Snapshot& status) {
    using State = SamplerJob::State;
    const bool busy = processor_.samplerJob().busy();
    generate_.setEnabled(!busy && status.model.file != juce::File());
    cancel_.setEnabled(busy);
    save_.setEnabled(!busy && !status.results.empty());
    model_.setEnabled(!busy);
    refresh_.setEnabled(!busy);
    const bool finished = status.state == State::Done || status.state == State::Saved || status.state == State::Opened;
    progress_ = busy ? status.progress : (finished ? 1.0 : 0.0);
    progressBar_.setTextToDisplay(jobProgressText(busy, status.stage, status.state == State::Cancelled,
                                                  processor_.audition().choice() == AuditionPlayer::Choice::Clip));
    if (status.model.file != shownModel_ && !busy) showModel(status.model);

    juce::String text;
    if (status.state == State::Failed) text << status.error;
    else if (status.state == State::Saved)
        text << "Saved " << status.savedCount << (status.savedCount == 1 ? " sound" : " sounds") << " (WAV and JSON) to "
             << status.savedTo.getFullPathName();
    else if (!status.results.empty())
        text << static_cast<int>(status.results.size()) << " sounds in " << status.folder.getFullPathName() << "\nseeds "
             << static_cast<juce::int64>(status.results.front().seed) << ".."
             << static_cast<juce::int64>(status.results.back().seed) << ", " << status.settings.steps << " steps"
             << (status.settings.prompt.trim().isNotEmpty() ? ", \"" + status.settings.prompt.trim() + "\"" : juce::String());
    showJobMessage(messages_, shownMessages_, text, status.state == State::Failed);
    if (resultsChanged(status.results, shownResults_)) {
        shownResults_ = status.results;
        kept_.clear();
        showKeptCount();
        played_ = -1;
        results_.updateContent();
        results_.repaint();
    }
}

}  // namespace tonemorph::plugin
