#include "SamplerJob.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "sampler/SoundGenerator.h"

namespace tonemorph::plugin {

namespace {
constexpr int kWavBits = 24;
constexpr double kRunFolderDays = 1.0;  // run folders older than this go when a new run starts
constexpr int kMaxStemLength = 40;      // of a run folder's name taken from the prompt
constexpr std::uint64_t kMaxSeed = (std::uint64_t{1} << 63) - 1;  // as the CLI takes them (a JSON number)

// One sound as a mono 24-bit WAV at `rate` (samples past +-1 are clipped, as the file cannot hold them).
void writeWav(const juce::File& file, const std::vector<float>& audio, int rate) {
    juce::AudioBuffer<float> buffer(1, std::max<int>(1, static_cast<int>(audio.size())));
    buffer.clear();
    for (std::size_t i = 0; i < audio.size(); ++i)
        buffer.setSample(0, static_cast<int>(i), std::clamp(audio[i], -1.0f, 1.0f));
    auto stream = file.createOutputStream();
    if (stream == nullptr || stream->failedToOpen())
        throw std::runtime_error("cannot write in " + file.getParentDirectory().getFullPathName().toStdString());
    std::unique_ptr<juce::AudioFormatWriter> writer(
        juce::WavAudioFormat().createWriterFor(stream.get(), rate, 1, kWavBits, {}, 0));
    if (writer == nullptr) throw std::runtime_error("cannot write a WAV file at " + std::to_string(rate) + " Hz");
    stream.release();  // the writer owns it now
    if (!writer->writeFromAudioSampleBuffer(buffer, 0, static_cast<int>(audio.size())))
        throw std::runtime_error("writing " + file.getFullPathName().toStdString() + " failed (is the disk full?)");
}

// "short bright snare" -> "short-bright-snare"; nothing -> "any".
juce::String promptStem(const juce::String& prompt) {
    juce::String stem;
    for (const auto& word : juce::StringArray::fromTokens(prompt.toLowerCase(), " ,\t\r\n", ""))
        if (word.isNotEmpty()) stem << (stem.isEmpty() ? "" : "-") << juce::File::createLegalFileName(word);
    return stem.isEmpty() ? juce::String("any") : stem.substring(0, kMaxStemLength);
}

// One sound's sidecar, as `tonemorph sampler generate` writes it (engine/sampler.py sidecar): the seed, the
// settings, the conditions the words asked for (a kind by its name, a descriptor by its bin), the model; no
// score (the panel keeps what the musician hears as good).
juce::String sidecar(const SamplerJob::Settings& s, const sampler::SamplerInfo& info, std::uint64_t seed, int steps,
                     double guidance, int samples, const std::vector<std::int64_t>& conditions) {
    auto* o = new juce::DynamicObject();
    const juce::var keep(o);
    o->setProperty("seed", static_cast<juce::int64>(seed));
    o->setProperty("steps", steps);
    o->setProperty("guidance", guidance);
    o->setProperty("prompt", s.prompt);
    auto* said = new juce::DynamicObject();
    o->setProperty("conditions", juce::var(said));
    const auto& kinds = info.vocabulary.kind_names;
    for (int c = 0; c < sampler::kConditionCount; ++c) {
        const auto value = conditions[static_cast<std::size_t>(c)];
        if (value == info.unspecified[static_cast<std::size_t>(c)]) continue;
        if (c == 0 && value >= 0 && static_cast<std::size_t>(value) < kinds.size())
            said->setProperty(sampler::kConditionNames[c], juce::String::fromUTF8(kinds[static_cast<std::size_t>(value)].c_str()));
        else
            said->setProperty(sampler::kConditionNames[c], static_cast<juce::int64>(value));
    }
    auto* model = new juce::DynamicObject();
    o->setProperty("model", juce::var(model));
    model->setProperty("name", juce::String::fromUTF8(info.name.c_str()));
    model->setProperty("version", info.version);
    model->setProperty("path", juce::String::fromUTF8(info.path.c_str()));
    o->setProperty("seconds", static_cast<double>(samples) / info.sample_rate);
    o->setProperty("sample_rate", info.sample_rate);
    o->setProperty("score", juce::var());
    return juce::JSON::toString(keep);
}
}  // namespace

SamplerJob::SamplerJob(Play play) : play_(std::move(play)) {}

SamplerJob::~SamplerJob() { runner_.stop(); }

juce::File SamplerJob::resultRoot() {
    return juce::File::getSpecialLocation(juce::File::tempDirectory).getChildFile("tonemorph-sampler");
}

std::vector<ModelEntry> SamplerJob::findSamplers() { return ModelLibrary::scan(kFolder); }

juce::String SamplerJob::fileName(int index, std::uint64_t seed) {
    return juce::String(index + 1).paddedLeft('0', 4) + "-seed" + juce::String(static_cast<juce::uint64>(seed)) + ".wav";
}

bool SamplerJob::open(const juce::File& model) {
    return runner_.launch(State::Opening, "Opening the sampler...", [this, model] { describe(model); });
}

bool SamplerJob::start(const Settings& settings) {
    return runner_.launch(State::Generating, "Starting...", [this, settings] { run(settings); });
}

bool SamplerJob::save(const std::vector<int>& indices, const juce::File& folder) {
    return runner_.launch(State::Saving, "Saving...", [this, indices, folder] { copyResults(indices, folder); });
}

void SamplerJob::play(int index) {
    const Snapshot now = status();
    if (index < 0 || index >= static_cast<int>(now.results.size())) return;
    const juce::File file = now.results[static_cast<std::size_t>(index)].file;
    if (file.existsAsFile() && play_) play_(file);
}

// The model in `file`, opened once and kept while the file is unchanged (the job thread's).
std::shared_ptr<const sampler::SamplerModel> SamplerJob::load(const juce::File& file) {
    if (file == juce::File()) throw std::invalid_argument("Choose a sampler first.");
    if (!file.existsAsFile())
        throw std::invalid_argument((quoted(file) + " does not exist (looked in " +
                                     file.getParentDirectory().getFullPathName() + ").")
                                        .toStdString());
    const juce::Time modified = file.getLastModificationTime();
    if (model_ == nullptr || modelFile_ != file || modelTime_ != modified) {
        model_.reset();
        model_ = musician<sampler::SamplerError>(
            [&] { return sampler::SamplerModel::open(file.getFullPathName().toStdString()); });
        modelFile_ = file;
        modelTime_ = modified;
    }
    return model_;
}

void SamplerJob::describe(const juce::File& file) {
    runner_.update([](Snapshot& s) { s.model = {}; });  // a file that fails to open is not generated from
    runner_.guarded("Opening the sampler", [&] {
        const auto model = load(file);
        const auto& info = model->info();
        ModelFacts facts;
        facts.file = file;
        facts.name = juce::String::fromUTF8(info.name.c_str());
        if (facts.name.isEmpty()) facts.name = file.getFileNameWithoutExtension();
        facts.description = juce::String::fromUTF8(info.description.c_str());
        facts.sampleRate = info.sample_rate;
        facts.length = info.length;
        facts.hop = info.hop;
        facts.defaultSteps = info.default_steps;
        facts.defaultGuidance = info.default_guidance;
        const auto& vocabulary = info.vocabulary;
        for (const auto& w : vocabulary.words) {
            const juce::String word = juce::String::fromUTF8(w.word.c_str());
            facts.words.add(word);
            if (w.condition != 0) facts.descriptorWords.add(word);
            else if (w.value >= 0 && static_cast<std::size_t>(w.value) < vocabulary.kind_names.size() &&
                     vocabulary.kind_names[static_cast<std::size_t>(w.value)] == w.word)
                facts.kinds.add(word);  // a kind by its own name; its synonyms are in `words`
        }
        facts.words.sort(false);
        runner_.finish(State::Opened, "Ready", [&](Snapshot& s) {
            s.model = facts;
        });
    });
}

void SamplerJob::run(const Settings& requested) {
    runner_.guarded("Generating", [&] {
        Settings settings = requested;
        if (settings.count < 1 || settings.count > kMaxCount)
            throw std::invalid_argument(("Count must be 1.." + juce::String(kMaxCount) + ", not " +
                                         juce::String(settings.count) + ".")
                                            .toStdString());
        if (!(settings.seconds >= 0.0 && settings.seconds <= kMaxSeconds))
            throw std::invalid_argument(("Length must be up to " + juce::String(kMaxSeconds, 0) + " seconds (0: the "
                                         "model's own length), not " + juce::String(settings.seconds) + ".")
                                            .toStdString());
        const auto model = load(settings.model);
        const auto& info = model->info();
        const std::vector<std::int64_t> conditions =
            musician<sampler::SamplerError>([&] { return sampler::parse_prompt(info, settings.prompt.toStdString()); });
        // Whole hops, the half-way case to even as the CLI's round() does (engine/sampler.py samples_for).
        const int hops = std::max(1, static_cast<int>(std::nearbyint(settings.seconds * info.sample_rate / info.hop)));
        const int samples = settings.seconds > 0.0 ? hops * info.hop : info.length;
        const int steps = settings.steps > 0 ? settings.steps : info.default_steps;
        const double guidance = settings.guidance >= 0.0 ? settings.guidance : info.default_guidance;
        // A drawn seed is below 2^32, as the CLI draws them (engine/midi.py draw_seed).
        const std::uint64_t seed = settings.seed ? *settings.seed
                                                 : static_cast<std::uint64_t>(juce::Random::getSystemRandom().nextInt64()) &
                                                       0xffffffffu;
        if (seed > kMaxSeed - static_cast<std::uint64_t>(settings.count))
            throw std::invalid_argument("The seed must be a whole number from 0 to 2^63 - 1.");

        // All files into a hidden folder, renamed into place when complete: a cancelled run leaves nothing.
        const RunFolders run = startRun(
            resultRoot(), juce::Time::getCurrentTime().formatted("%Y%m%d-%H%M%S") + "-" + promptStem(settings.prompt),
            kRunFolderDays);
        const juce::File& folder = run.folder;
        std::vector<Result> results;
        writeRun(run, [&](const juce::File& partial) {
            for (int i = 0; i < settings.count; ++i) {
                const std::uint64_t itemSeed = seed + static_cast<std::uint64_t>(i);
                sampler::SampleRequest request;
                request.conditions = conditions;
                request.steps = steps;
                request.guidance = guidance;
                request.seed = itemSeed;
                request.samples = samples;
                const auto audio = musician<sampler::SamplerError>([&] {
                    return sampler::generate(
                        *model, request,
                        [this, i, &settings](float f) {
                            runner_.setProgress((i + 0.97 * f) / settings.count,
                                                "generating " + juce::String(i + 1) + " of " + juce::String(settings.count));
                        },
                        runner_.cancelFlag());
                });
                const juce::String name = fileName(i, itemSeed);
                writeWav(partial.getChildFile(name), audio, info.sample_rate);
                const juce::String json = sidecar(settings, info, itemSeed, steps, guidance, samples, conditions);
                writeFileAtomically(partial.getChildFile(name).withFileExtension(".json"), json.toRawUTF8(),
                                    json.getNumBytesAsUTF8());
                float peak = 0.0f;
                for (const float x : audio) peak = std::max(peak, std::abs(x));
                results.push_back({folder.getChildFile(name), itemSeed, static_cast<double>(samples) / info.sample_rate,
                                   std::min(peak, 1.0f)});
            }
            runner_.throwIfCancelled();
        });
        settings.seed = seed;
        settings.steps = steps;
        settings.guidance = guidance;
        settings.seconds = static_cast<double>(samples) / info.sample_rate;
        runner_.finish(State::Done, "Done", [&](Snapshot& s) {
            s.settings = settings;
            s.folder = folder;
            s.results = std::move(results);
        });
    });
}

void SamplerJob::copyResults(const std::vector<int>& indices, const juce::File& folder) {
    const Snapshot now = status();
    runner_.guarded("Saving", [&] {
        std::vector<int> chosen = indices;
        if (chosen.empty())
            for (int i = 0; i < static_cast<int>(now.results.size()); ++i) chosen.push_back(i);
        if (chosen.empty()) throw std::invalid_argument("There is nothing to save: generate some sounds first.");
        if (folder == juce::File()) throw std::invalid_argument("Choose a folder to save the sounds in.");
        if (folder.existsAsFile())
            throw std::invalid_argument((quoted(folder) + " is a file; choose a folder.").toStdString());
        // Every file checked before any is copied: none is overwritten, and a refusal leaves the folder as it was.
        juce::Array<juce::File> sources, targets;
        for (const int index : chosen) {
            if (index < 0 || index >= static_cast<int>(now.results.size()))
                throw std::invalid_argument("There is no such sound to save.");
            const juce::File wav = now.results[static_cast<std::size_t>(index)].file;
            for (const auto& source : {wav, wav.withFileExtension(".json")}) {
                if (!source.existsAsFile())
                    throw std::invalid_argument((quoted(source) + " is gone from " +
                                                 source.getParentDirectory().getFullPathName() + "; generate again.")
                                                    .toStdString());
                const juce::File target = folder.getChildFile(source.getFileName());
                if (target.exists())
                    throw std::invalid_argument((folder.getFullPathName() + " already has " + quoted(target) +
                                                 "; choose another folder (nothing was saved, nothing is overwritten).")
                                                    .toStdString());
                sources.add(source);
                targets.add(target);
            }
        }
        if (!folder.createDirectory())
            throw std::runtime_error("cannot create the folder " + folder.getFullPathName().toStdString());
        for (int i = 0; i < sources.size(); ++i) {
            atomicCopy(sources[i], targets[i], runner_.cancelFlag(), [this, i, &sources](double f) {
                runner_.setProgress((i + f) / sources.size(), "saving");
            });
        }
        runner_.finish(State::Saved, "Saved", [&](Snapshot& s) {
            s.savedTo = folder;
            s.savedCount = static_cast<int>(chosen.size());
        });
    });
}

}  // namespace tonemorph::plugin
