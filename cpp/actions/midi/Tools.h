// Continue and Generate (Magenta Studio's two MusicRNN tools) for melody and drum models.
//
// Continue primes the model on the clip's last (up to) kPrimeBars bars and appends `bars` bars of new
// material after the clip; Generate starts from START. Each variation is its own sampling run (seed +
// variation index, see Sampler.h). An RNN carries its state, so lengths beyond one 4-bar window simply run
// on (Magenta Studio cuts longer requests into 4-bar chunks because its models are windowed; ours are not).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "Clip.h"
#include "EventModel.h"
#include "Sampler.h"

namespace tonemorph::midi {

constexpr int kPrimeBars = 4;
constexpr int kMaxBars = 64;
constexpr int kMaxVariations = 64;

struct ContinueRequest {
    Clip clip;                // as read (a melody clip is reduced to one voice here, and the result says so)
    int bars = 2;             // of new material, 1..kMaxBars
    int variations = 4;       // 1..kMaxVariations
    double temperature = 1.0; // >= 0 (0: always the likeliest event)
    std::uint64_t seed = 0;
};

struct GenerateRequest {
    int bars = 4;
    int variations = 8;
    double temperature = 1.0;
    std::uint64_t seed = 0;
    double bpm = 120.0;
};

struct ToolResult {
    std::vector<Clip> clips;            // one per variation: Continue's hold the (prepared) clip, then the new bars
    int new_from_step = 0;              // where the new material starts in each clip
    int primed_steps = 0;               // Continue: how many of the clip's steps primed the model
    std::vector<std::string> messages;  // what was done to the input (one voice kept, bars used, transposed)
};

// Throws MidiError for a clip or setting the model cannot take (no notes, wrong kind of clip, bars out of
// 1..kMaxBars, variations out of 1..kMaxVariations, temperature < 0), Cancelled when *cancel becomes true.
// progress(fraction 0..1) over all variations.
ToolResult continue_clip(const EventModel& model, const ContinueRequest& request, const Progress& progress = {},
                         const std::atomic<bool>* cancel = nullptr);
ToolResult generate(const EventModel& model, const GenerateRequest& request, const Progress& progress = {},
                    const std::atomic<bool>* cancel = nullptr);

}  // namespace tonemorph::midi
