// The engine a host drives: prepare(), process() on the audio thread, parameters from any thread,
// model swaps from a control thread with a click-free crossfade (DESIGN.md, real-time rules).
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "MidiVoice.h"
#include "Model.h"
#include "Parameters.h"
#include "Pipeline.h"
#include "LockFreeQueue.h"

namespace tonemorph {

class Engine final {
public:
    static constexpr int kMaxChannels = 16;
    static constexpr int kMaxBlock = 8192;

    // Models the native runner knows decode inline on the audio thread, always. A model it does not know
    // decodes on a worker thread (ONNX Runtime): realtime = false (offline rendering) makes the audio thread
    // wait for every frame, as it also does whenever the host calls faster than real time.
    explicit Engine(bool realtime = false);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Control thread. Builds the new signal path here (allocations, ONNX session) and hands it to the
    // audio thread, which crossfades to it. The running model keeps playing until then.
    void set_model(std::shared_ptr<const Model> model);
    std::shared_ptr<const Model> model() const { return model_; }

    // Control thread: allocates everything process() needs.
    void prepare(double sample_rate, int max_block, int channels);
    // Any thread that may call process(), the audio thread included: no allocation, lock, join or I/O.
    void reset();
    bool prepared() const { return prepared_; }

    // The host's offline flag (a bounce, a freeze, an export). A flag, not a rebuild: any thread.
    void set_offline(bool offline) { offline_.store(offline, std::memory_order_relaxed); }
    bool offline() const { return offline_.load(std::memory_order_relaxed); }

    // Audio thread: no allocation, no locks, no I/O. Any n >= 0; events sorted by offset. `out` may be `in`
    // (in place, as plugin hosts pass it): every input sample is read before its output sample is written.
    void process(const float* const* in, float* const* out, int channels, int n,
                 const MidiEvent* events = nullptr, int n_events = 0);

    int latency_samples() const { return latency_.load(); }
    double sample_rate() const { return sample_rate_; }
    int max_block() const { return max_block_; }
    int channels() const { return channels_; }
    Parameters& params() { return params_; }
    const AnalysisStatus& status() const { return status_; }
    bool swap_pending() const { return pending_.load() != nullptr || fading_.load(); }

private:
    void process_chunk(const float* const* in, float* const* out, int channels, int offset, int n,
                       const MidiEvent* events, int n_events);
    void take_pending();
    void retire(Pipeline* p);
    void collect_garbage();
    MidiVoice::Settings voice_settings(const Parameters::Snapshot& p) const;
    bool faster_than_real_time(int n);
    int restart_if_woken(const float* const* in, int channels, int offset, int len, const MidiEvent* events,
                         int n_events, int first_event);

    std::atomic<bool> offline_;
    std::atomic<bool> has_current_{false};  // the audio thread has a pipeline (set_model reads it)
    bool prepared_ = false;
    double sample_rate_ = 0.0;
    int max_block_ = 0, channels_ = 0;
    std::shared_ptr<const Model> model_;
    Parameters params_;
    AnalysisStatus status_;
    MidiVoice voice_;
    std::int64_t host_samples_ = 0;

    std::unique_ptr<Pipeline> current_, next_;
    std::atomic<Pipeline*> pending_{nullptr};
    moodycamel::ReaderWriterQueue<Pipeline*> retired_{64};
    std::atomic<int> latency_{0};
    std::atomic<bool> fading_{false};
    int warmup_left_ = 0, fade_pos_ = 0, fade_len_ = 0;

    std::vector<float> mono_, wet_, wet_next_;
    std::vector<std::vector<float>> dry_;  // per-channel delay lines
    int dry_write_ = 0;
    float gain_smooth_ = 1.0f, wet_smooth_ = 1.0f, smooth_coeff_ = 0.0f;

    // Pace of the host's calls: audio time against the wall clock since an anchor.
    std::int64_t pace_anchor_ns_ = 0, pace_last_ns_ = 0, pace_return_ns_ = 0;
    double pace_audio_s_ = 0.0, pace_last_block_s_ = 0.0;
    bool wait_ = false;  // this block waits for a worker's late frames
    int quiet_run_ = 0, restart_after_ = 1;  // samples of silence in and out so far, and how many restart
};

}  // namespace tonemorph
