#include "Engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>

namespace tonemorph {

namespace {
constexpr double kFadeSeconds = 0.02;      // crossfade on a model swap
constexpr double kSmoothSeconds = 0.01;    // one-pole smoothing of gain and dry/wet
constexpr float kInputLimit = 8.0f;        // +18 dBFS: anything beyond is treated as broken input
constexpr float kOutputLimit = 1.99526f;   // +6 dBFS, the most the engine ever emits
constexpr int kMaxDryDelay = 4 * Engine::kMaxBlock + 16384;
constexpr double kRestartSilenceSeconds = 0.25;  // silence in and out this long: the next sound starts afresh
constexpr float kQuietWet = 3e-5f;  // -90 dBFS: the instrument has stopped sounding (its noise floor in silence: -115)
constexpr double kPaceLeadSeconds = 0.25;           // audio this far ahead of the clock: faster than real time
constexpr std::int64_t kPaceGapNs = 1'000'000'000;  // a pause this long between calls starts a new measure

float db_to_gain(float db) { return std::pow(10.0f, db / 20.0f); }

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

Engine::Engine(bool realtime) : offline_(!realtime) {}

Engine::~Engine() {
    delete pending_.exchange(nullptr);
    collect_garbage();
}

void Engine::collect_garbage() {
    Pipeline* p = nullptr;
    while (retired_.try_dequeue(p)) delete p;
}

void Engine::retire(Pipeline* p) {
    // The audio thread never frees. set_model() collects before it publishes, so at most two pipelines
    // wait here per swap and the queue (64) cannot fill.
    retired_.try_enqueue(p);
}

void Engine::set_model(std::shared_ptr<const Model> model) {
    if (!model) throw std::invalid_argument("Engine.set_model: no model given");
    collect_garbage();
    model_ = model;
    if (!prepared_) return;
    auto* p = new Pipeline(model, sample_rate_, max_block_);
    if (!has_current_.load()) latency_.store(p->latency_samples());
    delete pending_.exchange(p);
}

void Engine::prepare(double sample_rate, int max_block, int channels) {
    if (!(sample_rate >= 8000.0 && sample_rate <= 768000.0))
        throw std::invalid_argument("Engine.prepare: sample rate must be 8000..768000 Hz, got " +
                                    std::to_string(sample_rate));
    if (max_block < 1 || max_block > kMaxBlock)
        throw std::invalid_argument("Engine.prepare: max block must be 1.." + std::to_string(kMaxBlock) +
                                    ", got " + std::to_string(max_block));
    if (channels < 1 || channels > kMaxChannels)
        throw std::invalid_argument("Engine.prepare: channels must be 1.." + std::to_string(kMaxChannels) +
                                    ", got " + std::to_string(channels));
    delete pending_.exchange(nullptr);
    current_.reset();
    next_.reset();
    has_current_.store(false);
    collect_garbage();
    sample_rate_ = sample_rate;
    max_block_ = max_block;
    channels_ = channels;
    mono_.assign(static_cast<std::size_t>(max_block), 0.0f);
    wet_.assign(static_cast<std::size_t>(max_block), 0.0f);
    wet_next_.assign(static_cast<std::size_t>(max_block), 0.0f);
    dry_.assign(static_cast<std::size_t>(channels), std::vector<float>(kMaxDryDelay, 0.0f));
    smooth_coeff_ = static_cast<float>(1.0 - std::exp(-1.0 / (kSmoothSeconds * sample_rate)));
    restart_after_ = std::max(1, static_cast<int>(kRestartSilenceSeconds * sample_rate));
    fade_len_ = static_cast<int>(kFadeSeconds * sample_rate);
    if (model_) {
        current_ = std::make_unique<Pipeline>(model_, sample_rate_, max_block_);
        latency_.store(current_->latency_samples());
        has_current_.store(true);
    } else {
        latency_.store(0);
    }
    prepared_ = true;
    reset();
}

void Engine::reset() {
    if (current_) current_->reset();
    if (next_) next_->reset();
    voice_.reset();
    host_samples_ = 0;
    quiet_run_ = restart_after_;  // a fresh engine starts its stream at the first sound, like a woken one
    pace_anchor_ns_ = pace_last_ns_ = pace_return_ns_ = 0;
    pace_audio_s_ = pace_last_block_s_ = 0.0;
    for (auto& d : dry_) std::fill(d.begin(), d.end(), 0.0f);
    dry_write_ = 0;
    const auto p = params_.snapshot();
    gain_smooth_ = db_to_gain(p[Param::OutputGainDb]);
    wet_smooth_ = p[Param::DryWet];
}

MidiVoice::Settings Engine::voice_settings(const Parameters::Snapshot& p) const {
    if (current_) return Pipeline::voice_settings(p, current_->model().info());
    MidiVoice::Settings s;
    return s;
}

void Engine::take_pending() {
    Pipeline* p = pending_.exchange(nullptr);
    if (!p) return;
    if (!current_) {
        current_.reset(p);
        latency_.store(p->latency_samples());
        has_current_.store(true);
        return;
    }
    if (next_) retire(next_.release());  // a newer model arrived during a fade
    next_.reset(p);
    // Let the new path fill its analysis history and GRU state before it is heard.
    warmup_left_ = p->latency_samples() + 4 * static_cast<int>(std::ceil(p->model().info().hop_size * sample_rate_ /
                                                                       p->model().info().sample_rate));
    fade_pos_ = 0;
    fading_.store(true);
}

// A host that renders faster than real time without saying so (Ardour's bounce, a freeze) calls back to back:
// the next block comes as soon as the last one returned, and the audio runs ahead of the clock. A live host
// calls once per block period: between our return and its next call lies most of a period.
bool Engine::faster_than_real_time(int n) {
    const std::int64_t now = now_ns();
    const bool fresh = pace_anchor_ns_ == 0 || now - pace_last_ns_ > kPaceGapNs;  // first call, or after a pause
    const bool back_to_back = !fresh && static_cast<double>(now - pace_return_ns_) < 0.25e9 * pace_last_block_s_;
    if (fresh) {
        pace_anchor_ns_ = now;
        pace_audio_s_ = 0.0;
    }
    pace_last_ns_ = now;
    pace_last_block_s_ = n / sample_rate_;
    pace_audio_s_ += pace_last_block_s_;
    return back_to_back || pace_audio_s_ - 1e-9 * static_cast<double>(now - pace_anchor_ns_) > kPaceLeadSeconds;
}

void Engine::process(const float* const* in, float* const* out, int channels, int n, const MidiEvent* events,
                     int n_events) {
    if (!prepared_ || n <= 0) return;
    channels = std::min(channels, channels_);
    take_pending();
    wait_ = offline_.load(std::memory_order_relaxed) || faster_than_real_time(n);
    // Blocks longer than prepared are split; events follow their offsets. After a long silence the stream
    // restarts at its first sound (see restart_if_woken), so a chunk may be split there too.
    int first_event = 0;
    for (int offset = 0; offset < n;) {
        int len = std::min(max_block_, n - offset);
        if (quiet_run_ >= restart_after_) len = restart_if_woken(in, channels, offset, len, events, n_events, first_event);
        int last_event = first_event;
        while (last_event < n_events && events[last_event].offset < offset + len) ++last_event;
        process_chunk(in, out, channels, offset, len, events + first_event, last_event - first_event);
        first_event = last_event;
        offset += len;
    }
    pace_return_ns_ = now_ns();
}

// A render is a function of its input from the last long silence on: after kRestartSilenceSeconds of digital
// silence in and (nearly) none out, the signal path starts afresh at the first sample that is not silent or
// the first MIDI event, so its analysis frames, GRU state, noise and auto-adjust line up with that sound
// whatever came before. A track's bounce and the session's export then give the same samples although the
// plugin ran through different material, and different lengths of silence, before each. A live input (a
// noise floor) is never digitally silent, so playing live never restarts. Returns how much of the chunk
// [offset, offset + len) to process before the restart (len when nothing wakes it).
int Engine::restart_if_woken(const float* const* in, int channels, int offset, int len, const MidiEvent* events,
                             int n_events, int first_event) {
    int wake = len;
    if (first_event < n_events && events[first_event].offset < offset + len)
        wake = std::max(0, events[first_event].offset - offset);
    for (int i = 0; i < wake; ++i)
        for (int c = 0; c < channels; ++c) {
            const float x = in[c][offset + i];
            if (x != 0.0f && std::isfinite(x)) {
                wake = i;
                break;
            }
        }
    if (wake > 0) return wake;  // silence up to the wake (or the whole chunk): process it as it is
    if (current_) current_->reset();
    if (next_) next_->reset();
    quiet_run_ = 0;
    ++status_.restarts;
    return len;
}

void Engine::process_chunk(const float* const* in, float* const* out, int channels, int offset, int n,
                           const MidiEvent* events, int n_events) {
    const Parameters::Snapshot p = params_.snapshot();
    const float input_gain = db_to_gain(p[Param::InputGainDb]);

    // Mono analysis input; non-finite samples become silence, overs are limited.
    for (int i = 0; i < n; ++i) {
        float sum = 0.0f;
        for (int c = 0; c < channels; ++c) {
            const float x = in[c][offset + i];
            sum += std::isfinite(x) ? x : 0.0f;
        }
        mono_[static_cast<std::size_t>(i)] = std::clamp(sum / channels * input_gain, -kInputLimit, kInputLimit);
    }

    // Segments between MIDI events, so each event lands on its sample.
    int start = 0, e = 0;
    const MidiVoice::Settings vs = voice_settings(p);
    while (start < n) {
        while (e < n_events && events[e].offset - offset <= start) {
            voice_.handle(events[e].data, (host_samples_ + start) / sample_rate_, vs);
            ++e;
        }
        const int end = e < n_events ? std::clamp(events[e].offset - offset, start + 1, n) : n;
        const double t = (host_samples_ + start) / sample_rate_;
        const int len = end - start;
        if (current_) current_->process(mono_.data() + start, wet_.data() + start, len, p, voice_, t, status_, wait_);
        else std::fill(wet_.begin() + start, wet_.begin() + end, 0.0f);
        if (next_) next_->process(mono_.data() + start, wet_next_.data() + start, len, p, voice_, t, status_, wait_);
        start = end;
    }
    for (; e < n_events; ++e) voice_.handle(events[e].data, (host_samples_ + n) / sample_rate_, vs);
    if (n_events > 0) quiet_run_ = 0;

    if (next_) {
        for (int i = 0; i < n; ++i) {
            float g = 0.0f;
            if (warmup_left_ > 0) --warmup_left_;
            else g = static_cast<float>(++fade_pos_) / fade_len_;
            g = std::min(g, 1.0f);
            wet_[static_cast<std::size_t>(i)] += g * (wet_next_[static_cast<std::size_t>(i)] - wet_[static_cast<std::size_t>(i)]);
        }
        if (fade_pos_ >= fade_len_) {
            retire(current_.release());
            current_ = std::move(next_);
            latency_.store(current_->latency_samples());
            fading_.store(false);
        }
    }

    // Dry (delayed by the latency, so it lines up with the instrument), wet, gain, limit.
    const int delay = std::min(latency_.load(), kMaxDryDelay - 1);
    const float gain_target = db_to_gain(p[Param::OutputGainDb]);
    const float wet_target = p[Param::DryWet];
    for (int i = 0; i < n; ++i) {
        gain_smooth_ += smooth_coeff_ * (gain_target - gain_smooth_);
        wet_smooth_ += smooth_coeff_ * (wet_target - wet_smooth_);
        int read = dry_write_ - delay;
        if (read < 0) read += kMaxDryDelay;
        const float wet = wet_[static_cast<std::size_t>(i)];
        bool quiet = std::fabs(wet) < kQuietWet;
        for (int c = 0; c < channels; ++c) {
            const float x = in[c][offset + i];
            quiet = quiet && (x == 0.0f || !std::isfinite(x));
            auto& line = dry_[static_cast<std::size_t>(c)];
            line[static_cast<std::size_t>(dry_write_)] = std::isfinite(x) ? std::clamp(x, -kInputLimit, kInputLimit) : 0.0f;
            const float dry = line[static_cast<std::size_t>(read)];
            float y = gain_smooth_ * (wet_smooth_ * wet + (1.0f - wet_smooth_) * dry);
            y = std::isfinite(y) ? std::clamp(y, -kOutputLimit, kOutputLimit) : 0.0f;
            out[c][offset + i] = y;
        }
        dry_write_ = dry_write_ + 1 == kMaxDryDelay ? 0 : dry_write_ + 1;
        quiet_run_ = quiet ? std::min(quiet_run_ + 1, restart_after_) : 0;
    }
    host_samples_ += n;
}

}  // namespace tonemorph
