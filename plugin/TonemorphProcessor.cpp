#include "TonemorphProcessor.h"

#include <algorithm>
#include <cmath>

#include "TonemorphEditor.h"

namespace tonemorph::plugin {

namespace {
const juce::Identifier kStateType("tonemorph");
const juce::Identifier kModelPath("model");
const juce::Identifier kModelName("modelName");
constexpr int kLatencyPollHz = 10;

// Largest finite |x| of the first `channels` channels; NaN and inf do not move a meter.
float finitePeak(const juce::AudioBuffer<float>& buffer, int channels, int n) {
    float peak = 0.0f;
    for (int c = 0; c < channels; ++c) {
        const float* x = buffer.getReadPointer(c);
        for (int i = 0; i < n; ++i)
            if (std::isfinite(x[i])) peak = std::max(peak, std::abs(x[i]));
    }
    return peak;
}

void raisePeak(std::atomic<float>& peak, float value) {
    float old = peak.load(std::memory_order_relaxed);
    while (value > old && !peak.compare_exchange_weak(old, value, std::memory_order_relaxed)) {}
}
}  // namespace

juce::AudioProcessor::BusesProperties TonemorphProcessor::buses() {
    if (kSynth) return BusesProperties().withOutput("Output", juce::AudioChannelSet::stereo(), true);
    return BusesProperties()
        .withInput("Input", juce::AudioChannelSet::stereo(), true)
        .withOutput("Output", juce::AudioChannelSet::stereo(), true);
}

TonemorphProcessor::TonemorphProcessor()
    : juce::AudioProcessor(buses()),
      parameters_(*this, nullptr, kStateType, createParameterLayout(kSynth)),
      bridge_(parameters_, kSynth),
      engine_(std::make_unique<Engine>(true)),
      loader_([this](const ModelLoader::Result& r) { onModelLoaded(r); }) {
    library_.refresh();
    if (auto entry = library_.defaultModel())
        requestModel(entry->file, "Loading " + entry->name + "...", false);
    else
        setMessage("No model installed: put .onnx models in " + ModelLibrary::userDir().getFullPathName() +
                       " and press Refresh, or use \"Load file...\"",
                   true);
    startTimerHz(kLatencyPollHz);
}

TonemorphProcessor::~TonemorphProcessor() { stopTimer(); }

bool TonemorphProcessor::isBusesLayoutSupported(const BusesLayout& layouts) const {
    const auto out = layouts.getMainOutputChannelSet();
    if (out != juce::AudioChannelSet::mono() && out != juce::AudioChannelSet::stereo()) return false;
    if (kSynth) return layouts.getMainInputChannelSet().isDisabled();
    return layouts.getMainInputChannelSet() == out;
}

void TonemorphProcessor::prepareEngine() {
    const bool realtime = !isNonRealtime();
    if (!engine_ || engineRealtime_ != realtime) {
        // Live: inference on the engine's worker thread. Offline bounce: inline, so no frame is late.
        engine_ = std::make_unique<Engine>(realtime);
        engineRealtime_ = realtime;
        if (model_) engine_->set_model(model_);
    }
    if (sampleRate_ <= 0.0) return;
    engine_->prepare(sampleRate_, maxBlock_, channels_);
    bridge_.pushTo(engine_->params());
    engine_->reset();  // the engine's smoothing starts at the current parameter values
}

void TonemorphProcessor::prepareToPlay(double sampleRate, int maximumExpectedSamplesPerBlock) {
    // Playback starts with the model the state or the user asked for, not the previous one or none.
    // (A swap asked for while playing runs in the background and crossfades.)
    loader_.waitUntilIdle();
    int latency = 0;
    {
        std::lock_guard<std::mutex> lock(engineMutex_);
        sampleRate_ = sampleRate;
        maxBlock_ = std::clamp(maximumExpectedSamplesPerBlock, 1, Engine::kMaxBlock);
        channels_ = std::clamp(std::max(getTotalNumInputChannels(), getTotalNumOutputChannels()), 1, Engine::kMaxChannels);
        prepareEngine();
        latency = engine_->latency_samples();
    }
    setLatencySamples(latency);
}

void TonemorphProcessor::setNonRealtime(bool isNonRealtime) noexcept {
    const bool changed = isNonRealtime != this->isNonRealtime();
    juce::AudioProcessor::setNonRealtime(isNonRealtime);
    if (!changed) return;
    try {
        std::lock_guard<std::mutex> lock(engineMutex_);
        prepareEngine();
    } catch (const std::exception& e) {
        setMessage(juce::String("Could not switch the render mode: ") + e.what(), true);
    }
}

void TonemorphProcessor::reset() {
    std::lock_guard<std::mutex> lock(engineMutex_);
    if (engine_ && engine_->prepared()) engine_->reset();
}

void TonemorphProcessor::processBlock(juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midi) {
    render(buffer, midi, false);
}

void TonemorphProcessor::processBlockBypassed(juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midi) {
    if (kSynth) {
        buffer.clear();
        return;
    }
    render(buffer, midi, true);
}

void TonemorphProcessor::render(juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midi, bool bypassed) {
    juce::ScopedNoDenormals noDenormals;
    const int n = buffer.getNumSamples();
    const int channels = buffer.getNumChannels();
    const int inputs = kSynth ? 0 : std::min(getTotalNumInputChannels(), channels);
    for (int c = inputs; c < channels; ++c) buffer.clear(c, 0, n);
    if (n == 0 || channels == 0) return;

    // Offline: the model a state restore asked for is in place before any audio is rendered.
    if (isNonRealtime() && loader_.busy()) loader_.waitUntilIdle();

    if (!kSynth) raisePeak(inputPeak_, finitePeak(buffer, inputs, n));

    int count = 0;
    for (const auto meta : midi) {
        if (count == kMaxMidiEvents) break;
        if (meta.numBytes < 1 || meta.numBytes > 3) continue;  // sysex and meta events: not for the voice
        MidiEvent& e = events_[static_cast<std::size_t>(count++)];
        e.offset = std::clamp(meta.samplePosition, 0, n - 1);
        std::fill(std::begin(e.data), std::end(e.data), std::uint8_t{0});
        std::copy(meta.data, meta.data + meta.numBytes, e.data);
    }

    bridge_.pushTo(engine_->params());
    if (bypassed) {  // the delayed input at unity gain
        engine_->params().set(Param::DryWet, 0.0f);
        engine_->params().set(Param::OutputGainDb, 0.0f);
    }
    engine_->process(buffer.getArrayOfReadPointers(), buffer.getArrayOfWritePointers(), channels, n, events_.data(),
                     count);
    raisePeak(outputPeak_, finitePeak(buffer, channels, n));
}

juce::AudioProcessorEditor* TonemorphProcessor::createEditor() { return new TonemorphEditor(*this); }

void TonemorphProcessor::getStateInformation(juce::MemoryBlock& destData) {
    auto state = parameters_.copyState();
    {
        std::lock_guard<std::mutex> lock(statusMutex_);
        state.setProperty(kModelPath, requestedFile_.getFullPathName(), nullptr);
        state.setProperty(kModelName, requestedFile_.getFileNameWithoutExtension(), nullptr);
    }
    if (auto xml = state.createXml()) copyXmlToBinary(*xml, destData);
}

void TonemorphProcessor::setStateInformation(const void* data, int sizeInBytes) {
    const auto xml = getXmlFromBinary(data, sizeInBytes);
    if (xml == nullptr || !xml->hasTagName(kStateType.toString())) {
        setMessage("The saved state is not a tonemorph state; kept the current settings.", true);
        return;
    }
    const auto state = juce::ValueTree::fromXml(*xml);
    parameters_.replaceState(state);

    const juce::String path = state.getProperty(kModelPath).toString();
    const juce::String name = state.getProperty(kModelName).toString();
    const juce::File file = juce::File::isAbsolutePath(path) ? juce::File(path) : juce::File();
    if (file.existsAsFile()) {
        requestModel(file, "Loading " + file.getFileNameWithoutExtension() + "...", false);
        return;
    }
    std::optional<ModelEntry> byName, fallback;
    {
        std::lock_guard<std::mutex> lock(statusMutex_);
        library_.refresh();
        if (name.isNotEmpty()) byName = library_.findByName(name);
        fallback = library_.defaultModel();
    }
    const juce::String wanted = name.isNotEmpty() ? "'" + name + "'" : juce::String("The saved model");
    const juce::String where = path.isNotEmpty() ? " (" + path + " is missing)" : juce::String();
    if (byName)
        requestModel(byName->file, wanted + where + ": using the installed model of that name, " +
                                       byName->file.getFullPathName(), false);
    else if (path.isEmpty() && name.isEmpty())
        return;  // a state saved with no model: keep what plays
    else if (fallback)
        requestModel(fallback->file, wanted + " was not found" + where + "; using the default model '" + fallback->name + "'.",
                     true);
    else
        setMessage(wanted + " was not found" + where + ", and no model is installed.", true);
}

std::vector<ModelEntry> TonemorphProcessor::refreshModels() {
    std::lock_guard<std::mutex> lock(statusMutex_);
    library_.refresh();
    return library_.entries();
}

std::vector<ModelEntry> TonemorphProcessor::models() const {
    std::lock_guard<std::mutex> lock(statusMutex_);
    return library_.entries();
}

void TonemorphProcessor::loadModel(const juce::File& file) {
    requestModel(file, "Loading " + file.getFileNameWithoutExtension() + "...", false);
}

void TonemorphProcessor::requestModel(const juce::File& file, const juce::String& message, bool isError) {
    {
        std::lock_guard<std::mutex> lock(statusMutex_);
        requestedFile_ = file;
        message_ = message;
        messageIsError_ = isError;
    }
    loader_.request(file);
}

void TonemorphProcessor::onModelLoaded(const ModelLoader::Result& result) {
    if (!result.model) {
        juce::File playing;
        {
            std::lock_guard<std::mutex> lock(engineMutex_);
            playing = modelFile_;
        }
        std::optional<ModelEntry> fallback;
        {
            std::lock_guard<std::mutex> lock(statusMutex_);
            if (requestedFile_ == result.file) requestedFile_ = playing;
            message_ = "Could not load " + result.file.getFileName() + ": " + result.error +
                       (playing != juce::File() ? "\nStill playing " + playing.getFileNameWithoutExtension() + "."
                                                : juce::String());
            messageIsError_ = true;
            if (playing == juce::File()) fallback = library_.defaultModel();
        }
        // Nothing plays yet (a fresh instance restored with a broken file): fall back to the default.
        if (fallback && fallback->file != result.file) {
            std::lock_guard<std::mutex> lock(statusMutex_);
            requestedFile_ = fallback->file;
            message_ += "\nUsing the default model '" + fallback->name + "'.";
            loader_.request(fallback->file);
        }
        return;
    }
    try {
        std::lock_guard<std::mutex> lock(engineMutex_);
        engine_->set_model(result.model);
        model_ = result.model;
        modelFile_ = result.file;
        const auto& info = result.model->info();
        tailSeconds_.store(static_cast<double>(info.reverb_ir.size()) / info.sample_rate);
    } catch (const std::exception& e) {
        setMessage("Could not start " + result.file.getFileName() + ": " + e.what(), true);
        return;
    }
    std::lock_guard<std::mutex> lock(statusMutex_);
    if (!messageIsError_ || requestedFile_ != result.file)
        message_ = "Playing " + result.file.getFileNameWithoutExtension() + " (" + result.file.getFullPathName() + ")";
}

void TonemorphProcessor::setMessage(const juce::String& message, bool isError) {
    std::lock_guard<std::mutex> lock(statusMutex_);
    message_ = message;
    messageIsError_ = isError;
}

TonemorphProcessor::ModelStatus TonemorphProcessor::modelStatus() const {
    ModelStatus s;
    {
        std::lock_guard<std::mutex> lock(engineMutex_);
        s.file = modelFile_;
        s.name = model_ ? juce::String(model_->info().name) : juce::String();
    }
    std::lock_guard<std::mutex> lock(statusMutex_);
    s.message = message_;
    s.isError = messageIsError_;
    s.loading = loader_.busy();
    return s;
}

TonemorphProcessor::LiveStatus TonemorphProcessor::liveStatus() {
    LiveStatus s;
    s.inputPeak = inputPeak_.exchange(0.0f);
    s.outputPeak = outputPeak_.exchange(0.0f);
    std::lock_guard<std::mutex> lock(engineMutex_);
    if (!engine_) return s;
    const auto& status = engine_->status();
    s.f0Hz = status.f0_hz.load();
    s.confidence = status.confidence.load();
    s.voiced = status.voiced.load();
    s.latencySamples = engine_->latency_samples();
    s.sampleRate = engine_->sample_rate();
    return s;
}

void TonemorphProcessor::timerCallback() {
    int latency = 0;
    {
        std::lock_guard<std::mutex> lock(engineMutex_);
        if (!engine_ || !engine_->prepared()) return;
        latency = engine_->latency_samples();
    }
    if (latency != getLatencySamples()) setLatencySamples(latency);
}

}  // namespace tonemorph::plugin

juce::AudioProcessor* JUCE_CALLTYPE createPluginFilter() { return new tonemorph::plugin::TonemorphProcessor(); }
