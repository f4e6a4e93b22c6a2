// A clip played through an instrument, offline: how the plugin's MIDI panel auditions a result "through the
// loaded instrument", and what the binding renders for tests. The clip's notes become note-on/off events
// (micro-timing offsets applied) for an Engine of its own in MIDI mode, run faster than real time; the
// engine's latency is removed and a tail is kept for the release and the reverb.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "Clip.h"
#include "MidiVoice.h"
#include "Parameters.h"

namespace tonemorph {
class Model;
}

namespace tonemorph::midi {

struct TimedEvent {
    std::int64_t sample = 0;  // from the clip's start
    std::uint8_t data[3] = {0, 0, 0};
};

// The clip's notes as MIDI events at `sample_rate` (channel 1; drums on 10): a note sounds from
// (start_step + start_offset) to (end_step + end_offset) sixteenths at the clip's tempo. Sorted by sample;
// at one sample note-offs come before note-ons, so a repeated note is struck again.
std::vector<TimedEvent> clip_events(const Clip& clip, double sample_rate);

// The clip's length in samples at `sample_rate` (its steps at its tempo).
std::int64_t clip_samples(const Clip& clip, double sample_rate);

struct ClipRenderRequest {
    double sample_rate = 48000.0;
    int channels = 2;
    double tail_s = 2.0;  // after the clip's end: the last release and the reverb
    // Parameter values to play with (the plugin passes its knobs); MidiMode is always on.
    std::vector<std::pair<Param, float>> settings;
};

// [channels * samples] interleaved, samples = clip_samples + tail. Throws MidiError for a clip too long to
// render (over an hour), Cancelled when *cancel becomes true. progress(fraction 0..1).
std::vector<float> render_clip(std::shared_ptr<const Model> model, const Clip& clip, const ClipRenderRequest& request,
                               const std::function<void(float)>& progress = {},
                               const std::atomic<bool>* cancel = nullptr);

}  // namespace tonemorph::midi
