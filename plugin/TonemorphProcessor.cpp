#include "TonemorphProcessor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>

#include "TonemorphEditor.h"
#include "Utf8.h"

namespace tonemorph::plugin {

namespace {
const juce::Identifier kStateType("tonemorph");
const juce::Identifier kModelPath("model");
const juce::Identifier kModelName("modelName");
constexpr int kLatencyPollHz = 10;
constexpr int kMaxPathLength = 4096;  // a saved model path longer than this is not a path

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
      master_([this](const MasterJob::Settings& settings, const master::Result& result) { onMastered(settings, result); }),
      midiJob_(midiHooks()),
      samplerJob_([this](const juce::File& wav) { audition_.playClip(wav); }),
      loader_([this](const ModelLoader::Result& r) { onModelLoaded(r); }) {
    // The model folders are scanned on the loader's thread, not the host's: a folder may be slow to answer.
    ModelLoader::Request request;
    request.fallbackToDefault = true;
    requestModel(request, "Loading the default model...");
    startTimerHz(kLatencyPollHz);
}

TonemorphProcessor::~TonemorphProcessor() { stopTimer(); }

bool TonemorphProcessor::isBusesLayoutSupported(const BusesLayout& layouts) const {
    const auto out = layouts.getMainOutputChannelSet();
    if (out != juce::AudioChannelSet::mono() && out != juce::AudioChannelSet::stereo()) return false;
    if (kSynth) return layouts.getMainInputChannelSet().isDisabled();
    return layouts.getMainInputChannelSet() == out;
}

void TonemorphProcessor::prepareToPlay(double sampleRate, int maximumExpectedSamplesPerBlock) {
    // Playback starts with the model the state or the user asked for, not the previous one or none, if it
    // loads within kPrepareWaitSeconds. (A swap asked for while playing runs in the background and crossfades.)
    // One load is waited for once: a loader stuck on a folder that never answers costs the host one wait.
    if (!loader_.busy()) loadWaitSpent_.store(false);
    if (!loadWaitSpent_.load() && !loader_.waitUntilIdle(kPrepareWaitSeconds)) {
        loadWaitSpent_.store(true);
        setMessage("The model is taking long to load (a slow disk or network folder?); it will play when loaded.", true);
    }
    audition_.prepare(sampleRate);
    recorder_.prepare(sampleRate);
    if (!kSynth) capture_.prepare(sampleRate);
    int latency = 0;
    try {
        std::lock_guard<std::mutex> lock(engineMutex_);
        engine_->set_offline(isNonRealtime());
        engine_->prepare(sampleRate, std::clamp(maximumExpectedSamplesPerBlock, 1, Engine::kMaxBlock),
                         std::clamp(std::max(getTotalNumInputChannels(), getTotalNumOutputChannels()), 1,
                                    Engine::kMaxChannels));
        bridge_.pushTo(engine_->params());
        engine_->reset();  // the engine's smoothing starts at the current parameter values
        latency = engine_->latency_samples();
    } catch (const std::exception& e) {
        // Unplayable here (a sample rate the model cannot convert to): silence, and the reason in the editor.
        setMessage(juce::String("Cannot play at ") + juce::String(sampleRate, 0) + " Hz: " + e.what(), true);
    }
    setLatencySamples(latency);
}

void TonemorphProcessor::setNonRealtime(bool isNonRealtime) noexcept {
    // JUCE calls this from inside the audio callback: a flag, nothing more.
    juce::AudioProcessor::setNonRealtime(isNonRealtime);
    engine_->set_offline(isNonRealtime);
}

void TonemorphProcessor::reset() {
    // Hosts may call this on the audio thread (VST3 setProcessing): the engine's reset allocates nothing and
    // takes no lock.
    if (engine_->prepared()) engine_->reset();
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

void TonemorphProcessor::render(juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midi, bool bypassed) noexcept {
    juce::ScopedNoDenormals noDenormals;
    const int n = buffer.getNumSamples();
    const int channels = buffer.getNumChannels();
    const int inputs = kSynth ? 0 : std::min(getTotalNumInputChannels(), channels);
    for (int c = inputs; c < channels; ++c) buffer.clear(c, 0, n);
    if (n == 0 || channels == 0) return;
    if (!engine_->prepared()) {  // prepareToPlay refused this configuration: say nothing, play nothing
        buffer.clear();
        return;
    }

    // Offline, the model a state restore asked for is in place before any audio is rendered, if it comes
    // within kOfflineWaitSeconds; a loader that took longer is not waited for again until it is done (no
    // lock: the flag is an atomic, and offline the thread may sleep).
    if (!loader_.busy()) loadWaitSpent_.store(false, std::memory_order_relaxed);
    if (isNonRealtime() && !loadWaitSpent_.load(std::memory_order_relaxed)) {
        for (int i = 0; loader_.busy() && i < static_cast<int>(kOfflineWaitSeconds * 1000); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        loadWaitSpent_.store(loader_.busy(), std::memory_order_relaxed);
    }

    if (!kSynth) {
        raisePeak(inputPeak_, finitePeak(buffer, inputs, n));
        capture_.process(buffer, inputs, n);  // what Transcribe hears
    }
    recorder_.process(midi, n, hostBpm());    // the Synth's recording (and both plugins' tempo)

    bridge_.pushTo(engine_->params());
    if (bypassed) {  // the delayed input at unity gain
        engine_->params().set(Param::DryWet, 0.0f);
        engine_->params().set(Param::OutputGainDb, 0.0f);
    }
    // MIDI goes to the engine in runs of at most kMaxMidiEvents: a block with more is processed in pieces,
    // cut at the sample of the first event that did not fit, so no event (no note-off) is ever dropped.
    auto* const* in = buffer.getArrayOfReadPointers();
    auto* const* out = buffer.getArrayOfWritePointers();
    std::array<const float*, Engine::kMaxChannels> inPieces{};
    std::array<float*, Engine::kMaxChannels> outPieces{};
    const int usable = std::min(channels, Engine::kMaxChannels);
    auto it = midi.cbegin();
    int start = 0;
    while (start < n) {
        int count = 0, end = n;
        for (; it != midi.cend(); ++it) {
            const auto meta = *it;
            if (meta.numBytes < 1 || meta.numBytes > 3) continue;  // sysex and meta events: not for the voice
            const int at = std::clamp(meta.samplePosition, start, n - 1);
            if (count == kMaxMidiEvents) {  // the run ends here; more than that on one sample move on by one
                end = std::max(at, start + 1);
                break;
            }
            MidiEvent& e = events_[static_cast<std::size_t>(count++)];
            e.offset = at - start;
            std::fill(std::begin(e.data), std::end(e.data), std::uint8_t{0});
            std::copy(meta.data, meta.data + meta.numBytes, e.data);
        }
        for (int c = 0; c < usable; ++c) {
            inPieces[static_cast<std::size_t>(c)] = in[c] + start;
            outPieces[static_cast<std::size_t>(c)] = out[c] + start;
        }
        engine_->process(inPieces.data(), outPieces.data(), usable, end - start, events_.data(), count);
        start = end;
    }
    audition_.process(buffer, n);  // A/B of a mastering run replaces the output while it plays
    raisePeak(outputPeak_, finitePeak(buffer, channels, n));
}

juce::AudioProcessorEditor* TonemorphProcessor::createEditor() { return new TonemorphEditor(*this); }

void TonemorphProcessor::getStateInformation(juce::MemoryBlock& destData) {
    auto state = parameters_.copyState();
    {
        std::lock_guard<std::mutex> lock(statusMutex_);
        state.setProperty(kModelPath, requestedFile_.getFullPathName(), nullptr);
        state.setProperty(kModelName, requestedName_.isNotEmpty() ? requestedName_ : requestedFile_.getFileNameWithoutExtension(),
                          nullptr);
    }
    if (auto xml = state.createXml()) copyXmlToBinary(*xml, destData);
}

// JUCE's XML parser recurses once per level of nesting: a hostile state 30,000 levels deep would overflow the
// host's stack. Ours is two levels deep; anything past kMaxXmlDepth is refused before JUCE sees it.
bool TonemorphProcessor::shallowXml(const void* data, int sizeInBytes) {
    const auto* bytes = static_cast<const char*>(data);
    int depth = 0;
    for (int i = 0; i + 1 < sizeInBytes; ++i) {
        if (bytes[i] != '<') continue;
        const char next = bytes[i + 1];
        if (next == '/') {
            --depth;
        } else if (next != '?' && next != '!') {
            int j = i + 1;
            while (j < sizeInBytes && bytes[j] != '>') ++j;
            if (j < sizeInBytes && bytes[j - 1] != '/' && ++depth > kMaxXmlDepth) return false;
        }
    }
    return true;
}

void TonemorphProcessor::setStateInformation(const void* data, int sizeInBytes) {
    const auto xml = data != nullptr && sizeInBytes > 0 && shallowXml(data, sizeInBytes)
                         ? getXmlFromBinary(data, sizeInBytes)
                         : nullptr;
    if (xml == nullptr || xml->getTagName() != kStateType.toString()) {
        setMessage("The saved state is not a tonemorph state; kept the current settings.", true);
        return;
    }
    const auto saved = juce::ValueTree::fromXml(*xml);
    parameters_.replaceState(sanitisedState(saved));

    // No file is touched here (this may be the host's message thread, and the file may sit on a mount that
    // hangs): the loader checks the path, then a model of the same name, then the default.
    ModelLoader::Request request;
    request.savedPath = printable(saved.getProperty(kModelPath).toString(), kMaxPathLength);
    request.name = juce::File::createLegalFileName(printable(saved.getProperty(kModelName).toString(), 200));
    if (request.savedPath.isEmpty() && request.name.isEmpty()) return;  // a state saved with no model: keep what plays
    if (juce::File::isAbsolutePath(request.savedPath)) request.file = juce::File(request.savedPath);
    {
        std::lock_guard<std::mutex> lock(engineMutex_);
        request.fallbackToDefault = model_ == nullptr;  // a fresh instance plays something; a playing one keeps playing
    }
    const juce::String shown = request.name.isNotEmpty() ? request.name : request.file.getFileNameWithoutExtension();
    requestModel(request, "Loading " + shown + "...");
}

// A saved state rebuilt from what it holds that makes sense: one PARAM per parameter of this plugin, each a
// finite number within its range (a missing, repeated-later, non-numeric or infinite value takes the
// default); nothing else.
juce::ValueTree TonemorphProcessor::sanitisedState(const juce::ValueTree& saved) {
    juce::ValueTree state(kStateType);
    for (const auto& current : parameters_.copyState()) {  // this plugin's PARAMs, in the order it keeps them
        const juce::String id = current.getProperty("id").toString();
        const auto spec = std::find_if(kParamSpecs.begin(), kParamSpecs.end(), [&](const ParamSpec& p) { return id == p.name; });
        if (!current.hasType("PARAM") || spec == kParamSpecs.end()) continue;
        double v = spec->default_value;
        const juce::ValueTree param = saved.getChildWithProperty("id", id);
        if (param.isValid() && param.hasType("PARAM")) {
            const juce::String text = param.getProperty("value").toString().trim();
            const double parsed = text.getDoubleValue();
            if (text.isNotEmpty() && text.containsOnly("0123456789+-.eE") && std::isfinite(parsed)) v = parsed;
        }
        juce::ValueTree child("PARAM");
        child.setProperty("id", id, nullptr);
        child.setProperty("value", std::clamp(v, static_cast<double>(spec->min), static_cast<double>(spec->max)), nullptr);
        state.appendChild(child, nullptr);
    }
    return state;
}

// Text from a saved state, as something XML can carry back: whole UTF-8 sequences only (the shortest form, no
// surrogates), no control characters, at most max_bytes long. Read byte by byte: JUCE's own character walk
// trusts a lead byte's length and can run past the end of a damaged string.
juce::String TonemorphProcessor::printable(const juce::String& text, int max_bytes) {
    const char* bytes = text.toRawUTF8();
    const std::size_t size = std::strlen(bytes);
    std::string out;
    for (std::size_t i = 0; i < size && out.size() < static_cast<std::size_t>(max_bytes);) {
        std::uint32_t code = 0;
        const int length = tonemorph::next_code_point(bytes, i, size, code);
        const bool valid = length > 0 && code >= 0x20 && code != 0x7F && code != 0xFFFE && code != 0xFFFF;
        if (valid) out.append(bytes + i, static_cast<std::size_t>(length));
        i += valid ? static_cast<std::size_t>(length) : 1;
    }
    return juce::String::fromUTF8(out.data(), static_cast<int>(out.size()));
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
    ModelLoader::Request request;
    request.file = file;
    requestModel(request, "Loading " + file.getFileNameWithoutExtension() + "...");
}

void TonemorphProcessor::requestModel(const ModelLoader::Request& request, const juce::String& message) {
    {
        std::lock_guard<std::mutex> lock(statusMutex_);
        requestedFile_ = request.file;
        requestedName_ = request.name;
        message_ = message;
        messageIsError_ = false;
    }
    loader_.request(request);
}

void TonemorphProcessor::onModelLoaded(const ModelLoader::Result& result) {
    juce::String message = result.message;
    if (result.model) {
        try {
            std::lock_guard<std::mutex> lock(engineMutex_);
            engine_->set_model(result.model);
            model_ = result.model;
            modelFile_ = result.file;
            const auto& info = result.model->info();
            tailSeconds_.store(static_cast<double>(info.reverb_ir.size()) / info.sample_rate);
        } catch (const std::exception& e) {
            message = "Could not start " + result.file.getFileName() + ": " + e.what();
        }
    }
    juce::File playing;
    {
        std::lock_guard<std::mutex> lock(engineMutex_);
        playing = modelFile_;
    }
    std::lock_guard<std::mutex> lock(statusMutex_);
    // The state names what plays; a request that failed leaves the state naming the model still playing.
    if (result.model && playing == result.file) {
        requestedFile_ = result.file;
        requestedName_ = result.file.getFileNameWithoutExtension();
    } else if (!result.model && requestedFile_ == result.request.file) {
        requestedFile_ = playing;
        requestedName_ = playing.getFileNameWithoutExtension();
    }
    if (!result.model && playing != juce::File()) message += "\nStill playing " + playing.getFileNameWithoutExtension() + ".";
    message_ = message;
    messageIsError_ = result.isError || playing != result.file;
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

void TonemorphProcessor::onMastered(const MasterJob::Settings& settings, const master::Result& result) {
    // Both play at the quieter one's loudness: turned down, never up into clipping.
    const double level = std::min(result.track.integrated_lufs, result.result.integrated_lufs);
    const auto gain = [level](double lufs) { return static_cast<float>(juce::Decibels::decibelsToGain(level - lufs)); };
    audition_.setSources(settings.track, gain(result.track.integrated_lufs), settings.output,
                         gain(result.result.integrated_lufs));
    // The panel's results pile up in the temporary folder: one per plugin is kept, the latest.
    if (lastMasterResult_ != settings.output && lastMasterResult_.isAChildOf(MasterJob::resultFolder()))
        lastMasterResult_.deleteFile();
    lastMasterResult_ = settings.output;
}

double TonemorphProcessor::hostBpm() noexcept {
    // JUCE's PositionInfo is a plain struct: no allocation, no lock.
    if (auto* head = getPlayHead())
        if (const auto position = head->getPosition())
            if (const auto bpm = position->getBpm()) return *bpm;
    return 0.0;
}

MidiJob::Hooks TonemorphProcessor::midiHooks() {
    MidiJob::Hooks hooks;
    hooks.instrument = [this] {
        MidiJob::Instrument instrument;
        {
            std::lock_guard<std::mutex> lock(engineMutex_);
            instrument.model = model_;
            instrument.sampleRate = engine_->prepared() ? engine_->sample_rate() : 48000.0;
        }
        for (std::size_t i = 0; i < kParamCount; ++i) {
            const auto p = static_cast<Param>(i);
            if (!isExposed(p, kSynth)) continue;
            if (const auto* value = parameters_.getRawParameterValue(kParamSpecs[i].name))
                instrument.settings.emplace_back(p, value->load());
        }
        instrument.settings.emplace_back(Param::DryWet, 1.0f);  // the clip's notes, not an input
        return instrument;
    };
    if (!kSynth) hooks.input = [this](double seconds, double* rate) { return capture_.last(seconds, rate); };
    hooks.tempo = [this] { return recorder_.tempo(); };
    hooks.play = [this](const juce::File& wav) { audition_.playClip(wav); };
    return hooks;
}

void TonemorphProcessor::timerCallback() {
    audition_.collectGarbage();
    if (recorder_.recording()) recorder_.drain();
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
