#include "Sampler.h"

#include <algorithm>
#include <cmath>

namespace tonemorph::midi {

std::uint64_t splitmix64(std::uint64_t& x) {
    // Steele, Lea, Flood 2014: a 64-bit mix that turns consecutive seeds into unrelated states.
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

Pcg32::Pcg32(std::uint64_t seed) {
    // pcg32_srandom_r(initstate, initseq), both drawn from splitmix64(seed)
    const std::uint64_t initstate = splitmix64(seed);
    const std::uint64_t initseq = splitmix64(seed);
    increment_ = (initseq << 1u) | 1u;
    next();
    state_ += initstate;
    next();
}

std::uint32_t Pcg32::next() {
    // PCG-XSH-RR: a 64-bit LCG whose output is an xorshift of the high bits, rotated by the top 5 bits
    const std::uint64_t old = state_;
    state_ = old * 6364136223846793005ULL + increment_;
    const auto xorshifted = static_cast<std::uint32_t>(((old >> 18u) ^ old) >> 27u);
    const auto rot = static_cast<std::uint32_t>(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

double Pcg32::uniform() { return static_cast<double>(next() >> 8) * (1.0 / 16777216.0); }

int sample_event(const float* logits, int n, double temperature, Pcg32& rng) {
    const int best = static_cast<int>(std::max_element(logits, logits + n) - logits);
    if (temperature <= 0.0) return best;
    const double top = logits[best];
    double total = 0.0;
    for (int i = 0; i < n; ++i) total += std::exp((static_cast<double>(logits[i]) - top) / temperature);
    const double target = rng.uniform() * total;
    double running = 0.0;
    for (int i = 0; i < n; ++i) {
        running += std::exp((static_cast<double>(logits[i]) - top) / temperature);
        if (running > target) return i;
    }
    return best;  // only if rounding left the target at the very top of the sum
}

std::vector<int> sample(const EventModel& model, const std::vector<int>& primer, int steps, double temperature,
                        std::uint64_t seed, const Progress& progress, const std::atomic<bool>* cancel) {
    const auto& info = model.info();
    Pcg32 rng(seed);
    std::vector<float> state(model.state_size(), 0.0f), logits;
    auto check_cancel = [cancel] {
        if (cancel && cancel->load(std::memory_order_relaxed)) throw Cancelled();
    };
    const int total = 1 + static_cast<int>(primer.size()) + std::max(steps - 1, 0);
    int done = 0;
    auto feed = [&](int event) {
        check_cancel();
        model.step(event, state, logits);
        if (progress && (++done % 16 == 0)) progress(static_cast<float>(done) / static_cast<float>(total));
    };
    feed(info.start_token);
    for (int event : primer) feed(event);
    std::vector<int> events;
    events.reserve(static_cast<std::size_t>(std::max(steps, 0)));
    for (int i = 0; i < steps; ++i) {
        events.push_back(sample_event(logits.data(), info.num_events, temperature, rng));
        if (i + 1 < steps) feed(events.back());
    }
    if (progress) progress(1.0f);
    return events;
}

}  // namespace tonemorph::midi
