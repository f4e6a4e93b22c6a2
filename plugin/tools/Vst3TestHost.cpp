// A small VST3 host for tests/test_windows_vst3.py, built with JUCE's own VST3 hosting code and run under
// Wine (it builds anywhere JUCE does). It reads a job (JSON), does what the job says and writes a report
// (JSON):
//
//   tonemorph-test-host JOB.json
//
//   job     {"plugin": the VST3 module (on Windows: NAME.vst3/Contents/x86_64-win/NAME.vst3),
//            "report": where to write the report,
//            "renders": [{"sample_rate", "block", "length" (samples), "realtime" (default false: a bounce),
//                         "input": mono WAV, fed to every input channel (the effect),
//                         "midi": [[sample, byte, byte, byte], ...] (the Synth),
//                         "state": a state file to restore first, "parameters": {"Display name": "text"},
//                         "output": WAV to write (float, the plugin's output channels), "state_out": state
//                         file}],
//            "editor_seconds": open the editor in a window this long (needs a display; 0: don't)}
//   report  {"types": [what the scan found], "renders": [{"latency", "parameters": {name: text}}],
//            "editor": {"width", "height"}}
//
// Every render makes a new instance, as a host does when it loads a project. A failure prints a message and
// exits non-zero.
#include <juce_audio_formats/juce_audio_formats.h>
#include <juce_audio_processors/juce_audio_processors.h>
#include <juce_gui_basics/juce_gui_basics.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace {

[[noreturn]] void fail(const juce::String& message) { throw std::runtime_error(message.toStdString()); }

juce::var require(const juce::var& object, const char* key) {
    if (!object.hasProperty(key)) fail(juce::String("the job has no '") + key + "'");
    return object[key];
}

std::unique_ptr<juce::AudioPluginInstance> instantiate(juce::AudioPluginFormat& format,
                                                       const juce::PluginDescription& type, double rate,
                                                       int block) {
    juce::String error;
    auto instance = format.createInstanceFromDescription(type, rate, block, error);
    if (instance == nullptr) fail("could not instantiate " + type.name + ": " + error);
    return instance;
}

// Lets the plugin's own messages through (JUCE's VST3 wrapper reports a new latency from its message loop).
void pumpMessages(int milliseconds) {
    juce::MessageManager::getInstance()->runDispatchLoopUntil(milliseconds);
}

juce::AudioBuffer<float> readWav(const juce::File& file) {
    juce::AudioFormatManager formats;
    formats.registerBasicFormats();
    std::unique_ptr<juce::AudioFormatReader> reader(formats.createReaderFor(file));
    if (reader == nullptr) fail("cannot read " + file.getFullPathName());
    juce::AudioBuffer<float> audio(1, static_cast<int>(reader->lengthInSamples));
    reader->read(&audio, 0, audio.getNumSamples(), 0, true, false);
    return audio;
}

void writeWav(const juce::File& file, const juce::AudioBuffer<float>& audio, double rate) {
    file.deleteFile();
    std::unique_ptr<juce::OutputStream> stream(file.createOutputStream());
    if (stream == nullptr) fail("cannot write " + file.getFullPathName());
    std::unique_ptr<juce::AudioFormatWriter> writer(juce::WavAudioFormat().createWriterFor(
        stream.get(), rate, static_cast<unsigned>(audio.getNumChannels()), 32, {}, 0));
    if (writer == nullptr) fail("cannot write a float WAV to " + file.getFullPathName());
    stream.release();  // the writer owns it now
    writer->writeFromAudioSampleBuffer(audio, 0, audio.getNumSamples());
}

juce::var parameterTexts(juce::AudioPluginInstance& instance) {
    auto* texts = new juce::DynamicObject();
    for (auto* p : instance.getParameters()) texts->setProperty(p->getName(100), p->getCurrentValueAsText());
    return texts;
}

void setParameters(juce::AudioPluginInstance& instance, const juce::var& wanted) {
    auto* object = wanted.getDynamicObject();
    if (object == nullptr) return;
    for (const auto& property : object->getProperties()) {
        const auto name = property.name.toString();
        juce::AudioProcessorParameter* found = nullptr;
        for (auto* p : instance.getParameters())
            if (p->getName(100) == name) found = p;
        if (found == nullptr) fail("the plugin has no parameter '" + name + "'");
        found->setValueNotifyingHost(found->getValueForText(property.value.toString()));
    }
}

juce::var render(juce::AudioPluginFormat& format, const juce::PluginDescription& type, const juce::var& job) {
    const double rate = require(job, "sample_rate");
    const int block = require(job, "block");
    const int length = require(job, "length");
    auto instance = instantiate(format, type, rate, block);
    instance->enableAllBuses();
    instance->setNonRealtime(!static_cast<bool>(job.getProperty("realtime", false)));

    if (job.hasProperty("state")) {
        juce::MemoryBlock state;
        if (!juce::File(job["state"].toString()).loadFileAsData(state))
            fail("cannot read " + job["state"].toString());
        instance->setStateInformation(state.getData(), static_cast<int>(state.getSize()));
    }
    setParameters(*instance, job["parameters"]);

    instance->prepareToPlay(rate, block);
    pumpMessages(200);
    const int inputs = instance->getTotalNumInputChannels();
    const int outputs = instance->getTotalNumOutputChannels();

    juce::AudioBuffer<float> input(1, length);
    input.clear();
    if (job.hasProperty("input")) {
        const auto wav = readWav(juce::File(job["input"].toString()));
        input.copyFrom(0, 0, wav, 0, 0, std::min(length, wav.getNumSamples()));
    }
    juce::MidiBuffer events;
    if (auto* midi = job["midi"].getArray())
        for (const auto& e : *midi)
            events.addEvent(
                juce::MidiMessage(static_cast<int>(e[1]), static_cast<int>(e[2]), static_cast<int>(e[3])),
                static_cast<int>(e[0]));

    juce::AudioBuffer<float> output(outputs, length), buffer(std::max(inputs, outputs), block);
    juce::MidiBuffer blockEvents;
    const auto start = std::chrono::steady_clock::now();
    for (int position = 0; position < length; position += block) {
        const int n = std::min(block, length - position);
        juce::AudioBuffer<float> view(buffer.getArrayOfWritePointers(), buffer.getNumChannels(), n);
        view.clear();
        for (int c = 0; c < inputs; ++c) view.copyFrom(c, 0, input, 0, position, n);
        blockEvents.clear();
        blockEvents.addEvents(events, position, n, -position);
        instance->processBlock(view, blockEvents);
        for (int c = 0; c < outputs; ++c) output.copyFrom(c, position, view, c, 0, n);
        if (instance->isNonRealtime()) continue;
        // Live: one block per block's worth of time, as an audio device would ask.
        std::this_thread::sleep_until(start + std::chrono::duration<double>((position + n) / rate));
    }

    juce::var report(new juce::DynamicObject());
    report.getDynamicObject()->setProperty("latency", instance->getLatencySamples());
    report.getDynamicObject()->setProperty("inputs", inputs);
    report.getDynamicObject()->setProperty("outputs", outputs);
    report.getDynamicObject()->setProperty("parameters", parameterTexts(*instance));
    instance->releaseResources();
    if (job.hasProperty("output")) writeWav(juce::File(job["output"].toString()), output, rate);
    if (job.hasProperty("state_out")) {
        juce::MemoryBlock state;
        instance->getStateInformation(state);
        if (!juce::File(job["state_out"].toString()).replaceWithData(state.getData(), state.getSize()))
            fail("cannot write " + job["state_out"].toString());
    }
    return report;
}

// As a musician would: the plugin is playing (prepared, its model loaded), then the editor is opened.
juce::var openEditor(juce::AudioPluginFormat& format, const juce::PluginDescription& type, double seconds) {
    constexpr double kRate = 48000.0;
    constexpr int kBlock = 512;
    auto instance = instantiate(format, type, kRate, kBlock);
    instance->enableAllBuses();
    instance->prepareToPlay(kRate, kBlock);
    pumpMessages(200);
    std::unique_ptr<juce::AudioProcessorEditor> editor(instance->createEditorIfNeeded());
    if (editor == nullptr) fail(type.name + " has no editor");
    juce::DocumentWindow window(type.name, juce::Colours::black, 0);
    window.setUsingNativeTitleBar(true);
    window.setContentNonOwned(editor.get(), true);
    window.setTopLeftPosition(0, 0);
    window.setVisible(true);
    pumpMessages(juce::roundToInt(1000.0 * seconds));
    juce::var report(new juce::DynamicObject());
    report.getDynamicObject()->setProperty("width", editor->getWidth());
    report.getDynamicObject()->setProperty("height", editor->getHeight());
    window.clearContentComponent();
    editor.reset();
    instance->releaseResources();
    return report;
}

juce::var describe(const juce::PluginDescription& type) {
    auto* d = new juce::DynamicObject();
    d->setProperty("name", type.name);
    d->setProperty("format", type.pluginFormatName);
    d->setProperty("manufacturer", type.manufacturerName);
    d->setProperty("version", type.version);
    d->setProperty("category", type.category);
    d->setProperty("is_instrument", type.isInstrument);
    d->setProperty("inputs", type.numInputChannels);
    d->setProperty("outputs", type.numOutputChannels);
    return d;
}

void run(const juce::File& jobFile) {
    const juce::var job = juce::JSON::parse(jobFile);
    if (!job.isObject()) fail(jobFile.getFullPathName() + " is not a JSON object");
    const juce::String plugin = require(job, "plugin").toString();

    juce::VST3PluginFormat format;
    juce::OwnedArray<juce::PluginDescription> types;
    format.findAllTypesForFile(types, plugin);
    if (types.isEmpty()) fail("no VST3 plugin found in " + plugin);

    juce::var report(new juce::DynamicObject());
    juce::Array<juce::var> found, renders;
    for (const auto* type : types) found.add(describe(*type));
    report.getDynamicObject()->setProperty("types", found);
    if (auto* jobs = job["renders"].getArray())
        for (const auto& r : *jobs) renders.add(render(format, *types[0], r));
    report.getDynamicObject()->setProperty("renders", renders);
    const double editorSeconds = job.getProperty("editor_seconds", 0.0);
    if (editorSeconds > 0.0)
        report.getDynamicObject()->setProperty("editor", openEditor(format, *types[0], editorSeconds));

    const juce::File reportFile(require(job, "report").toString());
    if (!reportFile.replaceWithText(juce::JSON::toString(report)))
        fail("cannot write " + reportFile.getFullPathName());
}

}  // namespace

int main(int argc, char* argv[]) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s JOB.json\n", argv[0]);
        return 2;
    }
    juce::ScopedJuceInitialiser_GUI juce;
    try {
        run(juce::File::getCurrentWorkingDirectory().getChildFile(juce::String::fromUTF8(argv[1])));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tonemorph-test-host: %s\n", e.what());
        return 1;
    }
    return 0;
}
