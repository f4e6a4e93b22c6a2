#include "MidiJob.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "MidiCapture.h"
#include "Model.h"
#include "ModelLibrary.h"
#include "midi/ClipRender.h"
#include "midi/EventModel.h"
#include "midi/Groove.h"
#include "midi/Interpolate.h"
#include "midi/SmfReader.h"
#include "midi/SmfWriter.h"
#include "midi/Tools.h"
#include "midi/Transcribe.h"

namespace tonemorph::plugin {

namespace {
constexpr int kWavBits = 24;
constexpr double kMaxTranscribeSeconds = 600.0;  // a longer file is refused before it is read
constexpr double kRunFolderDays = 1.0;            // run folders older than this go when a new run starts

struct ToolFacts {
    const char* name;
    const char* title;
};
constexpr ToolFacts kTools[MidiJob::kToolCount] = {{"continue", "Continue"},       {"generate", "Generate"},
                                                   {"interpolate", "Interpolate"}, {"groove", "Groove"},
                                                   {"drumify", "Drumify"},         {"transcribe", "Transcribe"}};

// The model file for a tool, or the musician's message that it is not installed.
// `train`: what `tonemorph midi train` calls it ("" for a model that is not trained here).
juce::File requireModel(const juce::String& fileName, const juce::String& what, const juce::String& train) {
    const juce::File found = MidiJob::findModel(fileName);
    if (found != juce::File()) return found;
    throw std::invalid_argument(
        ("The " + what + " model is not installed (looked for midi/" + fileName + " in " +
         ModelLibrary::userDir().getFullPathName() + " and in the plugin's own models, " +
         ModelLibrary::bundledDir().getFullPathName() + ")." +
         (train.isNotEmpty() ? " `tonemorph midi train " + train + "` makes it." : juce::String(" Reinstall the plugin.")))
            .toStdString());
}

midi::SmfRead readClip(const juce::File& file, midi::ClipKind kind, const juce::String& role) {
    if (file == juce::File())
        throw std::invalid_argument(("Choose " + role + " first: drop a .mid file here" +
                                     (juce::String(TONEMORPH_SYNTH ? " or record one." : " or choose one.")))
                                        .toStdString());
    if (!file.existsAsFile()) throw std::invalid_argument((quoted(file) + " does not exist any more.").toStdString());
    return musician<midi::MidiError>([&] { return midi::read_smf_file(file.getFullPathName().toStdString(), kind); });
}

midi::ClipKind clipKind(MidiJob::Kind kind) {
    switch (kind) {
        case MidiJob::Kind::Melody: return midi::ClipKind::Melody;
        case MidiJob::Kind::Drums: return midi::ClipKind::Drums;
        case MidiJob::Kind::Auto: break;
    }
    return midi::ClipKind::Auto;
}

std::shared_ptr<const midi::EventModel> eventModel(bool drums) {
    const juce::File file = requireModel(drums ? "drums.onnx" : "melody.onnx", drums ? "drums" : "melody",
                                         drums ? "drums" : "melody");
    return musician<midi::MidiError>([&] {
        return midi::EventModel::open(file.getFullPathName().toStdString(), drums ? midi::kDrumsKind : midi::kMelodyKind);
    });
}

// Transcribed notes on the sixteenth grid at `bpm`, from the first onset; velocity from the note's amplitude.
midi::Clip clipFromNotes(const std::vector<midi::TranscribedNote>& notes, double bpm) {
    midi::Clip clip;
    clip.bpm = bpm;
    if (notes.empty()) return clip;
    const double step = 60.0 / (bpm * midi::kStepsPerQuarter);
    double origin = notes.front().start_s;
    for (const auto& n : notes) origin = std::min(origin, n.start_s);
    int last = 0;
    for (const auto& n : notes) {
        clip.notes.push_back(gridNote((n.start_s - origin) / step, (n.end_s - origin) / step, n.pitch,
                                      static_cast<int>(std::lround(127.0 * n.amplitude))));
        last = std::max(last, clip.notes.back().end_step);
    }
    midi::sort_notes(clip.notes);
    clip.steps = midi::whole_bars(last);
    return clip;
}

// An audio file as planar floats ([channel][frame]).
std::vector<float> readAudio(const juce::File& file, int& channels, double& rate) {
    if (!file.existsAsFile()) throw std::invalid_argument((quoted(file) + " does not exist any more.").toStdString());
    juce::AudioFormatManager formats;
    formats.registerBasicFormats();
    std::unique_ptr<juce::AudioFormatReader> reader(formats.createReaderFor(file));
    if (reader == nullptr)
        throw std::invalid_argument((quoted(file) + " is not audio tonemorph can read (WAV, AIFF or MP3), or the "
                                                    "file is damaged.")
                                        .toStdString());
    if (reader->lengthInSamples > static_cast<juce::int64>(kMaxTranscribeSeconds * reader->sampleRate))
        throw std::invalid_argument((quoted(file) + " is longer than " + juce::String(kMaxTranscribeSeconds / 60.0, 0) +
                                     " minutes; transcribe a shorter excerpt.")
                                        .toStdString());
    channels = static_cast<int>(std::max(1u, reader->numChannels));
    rate = reader->sampleRate;
    const int frames = static_cast<int>(reader->lengthInSamples);
    juce::AudioBuffer<float> buffer(channels, std::max(1, frames));
    if (!reader->read(&buffer, 0, frames, 0, true, true))
        throw std::invalid_argument((quoted(file) + " could not be read to its end (is it damaged?).").toStdString());
    std::vector<float> planar(static_cast<std::size_t>(channels) * static_cast<std::size_t>(frames));
    for (int c = 0; c < channels; ++c)
        std::copy(buffer.getReadPointer(c), buffer.getReadPointer(c) + frames,
                  planar.begin() + static_cast<std::ptrdiff_t>(c) * frames);
    return planar;
}

void writeMidi(const juce::File& file, const midi::Clip& clip) {
    const std::string bytes = musician<midi::MidiError>([&] { return midi::write_smf(clip); });
    writeFileAtomically(file, bytes.data(), bytes.size());
}

juce::var settingsJson(const MidiJob::Settings& s, std::uint64_t seed) {
    auto* o = new juce::DynamicObject();
    o->setProperty("tool", MidiJob::toolName(s.tool));
    if (s.clip != juce::File()) o->setProperty("input", s.clip.getFullPathName());
    if (s.tool == MidiJob::Tool::Interpolate) o->setProperty("second", s.second.getFullPathName());
    static const char* kinds[] = {"auto", "melody", "drums"};
    o->setProperty("kind", kinds[static_cast<int>(s.kind)]);
    o->setProperty("bars", s.bars);
    o->setProperty("variations", s.variations);
    o->setProperty("steps", s.steps);
    o->setProperty("temperature", s.temperature);
    o->setProperty("seed", juce::String(static_cast<juce::uint64>(seed)));  // a JSON number loses 64-bit seeds
    o->setProperty("mono", s.mono);
    return juce::var(o);
}
}  // namespace

const char* MidiJob::toolName(Tool tool) { return kTools[static_cast<int>(tool)].name; }
const char* MidiJob::toolTitle(Tool tool) { return kTools[static_cast<int>(tool)].title; }

MidiJob::MidiJob(Hooks hooks) : hooks_(std::move(hooks)) {}

MidiJob::~MidiJob() { runner_.stop(); }

juce::File MidiJob::resultRoot() {
    return juce::File::getSpecialLocation(juce::File::tempDirectory).getChildFile("tonemorph-midi");
}

juce::File MidiJob::findModel(const juce::String& fileName) {
    for (const auto& dir : {ModelLibrary::userDir(), ModelLibrary::bundledDir()}) {
        const auto file = dir.getChildFile("midi").getChildFile(fileName);
        if (file.existsAsFile()) return file;
    }
    return {};
}

juce::String MidiJob::midiPattern() { return "*.mid;*.midi;*.smf"; }

juce::String MidiJob::audioPattern() {
    juce::AudioFormatManager formats;
    formats.registerBasicFormats();
    return formats.getWildcardForAllFormats();
}

juce::File MidiJob::writeRecording(const midi::Clip& clip) {
    const juce::File root = resultRoot();
    if (!root.createDirectory()) throw std::runtime_error("cannot create " + root.getFullPathName().toStdString());
    const juce::File file =
        root.getNonexistentChildFile("recorded-" + juce::Time::getCurrentTime().formatted("%Y%m%d-%H%M%S"), ".mid", false);
    writeMidi(file, clip);
    return file;
}

bool MidiJob::start(const Settings& settings) {
    return runner_.launch(State::Running, "Starting...", [this, settings] { run(settings); });
}

bool MidiJob::audition(int index) {
    return runner_.launch(State::Rendering, "Playing it through the instrument...", [this, index] { render(index); });
}

bool MidiJob::save(int index, const juce::File& destination) {
    return runner_.launch(State::Saving, "Saving...", [this, index, destination] { copyResult(index, destination); });
}

void MidiJob::run(const Settings& requested) {
    runner_.guarded(toolTitle(requested.tool), [&] {
        Settings settings = requested;
        const std::uint64_t seed =
            settings.seed != 0 ? settings.seed : static_cast<std::uint64_t>(juce::Random::getSystemRandom().nextInt64());
        const auto progress = [this](float fraction) { runner_.setProgress(0.05 + 0.9 * fraction, "composing"); };
        const auto* cancel = runner_.cancelFlag();
        midi::ToolResult result;
        std::string transcribed;  // Transcribe: its MIDI file as written (timing and pitch bends kept)
        juce::StringArray messages;
        const auto note = [&](const std::vector<std::string>& lines) {
            for (const auto& line : lines) messages.add(juce::String::fromUTF8(line.c_str()));
        };

        switch (settings.tool) {
            case Tool::Continue: {
                const auto read = readClip(settings.clip, clipKind(settings.kind), "a clip to continue");
                note(read.messages);
                const auto model = eventModel(read.clip.drums);
                midi::ContinueRequest request;
                request.clip = read.clip;
                request.bars = settings.bars;
                request.variations = settings.variations;
                request.temperature = settings.temperature;
                request.seed = seed;
                result = musician<midi::MidiError>(
                    [&] { return midi::continue_clip(*model, request, progress, cancel); });
                break;
            }
            case Tool::Generate: {
                const auto model = eventModel(settings.kind == Kind::Drums);
                midi::GenerateRequest request;
                request.bars = settings.bars;
                request.variations = settings.variations;
                request.temperature = settings.temperature;
                request.seed = seed;
                request.bpm = hooks_.tempo ? hooks_.tempo() : 120.0;
                result = musician<midi::MidiError>([&] { return midi::generate(*model, request, progress, cancel); });
                break;
            }
            case Tool::Interpolate: {
                const auto a = readClip(settings.clip, midi::ClipKind::Melody, "clip A (where the morph starts)");
                const auto b = readClip(settings.second, midi::ClipKind::Melody, "clip B (where the morph ends)");
                note(a.messages);
                note(b.messages);
                const juce::File file = requireModel("melody_vae_decoder.onnx", "Interpolate", "interpolate");
                const auto model = musician<midi::MidiError>(
                    [&] { return midi::MelodyVae::open(file.getFullPathName().toStdString()); });
                midi::InterpolateRequest request;
                request.a = a.clip;
                request.b = b.clip;
                request.a_name = quoted(settings.clip).toStdString();
                request.b_name = quoted(settings.second).toStdString();
                request.steps = settings.steps;
                request.temperature = settings.temperature;
                request.seed = seed;
                auto morph = musician<midi::MidiError>(
                    [&] { return midi::interpolate(*model, request, progress, cancel); });
                result.clips = std::move(morph.clips);
                result.messages = std::move(morph.messages);
                break;
            }
            case Tool::Groove:
            case Tool::Drumify: {
                const bool groove = settings.tool == Tool::Groove;
                const auto read = readClip(settings.clip, groove ? midi::ClipKind::Drums : midi::ClipKind::Auto,
                                           groove ? "a drum clip to groove" : "a clip to drumify");
                note(read.messages);
                const juce::File file = requireModel("groove.onnx", groove ? "Groove" : "Drumify", "groove");
                const auto model = musician<midi::MidiError>(
                    [&] { return midi::GrooveModel::open(file.getFullPathName().toStdString()); });
                midi::GrooveRequest request;
                request.clip = read.clip;
                request.variations = settings.variations;
                request.temperature = settings.temperature;
                request.seed = seed;
                result = musician<midi::MidiError>([&] {
                    return groove ? midi::groove(*model, request, progress, cancel)
                                  : midi::drumify(*model, request, progress, cancel);
                });
                break;
            }
            case Tool::Transcribe: {
                const juce::File file = requireModel("basic_pitch.onnx", "Transcribe (Basic Pitch)", "");
                midi::TranscribeRequest request;
                request.mono = settings.mono;
                juce::String heard;
                if (settings.clip != juce::File()) {
                    request.audio = readAudio(settings.clip, request.channels, request.sample_rate);
                    heard = quoted(settings.clip);
                } else {
                    double rate = 0.0;
                    request.audio = hooks_.input ? hooks_.input(settings.seconds, &rate) : std::vector<float>();
                    request.channels = 1;
                    request.sample_rate = rate;
                    heard = "the last " + juce::String(settings.seconds, 0) + " seconds of the input";
                    if (!hooks_.input) throw std::invalid_argument("Choose an audio file to transcribe (or drop one here).");
                    if (request.audio.empty() || !(rate > 0.0))
                        throw std::invalid_argument("Nothing has been heard on the input yet: play, then Transcribe "
                                                    "(or drop an audio file).");
                }
                // One ONNX Runtime thread: the other core keeps the audio going.
                const auto model = musician<midi::MidiError>(
                    [&] { return midi::TranscribeModel::open(file.getFullPathName().toStdString(), 1); });
                const auto found = musician<midi::MidiError>(
                    [&] { return midi::transcribe(*model, request, progress, cancel); });
                if (found.notes.empty() || !found.pitched)
                    throw std::invalid_argument(("No pitched notes were heard in " + heard +
                                                 ": play single notes or a riff clearly, then try again.")
                                                    .toStdString());
                // The file keeps the notes' own timing and their pitch bends, as `tonemorph midi transcribe` writes
                // it; the clip (on the grid at the host's tempo) is what the list and the audition show.
                result.clips.push_back(clipFromNotes(found.notes, hooks_.tempo ? hooks_.tempo() : 120.0));
                transcribed = musician<midi::MidiError>(
                    [&] { return midi::transcription_smf(found.notes, model->info().bins_per_semitone); });
                const auto bent = std::count_if(found.notes.begin(), found.notes.end(), [](const midi::TranscribedNote& n) {
                    return n.bends && std::any_of(n.bends->begin(), n.bends->end(), [](int b) { return b != 0; });
                });
                messages.add(juce::String(static_cast<int>(found.notes.size())) + " notes heard in " + heard +
                             (settings.mono ? " (one voice kept, the loudest line)" : "") + "; the file keeps their timing and "
                             "pitch bends (" + juce::String(static_cast<int>(bent)) + " bent notes), the audition plays them on "
                             "the sixteenth grid at " + juce::String(result.clips.back().bpm, 1) + " bpm.");
                break;
            }
        }
        note(result.messages);
        runner_.throwIfCancelled();

        // All files into a hidden folder, renamed into place when complete: a cancelled run leaves nothing.
        runner_.setProgress(0.95, "writing the clips");
        const RunFolders run = startRun(
            resultRoot(), juce::Time::getCurrentTime().formatted("%Y%m%d-%H%M%S") + "-" + toolName(settings.tool),
            kRunFolderDays);
        const juce::File& folder = run.folder;
        std::vector<Result> results;
        writeRun(run, [&](const juce::File& partial) {
            for (std::size_t i = 0; i < result.clips.size(); ++i) {
                const auto& clip = result.clips[i];
                const juce::String name = juce::String(toolName(settings.tool)) + "-" +
                                          juce::String(static_cast<int>(i) + 1).paddedLeft('0', 2) + ".mid";
                if (i == 0 && !transcribed.empty())
                    writeFileAtomically(partial.getChildFile(name), transcribed.data(), transcribed.size());
                else
                    writeMidi(partial.getChildFile(name), clip);
                results.push_back({folder.getChildFile(name), static_cast<int>(clip.notes.size()),
                                   midi::whole_bars(clip.steps) / midi::kStepsPerBar, clip.drums});
            }
            auto* sidecar = new juce::DynamicObject();
            const juce::var keep(sidecar);
            sidecar->setProperty("settings", settingsJson(settings, seed));
            juce::Array<juce::var> lines;
            for (const auto& m : messages) lines.add(m);
            sidecar->setProperty("messages", lines);
            juce::Array<juce::var> files;
            for (const auto& r : results) files.add(r.file.getFileName());
            sidecar->setProperty("clips", files);
            const juce::String json = juce::JSON::toString(keep);
            writeFileAtomically(partial.getChildFile(juce::String(toolName(settings.tool)) + ".json"), json.toRawUTF8(),
                                json.getNumBytesAsUTF8());
            runner_.throwIfCancelled();
        });
        settings.seed = seed;
        runner_.finish(State::Done, "Done", [&](Snapshot& s) {
            s.settings = settings;
            s.folder = folder;
            s.results = std::move(results);
            s.messages = messages;
            s.rendered = juce::File();
        });
    });
}

void MidiJob::render(int index) {
    const Snapshot now = status();
    runner_.guarded("Playing the clip", [&] {
        if (index < 0 || index >= static_cast<int>(now.results.size()))
            throw std::invalid_argument("There is no such result to play.");
        const juce::File mid = now.results[static_cast<std::size_t>(index)].file;
        const auto read = readClip(mid, midi::ClipKind::Auto, "a result");
        Instrument instrument = hooks_.instrument ? hooks_.instrument() : Instrument{};
        if (!instrument.model)
            throw std::invalid_argument("No instrument is loaded to play the clip with: choose one above.");
        midi::ClipRenderRequest request;
        request.sample_rate = instrument.sampleRate;
        request.channels = 2;
        request.settings = instrument.settings;
        const auto audio = musician<midi::MidiError>([&] {
            return midi::render_clip(instrument.model, read.clip, request,
                                     [this](float f) { runner_.setProgress(0.9 * f, "playing it through the instrument"); },
                                     runner_.cancelFlag());
        });
        const int frames = static_cast<int>(audio.size() / 2);
        juce::AudioBuffer<float> buffer(2, std::max(1, frames));
        buffer.clear();
        for (int i = 0; i < frames; ++i)
            for (int c = 0; c < 2; ++c) buffer.setSample(c, i, audio[static_cast<std::size_t>(2 * i + c)]);
        const juce::File wav = mid.withFileExtension(".wav");
        {
            const juce::TemporaryFile temp(wav, juce::TemporaryFile::useHiddenFile);
            {
                auto stream = temp.getFile().createOutputStream();
                if (stream == nullptr || stream->failedToOpen())
                    throw std::runtime_error("cannot write in " + wav.getParentDirectory().getFullPathName().toStdString());
                std::unique_ptr<juce::AudioFormatWriter> writer(juce::WavAudioFormat().createWriterFor(
                    stream.get(), instrument.sampleRate, 2, kWavBits, {}, 0));
                if (writer == nullptr) throw std::runtime_error("cannot write a WAV file at this sample rate");
                stream.release();  // the writer owns it now
                if (!writer->writeFromAudioSampleBuffer(buffer, 0, frames))
                    throw std::runtime_error("writing " + wav.getFullPathName().toStdString() + " failed (is the disk full?)");
            }
            if (!temp.overwriteTargetFileWithTemporary())
                throw std::runtime_error("cannot move the audition to " + wav.getFullPathName().toStdString());
        }
        runner_.throwIfCancelled();
        if (hooks_.play) hooks_.play(wav);
        runner_.finish(State::Rendered, "Playing", [&](Snapshot& s) {
            s.rendered = wav;
        });
    });
}

void MidiJob::copyResult(int index, const juce::File& destination) {
    const Snapshot now = status();
    runner_.guarded("Saving", [&] {
        if (index < 0 || index >= static_cast<int>(now.results.size()))
            throw std::invalid_argument("There is no such result to save.");
        const juce::File source = now.results[static_cast<std::size_t>(index)].file;
        if (!source.existsAsFile())
            throw std::invalid_argument((quoted(source) + " is gone from " + source.getParentDirectory().getFullPathName() +
                                         "; run the tool again.")
                                            .toStdString());
        for (const auto& input : {now.settings.clip, now.settings.second})
            if (input != juce::File() && sameFile(destination, input))
                throw std::invalid_argument(("Saving there would overwrite " + quoted(input) + "; choose another file.")
                                                .toStdString());
        if (sameFile(destination, source)) throw std::invalid_argument("That is the result file itself.");
        atomicCopy(source, destination, runner_.cancelFlag(), [this](double f) { runner_.setProgress(f, "saving"); });
        runner_.finish(State::Saved, "Saved", [&](Snapshot& s) {
            s.savedTo = destination;
        });
    });
}

}  // namespace tonemorph::plugin
