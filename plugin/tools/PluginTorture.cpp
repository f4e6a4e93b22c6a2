// pluginval-style torture of the processor and its editor, in-process with no host in between
// (tests/test_plugin_torture.py runs it, under Xvfb):
//   PROGRAM [cycles]        the editor opened on the desktop, resized and closed `cycles` times on the
//                           message thread while one thread renders audio and another moves random parameters
//   PROGRAM instances N     N processors made, prepared, run and destroyed; resident memory early and at the end
//   PROGRAM realtime A B [TRACK REF]
//                           processBlock counted for heap allocations, frees and mutex locks (tests/cpp/
//                           RealtimeCounters.h) while another thread moves every parameter, another swaps
//                           between model files A and B, MIDI arrives (past 1024 events a block, now and then)
//                           and reset() and setNonRealtime() come on the audio thread, as hosts call them;
//                           with TRACK and REF, another thread masters TRACK to REF over and over and A/Bs
//                           each result (the Master panel's job and audition)
//   PROGRAM master TRACK REF OUT [--strength S] [--ceiling DBTP] [--cancel-after SECONDS] [--ab-seconds SECONDS]
//                  [--save-to PATH]
//                           the Master panel's work without the panel: the processor's MasterJob masters TRACK
//                           to REF into OUT while a simulated audio thread keeps processing blocks; then (with
//                           --ab-seconds) the audition plays the original and the result in turn, measured, and
//                           (with --save-to) the panel's Save copies the result to PATH
//   PROGRAM midi TOOL [--clip A.mid] [--second B.mid] [--kind auto|melody|drums] [--bars N] [--variations N]
//                [--temperature T] [--steps N] [--seed S] [--instrument MODEL] [--record] [--capture SECONDS]
//                [--audition] [--cancel-after SECONDS] [--save-to PATH]
//                           the MIDI panel's work without the panel, while a simulated audio thread runs
//                           processBlock, counted for allocations, frees and locks all along: with --record (the
//                           Synth) a melody arrives on the MIDI input between Record and Stop and becomes the
//                           clip; with --capture (the effect) a melody is played into the input and the tool
//                           (Transcribe) hears its last SECONDS; then the processor's MidiJob runs TOOL; with
//                           --audition the first result is played through the instrument and measured at the
//                           plugin's output
//   PROGRAM sampler MODEL [--prompt WORDS] [--count N] [--seconds S] [--steps N] [--guidance G] [--seed S]
//                   [--cancel-after SECONDS] [--audition RECORD.wav] [--save-to DIR] [--keep I,J,...]
//                           the Sampler panel's work without the panel, while a simulated audio thread runs
//                           processBlock, counted for allocations, frees and locks all along: the processor's
//                           SamplerJob opens MODEL (its facts and words reported), generates N sounds; with
//                           --audition the first is played through the plugin's output, which is recorded into
//                           RECORD.wav (at the host's 48 kHz); with --save-to the kept sounds (--keep: indices;
//                           none: all) are saved into DIR
//   PROGRAM snapshot OUT.png [TAB...] [--continue CLIP.mid] [--sampler MODEL [WORDS]]
//                           the editor (980 x 600) with the named tabs chosen ("Offline tools", "MIDI tools",
//                           "Sampler"), painted into OUT.png; with --continue, after the MIDI job has continued CLIP
//                           (the panel lists the results); with --sampler, after the sampler job has opened MODEL
//                           (and, given WORDS, generated 4 sounds from them)
// Prints one JSON line; exit 0 = no crash.
// (pedalboard's own show_editor dies on X11 too, spotify/pedalboard#444: like this program it is no JUCE
// application, so JUCE leaves Xlib's default error handler, which exits on the first benign X error
// without a window manager. This program installs a handler that ignores them, as JUCE apps do.)
#include <X11/Xlib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>

#include <juce_audio_processors/juce_audio_processors.h>
#include <juce_gui_basics/juce_gui_basics.h>

#include "RealtimeCounters.h"
#include "TonemorphProcessor.h"
#include "actions/master/LoudnessMeter.h"

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
// The Master panel's cycle, over and over until `stop`: master `track` to `reference`, then A/B the result.
// Counts the runs finished.
void masterAndListen(tonemorph::plugin::TonemorphProcessor& processor, const juce::File& track,
                     const juce::File& reference, const std::atomic<bool>& stop, std::atomic<int>& finished) {
    using Choice = tonemorph::plugin::AuditionPlayer::Choice;
    const auto pause = [&](int ms) {
        for (int i = 0; i < ms && !stop.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    };
    tonemorph::plugin::MasterJob::Settings settings;
    settings.track = track;
    settings.reference = reference;
    settings.output = juce::File::createTempFile(".wav");
    while (!stop.load()) {
        processor.masterJob().start(settings);
        while (processor.masterJob().busy()) pause(5);
        if (processor.masterJob().status().state == tonemorph::plugin::MasterJob::State::Done) ++finished;
        for (const auto choice : {Choice::Original, Choice::Master, Choice::Original, Choice::Off}) {
            processor.audition().choose(choice);
            pause(80);
        }
    }
    processor.masterJob().cancel();
    while (processor.masterJob().busy()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    settings.output.deleteFile();
}

int realtime(const juce::File& a, const juce::File& b, const juce::File& track, const juce::File& reference) {
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
    std::atomic<int> mastered{0};
    std::thread mastering;
    if (track != juce::File()) mastering = std::thread([&] { masterAndListen(*processor, track, reference, stop, mastered); });

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
    long allocations = 0, frees = 0, locks = 0, bad = 0, auditioned = 0;
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
        if (processor->audition().choice() != tonemorph::plugin::AuditionPlayer::Choice::Off) ++auditioned;
        for (int ch = 0; ch < buffer.getNumChannels(); ++ch)
            for (int i = 0; i < kRtBlock; ++i)
                if (!std::isfinite(buffer.getSample(ch, i)) || std::abs(buffer.getSample(ch, i)) > 1.996f) ++bad;
        std::this_thread::sleep_for(std::chrono::microseconds(500));  // about a live host's pace, 4x real time
    }
    stop.store(true);
    knobs.join();
    swapper.join();
    if (mastering.joinable()) mastering.join();
    processor->releaseResources();
    std::printf("{\"blocks\": %d, \"swaps\": %d, \"allocations\": %ld, \"frees\": %ld, \"locks\": %ld, "
                "\"bad\": %ld, \"counting\": %s, \"probe\": [%ld, %ld, %ld], \"mastered\": %d, \"auditioned\": %ld}\n",
                kBlocks, swaps.load(), allocations, frees, locks, bad, TONEMORPH_COUNTERS ? "true" : "false",
                seen.allocations, seen.frees, seen.locks, mastered.load(), auditioned);
    return 0;
}

// One analysis as JSON.
juce::var analysisJson(const tonemorph::master::Analysis& a) {
    auto* o = new juce::DynamicObject();
    const auto number = [](double x) { return std::isfinite(x) ? juce::var(x) : juce::var(); };
    o->setProperty("lufs", number(a.integrated_lufs));
    o->setProperty("true_peak", number(a.true_peak_dbtp));
    o->setProperty("lra", number(a.loudness_range_lu));
    o->setProperty("rate", a.sample_rate);
    o->setProperty("channels", a.channels);
    o->setProperty("frames", static_cast<juce::int64>(a.frames));
    return juce::var(o);
}

// `master TRACK REF OUT [options]`: see the top of the file. Prints the job's outcome, the blocks the audio
// thread ran meanwhile and (--ab-seconds) the integrated loudness of the original and of the result as
// auditioned through the plugin's output.
int masterMode(const juce::StringArray& args) {
    using Choice = tonemorph::plugin::AuditionPlayer::Choice;
    using State = tonemorph::plugin::MasterJob::State;
    const auto option = [&](const char* name, double fallback) {
        const int i = args.indexOf(name);
        return i >= 0 && i + 1 < args.size() ? args[i + 1].getDoubleValue() : fallback;
    };
    juce::ScopedJuceInitialiser_GUI gui;
    std::unique_ptr<juce::AudioProcessor> owned(createPluginFilter());
    auto* processor = dynamic_cast<tonemorph::plugin::TonemorphProcessor*>(owned.get());
    processor->enableAllBuses();
    processor->prepareToPlay(kSampleRate, kBlock);

    // The simulated audio thread, about four times faster than real time; records what it plays while
    // `measuring` (into `recorded`, made big enough beforehand).
    const double ab = option("--ab-seconds", 0.0);
    std::vector<float> recorded(static_cast<std::size_t>(2 * (ab * kSampleRate + kBlock)));
    std::atomic<bool> stop{false}, measuring{false};
    std::atomic<long> blocks{0}, bad{0}, measured{0};
    std::thread audio([&] {
        juce::AudioBuffer<float> buffer(2, kBlock);
        juce::MidiBuffer midi;
        double phase = 0.0;
        while (!stop.load()) {
            for (int c = 0; c < 2; ++c)
                for (int i = 0; i < kBlock; ++i)
                    buffer.setSample(c, i, 0.3f * static_cast<float>(std::sin(phase + 2.0 * juce::MathConstants<double>::pi * 220.0 * i / kSampleRate)));
            phase += 2.0 * juce::MathConstants<double>::pi * 220.0 * kBlock / kSampleRate;
            processor->processBlock(buffer, midi);
            const bool record = measuring.load() && static_cast<std::size_t>(2 * (measured.load() + kBlock)) <= recorded.size();
            for (int c = 0; c < 2; ++c)
                for (int i = 0; i < kBlock; ++i) {
                    const float y = buffer.getSample(c, i);
                    if (!std::isfinite(y)) ++bad;
                    if (record) recorded[static_cast<std::size_t>(2 * (measured.load() + i) + c)] = y;
                }
            if (record) measured += kBlock;
            ++blocks;
            std::this_thread::sleep_for(std::chrono::microseconds(1300));
        }
    });

    tonemorph::plugin::MasterJob::Settings settings;
    settings.track = juce::File(args[1]);
    settings.reference = juce::File(args[2]);
    settings.output = juce::File(args[3]);
    settings.strength = option("--strength", 1.0);
    settings.ceilingDbtp = option("--ceiling", -1.0);
    auto& job = processor->masterJob();
    const auto started = std::chrono::steady_clock::now();
    const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
    job.start(settings);
    const double cancelAfter = option("--cancel-after", -1.0);
    while (job.busy()) {
        if (cancelAfter >= 0.0 && seconds() >= cancelAfter) job.cancel();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const double jobSeconds = seconds();
    const long blocksDuringJob = blocks.load();
    const auto status = job.status();

    // A/B: each choice heard for `ab` seconds (of audio) after its fade and the feeder's first fill.
    juce::Array<juce::var> levels;
    if (status.state == State::Done && ab > 0.0) {
        for (const auto choice : {Choice::Original, Choice::Master}) {
            processor->audition().choose(choice);
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            measured.store(0);
            measuring.store(true);
            while (2 * (measured.load() + kBlock) <= static_cast<long>(recorded.size()))
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            measuring.store(false);
            tonemorph::master::LoudnessMeter meter;
            meter.prepare(kSampleRate, 2);
            meter.process(recorded.data(), static_cast<int>(measured.load()));
            levels.add(meter.integrated_lufs());
        }
        processor->audition().choose(Choice::Off);
    }
    // Save, as the panel's button does it (refused onto an input, like the run itself).
    const int saveAt = args.indexOf("--save-to");
    juce::String saved = "not asked";
    if (status.state == State::Done && saveAt >= 0 && saveAt + 1 < args.size()) {
        job.save(juce::File(args[saveAt + 1]));
        while (job.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        const auto after = job.status();
        saved = after.state == State::Saved ? juce::String("saved") : after.error;
    }
    stop.store(true);
    audio.join();
    processor->releaseResources();

    static const char* names[] = {"idle", "mastering", "saving", "done", "saved", "failed", "cancelled"};
    auto* report = new juce::DynamicObject();
    report->setProperty("state", names[static_cast<int>(status.state)]);
    report->setProperty("error", status.error);
    report->setProperty("seconds", jobSeconds);
    report->setProperty("blocks", static_cast<juce::int64>(blocksDuringJob));
    report->setProperty("bad", static_cast<juce::int64>(bad.load()));
    report->setProperty("output_exists", settings.output.existsAsFile());
    report->setProperty("save", saved);
    if (status.state == State::Done && status.result) {
        const auto& r = *status.result;
        report->setProperty("track", analysisJson(r.track));
        report->setProperty("reference", analysisJson(r.reference));
        report->setProperty("result", analysisJson(r.result));
        report->setProperty("passes", r.passes);
        report->setProperty("gain_db", r.gain_db);
        juce::Array<juce::var> warnings;
        for (const auto& w : r.warnings) warnings.add(juce::String::fromUTF8(w.c_str()));
        report->setProperty("warnings", warnings);
        report->setProperty("ab_lufs", levels);
    }
    // One line: the test reads the last line of the output.
    std::printf("%s\n", juce::JSON::toString(juce::var(report), true).toRawUTF8());
    return 0;
}

// The melody --record plays and --capture sings: (MIDI note, eighths), at 120 bpm (an eighth is 0.25 s).
constexpr std::pair<int, int> kMelody[] = {{60, 2}, {62, 1}, {64, 1}, {65, 2}, {67, 2}, {65, 1}, {64, 1}, {62, 2}, {60, 4}};
constexpr double kEighthSeconds = 0.25;

// The value after option `name` in `args` ("" when it is not there).
juce::String optionText(const juce::StringArray& args, const char* name) {
    const int i = args.indexOf(name);
    return i >= 0 && i + 1 < args.size() ? args[i + 1] : juce::String();
}

// Option `name`'s number, or `fallback` when it is not there.
double optionNumber(const juce::StringArray& args, const char* name, double fallback) {
    const auto value = optionText(args, name);
    return value.isNotEmpty() ? value.getDoubleValue() : fallback;
}

// "saved" when the job's last task saved, else its error.
template <typename Job>
juce::String savedOrError(const Job& job) {
    const auto after = job.status();
    return after.state == decltype(after.state)::Saved ? juce::String("saved") : after.error;
}

// The end of a job mode: its simulated audio thread stopped (`stop` set, `audio` joined) and the processor
// released; what that thread counted in processBlock (blocks, heap allocations, frees, mutex locks, bad blocks)
// into the report `keep` holds, with a probe showing whether the counters see this program's own allocation,
// free and lock; the report printed as JSON. Returns the exit code.
int endJobMode(juce::AudioProcessor& processor, std::atomic<bool>& stop, std::thread& audio, const juce::var& keep,
               const std::atomic<long>& blocks, const std::atomic<long>& allocations, const std::atomic<long>& frees,
               const std::atomic<long>& locks, const std::atomic<long>& bad) {
    // A job refused at once can end before the simulated audio thread had its first turn on a loaded machine
    // (a CI run saw 0 blocks): the report's checks need it to have played a few (at most 10 s waited).
    for (int waited = 0; blocks.load() < 4 && waited < 5000; ++waited)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    stop.store(true);
    audio.join();
    processor.releaseResources();
    auto* report = keep.getDynamicObject();
    std::mutex probe;
    const auto seen = realtime_counters::counted([&] {
        std::vector<float> v(10);
        const std::lock_guard<std::mutex> lock(probe);
    });
    report->setProperty("blocks", static_cast<juce::int64>(blocks.load()));
    report->setProperty("allocations", static_cast<juce::int64>(allocations.load()));
    report->setProperty("frees", static_cast<juce::int64>(frees.load()));
    report->setProperty("locks", static_cast<juce::int64>(locks.load()));
    report->setProperty("bad", static_cast<juce::int64>(bad.load()));
    report->setProperty("counting", TONEMORPH_COUNTERS != 0);
    report->setProperty("probe", juce::Array<juce::var>{static_cast<juce::int64>(seen.allocations),
                                                        static_cast<juce::int64>(seen.frees),
                                                        static_cast<juce::int64>(seen.locks)});
    std::printf("%s\n", juce::JSON::toString(keep, true).toRawUTF8());
    return 0;
}

// `midi TOOL [options]`: see the top of the file.
int midiMode(const juce::StringArray& args) {
    using realtime_counters::counted;
    using Choice = tonemorph::plugin::AuditionPlayer::Choice;
    using State = tonemorph::plugin::MidiJob::State;
    using Tool = tonemorph::plugin::MidiJob::Tool;
    const auto text = [&](const char* name) { return optionText(args, name); };
    const auto number = [&](const char* name, double fallback) { return optionNumber(args, name, fallback); };
    const bool record = args.contains("--record"), auditionIt = args.contains("--audition");
    const double capture = number("--capture", 0.0);

    juce::ScopedJuceInitialiser_GUI gui;
    std::unique_ptr<juce::AudioProcessor> owned(createPluginFilter());
    auto* processor = dynamic_cast<tonemorph::plugin::TonemorphProcessor*>(owned.get());
    processor->enableAllBuses();
    if (text("--instrument").isNotEmpty()) processor->loadModel(juce::File(text("--instrument")));
    processor->prepareToPlay(kSampleRate, kBlock);

    // The melody's events in samples from its start: (sample, MIDI note or -1 for its end).
    std::vector<std::pair<long, int>> melody;
    long at = 0;
    for (const auto& [pitch, eighths] : kMelody) {
        melody.emplace_back(at, pitch);
        at += static_cast<long>(eighths * kEighthSeconds * kSampleRate);
        melody.emplace_back(at - static_cast<long>(0.02 * kSampleRate), -pitch);  // released just before the next
    }
    const long melodySamples = at;

    // The simulated audio thread, about four times faster than real time. `playFrom`: the sample (of its own
    // clock) where the melody starts (MIDI for the Synth, tones into the effect's input); -1: none. Records the
    // output's energy while `measuring`.
    std::atomic<long> clock{0}, playFrom{-1}, blocks{0}, allocations{0}, frees{0}, locks{0}, bad{0};
    std::atomic<long> heardBlocks{0}, quietBlocks{0};
    std::atomic<double> heardEnergy{0.0}, quietEnergy{0.0};
    std::atomic<bool> stop{false};
    std::thread audio([&] {
        juce::AudioBuffer<float> buffer(std::max(processor->getTotalNumInputChannels(), processor->getTotalNumOutputChannels()),
                                        kBlock);
        juce::MidiBuffer midi;
        midi.ensureSize(4096);
        double phase = 0.0;
        while (!stop.load()) {
            const long now = clock.load(), from = playFrom.load();
            buffer.clear();
            midi.clear();
            if (from >= 0) {
                for (const auto& [sample, pitch] : melody) {
                    const long offset = from + sample - now;
                    if (offset < 0 || offset >= kBlock) continue;
                    midi.addEvent(pitch > 0 ? juce::MidiMessage::noteOn(1, pitch, 0.8f) : juce::MidiMessage::noteOff(1, -pitch),
                                  static_cast<int>(offset));
                }
                if (!tonemorph::plugin::TonemorphProcessor::kSynth) {  // the same melody as tones into the input
                    for (int i = 0; i < kBlock; ++i) {
                        const long t = now + i - from;
                        int pitch = 0;
                        long noteStart = 0;
                        for (const auto& [sample, p] : melody)
                            if (sample <= t && p > 0) {
                                pitch = p;
                                noteStart = sample;
                            } else if (sample <= t && p == -pitch) {
                                pitch = 0;
                            }
                        if (t < 0 || t >= melodySamples || pitch == 0) continue;
                        const double f = 440.0 * std::pow(2.0, (pitch - 69) / 12.0);
                        phase += 2.0 * juce::MathConstants<double>::pi * f / kSampleRate;
                        const double envelope = std::exp(-2.0 * static_cast<double>(t - noteStart) / kSampleRate);
                        float y = 0.0f;
                        for (int h = 1; h <= 4; ++h) y += static_cast<float>(0.3 / h * envelope * std::sin(h * phase));
                        for (int c = 0; c < buffer.getNumChannels(); ++c) buffer.setSample(c, i, y);
                    }
                }
            }
            const auto c = counted([&] { processor->processBlock(buffer, midi); });
            allocations += c.allocations;
            frees += c.frees;
            locks += c.locks;
            double energy = 0.0;
            for (int ch = 0; ch < 2 && ch < buffer.getNumChannels(); ++ch)
                for (int i = 0; i < kBlock; ++i) {
                    const float y = buffer.getSample(ch, i);
                    if (!std::isfinite(y)) ++bad;
                    else energy += static_cast<double>(y) * y;
                }
            const auto choice = processor->audition().choice();
            auto& sum = choice == Choice::Clip ? heardEnergy : quietEnergy;
            sum.store(sum.load() + energy);
            ++(choice == Choice::Clip ? heardBlocks : quietBlocks);
            clock += kBlock;
            ++blocks;
            std::this_thread::sleep_for(std::chrono::microseconds(1300));
        }
    });
    const auto waitSamples = [&](long samples) {
        const long until = clock.load() + samples;
        while (clock.load() < until) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    };
    waitSamples(kBlock * 8);

    auto* report = new juce::DynamicObject();
    const juce::var keep(report);
    tonemorph::plugin::MidiJob::Settings settings;
    static const char* tools[] = {"continue", "generate", "interpolate", "groove", "drumify", "transcribe"};
    for (int t = 0; t < tonemorph::plugin::MidiJob::kToolCount; ++t)
        if (args[1] == tools[t]) settings.tool = static_cast<Tool>(t);
    settings.clip = text("--clip").isNotEmpty() ? juce::File(text("--clip")) : juce::File();
    settings.second = text("--second").isNotEmpty() ? juce::File(text("--second")) : juce::File();
    const auto kind = text("--kind");
    settings.kind = kind == "melody" ? tonemorph::plugin::MidiJob::Kind::Melody
                    : kind == "drums" ? tonemorph::plugin::MidiJob::Kind::Drums
                                      : tonemorph::plugin::MidiJob::Kind::Auto;
    settings.bars = static_cast<int>(number("--bars", 2));
    settings.variations = static_cast<int>(number("--variations", 4));
    settings.temperature = number("--temperature", 1.0);
    settings.steps = static_cast<int>(number("--steps", 5));
    settings.seed = static_cast<std::uint64_t>(number("--seed", 0));
    settings.mono = true;

    // The Synth: Record, the melody on the MIDI input, Stop; the recording is the clip.
    if (record) {
        auto& recorder = processor->recorder();
        recorder.start();
        waitSamples(kBlock * 4);
        playFrom.store(clock.load() + kBlock);
        // The panel's timer drains the queue ten times a second; here, this thread does.
        for (long until = clock.load() + melodySamples + kBlock * 8; clock.load() < until;) {
            recorder.drain();
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        const auto recording = recorder.stop();
        playFrom.store(-1);
        report->setProperty("recorded_notes", recording.notes);
        report->setProperty("recorded_bpm", recording.clip.bpm);
        juce::Array<juce::var> pitches, starts;
        for (const auto& n : recording.clip.notes) {
            pitches.add(n.pitch);
            starts.add(n.start_step);
        }
        report->setProperty("recorded_pitches", pitches);
        report->setProperty("recorded_starts", starts);
        if (recording.notes > 0) settings.clip = tonemorph::plugin::MidiJob::writeRecording(recording.clip);
        report->setProperty("recording", settings.clip.getFullPathName());
    }
    // The effect: the melody into the input; Transcribe hears the last `capture` seconds.
    if (capture > 0.0) {
        playFrom.store(clock.load() + kBlock);
        waitSamples(melodySamples + static_cast<long>(0.5 * kSampleRate));
        playFrom.store(-1);
        settings.seconds = capture;
        report->setProperty("heard_seconds", processor->capture().heardSeconds());
    }

    auto& job = processor->midiJob();
    const auto started = std::chrono::steady_clock::now();
    const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
    job.start(settings);
    const double cancelAfter = number("--cancel-after", -1.0);
    while (job.busy()) {
        if (cancelAfter >= 0.0 && seconds() >= cancelAfter) job.cancel();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    report->setProperty("seconds", seconds());
    const auto status = job.status();
    static const char* names[] = {"idle", "running", "rendering", "saving", "done", "rendered", "saved", "failed", "cancelled"};
    report->setProperty("state", names[static_cast<int>(status.state)]);
    report->setProperty("error", status.error);
    report->setProperty("folder", status.folder.getFullPathName());
    juce::Array<juce::var> files, messages;
    for (const auto& r : status.results) files.add(r.file.getFullPathName());
    for (const auto& m : status.messages) messages.add(m);
    report->setProperty("results", files);
    report->setProperty("messages", messages);

    // Audition: the first result through the instrument, heard at the output until it ends (or 20 s of audio).
    if (auditionIt && status.state == State::Done && !status.results.empty()) {
        quietEnergy.store(0.0);
        quietBlocks.store(0);
        waitSamples(kBlock * 40);  // the output with nothing auditioned, for comparison
        const double quiet = quietBlocks.load() > 0 ? quietEnergy.load() / (quietBlocks.load() * 2.0 * kBlock) : 0.0;
        job.audition(0);
        while (job.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        const auto after = job.status();
        report->setProperty("audition_state", names[static_cast<int>(after.state)]);
        report->setProperty("audition_error", after.error);
        report->setProperty("audition_wav", after.rendered.getFullPathName());
        for (long until = clock.load() + static_cast<long>(20 * kSampleRate);
             processor->audition().choice() == Choice::Clip && clock.load() < until;)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        report->setProperty("audition_ended", processor->audition().choice() == Choice::Off);
        report->setProperty("heard_blocks", static_cast<juce::int64>(heardBlocks.load()));
        report->setProperty("heard_rms", heardBlocks.load() > 0
                                             ? std::sqrt(heardEnergy.load() / (heardBlocks.load() * 2.0 * kBlock))
                                             : 0.0);
        report->setProperty("quiet_rms", std::sqrt(quiet));
    }
    const int saveAt = args.indexOf("--save-to");
    if (status.state == State::Done && saveAt >= 0 && saveAt + 1 < args.size()) {
        job.save(0, juce::File(args[saveAt + 1]));
        while (job.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        report->setProperty("save", savedOrError(job));
    }
    return endJobMode(*processor, stop, audio, keep, blocks, allocations, frees, locks, bad);
}

// `sampler MODEL [options]`: see the top of the file.
int samplerMode(const juce::StringArray& args) {
    using realtime_counters::counted;
    using Choice = tonemorph::plugin::AuditionPlayer::Choice;
    using State = tonemorph::plugin::SamplerJob::State;
    constexpr double kMaxRecordSeconds = 12.0;
    const auto text = [&](const char* name) { return optionText(args, name); };
    const auto number = [&](const char* name, double fallback) { return optionNumber(args, name, fallback); };

    juce::ScopedJuceInitialiser_GUI gui;
    std::unique_ptr<juce::AudioProcessor> owned(createPluginFilter());
    auto* processor = dynamic_cast<tonemorph::plugin::TonemorphProcessor*>(owned.get());
    processor->enableAllBuses();
    processor->prepareToPlay(kSampleRate, kBlock);

    // The simulated audio thread, about four times faster than real time, silent in (no input, no MIDI): what
    // the output holds while a sound is auditioned is the sound. It is recorded into `recorded` (made big
    // enough beforehand) while the audition plays.
    std::vector<float> recorded(static_cast<std::size_t>(2 * kMaxRecordSeconds * kSampleRate));
    std::atomic<long> blocks{0}, allocations{0}, frees{0}, locks{0}, bad{0}, heardBlocks{0}, recordedFrames{0};
    std::atomic<bool> stop{false};
    std::thread audio([&] {
        juce::AudioBuffer<float> buffer(std::max(processor->getTotalNumInputChannels(), processor->getTotalNumOutputChannels()),
                                        kBlock);
        juce::MidiBuffer midi;
        while (!stop.load()) {
            buffer.clear();
            const auto c = counted([&] { processor->processBlock(buffer, midi); });
            allocations += c.allocations;
            frees += c.frees;
            locks += c.locks;
            const bool heard = processor->audition().choice() == Choice::Clip;
            const long at = recordedFrames.load();
            const bool record = heard && static_cast<std::size_t>(2 * (at + kBlock)) <= recorded.size();
            for (int ch = 0; ch < 2 && ch < buffer.getNumChannels(); ++ch)
                for (int i = 0; i < kBlock; ++i) {
                    const float y = buffer.getSample(ch, i);
                    if (!std::isfinite(y)) ++bad;
                    if (record) recorded[static_cast<std::size_t>(2 * (at + i) + ch)] = y;
                }
            if (record) recordedFrames += kBlock;
            if (heard) ++heardBlocks;
            ++blocks;
            std::this_thread::sleep_for(std::chrono::microseconds(1300));
        }
    });
    const auto wait = [](tonemorph::plugin::SamplerJob& job, double cancelAfter) {
        const auto started = std::chrono::steady_clock::now();
        while (job.busy()) {
            if (cancelAfter >= 0.0 &&
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() >= cancelAfter)
                job.cancel();
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    };
    static const char* names[] = {"idle", "opening", "generating", "saving", "opened", "done", "saved", "failed", "cancelled"};
    auto* report = new juce::DynamicObject();
    const juce::var keep(report);

    // Opening, as choosing it in the panel does: its facts, or why it cannot be used.
    auto& job = processor->samplerJob();
    const juce::File model(args[1]);
    job.open(model);
    wait(job, -1.0);
    const auto opened = job.status();
    report->setProperty("open_state", names[static_cast<int>(opened.state)]);
    report->setProperty("open_error", opened.error);
    juce::Array<juce::var> words, kinds;
    for (const auto& w : opened.model.words) words.add(w);
    for (const auto& k : opened.model.kinds) kinds.add(k);
    report->setProperty("words", words);
    report->setProperty("kinds", kinds);
    report->setProperty("sample_rate", opened.model.sampleRate);
    report->setProperty("length", opened.model.length);
    report->setProperty("default_steps", opened.model.defaultSteps);
    juce::Array<juce::var> samplers;
    for (const auto& entry : tonemorph::plugin::SamplerJob::findSamplers()) samplers.add(entry.file.getFullPathName());
    report->setProperty("samplers", samplers);

    tonemorph::plugin::SamplerJob::Settings settings;
    settings.model = model;
    settings.prompt = text("--prompt");
    settings.count = static_cast<int>(number("--count", 4));
    settings.seconds = number("--seconds", 0.0);
    settings.steps = static_cast<int>(number("--steps", 0));
    settings.guidance = number("--guidance", -1.0);
    if (text("--seed").isNotEmpty()) settings.seed = static_cast<std::uint64_t>(text("--seed").getLargeIntValue());
    const long blocksBefore = blocks.load();
    job.start(settings);
    report->setProperty("seconds", wait(job, number("--cancel-after", -1.0)));
    report->setProperty("job_blocks", static_cast<juce::int64>(blocks.load() - blocksBefore));  // played meanwhile
    const auto status = job.status();
    report->setProperty("state", names[static_cast<int>(status.state)]);
    report->setProperty("error", status.error);
    report->setProperty("folder", status.folder.getFullPathName());
    report->setProperty("seed", static_cast<juce::int64>(status.settings.seed.value_or(0)));
    report->setProperty("steps", status.settings.steps);
    juce::Array<juce::var> files, seeds;
    for (const auto& r : status.results) {
        files.add(r.file.getFullPathName());
        seeds.add(static_cast<juce::int64>(r.seed));
    }
    report->setProperty("results", files);
    report->setProperty("seeds", seeds);

    // Audition: the first sound through the plugin's output, recorded until it ends (or 12 s of audio).
    const juce::File recording(text("--audition"));
    if (recording != juce::File() && status.state == State::Done && !status.results.empty()) {
        job.play(0);
        for (long until = blocks.load() + static_cast<long>(kMaxRecordSeconds * kSampleRate / kBlock);
             processor->audition().choice() == Choice::Clip && blocks.load() < until;)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        report->setProperty("audition_ended", processor->audition().choice() == Choice::Off);
        report->setProperty("heard_blocks", static_cast<juce::int64>(heardBlocks.load()));
        const int frames = static_cast<int>(recordedFrames.load());
        juce::AudioBuffer<float> buffer(2, std::max(1, frames));
        for (int i = 0; i < frames; ++i)
            for (int c = 0; c < 2; ++c) buffer.setSample(c, i, recorded[static_cast<std::size_t>(2 * i + c)]);
        recording.deleteFile();
        std::unique_ptr<juce::AudioFormatWriter> writer(
            juce::WavAudioFormat().createWriterFor(new juce::FileOutputStream(recording), kSampleRate, 2, 32, {}, 0));
        report->setProperty("recorded", writer != nullptr && writer->writeFromAudioSampleBuffer(buffer, 0, frames));
    }
    // Save, as the panel's button does it: the kept rows (--keep 0,2) or all of them.
    const juce::File saveTo(text("--save-to"));
    if (saveTo != juce::File() && status.state == State::Done) {
        std::vector<int> kept;
        for (const auto& index : juce::StringArray::fromTokens(text("--keep"), ",", ""))
            if (index.isNotEmpty()) kept.push_back(index.getIntValue());
        job.save(kept, saveTo);
        wait(job, -1.0);
        report->setProperty("save", savedOrError(job));
    }
    return endJobMode(*processor, stop, audio, keep, blocks, allocations, frees, locks, bad);
}

// Chooses the tab named `name` in every TabbedComponent under `c`.
void chooseTab(juce::Component& c, const juce::String& name) {
    if (auto* tabs = dynamic_cast<juce::TabbedComponent*>(&c)) {
        const int index = tabs->getTabNames().indexOf(name);
        if (index >= 0) tabs->setCurrentTabIndex(index);
    }
    for (auto* child : c.getChildren()) chooseTab(*child, name);
}

// `snapshot OUT.png [TAB...]`: see the top of the file.
int snapshot(const juce::StringArray& args) {
    XSetErrorHandler([](Display*, XErrorEvent*) { return 0; });
    juce::ScopedJuceInitialiser_GUI gui;
    std::unique_ptr<juce::AudioProcessor> processor(createPluginFilter());
    processor->enableAllBuses();
    processor->prepareToPlay(kSampleRate, kBlock);
    const int clipAt = args.indexOf("--continue");
    if (clipAt > 0 && clipAt + 1 < args.size()) {
        auto& job = dynamic_cast<tonemorph::plugin::TonemorphProcessor&>(*processor).midiJob();
        tonemorph::plugin::MidiJob::Settings settings;
        settings.clip = juce::File(args[clipAt + 1]);
        job.start(settings);
        while (job.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const int samplerAt = args.indexOf("--sampler");
    if (samplerAt > 0 && samplerAt + 1 < args.size()) {
        auto& job = dynamic_cast<tonemorph::plugin::TonemorphProcessor&>(*processor).samplerJob();
        tonemorph::plugin::SamplerJob::Settings settings;
        settings.model = juce::File(args[samplerAt + 1]);
        job.open(settings.model);
        while (job.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (samplerAt + 2 < args.size()) {
            settings.prompt = args[samplerAt + 2];
            settings.count = 4;
            settings.seed = 1;
            job.start(settings);
            while (job.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    std::unique_ptr<juce::AudioProcessorEditor> editor(processor->createEditorIfNeeded());
    editor->setSize(980, 600);
    int lastTab = args.size();
    for (const int at : {clipAt, samplerAt})
        if (at > 0) lastTab = std::min(lastTab, at);
    for (int i = 2; i < lastTab; ++i) chooseTab(*editor, args[i]);
    const auto image = editor->createComponentSnapshot(editor->getLocalBounds());
    juce::File out(args[1]);
    out.deleteFile();
    juce::FileOutputStream stream(out);
    const bool written = stream.openedOk() && juce::PNGImageFormat().writeImageToStream(image, stream);
    processor->editorBeingDeleted(editor.get());
    editor.reset();
    processor->releaseResources();
    std::printf("{\"written\": %s, \"width\": %d, \"height\": %d}\n", written ? "true" : "false", image.getWidth(),
                image.getHeight());
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc > 2 && juce::String(argv[1]) == "instances") return instances(std::max(5, std::atoi(argv[2])));
    if (argc > 3 && juce::String(argv[1]) == "realtime")
        return realtime(juce::File(argv[2]), juce::File(argv[3]), argc > 5 ? juce::File(argv[4]) : juce::File(),
                        argc > 5 ? juce::File(argv[5]) : juce::File());
    if (argc > 4 && juce::String(argv[1]) == "master")
        return masterMode(juce::StringArray(argv + 1, argc - 1));
    if (argc > 2 && juce::String(argv[1]) == "midi") return midiMode(juce::StringArray(argv + 1, argc - 1));
    if (argc > 2 && juce::String(argv[1]) == "sampler") return samplerMode(juce::StringArray(argv + 1, argc - 1));
    if (argc > 2 && juce::String(argv[1]) == "snapshot") return snapshot(juce::StringArray(argv + 1, argc - 1));
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
