#include "Pipeline.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace tonemorph {

namespace {
constexpr float kFloorDb = -80.0f;              // Loudness range_db: what silence looks like to the model
constexpr double kAutoAdjustSeconds = 2.0;      // time constant of the input loudness tracker (mean)
constexpr double kAutoSpreadSeconds = 4.0;      // time constant of its spread (variance) tracker
// Auto-adjust scales the input's loudness swings by model std / input std, kept within these bounds.
constexpr float kMinSpreadGain = 0.4f;
constexpr float kMaxSpreadGain = 1.5f;
constexpr int kMaxFoldOctaves = 8;  // auto-adjust moves pitch by at most this many octaves
constexpr float kVoicingHysteresis = 0.1f;      // while a note plays, a pitch counts down to threshold - this
// A note that is playing outlasts a dip in pitch confidence by this long (its loudness still counts, its
// pitch holds), as training data does: there, f0 holds through unvoiced frames and loudness is always the
// audio's. Longer than a pick attack or a note change; short enough that noise after a note ends it.
constexpr double kPitchHoldSeconds = 0.1;
constexpr double kDropConfirmSeconds = 0.016;  // PitchDropGuard: how long a leap down must hold
constexpr std::int64_t kStopRequest = -1;
constexpr double kMaxWaitSeconds = 2.0;  // the longest the audio thread waits for one frame from the worker
// The resamplers' bands (fractions of the lower Nyquist) trade flatness for latency.
// Output: the model's sound is flat to 0.84 of its Nyquist (10 kHz for a 24 kHz model; a filter that lost
// 5 dB at 10 kHz cost the violin's resynthesis 0.37 -> 0.46 in timbre ratio), and images are 80 dB down
// from 1.17 of it (14 kHz) on: what lies between is the top of the band, harmonics already near silence.
// Input: it only feeds pitch and loudness, so the band can start rolling off early (7.2 kHz for a 24 kHz
// model), but nothing may alias: letting 12-15 kHz fold down cost the flute's guitar path 0.454 -> 0.464 in
// timbre ratio. Together 1.2 ms at 48 kHz, where the pair before inline decoding took 2.0 ms.
constexpr Resampler::Band kInputBand{0.6, 1.0};
constexpr Resampler::Band kOutputBand{0.84, 1.17};
}  // namespace

// Auto-adjust's pitch half: a note below an instrument's playing range is played an octave (or more) up where
// the instrument can play it, a note above it lower, and a tracker's octave slip out of the range comes back.
float Pipeline::fold_into_range(float f0, float lo, float hi) {
    if (!(f0 > 0.0f) || !(lo > 0.0f) || !(hi >= lo)) return f0;
    for (int i = 0; i < kMaxFoldOctaves && f0 < lo && 2.0f * f0 <= hi; ++i) f0 *= 2.0f;
    for (int i = 0; i < kMaxFoldOctaves && f0 > hi && 0.5f * f0 >= lo; ++i) f0 *= 0.5f;
    return f0;
}

MidiVoice::Settings Pipeline::voice_settings(const Parameters::Snapshot& p, const ModelInfo& info) {
    MidiVoice::Settings s;
    s.glide_s = p[Param::GlideMs] / 1000.0;
    s.attack_s = p[Param::AttackMs] / 1000.0;
    s.release_s = p[Param::ReleaseMs] / 1000.0;
    s.bend_range_st = p[Param::PitchBendRange];
    s.floor_db = kFloorDb;
    s.quiet_db = info.loudness_mean - 1.5f * info.loudness_std;
    s.loud_db = info.loudness_mean + 1.5f * info.loudness_std;
    return s;
}

Pipeline::Pipeline(std::shared_ptr<const Model> model, double host_rate, int max_block)
    : model_(std::move(model)),
      info_(model_->info()),
      host_rate_(host_rate),
      model_rate_(info_.sample_rate),
      max_block_(max_block),
      hop_(info_.hop_size),
      decoder_(model_) {
    inline_ = decoder_.native();
    down_.prepare(host_rate_, model_rate_, max_block_, kInputBand);
    up_.prepare(model_rate_, host_rate_, hop_, kOutputBand);

    YinPitch::Spec pitch;
    pitch.sample_rate = model_rate_;
    pitch.hop = hop_;
    pitch.fmax_hz = std::min(pitch.fmax_hz, 0.25 * model_rate_);
    yin_.prepare(pitch);
    PitchDropGuard::Spec guard;
    guard.confirm_frames = std::max(1, static_cast<int>(std::lround(kDropConfirmSeconds * model_rate_ / hop_)));
    drop_guard_.prepare(guard);
    pitch_hold_frames_ = std::max(1, static_cast<int>(std::lround(kPitchHoldSeconds * model_rate_ / hop_)));
    Loudness::Spec loud;
    loud.sample_rate = model_rate_;
    loud.hop = hop_;
    loud.n_fft = info_.loudness_n_fft;
    loudness_.prepare(loud);
    harmonic_.prepare(model_rate_, hop_, info_.n_harmonics);
    noise_.prepare(hop_, info_.n_noise_bands);
    reverb_.prepare(info_.reverb_ir.data(), static_cast<int>(info_.reverb_ir.size()), hop_);

    // The input filter is causal: the model sample it emits as host sample n arrives stands for the input
    // input_delay_s_ earlier. MIDI events meet the frames at that time, so notes line up with audio.
    input_delay_s_ = down_.latency_in() / host_rate_;
    history_size_ = std::max(yin_.history_size(), info_.loudness_n_fft);
    history_.assign(2 * static_cast<std::size_t>(history_size_), 0.0f);
    model_in_.assign(static_cast<std::size_t>(down_.max_output(max_block_)), 0.0f);

    const double ratio = host_rate_ / model_rate_;
    prime_ = static_cast<int>(std::ceil(hop_ * ratio)) + 2 + (inline_ ? 0 : max_block_);
    latency_ = static_cast<int>(std::lround(prime_ + down_.latency_in() + up_.latency_in() * ratio));

    // Frames in flight never exceed those requested but not yet synthesised.
    const int in_flight = static_cast<int>(std::ceil((prime_ + max_block_) / (hop_ * ratio))) + 4;
    slots_ = 2 * in_flight + 16;
    auto sized = [&](ControlFrame& f) {
        f.harmonic_distribution.assign(static_cast<std::size_t>(info_.n_harmonics), 0.0f);
        f.noise_magnitudes.assign(static_cast<std::size_t>(info_.n_noise_bands), 0.0f);
    };
    pool_.resize(static_cast<std::size_t>(slots_));
    for (auto& f : pool_) sized(f);
    sized(current_);
    requests_ = std::make_unique<moodycamel::BlockingReaderWriterQueue<Request>>(slots_);
    results_ = std::make_unique<moodycamel::ReaderWriterQueue<std::int64_t>>(slots_);

    noise_mags_.assign(static_cast<std::size_t>(info_.n_noise_bands), 0.0f);
    for (auto* v : {&harm_, &noise_buf_, &mix_, &wet_}) v->assign(static_cast<std::size_t>(hop_), 0.0f);
    up_out_.assign(static_cast<std::size_t>(up_.max_output(hop_)), 0.0f);
    fifo_.assign(static_cast<std::size_t>(prime_ + max_block_ + up_.max_output(hop_) + 16), 0.0f);
    reset();
    if (!inline_) worker_ = std::thread(&Pipeline::worker_loop, this);
}

Pipeline::~Pipeline() { stop_worker(); }

void Pipeline::stop_worker() {
    if (!worker_.joinable()) return;
    stop_.store(true);
    requests_->enqueue(Request{kStopRequest, 0.0f, 0.0f, false});
    worker_.join();
    stop_.store(false);
}

void Pipeline::reset() {
    down_.reset();
    up_.reset();
    yin_.reset();
    loudness_.reset();
    harmonic_.reset();
    noise_.reset();
    reverb_.reset();
    if (inline_) decoder_.reset();  // the worker resets its own on the next fresh request
    std::fill(history_.begin(), history_.end(), 0.0f);
    history_write_ = 0;
    hop_fill_ = 0;
    next_synth_ = next_synth_start_ = next_frame_;  // results of frames before this are dropped as they arrive
    fresh_ = true;
    model_samples_ = 0;
    time_base_set_ = false;
    last_f0_ = 0.0f;
    loudness_tracker_db_ = info_.loudness_mean;
    loudness_variance_ = info_.loudness_std * info_.loudness_std;
    voiced_ = audio_voiced_ = false;
    unpitched_frames_ = 0;
    drop_guard_.reset();
    std::int64_t index;
    while (results_->try_dequeue(index)) {
    }
    current_.amplitude = 0.0f;
    current_.f0_hz = 0.0f;
    std::fill(current_.harmonic_distribution.begin(), current_.harmonic_distribution.end(), 0.0f);
    std::fill(current_.noise_magnitudes.begin(), current_.noise_magnitudes.end(), 0.0f);
    std::fill(fifo_.begin(), fifo_.end(), 0.0f);
    fifo_read_ = 0;
    fifo_count_ = prime_;
}

void Pipeline::worker_loop() {
    Request r;
    while (!stop_.load()) {
        requests_->wait_dequeue(r);
        if (r.index != kStopRequest) run_decoder(r);
    }
}

void Pipeline::run_decoder(const Request& request) {
    if (request.fresh) decoder_.reset();
    ControlFrame& slot = pool_[static_cast<std::size_t>(request.index % slots_)];
    decoder_.run(request.f0_hz, request.loudness_db, slot);
    slot.index = request.index;
    results_->try_enqueue(request.index);
}

void Pipeline::process(const float* in, float* out, int n, const Parameters::Snapshot& p, const MidiVoice& voice,
                       double host_time_s, AnalysisStatus& status, bool wait_for_worker) {
    wait_ = wait_for_worker;
    if (!time_base_set_) {
        time_base_s_ = host_time_s;
        time_base_set_ = true;
    }
    const int m = down_.process(in, n, model_in_.data());
    for (int i = 0; i < m; ++i) {
        history_[static_cast<std::size_t>(history_write_)] = model_in_[static_cast<std::size_t>(i)];
        history_[static_cast<std::size_t>(history_write_ + history_size_)] = model_in_[static_cast<std::size_t>(i)];
        history_write_ = history_write_ + 1 == history_size_ ? 0 : history_write_ + 1;
        ++model_samples_;
        if (++hop_fill_ == hop_) {
            hop_fill_ = 0;
            on_frame(p, voice, time_base_s_ + model_samples_ / model_rate_ - input_delay_s_, status);
        }
    }
    const int capacity = static_cast<int>(fifo_.size());
    if (!inline_)
        while (fifo_count_ < n) synthesise_hop(p, status);
    // Inline, the prime covers every block (Pipeline.h); were it ever short, the gap is silence, counted.
    const int ready = std::min(n, fifo_count_);
    if (ready < n) status.overruns.fetch_add(1, std::memory_order_relaxed);
    for (int i = 0; i < ready; ++i) {
        out[i] = fifo_[static_cast<std::size_t>(fifo_read_)];
        fifo_read_ = fifo_read_ + 1 == capacity ? 0 : fifo_read_ + 1;
    }
    std::fill(out + ready, out + n, 0.0f);
    fifo_count_ -= ready;
}

void Pipeline::on_frame(const Parameters::Snapshot& p, const MidiVoice& voice, double t, AnalysisStatus& status) {
    // The newest history_size_ samples, oldest first, end here.
    const float* end = history_.data() + history_write_ + history_size_;
    const PitchEstimate pitch = yin_.analyse(end);
    const float loudness = loudness_.analyse(end);
    status.f0_hz.store(pitch.f0_hz, std::memory_order_relaxed);
    status.confidence.store(pitch.confidence, std::memory_order_relaxed);
    status.loudness_db.store(loudness, std::memory_order_relaxed);

    const double shift = std::pow(2.0, (p[Param::Semitones] + 12.0f * std::round(p[Param::Octave])) / 12.0);
    float f0, loudness_out;
    if (p[Param::MidiMode] >= 0.5f) {
        const MidiVoice::Settings s = voice_settings(p, info_);
        f0 = static_cast<float>(voice.f0_hz(t, s));
        loudness_out = f0 > 0.0f ? voice.loudness_db(t, s) + p[Param::LoudnessOffsetDb] : kFloorDb;
        voiced_ = loudness_out > kFloorDb;
        audio_voiced_ = false;  // back in audio mode, the input starts a note of its own (no hold, guard reset)
    } else {
        const float threshold = p[Param::ConfidenceThreshold] - (audio_voiced_ ? kVoicingHysteresis : 0.0f);
        const bool loud_enough = loudness >= p[Param::GateDb];
        const bool pitched = pitch.confidence >= threshold && loud_enough && pitch.f0_hz > 0.0f;
        unpitched_frames_ = pitched ? 0 : std::min(unpitched_frames_ + 1, pitch_hold_frames_ + 1);
        const bool was_voiced = audio_voiced_;
        audio_voiced_ = loud_enough && (pitched || (audio_voiced_ && unpitched_frames_ <= pitch_hold_frames_));
        voiced_ = audio_voiced_;
        if (pitched) {
            if (!was_voiced) drop_guard_.reset();  // a note after silence is taken as it comes
            last_f0_ = drop_guard_.process(pitch.f0_hz);
            const float a = static_cast<float>(hop_ / (kAutoAdjustSeconds * model_rate_));
            const float b = static_cast<float>(hop_ / (kAutoSpreadSeconds * model_rate_));
            loudness_tracker_db_ += a * (loudness - loudness_tracker_db_);
            const float deviation = loudness - loudness_tracker_db_;
            loudness_variance_ += b * (deviation * deviation - loudness_variance_);
        }
        // Auto-adjust maps the input's running loudness mean and spread onto the model's training data (a
        // plucked string swings and decays far more than a held wind note) and folds pitch into the model's
        // range; off, both pass as measured.
        float adjusted = loudness;
        f0 = last_f0_;
        if (p[Param::AutoAdjust] >= 0.5f) {
            const float spread = std::sqrt(std::max(loudness_variance_, 1e-6f));
            const float gain = std::clamp(info_.loudness_std / spread, kMinSpreadGain, kMaxSpreadGain);
            adjusted = info_.loudness_mean + gain * (loudness - loudness_tracker_db_);
            f0 = fold_into_range(f0, info_.f0_min_hz, info_.f0_max_hz);
        }
        loudness_out = voiced_ ? adjusted + p[Param::LoudnessOffsetDb] : kFloorDb;
    }
    status.voiced.store(voiced_, std::memory_order_relaxed);
    f0 = std::clamp(static_cast<float>(f0 * shift), 0.0f, static_cast<float>(0.5 * model_rate_));
    loudness_out = std::max(loudness_out, kFloorDb);

    const Request request{next_frame_++, f0, loudness_out, fresh_};
    fresh_ = false;
    if (inline_) {
        decoder_.run(request.f0_hz, request.loudness_db, current_);
        ++next_synth_;
        synthesise(p);
    } else if (!requests_->try_enqueue(request)) {
        last_dropped_ = request.index;
        status.overruns.fetch_add(1, std::memory_order_relaxed);
    }
}

bool Pipeline::take_result(std::int64_t k, bool wait, AnalysisStatus& status) {
    // Offline (or faster than real time) the audio thread waits for frame k, yielding; a worker that
    // stays silent for kMaxWaitSeconds (a stuck ONNX Runtime) is given up on for this frame. Live, a frame
    // that is late is replaced by the newest one the worker has delivered: a late worker delays the sound,
    // it never silences a note that played.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(kMaxWaitSeconds);
    bool waited = false;
    for (;;) {
        while (const std::int64_t* front = results_->peek()) {
            if (*front > k) return false;
            const std::int64_t index = *front;
            results_->pop();
            if (index < next_synth_start_) continue;  // from before a reset
            const ControlFrame& slot = pool_[static_cast<std::size_t>(index % slots_)];
            current_.f0_hz = slot.f0_hz;
            current_.amplitude = slot.amplitude;
            std::copy(slot.harmonic_distribution.begin(), slot.harmonic_distribution.end(),
                      current_.harmonic_distribution.begin());
            std::copy(slot.noise_magnitudes.begin(), slot.noise_magnitudes.end(), current_.noise_magnitudes.begin());
            if (index == k) return true;
        }
        if (!wait || k >= next_frame_ || k <= last_dropped_ || std::chrono::steady_clock::now() > deadline) return false;
        if (!waited) status.waits.fetch_add(1, std::memory_order_relaxed);
        waited = true;
        // Offline the audio thread may sleep: a frame takes ONNX Runtime about 0.1 ms, so it naps a tenth of
        // that between looks instead of spinning a core.
        std::this_thread::sleep_for(std::chrono::microseconds(10));
    }
}

void Pipeline::synthesise_hop(const Parameters::Snapshot& p, AnalysisStatus& status) {
    const std::int64_t k = next_synth_++;
    // Worker late: hold the last controls (its result for k is dropped when it arrives).
    if (!take_result(k, wait_, status)) status.overruns.fetch_add(1, std::memory_order_relaxed);
    synthesise(p);
}

void Pipeline::synthesise(const Parameters::Snapshot& p) {
    harmonic_.process_frame(current_.f0_hz, current_.amplitude * p[Param::HarmonicGain],
                            current_.harmonic_distribution.data(), harm_.data());
    const float noise_gain = p[Param::NoiseGain];
    for (std::size_t b = 0; b < noise_mags_.size(); ++b) noise_mags_[b] = current_.noise_magnitudes[b] * noise_gain;
    noise_.process_frame(noise_mags_.data(), noise_buf_.data());
    for (int i = 0; i < hop_; ++i) mix_[static_cast<std::size_t>(i)] = harm_[static_cast<std::size_t>(i)] + noise_buf_[static_cast<std::size_t>(i)];
    reverb_.process_frame(mix_.data(), wet_.data());
    const float reverb_mix = p[Param::ReverbMix];
    for (int i = 0; i < hop_; ++i) mix_[static_cast<std::size_t>(i)] += reverb_mix * wet_[static_cast<std::size_t>(i)];

    const int produced = up_.process(mix_.data(), hop_, up_out_.data());
    const int capacity = static_cast<int>(fifo_.size());
    int write = fifo_read_ + fifo_count_;
    if (write >= capacity) write -= capacity;
    for (int i = 0; i < produced; ++i) {
        fifo_[static_cast<std::size_t>(write)] = up_out_[static_cast<std::size_t>(i)];
        write = write + 1 == capacity ? 0 : write + 1;
    }
    fifo_count_ += produced;
}

}  // namespace tonemorph
