// The plugin's AudioProcessor: wraps tonemorph::Engine. The audio thread only hands blocks and MIDI to
// the engine (which allocates nothing and takes no lock); models load on a background thread
// (ModelLoader) and the engine crossfades to them; a message-thread timer keeps the host's latency in
// step with the engine's. Built twice: the effect (TONEMORPH_SYNTH=0) and the Synth (=1).
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>

#include <juce_audio_processors/juce_audio_processors.h>

#include "Engine.h"
#include "ModelLibrary.h"
#include "ModelLoader.h"
#include "PluginParameters.h"

namespace tonemorph::plugin {

class TonemorphProcessor final : public juce::AudioProcessor, private juce::Timer {
public:
    static constexpr bool kSynth = TONEMORPH_SYNTH != 0;
    static constexpr int kMaxMidiEvents = 1024;  // per block; later ones in a block are dropped

    TonemorphProcessor();
    ~TonemorphProcessor() override;

    bool isBusesLayoutSupported(const BusesLayout& layouts) const override;
    void prepareToPlay(double sampleRate, int maximumExpectedSamplesPerBlock) override;
    void releaseResources() override {}
    void reset() override;
    void setNonRealtime(bool isNonRealtime) noexcept override;
    void processBlock(juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midi) override;
    // Bypassed, the effect still delays its input by the latency it reports (dry only); the Synth is silent.
    void processBlockBypassed(juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midi) override;
    using juce::AudioProcessor::processBlock;
    using juce::AudioProcessor::processBlockBypassed;

    juce::AudioProcessorEditor* createEditor() override;
    bool hasEditor() const override { return true; }

    const juce::String getName() const override { return JucePlugin_Name; }
    bool acceptsMidi() const override { return kSynth; }
    bool producesMidi() const override { return false; }
    bool isMidiEffect() const override { return false; }
    double getTailLengthSeconds() const override { return tailSeconds_.load(); }

    int getNumPrograms() override { return 1; }
    int getCurrentProgram() override { return 0; }
    void setCurrentProgram(int) override {}
    const juce::String getProgramName(int) override { return {}; }
    void changeProgramName(int, const juce::String&) override {}

    // State: every parameter, and the model by path and by name (a missing file falls back to a model
    // of the same name, then to the default model, with a message).
    void getStateInformation(juce::MemoryBlock& destData) override;
    void setStateInformation(const void* data, int sizeInBytes) override;

    // --- for the editor (message thread) ---
    juce::AudioProcessorValueTreeState& parameters() { return parameters_; }
    std::vector<ModelEntry> refreshModels();  // rescans the folders
    std::vector<ModelEntry> models() const;
    void loadModel(const juce::File& file);   // returns at once; the result shows in modelStatus()

    struct ModelStatus {
        juce::String name;     // the model playing ("" if none)
        juce::File file;
        juce::String message;  // the latest news: loaded, fell back, or why a file was refused
        bool isError = false;
        bool loading = false;
    };
    ModelStatus modelStatus() const;

    struct LiveStatus {
        float f0Hz = 0.0f, confidence = 0.0f, inputPeak = 0.0f, outputPeak = 0.0f;
        bool voiced = false;
        int latencySamples = 0;
        double sampleRate = 0.0;
    };
    LiveStatus liveStatus();  // peaks since the last call

private:
    static BusesProperties buses();
    void render(juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midi, bool bypassed);
    void onModelLoaded(const ModelLoader::Result& result);  // loader thread
    void requestModel(const juce::File& file, const juce::String& message, bool isError);
    void prepareEngine();  // engineMutex_ held
    void setMessage(const juce::String& message, bool isError);
    void timerCallback() override;

    juce::AudioProcessorValueTreeState parameters_;
    ParameterBridge bridge_;

    // Guards engine_ (its replacement, prepare, set_model) against the loader and editor threads.
    // The audio thread never takes it: hosts do not run processBlock during prepareToPlay.
    mutable std::mutex engineMutex_;
    std::unique_ptr<Engine> engine_;
    bool engineRealtime_ = true;
    double sampleRate_ = 0.0;
    int maxBlock_ = 0, channels_ = 0;
    std::shared_ptr<const Model> model_;  // the model playing
    juce::File modelFile_;

    // Guards the library, the requested model and the message (control threads).
    mutable std::mutex statusMutex_;
    ModelLibrary library_;
    juce::File requestedFile_;  // what the state names: the latest request, or the model playing
    juce::String message_;
    bool messageIsError_ = false;

    std::atomic<double> tailSeconds_{0.0};
    std::atomic<float> inputPeak_{0.0f}, outputPeak_{0.0f};
    std::array<MidiEvent, kMaxMidiEvents> events_{};

    ModelLoader loader_;  // last: its thread stops before anything it touches is destroyed

    JUCE_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(TonemorphProcessor)
};

}  // namespace tonemorph::plugin
