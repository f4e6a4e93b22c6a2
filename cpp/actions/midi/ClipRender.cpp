#include "ClipRender.h"

#include <algorithm>
#include <cmath>

#include "Engine.h"
#include "Model.h"
#include "Sampler.h"

namespace tonemorph::midi {

namespace {
constexpr int kBlock = 512;
constexpr double kMaxRenderSeconds = 3600.0;

double seconds_per_step(const Clip& clip) { return 60.0 / (clip.bpm * kStepsPerQuarter); }

std::int64_t at_sample(double steps, const Clip& clip, double sample_rate) {
    return std::max<std::int64_t>(0, std::llround(steps * seconds_per_step(clip) * sample_rate));
}
}  // namespace

std::int64_t clip_samples(const Clip& clip, double sample_rate) { return at_sample(clip.steps, clip, sample_rate); }

std::vector<TimedEvent> clip_events(const Clip& clip, double sample_rate) {
    const std::uint8_t channel = clip.drums ? kGmDrumChannel - 1 : 0;
    std::vector<std::pair<int, TimedEvent>> tagged;  // (0 note-off, 1 note-on) to order events on one sample
    tagged.reserve(clip.notes.size() * 2);
    for (const Note& n : clip.notes) {
        const auto pitch = static_cast<std::uint8_t>(std::clamp(n.pitch, 0, 127));
        TimedEvent on, off;
        on.sample = at_sample(n.start_step + n.start_offset, clip, sample_rate);
        off.sample = std::max(on.sample + 1, at_sample(n.end_step + n.end_offset, clip, sample_rate));
        on.data[0] = static_cast<std::uint8_t>(0x90 | channel);
        on.data[1] = pitch;
        on.data[2] = static_cast<std::uint8_t>(std::clamp(n.velocity, 1, 127));
        off.data[0] = static_cast<std::uint8_t>(0x80 | channel);
        off.data[1] = pitch;
        tagged.emplace_back(1, on);
        tagged.emplace_back(0, off);
    }
    std::stable_sort(tagged.begin(), tagged.end(), [](const auto& a, const auto& b) {
        return a.second.sample != b.second.sample ? a.second.sample < b.second.sample : a.first < b.first;
    });
    std::vector<TimedEvent> events;
    events.reserve(tagged.size());
    for (const auto& t : tagged) events.push_back(t.second);
    return events;
}

std::vector<float> render_clip(std::shared_ptr<const Model> model, const Clip& clip, const ClipRenderRequest& request,
                               const std::function<void(float)>& progress, const std::atomic<bool>* cancel) {
    if (!model) throw MidiError("No instrument is loaded to play the clip with.");
    const int channels = std::clamp(request.channels, 1, Engine::kMaxChannels);
    const double rate = request.sample_rate;
    const double seconds = clip.steps * seconds_per_step(clip) + std::max(0.0, request.tail_s);
    if (!(rate > 0.0) || !(seconds < kMaxRenderSeconds))
        throw MidiError("The clip is too long to play (over an hour at its tempo).");

    Engine engine(false);
    engine.set_model(std::move(model));
    engine.prepare(rate, kBlock, channels);
    for (const auto& [param, value] : request.settings) engine.params().set(param, value);
    engine.params().set(Param::MidiMode, 1.0f);
    const std::int64_t latency = engine.latency_samples();
    const std::int64_t frames = std::llround(seconds * rate);
    const std::int64_t total = frames + latency;

    const std::vector<TimedEvent> events = clip_events(clip, rate);
    std::vector<float> silence(static_cast<std::size_t>(kBlock), 0.0f);
    std::vector<std::vector<float>> block(static_cast<std::size_t>(channels), std::vector<float>(kBlock));
    std::vector<const float*> in(static_cast<std::size_t>(channels), silence.data());
    std::vector<float*> out(static_cast<std::size_t>(channels));
    for (int c = 0; c < channels; ++c) out[static_cast<std::size_t>(c)] = block[static_cast<std::size_t>(c)].data();
    std::vector<MidiEvent> block_events;
    std::vector<float> result(static_cast<std::size_t>(frames * channels), 0.0f);

    std::size_t next = 0;
    for (std::int64_t start = 0; start < total; start += kBlock) {
        if (cancel != nullptr && cancel->load()) throw Cancelled();
        const int n = static_cast<int>(std::min<std::int64_t>(kBlock, total - start));
        block_events.clear();
        for (; next < events.size() && events[next].sample < start + n; ++next) {
            MidiEvent e;
            e.offset = static_cast<int>(std::max<std::int64_t>(0, events[next].sample - start));
            std::copy(std::begin(events[next].data), std::end(events[next].data), e.data);
            block_events.push_back(e);
        }
        engine.process(in.data(), out.data(), channels, n, block_events.data(), static_cast<int>(block_events.size()));
        for (int i = 0; i < n; ++i) {
            const std::int64_t at = start + i - latency;  // the engine's latency removed
            if (at < 0 || at >= frames) continue;
            for (int c = 0; c < channels; ++c)
                result[static_cast<std::size_t>(at * channels + c)] = block[static_cast<std::size_t>(c)][static_cast<std::size_t>(i)];
        }
        if (progress) progress(static_cast<float>(std::min<std::int64_t>(start + n, total)) / static_cast<float>(total));
    }
    return result;
}

}  // namespace tonemorph::midi
