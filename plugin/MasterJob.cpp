#include "MasterJob.h"

#include <stdexcept>
#include <vector>

namespace tonemorph::plugin {

namespace {
constexpr int kResultBits = 24;

// A reader does not need its manager once made, and filling one is cheap: each caller gets its own.
std::unique_ptr<juce::AudioFormatManager> formats() {
    auto manager = std::make_unique<juce::AudioFormatManager>();
    manager->registerBasicFormats();
    return manager;
}

// A file as the core's AudioSource: read from the start on every pass.
class ReaderSource final : public master::AudioSource {
public:
    explicit ReaderSource(std::unique_ptr<juce::AudioFormatReader> reader) : reader_(std::move(reader)) {}
    double sample_rate() const override { return reader_->sampleRate; }
    int channels() const override { return static_cast<int>(reader_->numChannels); }
    void rewind() override { position_ = 0; }
    int read(float* interleaved, int max_frames) override {
        const int n = static_cast<int>(std::min<juce::int64>(max_frames, reader_->lengthInSamples - position_));
        if (n <= 0) return 0;
        const int ch = channels();
        scratch_.setSize(ch, n, false, false, true);
        if (!reader_->read(scratch_.getArrayOfWritePointers(), ch, position_, n))
            throw std::runtime_error("the file could not be read past " + std::to_string(position_) + " samples");
        for (int c = 0; c < ch; ++c) {
            const float* x = scratch_.getReadPointer(c);
            for (int i = 0; i < n; ++i) interleaved[static_cast<std::size_t>(i * ch + c)] = x[i];
        }
        position_ += n;
        return n;
    }

private:
    std::unique_ptr<juce::AudioFormatReader> reader_;
    juce::int64 position_ = 0;
    juce::AudioBuffer<float> scratch_;
};

// The core's output as a WAV file written into `file` (a temporary file: the caller renames it when the run is
// done). Each pass starts the file over.
class WavSink final : public master::AudioSink {
public:
    WavSink(juce::File file, double rate, int channels) : file_(std::move(file)), rate_(rate), channels_(channels) {}

    void begin() override {
        writer_.reset();
        if (!file_.deleteFile()) throw std::runtime_error("cannot replace " + file_.getFullPathName().toStdString());
        auto stream = file_.createOutputStream();
        if (stream == nullptr || stream->failedToOpen())
            throw std::runtime_error("cannot write in " + file_.getParentDirectory().getFullPathName().toStdString() +
                                     " (is the folder writable?)");
        writer_.reset(juce::WavAudioFormat().createWriterFor(stream.get(), rate_, static_cast<unsigned>(channels_),
                                                              kResultBits, {}, 0));
        if (writer_ == nullptr) throw std::runtime_error("cannot write a WAV file at this sample rate");
        stream.release();  // the writer owns it now
    }
    void write_float(const float* interleaved, int frames) override {
        check(writer_->writeFromFloatArrays(deinterleave(interleaved, frames, floats_).data(), channels_, frames));
    }
    void write_int(const std::int32_t* interleaved, int frames) override {
        // JUCE's integer writers take left-justified 32-bit samples, which is what the core gives.
        auto& channels = deinterleave(reinterpret_cast<const int*>(interleaved), frames, ints_);
        channels.push_back(nullptr);  // JUCE's write() takes a null-terminated list
        check(writer_->write(channels.data(), frames));
    }
    // Flushes (fsync) and closes the file.
    void close() { writer_.reset(); }

private:
    template <typename T>
    struct Planar {
        std::vector<std::vector<T>> data;
        std::vector<const T*> pointers;
    };
    // One array per channel, and the list of them.
    template <typename T>
    std::vector<const T*>& deinterleave(const T* interleaved, int frames, Planar<T>& planar) {
        planar.data.resize(static_cast<std::size_t>(channels_));
        planar.pointers.clear();
        for (int c = 0; c < channels_; ++c) {
            auto& out = planar.data[static_cast<std::size_t>(c)];
            out.resize(static_cast<std::size_t>(frames));
            for (int i = 0; i < frames; ++i) out[static_cast<std::size_t>(i)] = interleaved[i * channels_ + c];
            planar.pointers.push_back(out.data());
        }
        return planar.pointers;
    }
    void check(bool written) const {
        if (!written) throw std::runtime_error("writing " + file_.getFullPathName().toStdString() + " failed (is the disk full?)");
    }

    juce::File file_;
    double rate_;
    int channels_;
    std::unique_ptr<juce::AudioFormatWriter> writer_;
    Planar<float> floats_;
    Planar<int> ints_;
};

std::unique_ptr<ReaderSource> openSource(const juce::File& file, const juce::String& role) {
    if (!file.existsAsFile()) throw std::invalid_argument((role + " " + quoted(file) + " does not exist.").toStdString());
    const auto manager = formats();
    std::unique_ptr<juce::AudioFormatReader> reader(manager->createReaderFor(file));
    if (reader == nullptr)
        throw std::invalid_argument((role + " " + quoted(file) + " is not audio tonemorph can read (" +
                                     manager->getWildcardForAllFormats().removeCharacters("*.").replace(";", ", ").toUpperCase() +
                                     "), or the file is damaged.")
                                        .toStdString());
    return std::make_unique<ReaderSource>(std::move(reader));
}
}  // namespace

MasterJob::MasterJob(Finished onFinished) : onFinished_(std::move(onFinished)) {}

MasterJob::~MasterJob() { runner_.stop(); }

juce::File MasterJob::resultFolder() {
    return juce::File::getSpecialLocation(juce::File::tempDirectory).getChildFile("tonemorph-master");
}

juce::String MasterJob::readablePattern() { return formats()->getWildcardForAllFormats(); }

bool MasterJob::start(const Settings& settings) {
    return runner_.launch(State::Mastering, "Starting...", [this, settings] { master(settings); });
}

bool MasterJob::save(const juce::File& destination) {
    return runner_.launch(State::Saving, "Saving...", [this, destination] { copyResult(destination); });
}

void MasterJob::master(const Settings& settings) {
    runner_.update([&](Snapshot& s) { s.settings = settings; });
    runner_.guarded("Mastering", [&] {
        if (settings.track == juce::File() || settings.reference == juce::File())
            throw std::invalid_argument("Choose a track to master and a reference to match.");
        if (sameFile(settings.output, settings.track) || sameFile(settings.output, settings.reference))
            throw std::invalid_argument(("The result would overwrite " +
                                         quoted(sameFile(settings.output, settings.track) ? settings.track : settings.reference) +
                                         "; choose another file for it (the inputs are never overwritten).")
                                            .toStdString());
        auto track = openSource(settings.track, "The track");
        auto reference = openSource(settings.reference, "The reference");

        master::Request request;
        request.track_name = quoted(settings.track).toStdString();
        request.reference_name = quoted(settings.reference).toStdString();
        request.strength = settings.strength;
        request.ceiling_dbtp = settings.ceilingDbtp;
        request.bits = kResultBits;

        if (!settings.output.getParentDirectory().createDirectory())
            throw std::runtime_error("cannot create the folder " +
                                     settings.output.getParentDirectory().getFullPathName().toStdString());
        // Deleted by its destructor unless renamed over the target: a cancelled or failed run leaves nothing.
        const juce::TemporaryFile temp(settings.output, juce::TemporaryFile::useHiddenFile);
        WavSink sink(temp.getFile(), track->sample_rate(), track->channels());
        const auto result = master::run(
            request, *track, reference.get(), sink,
            [this](double fraction, const std::string& stage) {
                runner_.setProgress(fraction, juce::String::fromUTF8(stage.c_str()));
            },
            runner_.cancelFlag());
        sink.close();
        if (!temp.overwriteTargetFileWithTemporary())
            throw std::runtime_error("cannot move the result to " + settings.output.getFullPathName().toStdString());
        runner_.update([&](Snapshot& s) {
            s.state = State::Done;
            s.progress = 1.0;
            s.stage = "Done";
            s.result = result;
            s.resultFile = settings.output;
        });
        if (onFinished_) onFinished_(settings, result);
    });
}

void MasterJob::copyResult(const juce::File& destination) {
    const Snapshot now = status();
    runner_.guarded("Saving", [&] {
        if (!now.resultFile.existsAsFile()) throw std::invalid_argument("There is no result to save: master a track first.");
        if (sameFile(destination, now.settings.track) || sameFile(destination, now.settings.reference))
            throw std::invalid_argument(("Saving there would overwrite " +
                                         quoted(sameFile(destination, now.settings.track) ? now.settings.track
                                                                                           : now.settings.reference) +
                                         "; choose another file.")
                                            .toStdString());
        if (sameFile(destination, now.resultFile)) throw std::invalid_argument("That is the result file itself.");
        atomicCopy(now.resultFile, destination, runner_.cancelFlag(),
                   [this](double fraction) { runner_.setProgress(fraction, "saving"); });
        runner_.update([&](Snapshot& s) {
            s.state = State::Saved;
            s.progress = 1.0;
            s.stage = "Saved";
            s.savedTo = destination;
        });
    });
}

}  // namespace tonemorph::plugin
