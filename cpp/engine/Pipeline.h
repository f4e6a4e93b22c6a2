// The per-model signal path at one host configuration (DESIGN.md, "The signal path"):
//   host in -> Resampler -> [YinPitch, Loudness] per hop -> controls -> Decoder (worker thread
//   or inline) -> HarmonicSynth + FilteredNoise -> Reverb -> Resampler -> fixed-delay FIFO -> host out
// Built and destroyed off the audio thread; process() is the audio-thread part.
//
// Latency: synthesis hop k needs frame k, whose input ends one hop after the hop starts, and in
// real time the frame must have been requested during an earlier host block. Priming the output
// FIFO with D = ceil(hop * host/model) + max_block + 2 zeros makes that always true, so the
// output is a function of the input alone (same in real time and offline, whatever the block
// split) whenever the worker keeps up. latency = D + both resamplers' group delays.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "FilteredNoise.h"
#include "HarmonicSynth.h"
#include "Loudness.h"
#include "MidiVoice.h"
#include "Model.h"
#include "Parameters.h"
#include "PitchDropGuard.h"
#include "Resampler.h"
#include "Reverb.h"
#include "YinPitch.h"
#include "readerwriterqueue.h"

namespace tonemorph {

// What the analysis saw in the latest frame (for meters and the pitch readout).
struct AnalysisStatus {
    std::atomic<float> f0_hz{0.0f}, confidence{0.0f}, loudness_db{-80.0f};
    std::atomic<bool> voiced{false};
    std::atomic<std::uint64_t> overruns{0};  // frames the worker delivered too late (controls held)
};

class Pipeline final {
public:
    Pipeline(std::shared_ptr<const Model> model, double host_rate, int max_block, bool realtime);
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    // Audio thread. in: n mono host-rate samples (finite); out: n wet samples.
    // `voice` and `host_time_s` (the time of in[0]) drive the MIDI mode.
    void process(const float* in, float* out, int n, const Parameters::Snapshot& p, const MidiVoice& voice,
                 double host_time_s, AnalysisStatus& status);
    void reset();  // not on the audio thread while the worker runs (it waits for it)

    // The MIDI voice's mapping for this model: velocity and expression span its loudness range.
    static MidiVoice::Settings voice_settings(const Parameters::Snapshot& p, const ModelInfo& info);
    // f0 moved by whole octaves into [lo, hi] as far as it goes without passing the other end.
    static float fold_into_range(float f0, float lo, float hi);

    int latency_samples() const { return latency_; }
    const Model& model() const { return *model_; }

private:
    struct Request {
        std::int64_t index;
        float f0_hz, loudness_db;
    };
    void on_frame(const Parameters::Snapshot& p, const MidiVoice& voice, double t, AnalysisStatus& status);
    void synthesise_hop(const Parameters::Snapshot& p, AnalysisStatus& status);
    void worker_loop();
    void run_decoder(const Request& request);  // into its pool slot, then publish its index
    void stop_worker();

    std::shared_ptr<const Model> model_;
    const ModelInfo& info_;
    double host_rate_, model_rate_;
    int max_block_, hop_;
    bool realtime_;
    int latency_ = 0;
    int prime_ = 0;

    Resampler down_, up_;
    YinPitch yin_;
    PitchDropGuard drop_guard_;
    Loudness loudness_;
    HarmonicSynth harmonic_;
    FilteredNoise noise_;
    Reverb reverb_;
    Decoder decoder_;

    // Analysis: model-rate input history (doubled ring, contiguous reads of the last history_ samples).
    std::vector<float> model_in_, history_;
    int history_size_ = 0, history_write_ = 0, hop_fill_ = 0;
    std::int64_t next_frame_ = 0;   // next frame to analyse
    std::int64_t next_synth_ = 0;   // next hop to synthesise
    std::int64_t model_samples_ = 0;
    double time_base_s_ = 0.0;  // host time of this pipeline's first sample
    bool time_base_set_ = false;
    float last_f0_ = 0.0f;
    float loudness_tracker_db_ = 0.0f;  // auto-adjust: running mean of the voiced input's loudness
    float loudness_variance_ = 1.0f;    // and its running variance (dB^2)
    bool voiced_ = false;   // the model is playing (false: it hears silence)
    bool audio_voiced_ = false;  // audio mode: a note is playing (its hysteresis and hold)
    int unpitched_frames_ = 0;  // frames since the last confident pitch
    int pitch_hold_frames_ = 0;  // how long a playing note outlasts its last confident pitch

    // Decoder results: slot = frame index % slots_; the results queue carries frame indices.
    int slots_ = 0;
    std::vector<ControlFrame> pool_;
    ControlFrame current_;
    std::unique_ptr<moodycamel::BlockingReaderWriterQueue<Request>> requests_;
    std::unique_ptr<moodycamel::ReaderWriterQueue<std::int64_t>> results_;
    std::thread worker_;
    std::atomic<bool> stop_{false};

    // Synthesis buffers (model rate) and the host-rate output FIFO.
    std::vector<float> noise_mags_, harm_, noise_buf_, mix_, wet_, up_out_, fifo_;
    int fifo_read_ = 0, fifo_count_ = 0;
};

}  // namespace tonemorph
