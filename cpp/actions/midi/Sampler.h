// The sampling loop of the MIDI tools: prime a model on events, then draw one event per step.
//
// Random numbers: PCG32 (O'Neill 2014, XSH-RR 64/32) seeded through splitmix64, with our own conversion to a
// uniform in [0, 1): (next() >> 8) * 2^-24. The same seed gives the same draws on every platform and compiler,
// and tests/test_midi_tools.py draws the same numbers in Python. Variation v of a request with seed s uses
// Pcg32(s + v), so variation 3 of seed 7 is the same whether 4 or 8 were asked for.
//
// Drawing with temperature T: p_i = exp((l_i - max l) / T) in double, summed in index order; the event is the
// first i whose running sum exceeds u * sum. T = 0 takes the argmax (the lowest index of equal maxima).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "Action.h"
#include "EventModel.h"

namespace tonemorph::midi {

class Pcg32 final {
public:
    explicit Pcg32(std::uint64_t seed);
    std::uint32_t next();
    double uniform();  // [0, 1), 24 bits: (next() >> 8) * 2^-24
private:
    std::uint64_t state_ = 0, increment_ = 0;
};

std::uint64_t splitmix64(std::uint64_t& x);

// One draw from `logits` (n of them) at `temperature` (>= 0) with `rng` (unused when temperature is 0).
int sample_event(const float* logits, int n, double temperature, Pcg32& rng);

using Progress = std::function<void(float)>;  // fraction done, 0..1

// Feeds START and then `primer` (events the model has not seen) and draws `steps` events, each fed back.
// Calls `progress(fraction done)` now and then; throws tonemorph::Cancelled (Action.h) when *cancel becomes true.
std::vector<int> sample(const EventModel& model, const std::vector<int>& primer, int steps, double temperature,
                        std::uint64_t seed, const Progress& progress = {},
                        const std::atomic<bool>* cancel = nullptr);

}  // namespace tonemorph::midi
