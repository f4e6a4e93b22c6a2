#include "EditorParts.h"

#include <cmath>

namespace tonemorph::plugin {

DarkLookAndFeel::DarkLookAndFeel() {
    using CS = juce::LookAndFeel_V4::ColourScheme;
    setColourScheme(CS{colours::background, colours::panel, colours::panel, colours::dim, colours::text,
                       colours::accent, juce::Colours::black, colours::accent, colours::text});
    setColour(juce::Slider::rotarySliderFillColourId, colours::accent);
    setColour(juce::Slider::thumbColourId, colours::text);
    setColour(juce::Slider::textBoxOutlineColourId, juce::Colours::transparentBlack);
    setColour(juce::TabbedButtonBar::tabOutlineColourId, colours::panel);
    setColour(juce::TabbedComponent::backgroundColourId, colours::panel);
}

void LevelMeter::push(float peak, float seconds) {
    const float db = peak > 0.0f ? 20.0f * std::log10(peak) : -100.0f;
    db_ = std::max(db, db_ - 20.0f * seconds);
    repaint();
}

void LevelMeter::paint(juce::Graphics& g) {
    constexpr float kTop = 6.0f, kBottom = -60.0f;
    auto area = getLocalBounds().toFloat();
    const auto caption = area.removeFromBottom(16.0f);
    g.setColour(colours::dim);
    g.setFont(12.0f);
    g.drawText(label_, caption, juce::Justification::centred);
    g.setColour(colours::panel);
    g.fillRoundedRectangle(area, 3.0f);
    g.setColour(colours::dim.withAlpha(0.4f));
    g.drawRoundedRectangle(area, 3.0f, 1.0f);
    const float level = juce::jlimit(0.0f, 1.0f, (db_ - kBottom) / (kTop - kBottom));
    const auto bar = area.withTop(area.getBottom() - level * area.getHeight());
    g.setColour(db_ > 0.0f ? colours::warn : colours::good);
    g.fillRoundedRectangle(bar, 3.0f);
    g.setColour(colours::dim.withAlpha(0.6f));
    const float zero = area.getBottom() - (0.0f - kBottom) / (kTop - kBottom) * area.getHeight();
    g.drawHorizontalLine(static_cast<int>(zero), area.getX(), area.getRight());
}

ParameterControl::ParameterControl(juce::AudioProcessorValueTreeState& state, const juce::String& id) {
    auto* parameter = state.getParameter(id);
    name_.setText(parameter->getName(64), juce::dontSendNotification);
    name_.setJustificationType(juce::Justification::centred);
    name_.setColour(juce::Label::textColourId, colours::dim);
    addAndMakeVisible(name_);
    if (dynamic_cast<juce::AudioParameterBool*>(parameter) != nullptr) {
        toggle_ = std::make_unique<juce::ToggleButton>("on");
        addAndMakeVisible(*toggle_);
        toggleAttachment_ = std::make_unique<juce::AudioProcessorValueTreeState::ButtonAttachment>(state, id, *toggle_);
    } else {
        slider_ = std::make_unique<juce::Slider>(juce::Slider::RotaryHorizontalVerticalDrag, juce::Slider::TextBoxBelow);
        slider_->setTextBoxStyle(juce::Slider::TextBoxBelow, false, 90, 18);
        const juce::String unit = parameter->getLabel();
        if (unit.isNotEmpty()) slider_->setTextValueSuffix(" " + unit);
        slider_->setTooltip(parameter->getName(64));
        addAndMakeVisible(*slider_);
        sliderAttachment_ = std::make_unique<juce::AudioProcessorValueTreeState::SliderAttachment>(state, id, *slider_);
    }
    setTitle(parameter->getName(64));
}

void ParameterControl::resized() {
    auto area = getLocalBounds();
    name_.setBounds(area.removeFromTop(18));
    if (slider_) slider_->setBounds(area);
    if (toggle_) toggle_->setBounds(area.withSizeKeepingCentre(std::min(area.getWidth(), 60), 24));
}

juce::Rectangle<int> layOutHeading(const juce::Component& panel, juce::Label& heading, juce::Label& hint) {
    auto area = panel.getLocalBounds().reduced(14, 10);
    heading.setBounds(area.removeFromTop(24));
    hint.setBounds(area.removeFromTop(18));
    area.removeFromTop(4);
    return area;
}

void setUpSlider(juce::Component& parent, juce::Label& label, const juce::String& text, juce::Slider& slider, double lo,
                 double hi, double step, double value, const juce::String& tip, int textBoxWidth) {
    label.setText(text, juce::dontSendNotification);
    slider.setSliderStyle(juce::Slider::LinearHorizontal);
    slider.setTextBoxStyle(juce::Slider::TextBoxRight, false, textBoxWidth, 20);
    slider.setRange(lo, hi, step);
    slider.setValue(value, juce::dontSendNotification);
    slider.setTooltip(tip);
    parent.addAndMakeVisible(label);
    parent.addAndMakeVisible(slider);
}

void setUpJobViews(juce::Component& parent, juce::ProgressBar& progressBar, juce::Label& messages,
                   juce::ListBox& results, int resultRowHeight) {
    progressBar.setColour(juce::ProgressBar::backgroundColourId, colours::background);
    progressBar.setColour(juce::ProgressBar::foregroundColourId, colours::accent);
    parent.addAndMakeVisible(progressBar);
    messages.setJustificationType(juce::Justification::topLeft);
    messages.setMinimumHorizontalScale(0.8f);
    parent.addAndMakeVisible(messages);
    results.setRowHeight(resultRowHeight);
    results.setColour(juce::ListBox::backgroundColourId, colours::panel);
    parent.addAndMakeVisible(results);
}

juce::String jobProgressText(bool busy, const juce::String& stage, bool cancelled, bool playing) {
    return busy        ? stage
           : cancelled ? juce::String("Cancelled")
           : playing   ? juce::String("Playing")
                       : juce::String();
}

void showJobMessage(juce::Label& messages, juce::String& shown, const juce::String& text, bool failed) {
    if (text == shown) return;
    shown = text;
    messages.setText(text, juce::dontSendNotification);
    messages.setColour(juce::Label::textColourId, failed ? colours::warn : colours::dim);
}

void dragFileOut(const juce::File& file, juce::Component* source) {
    if (file.existsAsFile())
        juce::DragAndDropContainer::performExternalDragDropOfFiles({file.getFullPathName()}, false, source);
}

ResultRowBase::ResultRowBase(std::function<void(int)> dragOut) : dragOut_(std::move(dragOut)) {
    name_.setInterceptsMouseClicks(false, false);
    name_.setMinimumHorizontalScale(0.7f);
    addAndMakeVisible(name_);
}

void ResultRowBase::paint(juce::Graphics& g) {
    g.setColour(colours::background.brighter(0.05f));
    g.fillRoundedRectangle(getLocalBounds().reduced(1).toFloat(), 3.0f);
}

void ResultRowBase::mouseDrag(const juce::MouseEvent& e) {
    constexpr int kDragStartPixels = 6;
    if (!dragging_ && e.getDistanceFromDragStart() > kDragStartPixels) {
        dragging_ = true;
        dragOut_(index_);
    }
}

}  // namespace tonemorph::plugin
