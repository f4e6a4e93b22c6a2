#include "Tools.h"

#include <algorithm>
#include <cmath>

#include "Encoding.h"

namespace tonemorph::midi {

namespace {

constexpr double kMaxTemperature = 10.0;
constexpr int kDefaultVelocity = 100;

void check_settings(int bars, int variations, double temperature) {
    if (bars < 1 || bars > kMaxBars)
        throw MidiError("bars must be 1.." + std::to_string(kMaxBars) + ", not " + std::to_string(bars) + ".");
    if (variations < 1 || variations > kMaxVariations)
        throw MidiError("variations must be 1.." + std::to_string(kMaxVariations) + ", not " +
                        std::to_string(variations) + ".");
    if (!(temperature >= 0.0 && temperature <= kMaxTemperature))
        throw MidiError("temperature must be 0.." + std::to_string(static_cast<int>(kMaxTemperature)) +
                        " (0: always the likeliest note; 1: as the model learned; higher: wilder), not " +
                        std::to_string(temperature) + ".");
}

const char* clip_word(bool drums) { return drums ? "drum" : "melody"; }

int median_velocity(const Clip& clip) {
    if (clip.notes.empty()) return kDefaultVelocity;
    std::vector<int> v;
    for (const Note& n : clip.notes) v.push_back(n.velocity);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return std::clamp(v[v.size() / 2], 1, 127);
}

// Runs `variations` sampling runs with progress over all of them.
template <typename Each>
void each_variation(int variations, const Progress& progress, Each each) {
    for (int v = 0; v < variations; ++v) {
        Progress part;
        if (progress) part = [&progress, v, variations](float f) { progress((static_cast<float>(v) + f) / variations); };
        each(v, part);
    }
}

}  // namespace

ToolResult continue_clip(const EventModel& model, const ContinueRequest& request, const Progress& progress,
                         const std::atomic<bool>* cancel) {
    check_settings(request.bars, request.variations, request.temperature);
    const EventModelInfo& info = model.info();
    const bool drums = info.kind == kDrumsKind;
    ToolResult result;
    if (request.clip.notes.empty()) throw MidiError("the clip has no notes to continue; record or draw a few first.");
    if (request.clip.drums != drums)
        throw MidiError(std::string("the clip is a ") + clip_word(request.clip.drums) + " clip and the model makes " +
                        clip_word(drums) + (drums ? "s" : "ies") + "; choose the " + clip_word(request.clip.drums) +
                        " model (--kind " + (request.clip.drums ? "drums" : "melody") + ").");
    Clip clip = request.clip;
    for (const Note& n : clip.notes) {
        if (n.start_step < 0 || n.end_step <= n.start_step || n.pitch < 0 || n.pitch > 127)
            throw MidiError("the clip has a note that cannot be played (steps " + std::to_string(n.start_step) + ".." +
                            std::to_string(n.end_step) + ", pitch " + std::to_string(n.pitch) + ").");
        clip.steps = std::max(clip.steps, n.end_step);  // a clip is at least as long as its notes
    }
    if (!drums) {
        OneVoice reduced = one_voice(clip);
        if (reduced.dropped > 0)
            result.messages.push_back("the clip has notes struck together: the melody model takes one voice, so the "
                                      "highest note at each onset is kept (" + std::to_string(reduced.dropped) +
                                      " note" + (reduced.dropped == 1 ? "" : "s") + " left out)");
        if (reduced.shortened > 0)
            result.messages.push_back(std::to_string(reduced.shortened) + " overlapping note" +
                                      (reduced.shortened == 1 ? " was" : "s were") + " cut where the next one starts");
        clip = std::move(reduced.clip);
    }
    const int window = kPrimeBars * kStepsPerBar;
    const int from = std::max(0, clip.steps - window);
    if (from > 0)
        result.messages.push_back("the clip is " + std::to_string(clip.steps / kStepsPerBar) +
                                  " bars long: the model is primed on its last " + std::to_string(kPrimeBars) +
                                  " bars (bars " + std::to_string(from / kStepsPerBar + 1) + "-" +
                                  std::to_string(clip.steps / kStepsPerBar) + ")");
    const Encoded primer = encode(tail(clip, from), info);
    result.messages.insert(result.messages.end(), primer.messages.begin(), primer.messages.end());
    result.primed_steps = static_cast<int>(primer.events.size());
    result.new_from_step = clip.steps;

    const int new_steps = request.bars * kStepsPerBar;
    const int velocity = median_velocity(clip);
    each_variation(request.variations, progress, [&](int v, const Progress& part) {
        const auto events = sample(model, primer.events, new_steps, request.temperature,
                                   request.seed + static_cast<std::uint64_t>(v), part, cancel);
        Clip out = clip;
        Note* held = nullptr;
        if (!drums)
            for (Note& n : out.notes)
                if (n.end_step >= clip.steps) held = &n;  // one voice: at most one note sounds at the end
        const auto added = decode(events, clip.steps, info, primer.transpose, velocity, held);
        out.notes.insert(out.notes.end(), added.begin(), added.end());
        out.steps = clip.steps + new_steps;
        sort_notes(out.notes);
        result.clips.push_back(std::move(out));
    });
    return result;
}

ToolResult generate(const EventModel& model, const GenerateRequest& request, const Progress& progress,
                    const std::atomic<bool>* cancel) {
    check_settings(request.bars, request.variations, request.temperature);
    if (!(request.bpm >= 10.0 && request.bpm <= 1000.0))
        throw MidiError("bpm must be 10..1000, not " + std::to_string(request.bpm) + ".");
    const EventModelInfo& info = model.info();
    ToolResult result;
    const int steps = request.bars * kStepsPerBar;
    each_variation(request.variations, progress, [&](int v, const Progress& part) {
        const auto events = sample(model, {}, steps, request.temperature,
                                   request.seed + static_cast<std::uint64_t>(v), part, cancel);
        Clip out;
        out.steps = steps;
        out.bpm = request.bpm;
        out.drums = info.kind == kDrumsKind;
        out.notes = decode(events, 0, info, 0, kDefaultVelocity);
        result.clips.push_back(std::move(out));
    });
    return result;
}

}  // namespace tonemorph::midi
