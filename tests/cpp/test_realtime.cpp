// Real-time rules, checked where they matter: heap allocations, frees and mutex locks made by the audio
// thread inside Engine::process and Engine::reset, counted by replacing operator new/delete, malloc/free
// and interposing pthread_mutex_lock, while parameters change from another thread, the model is swapped
// (between a natively decoded model and one on the ONNX Runtime worker, when given) and MIDI arrives.
//
//   tonemorph_rt_tests MODEL.onnx [OTHER_MODEL.onnx]    exit 0 when nothing was counted
//   tonemorph_rt_tests --self-check                     proves the counters see what they should
#include <dlfcn.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "Engine.h"

#include "RealtimeCounters.h"

using realtime_counters::counted;
using realtime_counters::Counted;

namespace {

using tonemorph::Engine;
using tonemorph::MidiEvent;
using tonemorph::Model;
using tonemorph::Param;

int g_failed = 0, g_passed = 0;

void check(bool ok, const std::string& what) {
    std::printf("%s: %s\n", ok ? "PASS" : "FAIL", what.c_str());
    (ok ? g_passed : g_failed)++;
}

int self_check() {
    const Counted c = counted([] {
        std::vector<float> v(100);
        void* p = std::malloc(10);
        std::free(p);
        std::mutex m;
        m.lock();
        m.unlock();
        (void)v;
    });
    check(c.allocations >= 2, "the allocation counter sees new and malloc (" + std::to_string(c.allocations) + ")");
    check(c.frees >= 2, "the free counter sees delete and free (" + std::to_string(c.frees) + ")");
    check(c.locks >= 1, "the lock counter sees std::mutex (" + std::to_string(c.locks) + ")");
    return 0;
}

// A plucked-string-like test signal: decaying harmonics with vibrato, notes and gaps, plus bad samples.
float guitar_sample(std::int64_t i, double sr) {
    const double t = i / sr;
    const double note_len = 0.5;
    const int note = static_cast<int>(t / note_len);
    const double local = t - note * note_len;
    if (note % 4 == 3) return 0.0f;  // a rest
    const double f0 = 110.0 * std::pow(2.0, (note % 7) / 12.0) * (1.0 + 0.004 * std::sin(2 * M_PI * 5.5 * t));
    double x = 0.0;
    for (int h = 1; h <= 8; ++h) x += std::sin(2 * M_PI * f0 * h * t) / h;
    return static_cast<float>(0.4 * x * std::exp(-3.0 * local));
}

void run_engine_checks(const std::string& model_path, const std::string& other_path) {
    const double sr = 48000.0;
    const int max_block = 128, channels = 2;
    auto model = Model::load(model_path);
    auto other = Model::load(other_path);
    Engine engine(/*realtime=*/true);
    engine.set_model(model);
    engine.prepare(sr, max_block, channels);

    std::vector<float> in_l(max_block), in_r(max_block), out_l(max_block), out_r(max_block);
    const float* in[] = {in_l.data(), in_r.data()};
    float* out[] = {out_l.data(), out_r.data()};
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> block_size(1, max_block);

    std::atomic<bool> done{false};
    std::thread automation([&] {  // a host's UI thread moving every knob
        std::mt19937 r(3);
        while (!done.load()) {
            for (std::size_t i = 0; i < tonemorph::kParamCount; ++i) {
                const auto& s = tonemorph::kParamSpecs[i];
                if (static_cast<Param>(i) == Param::MidiMode) continue;
                engine.params().set(static_cast<Param>(i),
                                    s.min + (s.max - s.min) * std::uniform_real_distribution<float>(0, 1)(r));
            }
            engine.params().set(Param::OutputGainDb, 0.0f);
            std::this_thread::sleep_for(std::chrono::milliseconds(3));
        }
    });

    std::int64_t position = 0;
    long allocations = 0, frees = 0, locks = 0;
    bool finite = true;
    float peak = 0.0f;
    int swaps = 0;
    const std::int64_t total = static_cast<std::int64_t>(6.0 * sr);
    while (position < total) {
        const int n = block_size(rng);
        for (int i = 0; i < n; ++i) {
            float x = guitar_sample(position + i, sr);
            if ((position + i) % 9973 == 0) x = std::nanf("");
            if ((position + i) % 15013 == 0) x = INFINITY;
            in_l[static_cast<std::size_t>(i)] = x;
            in_r[static_cast<std::size_t>(i)] = 0.5f * x;
        }
        MidiEvent events[2];
        int n_events = 0;
        const bool midi = position >= total / 2;
        engine.params().set(Param::MidiMode, midi ? 1.0f : 0.0f);
        if (midi && (position / 12000) != ((position + n) / 12000)) {
            events[0].offset = 0;
            events[0].data[0] = 0x80;
            events[0].data[1] = 60;
            events[1].offset = n / 2;
            events[1].data[0] = 0x90;
            events[1].data[1] = static_cast<std::uint8_t>(55 + (position / 12000) % 12);
            events[1].data[2] = 100;
            n_events = 2;
        }
        // Now and then the host resets the processor from the audio thread (VST3 setProcessing(false)).
        const bool reset = (position / 4800) % 97 == 50 && position % 4800 < static_cast<std::int64_t>(n);
        const Counted c = counted([&] {
            if (reset) engine.reset();
            engine.process(in, out, channels, n, events, n_events);
        });
        allocations += c.allocations;
        frees += c.frees;
        locks += c.locks;
        for (int i = 0; i < n; ++i) {
            finite = finite && std::isfinite(out_l[static_cast<std::size_t>(i)]) && std::isfinite(out_r[static_cast<std::size_t>(i)]);
            peak = std::max(peak, std::fabs(out_l[static_cast<std::size_t>(i)]));
        }
        position += n;
        // A model swap from the control thread twice a run (the new path is built here, not on the audio thread).
        if (swaps < 2 && position > (swaps + 1) * total / 3) {
            engine.set_model(swaps % 2 ? model : other);
            ++swaps;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int>(n * 1e6 / sr)));
    }
    done.store(true);
    automation.join();
    if (TONEMORPH_COUNTERS) {
        check(allocations == 0, "no heap allocation on the audio thread in process() (" + std::to_string(allocations) + ")");
        check(frees == 0, "no heap free on the audio thread in process() (" + std::to_string(frees) + ")");
        check(locks == 0, "no mutex lock on the audio thread in process() (" + std::to_string(locks) + ")");
    } else {
        std::printf("SKIP: allocation and lock counters (a sanitizer build has its own allocator)\n");
    }
    check(finite, "output finite with NaN/inf in the input");
    check(peak <= 1.9953f, "output never above +6 dBFS (peak " + std::to_string(peak) + ")");
    check(!engine.swap_pending() && engine.model() == model, "both swaps completed");
    const bool live_pace = engine.status().waits.load() == 0;
    check(live_pace, "paced like a live host, the audio thread never waited (" +
                         std::to_string(engine.status().waits.load()) + " waits)");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "--self-check") == 0) {
        self_check();
    } else if (argc >= 2) {
        try {
            run_engine_checks(argv[1], argc >= 3 ? argv[2] : argv[1]);
        } catch (const std::exception& e) {
            std::printf("FAIL: %s\n", e.what());
            ++g_failed;
        }
    } else {
        std::fprintf(stderr, "usage: tonemorph_rt_tests MODEL.onnx [OTHER.onnx] | --self-check\n");
        return 2;
    }
    std::printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
