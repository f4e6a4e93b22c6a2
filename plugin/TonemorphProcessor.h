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

#include "AuditionPlayer.h"
#include "Engine.h"
#include "MasterJob.h"
#include "MidiCapture.h"
#include "MidiJob.h"
#include "ModelLibrary.h"
#include "ModelLoader.h"
#include "PluginParameters.h"
#include "SamplerJob.h"

namespace tonemorph::plugin {

class TonemorphProcessor final : public juce::AudioProcessor, private juce::Timer {
public:
    static constexpr bool kSynth = TONEMORPH_SYNTH != 0;
    static constexpr int kMaxMidiEvents = 1024;      // per engine call; a block with more is processed in pieces
    static constexpr double kPrepareWaitSeconds = 3.0;  // prepareToPlay waits this long for a model to load
    static constexpr double kOfflineWaitSeconds = 3.0;  // an offline render waits this long, once per load
    static constexpr int kMaxXmlDepth = 16;             // a saved state nested deeper is refused

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

    // --- mastering: the effect's Master panel, and the torture tool (control threads) ---
    // A finished run's track and result go to the audition at matched loudness.
    MasterJob& masterJob() { return master_; }
    AuditionPlayer& audition() { return audition_; }

    // --- MIDI tools: the MIDI panel (both plugins), and the torture tool (control threads) ---
    // The job's clips are auditioned through the loaded instrument, at the host's rate, with the knobs as set.
    MidiJob& midiJob() { return midiJob_; }
    MidiRecorder& recorder() { return recorder_; }  // the Synth's MIDI input
    AudioCapture& capture() { return capture_; }    // the effect's audio input (the last AudioCapture::kSeconds)

    // --- the sampler: the Sampler panel (both plugins), and the torture tool (control threads) ---
    // Its sounds are auditioned as they are, in place of the plugin's output.
    SamplerJob& samplerJob() { return samplerJob_; }

private:
    static BusesProperties buses();
    void render(juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midi, bool bypassed) noexcept;
    void onModelLoaded(const ModelLoader::Result& result);  // loader thread
    void requestModel(const ModelLoader::Request& request, const juce::String& message);
    juce::ValueTree sanitisedState(const juce::ValueTree& saved);
    static bool shallowXml(const void* data, int sizeInBytes);
    static juce::String printable(const juce::String& text, int max_bytes);
    void setMessage(const juce::String& message, bool isError);
    void timerCallback() override;
    void onMastered(const MasterJob::Settings& settings, const master::Result& result);  // the job's thread
    MidiJob::Hooks midiHooks();
    double hostBpm() noexcept;  // audio thread: the play head's tempo, or 0

    juce::AudioProcessorValueTreeState parameters_;
    ParameterBridge bridge_;

    // Guards the engine's control side (prepare, set_model) and model_/modelFile_ against the loader and
    // editor threads. The audio thread never takes it: hosts do not run processBlock during prepareToPlay,
    // and reset, setNonRealtime and processBlock only touch the engine's lock-free side.
    mutable std::mutex engineMutex_;
    const std::unique_ptr<Engine> engine_;
    std::shared_ptr<const Model> model_;  // the model playing
    juce::File modelFile_;

    // Guards the library, the requested model and the message (control threads).
    mutable std::mutex statusMutex_;
    ModelLibrary library_;
    juce::File requestedFile_;  // what the state names: the latest request, or the model playing
    juce::String requestedName_;
    juce::String message_;
    bool messageIsError_ = false;

    std::atomic<double> tailSeconds_{0.0};
    std::atomic<bool> loadWaitSpent_{false};  // the wait for the loader ran out; not waited for again until idle
    std::atomic<float> inputPeak_{0.0f}, outputPeak_{0.0f};
    std::array<MidiEvent, kMaxMidiEvents> events_{};

    AuditionPlayer audition_;
    juce::File lastMasterResult_;  // the job's thread only
    MasterJob master_;  // after what its thread touches: stopped before they are destroyed
    MidiRecorder recorder_;
    AudioCapture capture_;
    MidiJob midiJob_;   // after what its thread touches (the engine's model, the audition, the capture)
    SamplerJob samplerJob_;  // after the audition, which it plays into

    ModelLoader loader_;  // last: its thread stops before anything it touches is destroyed

    JUCE_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(TonemorphProcessor)
};

}  // namespace tonemorph::plugin
