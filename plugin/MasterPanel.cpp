#include "MasterPanel.h"

#include "EditorParts.h"

namespace tonemorph::plugin {

namespace {
constexpr int kRefreshHz = 15;
constexpr int kRowHeight = 28;

juce::String db(double value, const char* unit) {
    return std::isfinite(value) ? juce::String(value, 1) + " " + unit : juce::String("-inf ") + unit;
}

juce::String row(const juce::String& name, const master::Analysis& a) {
    return name.paddedRight(' ', 11) + db(a.integrated_lufs, "LUFS").paddedRight(' ', 13) +
           db(a.true_peak_dbtp, "dBTP").paddedRight(' ', 12) + db(a.loudness_range_lu, "LU") + "\n";
}
}  // namespace

MasterPanel::MasterPanel(TonemorphProcessor& processor) : processor_(processor) {
    heading_.setText("Master a track to a reference", juce::dontSendNotification);
    heading_.setFont(juce::Font(18.0f, juce::Font::bold));
    heading_.setColour(juce::Label::textColourId, colours::accent);
    hint_.setText("Drop audio files here: on the Reference row for the reference, anywhere else for the track.",
                  juce::dontSendNotification);
    hint_.setColour(juce::Label::textColourId, colours::dim);
    hint_.setMinimumHorizontalScale(0.7f);
    for (auto* label : {&heading_, &hint_}) addAndMakeVisible(*label);

    setupRow(track_, "Track", "Choose the track to master");
    setupRow(reference_, "Reference", "Choose a reference track whose sound you want");

    strengthLabel_.setText("Strength", juce::dontSendNotification);
    strength_.setRange(0.0, 1.0, 0.01);
    strength_.setValue(1.0, juce::dontSendNotification);
    strength_.setTooltip("How much of the reference's tonal balance to apply (0: loudness only, 1: all of it)");
    ceilingLabel_.setText("Ceiling", juce::dontSendNotification);
    ceiling_.setRange(-6.0, 0.0, 0.1);
    ceiling_.setValue(-1.0, juce::dontSendNotification);
    ceiling_.setTextValueSuffix(" dBTP");
    ceiling_.setTooltip("The highest true peak the result may reach");
    for (auto* slider : {&strength_, &ceiling_}) {
        slider->setTextBoxStyle(juce::Slider::TextBoxRight, false, 80, 20);
        addAndMakeVisible(*slider);
    }
    for (auto* label : {&strengthLabel_, &ceilingLabel_}) addAndMakeVisible(*label);

    master_.setTooltip("Master the track: the result waits in " + MasterJob::resultFolder().getFullPathName() +
                       " until you save it");
    master_.onClick = [this] { startMaster(); };
    cancel_.onClick = [this] { processor_.masterJob().cancel(); };
    save_.setTooltip("Copy the result to a WAV file of your choice");
    save_.onClick = [this] { saveResult(); };
    for (auto* button : {&master_, &cancel_, &save_}) addAndMakeVisible(*button);
    progressBar_.setColour(juce::ProgressBar::backgroundColourId, colours::background);
    progressBar_.setColour(juce::ProgressBar::foregroundColourId, colours::accent);
    addAndMakeVisible(progressBar_);

    report_.setMultiLine(true);
    report_.setReadOnly(true);
    report_.setScrollbarsShown(true);
    report_.setFont(juce::Font(juce::Font::getDefaultMonospacedFontName(), 13.0f, juce::Font::plain));
    addAndMakeVisible(report_);

    listen_.setText("Listen (same loudness):", juce::dontSendNotification);
    addAndMakeVisible(listen_);
    const std::pair<juce::TextButton*, AuditionPlayer::Choice> choices[] = {
        {&listenOriginal_, AuditionPlayer::Choice::Original},
        {&listenMaster_, AuditionPlayer::Choice::Master},
        {&listenOff_, AuditionPlayer::Choice::Off}};
    for (const auto& [button, choice] : choices) {
        button->setClickingTogglesState(true);
        button->setRadioGroupId(1);
        button->onClick = [this, choice = choice] { processor_.audition().choose(choice); };
        addAndMakeVisible(*button);
    }
    listenOriginal_.setTooltip("Play the original track instead of the effect, turned to the same loudness");
    listenMaster_.setTooltip("Play the mastered result instead of the effect, turned to the same loudness");
    listenOff_.setTooltip("Back to the effect's own output");

    timerCallback();
    startTimerHz(kRefreshHz);
}

MasterPanel::~MasterPanel() { stopTimer(); }

void MasterPanel::setupRow(FileRow& row, const juce::String& caption, const juce::String& chooserTitle) {
    row.caption.setText(caption, juce::dontSendNotification);
    row.name.setText("(none)", juce::dontSendNotification);
    row.name.setColour(juce::Label::textColourId, colours::dim);
    row.name.setColour(juce::Label::backgroundColourId, colours::background);
    row.name.setMinimumHorizontalScale(0.6f);
    row.choose.onClick = [this, &row, chooserTitle] {
        const juce::File start = row.file != juce::File() ? row.file.getParentDirectory()
                                                          : juce::File::getSpecialLocation(juce::File::userMusicDirectory);
        chooser_ = std::make_unique<juce::FileChooser>(chooserTitle, start, MasterJob::readablePattern());
        chooser_->launchAsync(juce::FileBrowserComponent::openMode | juce::FileBrowserComponent::canSelectFiles,
                              [this, &row](const juce::FileChooser& chooser) {
                                  if (chooser.getResult().existsAsFile()) setFile(row, chooser.getResult());
                              });
    };
    for (juce::Component* part : {static_cast<juce::Component*>(&row.caption), static_cast<juce::Component*>(&row.name),
                                  static_cast<juce::Component*>(&row.choose)})
        addAndMakeVisible(*part);
}

void MasterPanel::setFile(FileRow& row, const juce::File& file) {
    row.file = file;
    row.name.setText(file.getFileName(), juce::dontSendNotification);
    row.name.setTooltip(file.getFullPathName());
    row.name.setColour(juce::Label::textColourId, colours::text);
}

void MasterPanel::paint(juce::Graphics& g) {
    g.fillAll(colours::panel);
    if (dragging_) {
        g.setColour(colours::accent);
        g.drawRect(getLocalBounds(), 2);
        g.setColour(colours::accent.withAlpha(0.15f));
        g.fillRect(reference_.bounds);
    }
}

void MasterPanel::resized() {
    auto area = getLocalBounds().reduced(14, 10);
    heading_.setBounds(area.removeFromTop(26));
    hint_.setBounds(area.removeFromTop(20));
    area.removeFromTop(4);
    for (auto* row : {&track_, &reference_}) {
        auto line = area.removeFromTop(kRowHeight);
        row->bounds = line;
        row->caption.setBounds(line.removeFromLeft(80));
        row->choose.setBounds(line.removeFromRight(90));
        line.removeFromRight(6);
        row->name.setBounds(line);
        area.removeFromTop(4);
    }
    auto settings = area.removeFromTop(kRowHeight);
    const int half = settings.getWidth() / 2;
    auto left = settings.removeFromLeft(half);
    strengthLabel_.setBounds(left.removeFromLeft(80));
    strength_.setBounds(left.reduced(0, 2));
    ceilingLabel_.setBounds(settings.removeFromLeft(70).withTrimmedLeft(10));
    ceiling_.setBounds(settings.reduced(0, 2));
    area.removeFromTop(6);

    auto run = area.removeFromTop(kRowHeight);
    master_.setBounds(run.removeFromLeft(90));
    cancel_.setBounds(run.removeFromRight(80));
    progressBar_.setBounds(run.reduced(8, 2));
    area.removeFromTop(6);

    auto listen = area.removeFromBottom(kRowHeight);
    save_.setBounds(listen.removeFromRight(90));
    listen_.setBounds(listen.removeFromLeft(160));
    for (auto* button : {&listenOriginal_, &listenMaster_, &listenOff_}) {
        button->setBounds(listen.removeFromLeft(100).reduced(2, 0));
    }
    area.removeFromBottom(6);
    report_.setBounds(area);
}

bool MasterPanel::isInterestedInFileDrag(const juce::StringArray& files) {
    const auto pattern = MasterJob::readablePattern();
    for (const auto& path : files)
        if (juce::File(path).hasFileExtension(pattern.removeCharacters("*"))) return true;
    return false;
}

void MasterPanel::filesDropped(const juce::StringArray& files, int x, int y) {
    setDragging(false);
    if (files.size() >= 2) {  // two at once: in the order given, track then reference
        setFile(track_, juce::File(files[0]));
        setFile(reference_, juce::File(files[1]));
    } else if (files.size() == 1) {
        setFile(reference_.bounds.contains(x, y) ? reference_ : track_, juce::File(files[0]));
    }
}

void MasterPanel::setDragging(bool dragging) {
    dragging_ = dragging;
    repaint();
}

void MasterPanel::startMaster() {
    MasterJob::Settings settings;
    settings.track = track_.file;
    settings.reference = reference_.file;
    settings.strength = strength_.getValue();
    settings.ceilingDbtp = ceiling_.getValue();
    const juce::String stem = track_.file != juce::File() ? track_.file.getFileNameWithoutExtension() : juce::String("track");
    settings.output = MasterJob::resultFolder().getNonexistentChildFile(stem + " mastered", ".wav", false);
    processor_.masterJob().start(settings);
}

void MasterPanel::saveResult() {
    const auto status = processor_.masterJob().status();
    if (!status.result) return;
    const juce::File folder = status.settings.track.getParentDirectory();
    const juce::String name = status.settings.track.getFileNameWithoutExtension() + " (mastered).wav";
    chooser_ = std::make_unique<juce::FileChooser>("Save the mastered track", folder.getChildFile(name), "*.wav");
    chooser_->launchAsync(juce::FileBrowserComponent::saveMode | juce::FileBrowserComponent::canSelectFiles |
                              juce::FileBrowserComponent::warnAboutOverwriting,
                          [this](const juce::FileChooser& chooser) {
                              const juce::File file = chooser.getResult();
                              if (file != juce::File()) processor_.masterJob().save(file.withFileExtension(".wav"));
                          });
}

void MasterPanel::timerCallback() { showStatus(processor_.masterJob().status()); }

void MasterPanel::showStatus(const MasterJob::Snapshot& status) {
    using State = MasterJob::State;
    const bool busy = processor_.masterJob().busy();
    master_.setEnabled(!busy);
    cancel_.setEnabled(busy);
    save_.setEnabled(!busy && status.result.has_value());
    for (auto* control : {&track_.choose, &reference_.choose}) control->setEnabled(!busy);
    progress_ = busy ? status.progress : (status.state == State::Done || status.state == State::Saved ? 1.0 : 0.0);
    progressBar_.setTextToDisplay(busy ? status.stage : status.state == State::Cancelled ? juce::String("Cancelled") : juce::String());

    const bool canListen = processor_.audition().hasSources();
    const auto choice = processor_.audition().choice();
    for (auto* button : {&listenOriginal_, &listenMaster_, &listenOff_}) button->setEnabled(canListen);
    listenOriginal_.setToggleState(choice == AuditionPlayer::Choice::Original, juce::dontSendNotification);
    listenMaster_.setToggleState(choice == AuditionPlayer::Choice::Master, juce::dontSendNotification);
    listenOff_.setToggleState(choice == AuditionPlayer::Choice::Off, juce::dontSendNotification);

    const juce::String text = summary(status);
    if (text != shownReport_) {
        shownReport_ = text;
        report_.setText(text, false);
    }
}

juce::String MasterPanel::summary(const MasterJob::Snapshot& status) {
    using State = MasterJob::State;
    juce::String text;
    if (status.state == State::Failed) text << status.error << "\n\n";
    if (status.state == State::Saved) text << "Saved to " << status.savedTo.getFullPathName() << "\n\n";
    if (!status.result) {
        if (text.isEmpty())
            text << "Choose a track and a reference (or drop them here), then press Master.\n"
                 << "The result matches the reference's loudness, tonal balance and stereo width, under the ceiling.";
        return text;
    }
    const auto& r = *status.result;
    text << juce::String().paddedRight(' ', 11) << juce::String("Loudness").paddedRight(' ', 13)
         << juce::String("True peak").paddedRight(' ', 12)
         << "Range\n";
    text << row("Track", r.track) << row("Reference", r.reference) << row("Result", r.result);
    text << "\nGain " << (r.gain_db >= 0 ? "+" : "") << juce::String(r.gain_db, 1) << " dB before the limiter; "
         << r.passes << (r.passes == 1 ? " pass" : " passes") << ".\n";
    text << "Result: " << status.resultFile.getFullPathName() << "\n";
    for (const auto& warning : r.warnings) text << "\nWarning: " << juce::String::fromUTF8(warning.c_str());
    return text;
}

}  // namespace tonemorph::plugin
