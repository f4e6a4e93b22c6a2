// The per-model signal path at one host configuration (DESIGN.md, "The signal path"):
//   host in -> Resampler -> [YinPitch, Loudness] per hop -> controls -> Decoder (native, inline; or
//   ONNX Runtime on a worker thread) -> HarmonicSynth + FilteredNoise -> Reverb -> Resampler -> FIFO -> host out
// Built and destroyed off the audio thread; process() and reset() are the audio-thread part.
//
// Latency: synthesis hop k needs frame k, whose input ends one hop after the hop starts. Inline, hop k
// is synthesised the moment frame k is analysed, so priming the output FIFO with
// D = ceil(hop * host/model) + 2 zeros always leaves enough output for the next host sample, whatever
// the block size. On the worker the frame must also have been requested during an earlier host block:
// D grows by max_block. Either way the output is a function of the input alone (same in real time and
// offline, whatever the block split), and latency = D + both resamplers' group delays.
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
#include "LockFreeQueue.h"

namespace tonemorph {

// What the analysis saw in the latest frame (for meters and the pitch readout).
struct AnalysisStatus {
    std::atomic<float> f0_hz{0.0f}, confidence{0.0f}, loudness_db{-80.0f};
    std::atomic<bool> voiced{false};
    std::atomic<std::uint64_t> overruns{0};  // frames the worker delivered too late (controls held)
    std::atomic<std::uint64_t> waits{0};     // frames the audio thread waited for (offline or faster than real time)
    std::atomic<std::uint64_t> restarts{0};  // times the signal path started afresh after a long silence
};

class Pipeline final {
public:
    Pipeline(std::shared_ptr<const Model> model, double host_rate, int max_block);
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    // Audio thread. in: n mono host-rate samples (finite); out: n wet samples.
    // `voice` and `host_time_s` (the time of in[0]) drive the MIDI mode. wait_for_worker: a frame the
    // worker has not delivered is waited for (offline, or a host calling faster than real time) instead
    // of holding the last controls. Inline decoding never waits.
    void process(const float* in, float* out, int n, const Parameters::Snapshot& p, const MidiVoice& voice,
                 double host_time_s, AnalysisStatus& status, bool wait_for_worker);
    // Any thread that may call process(), the audio thread included: no allocation, no lock, no join.
    void reset();

    // The MIDI voice's mapping for this model: velocity and expression span its loudness range.
    static MidiVoice::Settings voice_settings(const Parameters::Snapshot& p, const ModelInfo& info);
    // f0 moved by whole octaves into [lo, hi] as far as it goes without passing the other end.
    static float fold_into_range(float f0, float lo, float hi);

    int latency_samples() const { return latency_; }
    const Model& model() const { return *model_; }
    bool inline_decoding() const { return inline_; }

private:
    struct Request {
        std::int64_t index;
        float f0_hz, loudness_db;
        bool fresh;  // the first frame after a reset: the worker zeroes the GRU state first
    };
    void on_frame(const Parameters::Snapshot& p, const MidiVoice& voice, double t, AnalysisStatus& status);
    void synthesise_hop(const Parameters::Snapshot& p, AnalysisStatus& status);
    bool take_result(std::int64_t k, bool wait, AnalysisStatus& status);  // worker path: frame k into current_
    void synthesise(const Parameters::Snapshot& p);                      // current_ -> one hop into the FIFO
    void worker_loop();
    void run_decoder(const Request& request);  // into its pool slot, then publish its index
    void stop_worker();

    std::shared_ptr<const Model> model_;
    const ModelInfo& info_;
    double host_rate_, model_rate_;
    int max_block_, hop_;
    bool inline_;  // the decoder runs natively on the audio thread
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
    std::int64_t next_frame_ = 0;   // next frame to analyse (never restarts: the worker tells epochs apart by it)
    std::int64_t next_synth_ = 0;   // next hop to synthesise
    std::int64_t next_synth_start_ = 0;  // the first frame since the last reset
    bool fresh_ = true;             // the next request starts a new stream (after a reset)
    bool wait_ = false;             // this block waits for late frames
    std::int64_t model_samples_ = 0;
    double time_base_s_ = 0.0;  // host time of this pipeline's first sample
    double input_delay_s_ = 0.0;  // the input resampler's group delay
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
    std::int64_t last_dropped_ = -1;  // the newest frame whose request found the queue full (never waited for)

    // Synthesis buffers (model rate) and the host-rate output FIFO.
    std::vector<float> noise_mags_, harm_, noise_buf_, mix_, wet_, up_out_, fifo_;
    int fifo_read_ = 0, fifo_count_ = 0;
};

}  // namespace tonemorph
