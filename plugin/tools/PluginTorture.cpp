// pluginval-style torture of the processor and its editor, in-process with no host in between
// (tests/test_plugin_torture.py runs it, under Xvfb):
//   PROGRAM [cycles]        the editor opened on the desktop, resized and closed `cycles` times on the
//                           message thread while one thread renders audio and another moves random parameters
//   PROGRAM instances N     N processors made, prepared, run and destroyed; resident memory early and at the end
//   PROGRAM realtime A B    processBlock counted for heap allocations, frees and mutex locks (tests/cpp/
//                           RealtimeCounters.h) while another thread moves every parameter, another swaps
//                           between model files A and B, MIDI arrives (past 1024 events a block, now and then)
//                           and reset() and setNonRealtime() come on the audio thread, as hosts call them
// Prints one JSON line; exit 0 = no crash.
// (pedalboard's own show_editor dies on X11 too, spotify/pedalboard#444: like this program it is no JUCE
// application, so JUCE leaves Xlib's default error handler, which exits on the first benign X error
// without a window manager. This program installs a handler that ignores them, as JUCE apps do.)
#include <X11/Xlib.h>

#include <atomic>
#include <mutex>
#include <vector>
#include <cmath>
#include <cstdio>
#include <thread>

#include <unistd.h>

#include <juce_audio_processors/juce_audio_processors.h>
#include <juce_gui_basics/juce_gui_basics.h>

#include "RealtimeCounters.h"
#include "TonemorphProcessor.h"

juce::AudioProcessor* JUCE_CALLTYPE createPluginFilter();

namespace {
constexpr double kSampleRate = 48000.0;
constexpr int kBlock = 256;
constexpr int kOpenMs = 150, kClosedMs = 30;

class Torture final : private juce::Timer {
public:
    Torture(juce::AudioProcessor& processor, int cycles) : processor_(processor), cycles_(cycles) {
        startTimer(kClosedMs);
    }
    int opened() const { return opened_; }

private:
    void timerCallback() override {
        if (editor_) {
            processor_.editorBeingDeleted(editor_.get());
            editor_.reset();
            if (opened_ == cycles_) {
                stopTimer();
                juce::MessageManager::getInstance()->stopDispatchLoop();
                return;
            }
            startTimer(kClosedMs);
            return;
        }
        editor_.reset(processor_.createEditorIfNeeded());
        editor_->addToDesktop(0);  // no native title bar: that needs a window manager, which Xvfb lacks
        editor_->setVisible(true);
        editor_->setSize(700 + 40 * (opened_ % 5), 480 + 30 * (opened_ % 3));  // resized while open
        ++opened_;
        startTimer(kOpenMs);
    }

    juce::AudioProcessor& processor_;
    std::unique_ptr<juce::AudioProcessorEditor> editor_;
    int cycles_, opened_ = 0;
};

// Resident memory in MB (Linux).
double residentMb() {
    long pages = 0, resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        std::fclose(f);
    }
    return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

// `instances N`: N processors made, prepared, run for 15 blocks and destroyed, with no host in between;
// prints the resident memory after N/5 and after N instances.
int instances(int n) {
    juce::ScopedJuceInitialiser_GUI gui;
    juce::AudioBuffer<float> buffer(2, 512);
    juce::MidiBuffer midi;
    juce::Random random(3);
    double early = 0.0;
    for (int i = 1; i <= n; ++i) {
        std::unique_ptr<juce::AudioProcessor> processor(createPluginFilter());
        processor->setNonRealtime(true);
        processor->prepareToPlay(44100.0, 512);
        for (int k = 0; k < 15; ++k) {
            for (int c = 0; c < 2; ++c)
                for (int s = 0; s < 512; ++s) buffer.setSample(c, s, random.nextFloat() * 2.0f - 1.0f);
            processor->processBlock(buffer, midi);
        }
        processor->releaseResources();
        processor.reset();
        if (i == n / 5) early = residentMb();
    }
    std::printf("{\"instances\": %d, \"rss_early\": %.2f, \"rss_end\": %.2f}\n", n, early, residentMb());
    return 0;
}
// `realtime A B`: see the top of the file. Prints the counts, the blocks run and the model swaps heard.
int realtime(const juce::File& a, const juce::File& b) {
    using realtime_counters::counted;
    constexpr int kBlocks = 3000;  // 8 s of audio at 48 kHz, 128 samples a block
    constexpr int kRtBlock = 128;
    juce::ScopedJuceInitialiser_GUI gui;
    std::unique_ptr<juce::AudioProcessor> owned(createPluginFilter());
    auto* processor = dynamic_cast<tonemorph::plugin::TonemorphProcessor*>(owned.get());
    processor->enableAllBuses();
    processor->loadModel(a);
    processor->prepareToPlay(kSampleRate, kRtBlock);

    std::atomic<bool> stop{false};
    std::atomic<int> swaps{0};
    std::thread knobs([&] {
        juce::Random random(2);
        const auto& params = processor->getParameters();
        while (!stop.load()) {
            params[random.nextInt(params.size())]->setValueNotifyingHost(random.nextFloat());
            std::this_thread::sleep_for(std::chrono::microseconds(300));
        }
    });
    std::thread swapper([&] {
        for (int i = 0; !stop.load(); ++i) {
            processor->loadModel(i % 2 ? a : b);
            ++swaps;
            for (int k = 0; k < 150 && !stop.load(); ++k) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });

    juce::AudioBuffer<float> buffer(std::max(processor->getTotalNumInputChannels(), processor->getTotalNumOutputChannels()),
                                    kRtBlock);
    juce::MidiBuffer midi;
    midi.ensureSize(4096 * 8);
    // The counters see this program's allocations and locks (a vector, a juce::String, a std::mutex).
    std::mutex probe;
    const auto seen = counted([&] {
        std::vector<float> v(10);
        const juce::String text = juce::String("counter probe ") + juce::String(v.size());
        const std::lock_guard<std::mutex> lock(probe);
    });
    long allocations = 0, frees = 0, locks = 0, bad = 0;
    double phase = 0.0;
    for (int k = 0; k < kBlocks; ++k) {
        for (int c = 0; c < buffer.getNumChannels(); ++c)
            for (int i = 0; i < kRtBlock; ++i)
                buffer.setSample(c, i, 0.3f * static_cast<float>(std::sin(phase + 2.0 * juce::MathConstants<double>::pi * 196.0 * i / kSampleRate)));
        phase += 2.0 * juce::MathConstants<double>::pi * 196.0 * kRtBlock / kSampleRate;
        midi.clear();
        const int events = k % 50 == 0 ? 1500 : (k % 8 == 0 ? 2 : 0);  // now and then more than one run holds
        for (int e = 0; e < events; ++e) {
            const int note = 48 + (k / 8 + e) % 24;
            midi.addEvent(e % 2 ? juce::MidiMessage::noteOff(1, note) : juce::MidiMessage::noteOn(1, note, 0.8f),
                          (e * 7) % kRtBlock);
        }
        const auto c = counted([&] {
            if (k % 97 == 50) processor->reset();
            if (k % 211 == 100) processor->setNonRealtime(!processor->isNonRealtime());
            processor->processBlock(buffer, midi);
        });
        allocations += c.allocations;
        frees += c.frees;
        locks += c.locks;
        for (int ch = 0; ch < buffer.getNumChannels(); ++ch)
            for (int i = 0; i < kRtBlock; ++i)
                if (!std::isfinite(buffer.getSample(ch, i)) || std::abs(buffer.getSample(ch, i)) > 1.996f) ++bad;
        std::this_thread::sleep_for(std::chrono::microseconds(500));  // about a live host's pace, 4x real time
    }
    stop.store(true);
    knobs.join();
    swapper.join();
    processor->releaseResources();
    std::printf("{\"blocks\": %d, \"swaps\": %d, \"allocations\": %ld, \"frees\": %ld, \"locks\": %ld, "
                "\"bad\": %ld, \"counting\": %s, \"probe\": [%ld, %ld, %ld]}\n",
                kBlocks, swaps.load(), allocations, frees, locks, bad, TONEMORPH_COUNTERS ? "true" : "false",
                seen.allocations, seen.frees, seen.locks);
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc > 2 && juce::String(argv[1]) == "instances") return instances(std::max(5, std::atoi(argv[2])));
    if (argc > 3 && juce::String(argv[1]) == "realtime") return realtime(juce::File(argv[2]), juce::File(argv[3]));
    const int cycles = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
    XSetErrorHandler([](Display*, XErrorEvent*) { return 0; });
    juce::ScopedJuceInitialiser_GUI gui;
    std::unique_ptr<juce::AudioProcessor> processor(createPluginFilter());
    processor->enableAllBuses();
    processor->prepareToPlay(kSampleRate, kBlock);

    std::atomic<bool> stop{false};
    std::atomic<long> blocks{0}, bad{0};
    std::atomic<float> peak{0.0f};
    std::thread audio([&] {
        juce::AudioBuffer<float> buffer(std::max(processor->getTotalNumInputChannels(), processor->getTotalNumOutputChannels()), kBlock);
        juce::MidiBuffer midi;
        juce::Random random(1);
        double phase = 0.0;
        for (long k = 0; !stop.load(); ++k) {
            for (int c = 0; c < buffer.getNumChannels(); ++c)
                for (int i = 0; i < kBlock; ++i)
                    buffer.setSample(c, i, 0.3f * static_cast<float>(std::sin(phase + 2.0 * juce::MathConstants<double>::pi * 220.0 * i / kSampleRate)) +
                                               0.05f * (random.nextFloat() - 0.5f));
            phase += 2.0 * juce::MathConstants<double>::pi * 220.0 * kBlock / kSampleRate;
            midi.clear();
            if (k % 200 == 0) midi.addEvent(juce::MidiMessage::noteOn(1, 48 + static_cast<int>(k / 200 % 24), 0.8f), 0);
            processor->processBlock(buffer, midi);
            for (int c = 0; c < buffer.getNumChannels(); ++c)
                for (int i = 0; i < kBlock; ++i) {
                    const float y = buffer.getSample(c, i);
                    if (!std::isfinite(y)) ++bad;
                    else if (std::abs(y) > peak.load()) peak.store(std::abs(y));
                }
            ++blocks;
        }
    });
    std::thread knobs([&] {
        juce::Random random(2);
        const auto& params = processor->getParameters();
        while (!stop.load()) {
            params[random.nextInt(params.size())]->setValueNotifyingHost(random.nextFloat());
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });

    int opened = 0;
    {
        Torture torture(*processor, cycles);
        juce::MessageManager::getInstance()->runDispatchLoop();
        opened = torture.opened();
    }
    stop.store(true);
    audio.join();
    knobs.join();
    processor->releaseResources();
    std::printf("{\"opened\": %d, \"blocks\": %ld, \"bad\": %ld, \"peak\": %.6f}\n", opened, blocks.load(), bad.load(),
                static_cast<double>(peak.load()));
    return 0;
}
