#include "MidiPanel.h"

#include "EditorParts.h"
#include "midi/Interpolate.h"

namespace tonemorph::plugin {

namespace {
constexpr int kRefreshHz = 15;
constexpr int kRowHeight = 28;
constexpr int kResultRowHeight = 30;

bool isMidiFile(const juce::File& file) { return file.hasFileExtension(MidiJob::midiPattern().removeCharacters("*")); }
bool isAudioFile(const juce::File& file) {
    return file.hasFileExtension(MidiJob::audioPattern().removeCharacters("*"));
}
}  // namespace

// One result: its name and facts (drag it into the host), Play, Save..., Use.
class MidiPanel::ResultRow final : public ResultRowBase {
public:
    explicit ResultRow(MidiPanel& owner)
        : ResultRowBase([&owner](int index) { owner.dragOut(index); }), owner_(owner) {
        play_.setTooltip("Play it through the loaded instrument");
        save_.setTooltip("Copy the .mid to a file of your choice");
        use_.setTooltip("Make it the input of the next run");
        play_.onClick = [this] { owner_.play(index_); };
        save_.onClick = [this] { owner_.save(index_); };
        use_.onClick = [this] { owner_.use(index_); };
        for (auto* b : {&play_, &save_, &use_}) addAndMakeVisible(*b);
        setTooltip("Drag into your DAW as a .mid");
    }
    void show(int index, const MidiJob::Result& result) {
        index_ = index;
        name_.setText(result.file.getFileName() + "   " + juce::String(result.notes) + (result.notes == 1 ? " note, " : " notes, ") +
                          juce::String(result.bars) + (result.bars == 1 ? " bar" : " bars") + (result.drums ? ", drums" : ""),
                      juce::dontSendNotification);
    }
    void resized() override {
        auto area = getLocalBounds().reduced(2);
        use_.setBounds(area.removeFromRight(60).reduced(2, 0));
        save_.setBounds(area.removeFromRight(80).reduced(2, 0));
        play_.setBounds(area.removeFromRight(60).reduced(2, 0));
        name_.setBounds(area);
    }
    void mouseUp(const juce::MouseEvent&) override { dragging_ = false; }
    void enable(bool idle) {
        for (auto* b : {&play_, &save_, &use_}) b->setEnabled(idle);
    }

private:
    MidiPanel& owner_;
    juce::TextButton play_{"Play"}, save_{"Save..."}, use_{"Use"};
};

MidiPanel::MidiPanel(TonemorphProcessor& processor) : processor_(processor) {
    heading_.setText("MIDI tools", juce::dontSendNotification);
    heading_.setFont(juce::Font(18.0f, juce::Font::bold));
    heading_.setColour(juce::Label::textColourId, colours::accent);
    hint_.setColour(juce::Label::textColourId, colours::dim);
    hint_.setMinimumHorizontalScale(0.7f);
    for (auto* label : {&heading_, &hint_}) addAndMakeVisible(*label);

    toolLabel_.setText("Tool", juce::dontSendNotification);
    for (int t = 0; t < MidiJob::kToolCount; ++t) tool_.addItem(MidiJob::toolTitle(static_cast<MidiJob::Tool>(t)), t + 1);
    tool_.setSelectedId(1, juce::dontSendNotification);
    tool_.onChange = [this] { toolChanged(); };
    kindLabel_.setText("Kind", juce::dontSendNotification);
    kind_.addItemList({"Auto", "Melody", "Drums"}, 1);
    kind_.setSelectedId(1, juce::dontSendNotification);
    kind_.setTooltip("Auto: drums if the clip is on channel 10 or uses only drum notes, else a melody");
    for (juce::Component* c : {static_cast<juce::Component*>(&toolLabel_), static_cast<juce::Component*>(&tool_),
                               static_cast<juce::Component*>(&kindLabel_), static_cast<juce::Component*>(&kind_)})
        addAndMakeVisible(*c);

    setupRow(first_, "Clip");
    setupRow(second_, "Clip B");
    record_.setTooltip("Record a clip from the MIDI input (Stop makes it the input)");
    record_.onClick = [this] { toggleRecord(); };
    addChildComponent(record_);

    const auto slider = [this](juce::Label& label, const juce::String& text, juce::Slider& s, double lo, double hi,
                               double step, double value, const juce::String& tip) {
        setUpSlider(*this, label, text, s, lo, hi, step, value, tip, 46);
    };
    slider(barsLabel_, "Bars", bars_, 1, 16, 1, 2, "Bars of new material");
    slider(variationsLabel_, "Variations", variations_, 1, 16, 1, 4, "How many clips to make");
    slider(temperatureLabel_, "Temp.", temperature_, 0.0, 2.0, 0.05, 1.0,
           "Temperature: 0 always takes the likeliest note; higher is wilder");
    slider(stepsLabel_, "Steps", steps_, midi::kMinInterpolateSteps, 16, 1, 5, "Clips from A to B, both ends included");
    slider(secondsLabel_, "Seconds", seconds_, 5, 28, 1, 20, "How much of the input to transcribe (the last seconds)");
    mono_.setToggleState(true, juce::dontSendNotification);
    mono_.setTooltip("Keep one voice, the loudest line (for the melody tools)");
    addAndMakeVisible(mono_);

    run_.onClick = [this] { run(); };
    cancel_.onClick = [this] { processor_.midiJob().cancel(); };
    for (auto* b : {&run_, &cancel_}) addAndMakeVisible(*b);
    setUpJobViews(*this, progressBar_, messages_, results_, kResultRowHeight);

    toolChanged();
    timerCallback();
    startTimerHz(kRefreshHz);
}

MidiPanel::~MidiPanel() { stopTimer(); }

void MidiPanel::setupRow(FileRow& row, const juce::String& caption) {
    row.caption.setText(caption, juce::dontSendNotification);
    row.name.setText("(none)", juce::dontSendNotification);
    row.name.setColour(juce::Label::textColourId, colours::dim);
    row.name.setColour(juce::Label::backgroundColourId, colours::background);
    row.name.setMinimumHorizontalScale(0.6f);
    row.choose.onClick = [this, &row] { choose(row); };
    for (juce::Component* part : {static_cast<juce::Component*>(&row.caption), static_cast<juce::Component*>(&row.name),
                                  static_cast<juce::Component*>(&row.choose)})
        addAndMakeVisible(*part);
}

void MidiPanel::setFile(FileRow& row, const juce::File& file) {
    row.file = file;
    const bool none = file == juce::File();
    juce::String text = none ? juce::String("(none)") : file.getFileName();
    if (none && &row == &first_ && tool() == MidiJob::Tool::Transcribe)
        text = TonemorphProcessor::kSynth ? "(choose an audio file)" : "the audio input (or choose a file)";
    row.name.setText(text, juce::dontSendNotification);
    row.name.setTooltip(none ? juce::String() : file.getFullPathName());
    row.name.setColour(juce::Label::textColourId, none ? colours::dim : colours::text);
}

void MidiPanel::choose(FileRow& row) {
    const bool audio = &row == &first_ && tool() == MidiJob::Tool::Transcribe;
    const juce::File start = row.file != juce::File() ? row.file.getParentDirectory()
                                                      : juce::File::getSpecialLocation(juce::File::userMusicDirectory);
    chooser_ = std::make_unique<juce::FileChooser>(audio ? "Choose audio to transcribe" : "Choose a MIDI clip", start,
                                                   audio ? MidiJob::audioPattern() : MidiJob::midiPattern());
    chooser_->launchAsync(juce::FileBrowserComponent::openMode | juce::FileBrowserComponent::canSelectFiles,
                          [this, &row](const juce::FileChooser& chooser) {
                              if (chooser.getResult().existsAsFile()) setFile(row, chooser.getResult());
                          });
}

MidiJob::Tool MidiPanel::tool() const { return static_cast<MidiJob::Tool>(std::max(0, tool_.getSelectedId() - 1)); }

void MidiPanel::toolChanged() {
    using Tool = MidiJob::Tool;
    const Tool t = tool();
    const bool transcribe = t == Tool::Transcribe, interpolate = t == Tool::Interpolate, generate = t == Tool::Generate;
    // A file of the other sort (audio / MIDI) does not carry over between Transcribe and the others.
    if (first_.file != juce::File() && (transcribe ? isMidiFile(first_.file) : !isMidiFile(first_.file)))
        setFile(first_, juce::File());
    setFile(first_, first_.file);
    first_.caption.setText(interpolate ? "Clip A" : transcribe ? "Audio" : "Clip", juce::dontSendNotification);
    for (juce::Component* c : {static_cast<juce::Component*>(&first_.caption), static_cast<juce::Component*>(&first_.name),
                               static_cast<juce::Component*>(&first_.choose)})
        c->setVisible(!generate);
    for (juce::Component* c : {static_cast<juce::Component*>(&second_.caption), static_cast<juce::Component*>(&second_.name),
                               static_cast<juce::Component*>(&second_.choose)})
        c->setVisible(interpolate);
    record_.setVisible(TonemorphProcessor::kSynth && !generate && !transcribe);
    kind_.setVisible(t == Tool::Continue || generate);
    kindLabel_.setVisible(kind_.isVisible());
    if (generate && kind_.getSelectedId() == 1) kind_.setSelectedId(2, juce::dontSendNotification);
    barsLabel_.setVisible(t == Tool::Continue || generate);
    bars_.setVisible(barsLabel_.isVisible());
    variationsLabel_.setVisible(!interpolate && !transcribe);
    variations_.setVisible(variationsLabel_.isVisible());
    temperatureLabel_.setVisible(!transcribe);
    temperature_.setVisible(!transcribe);
    if (interpolate && temperature_.getValue() == 1.0) temperature_.setValue(0.0, juce::dontSendNotification);
    stepsLabel_.setVisible(interpolate);
    steps_.setVisible(interpolate);
    secondsLabel_.setVisible(transcribe && !TonemorphProcessor::kSynth);
    seconds_.setVisible(secondsLabel_.isVisible());
    mono_.setVisible(transcribe);

    static const char* hints[] = {
        "What is likely to follow the clip (a melody, or drums on channel 10).",
        "New phrases from nothing: choose Melody or Drums.",
        "Clips morphing from melody A to melody B.",
        "A quantised drum clip given a drummer's timing and velocity.",
        "A drum groove that follows the rhythm and accents of any clip.",
        TonemorphProcessor::kSynth ? "Audio to notes: choose a recording of single notes or a riff."
                                   : "Audio to notes: the last seconds of what you played into the plugin, or a file."};
    hint_.setText(juce::String(hints[static_cast<int>(t)]) + "  Drop .mid files here.", juce::dontSendNotification);
    resized();
}

void MidiPanel::paint(juce::Graphics& g) {
    g.fillAll(colours::panel);
    if (dragging_) {
        g.setColour(colours::accent);
        g.drawRect(getLocalBounds(), 2);
        if (second_.name.isVisible()) {
            g.setColour(colours::accent.withAlpha(0.15f));
            g.fillRect(second_.bounds);
        }
    }
}

void MidiPanel::resized() {
    auto area = layOutHeading(*this, heading_, hint_);

    auto top = area.removeFromTop(kRowHeight);
    toolLabel_.setBounds(top.removeFromLeft(40));
    tool_.setBounds(top.removeFromLeft(150).reduced(0, 2));
    top.removeFromLeft(16);
    kindLabel_.setBounds(top.removeFromLeft(40));
    kind_.setBounds(top.removeFromLeft(110).reduced(0, 2));
    area.removeFromTop(4);

    for (auto* row : {&first_, &second_}) {
        if (!row->name.isVisible()) continue;
        auto line = area.removeFromTop(kRowHeight);
        row->bounds = line;
        row->caption.setBounds(line.removeFromLeft(60));
        if (row == &first_ && record_.isVisible()) record_.setBounds(line.removeFromRight(80).reduced(2, 0));
        row->choose.setBounds(line.removeFromRight(90).reduced(2, 0));
        line.removeFromRight(4);
        row->name.setBounds(line);
        area.removeFromTop(4);
    }

    // The settings shown for this tool, two to a line.
    std::vector<std::pair<juce::Label*, juce::Component*>> shown;
    for (auto [label, control] : {std::pair<juce::Label*, juce::Component*>{&barsLabel_, &bars_},
                                  {&variationsLabel_, &variations_},
                                  {&temperatureLabel_, &temperature_},
                                  {&stepsLabel_, &steps_},
                                  {&secondsLabel_, &seconds_}})
        if (control->isVisible()) shown.emplace_back(label, control);
    if (mono_.isVisible()) shown.emplace_back(nullptr, &mono_);
    for (std::size_t i = 0; i < shown.size(); i += 2) {
        auto line = area.removeFromTop(kRowHeight);
        const int half = line.getWidth() / 2;
        for (std::size_t k = i; k < std::min(shown.size(), i + 2); ++k) {
            auto cell = line.removeFromLeft(half).withTrimmedRight(10);
            if (shown[k].first != nullptr) shown[k].first->setBounds(cell.removeFromLeft(70));
            shown[k].second->setBounds(cell.reduced(0, 2));
        }
    }
    area.removeFromTop(6);

    auto runLine = area.removeFromTop(kRowHeight);
    run_.setBounds(runLine.removeFromLeft(90));
    cancel_.setBounds(runLine.removeFromRight(80));
    progressBar_.setBounds(runLine.reduced(8, 2));
    area.removeFromTop(4);
    messages_.setBounds(area.removeFromTop(46));
    results_.setBounds(area);
}

bool MidiPanel::isInterestedInFileDrag(const juce::StringArray& files) {
    for (const auto& path : files)
        if (isMidiFile(juce::File(path)) || isAudioFile(juce::File(path))) return true;
    return false;
}

void MidiPanel::filesDropped(const juce::StringArray& files, int x, int y) {
    setDragging(false);
    juce::Array<juce::File> midi, audio;
    for (const auto& path : files) {
        const juce::File file(path);
        if (isMidiFile(file)) midi.add(file);
        else if (isAudioFile(file)) audio.add(file);
    }
    if (midi.isEmpty() && !audio.isEmpty()) {  // audio: Transcribe it
        tool_.setSelectedId(static_cast<int>(MidiJob::Tool::Transcribe) + 1, juce::sendNotificationSync);
        setFile(first_, audio[0]);
        return;
    }
    if (midi.isEmpty()) return;
    if (tool() == MidiJob::Tool::Transcribe || tool() == MidiJob::Tool::Generate)
        tool_.setSelectedId(midi.size() >= 2 ? static_cast<int>(MidiJob::Tool::Interpolate) + 1 : 1,
                            juce::sendNotificationSync);
    if (midi.size() >= 2) {  // two at once: A then B
        setFile(first_, midi[0]);
        setFile(second_, midi[1]);
    } else {
        setFile(second_.name.isVisible() && second_.bounds.contains(x, y) ? second_ : first_, midi[0]);
    }
}

void MidiPanel::setDragging(bool dragging) {
    dragging_ = dragging;
    repaint();
}

void MidiPanel::toggleRecord() {
    auto& recorder = processor_.recorder();
    if (!recorder.recording()) {
        recorder.start();
        return;
    }
    const auto recording = recorder.stop();
    if (recording.notes == 0) {
        messages_.setText("Nothing was recorded: play a few notes on the MIDI input between Record and Stop.",
                          juce::dontSendNotification);
        shownMessages_.clear();
        return;
    }
    try {
        setFile(first_, MidiJob::writeRecording(recording.clip));
        juce::String text = "Recorded " + juce::String(recording.notes) + " notes at " +
                            juce::String(recording.clip.bpm, 1) + " bpm.";
        if (recording.overflowed > 0) text << " " << recording.overflowed << " events were lost (too many at once).";
        messages_.setText(text, juce::dontSendNotification);
    } catch (const std::exception& e) {
        messages_.setText(juce::String("The recording could not be written: ") + e.what(), juce::dontSendNotification);
    }
    shownMessages_.clear();
}

void MidiPanel::run() {
    MidiJob::Settings settings;
    settings.tool = tool();
    settings.clip = first_.file;
    settings.second = second_.file;
    settings.kind = static_cast<MidiJob::Kind>(std::max(0, kind_.getSelectedId() - 1));
    settings.bars = static_cast<int>(bars_.getValue());
    settings.variations = static_cast<int>(variations_.getValue());
    settings.temperature = temperature_.getValue();
    settings.steps = static_cast<int>(steps_.getValue());
    settings.seconds = seconds_.getValue();
    settings.mono = mono_.getToggleState();
    processor_.midiJob().start(settings);
}

void MidiPanel::play(int index) {
    if (index == played_ && processor_.audition().choice() == AuditionPlayer::Choice::Clip) {
        processor_.audition().choose(AuditionPlayer::Choice::Off);  // a second click stops it
        return;
    }
    played_ = index;
    processor_.midiJob().audition(index);
}

void MidiPanel::save(int index) {
    if (index < 0 || index >= static_cast<int>(shownResults_.size())) return;
    const juce::File source = shownResults_[static_cast<std::size_t>(index)].file;
    const juce::File folder = first_.file != juce::File() ? first_.file.getParentDirectory()
                                                          : juce::File::getSpecialLocation(juce::File::userMusicDirectory);
    chooser_ = std::make_unique<juce::FileChooser>("Save the clip", folder.getChildFile(source.getFileName()), "*.mid");
    chooser_->launchAsync(juce::FileBrowserComponent::saveMode | juce::FileBrowserComponent::canSelectFiles |
                              juce::FileBrowserComponent::warnAboutOverwriting,
                          [this, index](const juce::FileChooser& chooser) {
                              const juce::File file = chooser.getResult();
                              if (file != juce::File()) processor_.midiJob().save(index, file.withFileExtension(".mid"));
                          });
}

void MidiPanel::use(int index) {
    if (index < 0 || index >= static_cast<int>(shownResults_.size())) return;
    if (tool() == MidiJob::Tool::Transcribe || tool() == MidiJob::Tool::Generate)
        tool_.setSelectedId(1, juce::sendNotificationSync);
    setFile(first_, shownResults_[static_cast<std::size_t>(index)].file);
}

void MidiPanel::dragOut(int index) { dragResultOut(shownResults_, index, this); }

int MidiPanel::getNumRows() { return static_cast<int>(shownResults_.size()); }

juce::Component* MidiPanel::refreshComponentForRow(int row, bool, juce::Component* existing) {
    auto* component = resultRowFor<ResultRow>(*this, row, getNumRows(), existing);
    if (component == nullptr) return nullptr;
    component->show(row, shownResults_[static_cast<std::size_t>(row)]);
    component->enable(!processor_.midiJob().busy());
    return component;
}

void MidiPanel::timerCallback() {
    if (processor_.recorder().recording()) {
        const int events = processor_.recorder().eventsRecorded();
        record_.setButtonText("Stop");
        first_.name.setText("recording... " + juce::String(events / 2) + " notes", juce::dontSendNotification);
    } else {
        record_.setButtonText("Record");
    }
    showStatus(processor_.midiJob().status());
}

void MidiPanel::showStatus(const MidiJob::Snapshot& status) {
    using State = MidiJob::State;
    const bool busy = processor_.midiJob().busy();
    run_.setEnabled(!busy && !processor_.recorder().recording());
    cancel_.setEnabled(busy);
    tool_.setEnabled(!busy);
    const bool finished = status.state == State::Done || status.state == State::Rendered || status.state == State::Saved;
    progress_ = busy ? status.progress : (finished ? 1.0 : 0.0);
    progressBar_.setTextToDisplay(jobProgressText(busy, status.stage, status.state == State::Cancelled,
                                                  processor_.audition().choice() == AuditionPlayer::Choice::Clip));

    juce::String text;
    if (status.state == State::Failed) text << status.error;
    else if (status.state == State::Saved) text << "Saved to " << status.savedTo.getFullPathName();
    else if (!status.results.empty())
        text << juce::String(static_cast<int>(status.results.size())) << " clips in " << status.folder.getFullPathName()
             << (status.messages.isEmpty() ? juce::String() : "\n" + status.messages.joinIntoString(" "));
    showJobMessage(messages_, shownMessages_, text, status.state == State::Failed);
    if (resultsChanged(status.results, shownResults_)) {
        shownResults_ = status.results;
        results_.updateContent();
        results_.repaint();
    }
    for (int i = 0; i < getNumRows(); ++i)
        if (auto* row = dynamic_cast<ResultRow*>(results_.getComponentForRowNumber(i))) row->enable(!busy);
}

}  // namespace tonemorph::plugin
