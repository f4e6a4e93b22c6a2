#include "Transcribe.h"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "Clip.h"
#include "OnnxFile.h"
#include "OrtRuntime.h"
#include "SmfWriter.h"
#include "TranscribeAudio.h"

namespace tonemorph::midi {

namespace {

constexpr std::size_t kMaxModelBytes = std::size_t{64} << 20;  // Basic Pitch is 0.2 MB
constexpr int kMaxChannels = 64;
constexpr double kMaxMinNoteMs = 10000.0;
// Shares of the progress bar: resampling, the model, the notes.
constexpr float kResampledAt = 0.05f, kModelDoneAt = 0.95f;

[[noreturn]] void fail(const std::string& path, const std::string& why) {
    throw MidiError("'" + path + "' cannot be used as a transcription model: " + why + ".");
}

// Text from the file cut to printable ASCII, so a hostile file cannot break a message.
std::string printable(const std::string& text) {
    std::string out;
    for (char c : text.substr(0, 60)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    return out;
}

// The model's metadata, read with bounds on every number.
class Metadata {
public:
    Metadata(const std::map<std::string, std::string>& meta, const std::string& path) : meta_(meta), path_(path) {}

    const std::string& text(const std::string& key) const {
        const auto it = meta_.find(key);
        if (it == meta_.end() || it->second.empty()) fail(path_, "metadata '" + key + "' is missing");
        return it->second;
    }

    int number(const std::string& key, int low, int high) const {
        const std::string& value = text(key);
        char* end = nullptr;
        const long v = std::strtol(value.c_str(), &end, 10);
        if (*end != '\0' || v < low || v > high)
            fail(path_, "metadata '" + key + "' must be a whole number from " + std::to_string(low) + " to " +
                            std::to_string(high) + ", not '" + printable(value) + "'");
        return static_cast<int>(v);
    }

private:
    const std::map<std::string, std::string>& meta_;
    const std::string& path_;
};

// An output's last dimension, after checking that it is [batch, frames_per_window, n].
int output_width(const OnnxGraph& graph, const std::string& name, int frames_per_window, const std::string& path) {
    for (const auto& v : graph.outputs)
        if (v.name == name) {
            if (!v.has_shape || v.dims.size() != 3 || v.dims[1] != frames_per_window || v.dims[2] < 1 ||
                v.dims[2] > 4096)
                fail(path, "its output '" + printable(name) + "' is not [batch, " +
                               std::to_string(frames_per_window) + ", n]");
            return static_cast<int>(v.dims[2]);
        }
    fail(path, "the graph has no output '" + printable(name) + "' (its metadata names it)");
}

void check_request(const TranscribeRequest& r) {
    if (r.channels < 1 || r.channels > kMaxChannels)
        throw std::invalid_argument("audio with " + std::to_string(r.channels) + " channels cannot be transcribed (1.." +
                                    std::to_string(kMaxChannels) + ")");
    if (r.audio.size() % static_cast<std::size_t>(r.channels) != 0)
        throw std::invalid_argument("the audio is not a whole number of frames of " + std::to_string(r.channels) +
                                    " channels");
    if (!(r.sample_rate >= 1.0 && r.sample_rate <= 1e7))
        throw std::invalid_argument("the sample rate must be 1 Hz .. 10 MHz, got " + std::to_string(r.sample_rate));
    const std::pair<const char*, double> thresholds[] = {{"onset", r.onset_threshold}, {"frame", r.frame_threshold}};
    for (const auto& [name, value] : thresholds)
        if (!(value > 0.0 && value < 1.0))
            throw std::invalid_argument(std::string("the ") + name +
                                        " threshold is a probability between 0 and 1 (exclusive), got " +
                                        std::to_string(value) + ".");
    if (!(r.min_note_ms >= 0.0 && r.min_note_ms <= kMaxMinNoteMs))
        throw std::invalid_argument("the minimum note length is 0..10000 ms, got " + std::to_string(r.min_note_ms) + ".");
    if (r.lowest < 0 || r.highest > 127 || r.lowest > r.highest)
        throw std::invalid_argument("the notes kept must be a range of MIDI notes within 0..127, got " +
                                    std::to_string(r.lowest) + ".." + std::to_string(r.highest) + ".");
}

}  // namespace

int TranscribeModelInfo::min_frames(double min_note_ms) const {
    // Python's round() (half to even) as notes.py uses it: std::nearbyint in the default rounding mode.
    return static_cast<int>(std::nearbyint(min_note_ms / 1000.0 * sample_rate / hop));
}

TranscribeModel::~TranscribeModel() = default;

std::shared_ptr<const TranscribeModel> TranscribeModel::open(const std::string& path, int threads) {
    OnnxFile file;
    try {
        file = OnnxFile::read(path, kMaxModelBytes);
    } catch (const std::runtime_error& e) {
        fail(path, e.what());
    }
    const auto kind = file.metadata.find("kind");
    if (kind == file.metadata.end() || kind->second != kTranscribeKind)
        throw MidiError("'" + path + "' is " +
                        (kind == file.metadata.end() ? std::string("a model without a kind")
                                                     : "a '" + printable(kind->second) + "' model") +
                        ", not a transcription model (kind '" + kTranscribeKind + "').");
    std::shared_ptr<TranscribeModel> model(new TranscribeModel());
    TranscribeModelInfo& info = model->info_;
    const Metadata meta(file.metadata, path);
    info.path = path;
    info.name = file.metadata.count("name") ? printable(file.metadata.at("name")) : "";
    info.version = meta.number("version", 0, 1 << 20);
    info.sample_rate = meta.number("sample_rate", 1000, 192000);
    info.hop = meta.number("hop_size", 1, 1 << 16);
    info.frames_per_window = meta.number("frames_per_window", kOverlapFrames + 1, 1 << 16);
    info.window_samples = meta.number("window_samples", kOverlapFrames * info.hop + 1, 1 << 24);
    info.lowest_note = meta.number("lowest_midi_note", 0, 127);
    info.bins_per_semitone = meta.number("contour_bins_per_semitone", 1, 64);
    info.output_note = meta.text("output_note");
    info.output_onset = meta.text("output_onset");
    info.output_contour = meta.text("output_contour");

    std::vector<std::string> inputs;
    for (const auto& v : file.graph.inputs)
        if (std::none_of(file.graph.initializers.begin(), file.graph.initializers.end(),
                         [&](const OnnxTensor& t) { return t.name == v.name; }))
            inputs.push_back(v.name);
    if (inputs.size() != 1) fail(path, "its graph has " + std::to_string(inputs.size()) + " inputs, not one");
    info.input = inputs[0];
    info.pitches = output_width(file.graph, info.output_note, info.frames_per_window, path);
    if (output_width(file.graph, info.output_onset, info.frames_per_window, path) != info.pitches)
        fail(path, "its onset and note outputs differ in size");
    info.contour_bins = output_width(file.graph, info.output_contour, info.frames_per_window, path);
    if (info.contour_bins != info.pitches * info.bins_per_semitone || info.lowest_note + info.pitches > 128)
        fail(path, "its outputs do not match its metadata (pitches, contour bins per semitone, lowest note)");

    require_ort();
    Ort::SessionOptions options;
    options.SetIntraOpNumThreads(std::max(threads, 0));
    options.SetExecutionMode(ExecutionMode::ORT_SEQUENTIAL);
    options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    try {
        model->session_ = open_session(path, options);
    } catch (const Ort::Exception& e) {
        fail(path, std::string("ONNX Runtime cannot open it (") + e.what() + ")");
    }
    return model;
}

double TranscribeModel::frame_time(int frame) const {
    const std::int64_t step = info_.window_samples - kOverlapFrames * info_.hop;
    const std::int64_t kept = info_.frames_per_window - kOverlapFrames;
    const std::int64_t k = frame;
    return static_cast<double>(k * info_.hop - (k / kept) * (kept * info_.hop - step)) / info_.sample_rate;
}

Posteriorgrams TranscribeModel::posteriorgrams(const std::vector<float>& audio, const Progress& progress,
                                               const std::atomic<bool>* cancel) const {
    const TranscribeModelInfo& m = info_;
    const std::size_t overlap = static_cast<std::size_t>(kOverlapFrames) * m.hop;
    const std::size_t window = static_cast<std::size_t>(m.window_samples), step = window - overlap;
    const std::size_t lead = overlap / 2;  // zeros before the audio
    const std::size_t padded = lead + audio.size();
    const std::size_t windows = (padded + step - 1) / step;
    const int trim = kOverlapFrames / 2, kept = m.frames_per_window - kOverlapFrames;

    Posteriorgrams g;
    g.frames = static_cast<int>(static_cast<std::uint64_t>(audio.size()) * m.frame_rate() / m.sample_rate);
    g.pitches = m.pitches;
    g.bins = m.contour_bins;
    g.note.reserve(static_cast<std::size_t>(g.frames) * g.pitches);
    g.onset.reserve(static_cast<std::size_t>(g.frames) * g.pitches);
    g.contour.reserve(static_cast<std::size_t>(g.frames) * g.bins);

    const Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    const char* input_names[] = {m.input.c_str()};
    const char* output_names[] = {m.output_note.c_str(), m.output_onset.c_str(), m.output_contour.c_str()};
    std::vector<float>* targets[] = {&g.note, &g.onset, &g.contour};
    const int widths[] = {g.pitches, g.pitches, g.bins};
    std::vector<float> batch;
    for (std::size_t first = 0; first < windows; first += kBatchWindows) {
        if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) throw Cancelled();
        const std::size_t count = std::min<std::size_t>(kBatchWindows, windows - first);
        batch.assign(count * window, 0.0f);
        for (std::size_t b = 0; b < count; ++b) {
            // window b covers padded samples [start, start + window); padded[i] = audio[i - lead] past the lead
            const std::size_t start = (first + b) * step;
            for (std::size_t i = std::max(start, lead); i < std::min(start + window, padded); ++i)
                batch[b * window + (i - start)] = audio[i - lead];
        }
        const std::int64_t shape[] = {static_cast<std::int64_t>(count), m.window_samples, 1};
        Ort::Value input = Ort::Value::CreateTensor<float>(memory, batch.data(), batch.size(), shape, 3);
        auto outputs = session_->Run(Ort::RunOptions{nullptr}, input_names, &input, 1, output_names, 3);
        for (int o = 0; o < 3; ++o) {
            const auto shape_out = outputs[o].GetTensorTypeAndShapeInfo().GetShape();
            if (shape_out.size() != 3 || shape_out[0] != static_cast<std::int64_t>(count) ||
                shape_out[1] != m.frames_per_window || shape_out[2] != widths[o])
                throw MidiError("'" + m.path + "' gave outputs of the wrong shape; it does not match its metadata.");
            const float* data = outputs[o].GetTensorData<float>();
            std::vector<float>& target = *targets[o];
            const std::size_t width = static_cast<std::size_t>(widths[o]);
            for (std::size_t b = 0; b < count; ++b) {
                const float* from = data + (b * m.frames_per_window + trim) * width;
                const std::size_t room = static_cast<std::size_t>(g.frames) * width - target.size();
                target.insert(target.end(), from, from + std::min(room, static_cast<std::size_t>(kept) * width));
            }
        }
        if (progress) progress(static_cast<float>(first + count) / static_cast<float>(windows));
    }
    return g;
}

TranscribeResult transcribe(const TranscribeModel& model, const TranscribeRequest& request, const Progress& progress,
                            const std::atomic<bool>* cancel) {
    check_request(request);
    const TranscribeModelInfo& info = model.info();
    const std::size_t frames = request.audio.size() / static_cast<std::size_t>(request.channels);
    const auto report = [&](float fraction) {
        if (progress) progress(fraction);
    };
    const std::vector<float> signal = resample_whole(mix_to_mono(request.audio.data(), request.channels, frames),
                                                     request.sample_rate, info.sample_rate, cancel);
    report(kResampledAt);
    const Posteriorgrams grams = model.posteriorgrams(
        signal, [&](float f) { report(kResampledAt + (kModelDoneAt - kResampledAt) * f); }, cancel);

    NoteSettings settings;
    settings.onset_threshold = request.onset_threshold;
    settings.frame_threshold = request.frame_threshold;
    settings.min_frames = info.min_frames(request.min_note_ms);
    settings.lowest_note = info.lowest_note;
    settings.bins_per_semitone = info.bins_per_semitone;
    settings.lowest_kept = request.lowest;
    settings.highest_kept = request.highest;
    TranscribeResult result;
    result.notes = extract_notes(grams, settings, cancel);
    if (request.mono) result.notes = loudest_line(std::move(result.notes), settings.min_frames);
    for (auto& n : result.notes) {
        n.start_s = model.frame_time(n.start_frame);
        n.end_s = model.frame_time(n.end_frame);
        result.pitched = result.pitched || n.amplitude >= kPitchedAmplitude;
    }
    result.frames = grams.frames;
    result.seconds = static_cast<double>(frames) / request.sample_rate;
    report(1.0f);
    return result;
}

std::string transcription_smf(const std::vector<TranscribedNote>& notes, int bins_per_semitone) {
    // As mido.second2tick(seconds, 480, bpm2tempo(120)), then Python's round (half to even: nearbyint).
    const double seconds_per_tick = std::lround(60e6 / kTranscribeTempoBpm) * 1e-6 / kWriteTicksPerQuarter;
    const auto tick = [&](double seconds) { return static_cast<std::int64_t>(std::nearbyint(seconds / seconds_per_tick)); };
    const double per_bin = 8192.0 / (kBendRangeSemitones * bins_per_semitone);
    const auto wheel = [](std::int64_t at, int value) {
        const int v = std::clamp(value, -8192, 8191) + 8192;
        return TickEvent{at, 1, {0xE0, static_cast<std::uint8_t>(v & 0x7F), static_cast<std::uint8_t>(v >> 7)}, 3};
    };
    std::vector<TickEvent> events;  // at one tick: note-offs (0), then the wheel (1), then note-ons (2)
    events.push_back({0, -1, {0xC0, static_cast<std::uint8_t>(kTranscribeProgram), 0}, 2});
    for (const TranscribedNote& n : notes) {
        const auto pitch = static_cast<std::uint8_t>(std::clamp(n.pitch, 0, 127));
        const double velocity = std::clamp(std::nearbyint(127.0 * n.amplitude), 1.0, 127.0);
        events.push_back({tick(n.start_s), 2, {0x90, pitch, static_cast<std::uint8_t>(velocity)}, 3});
        events.push_back({tick(n.end_s), 0, {0x80, pitch, 0}, 3});
        if (!n.bends || n.bends->empty()) continue;
        const auto count = n.bends->size();
        const double step = count > 1 ? (n.end_s - n.start_s) / static_cast<double>(count - 1) : 0.0;
        for (std::size_t i = 0; i < count; ++i) {  // numpy's linspace: i * step + start, the last one exactly end
            const double at = i + 1 == count && count > 1 ? n.end_s : static_cast<double>(i) * step + n.start_s;
            events.push_back(wheel(tick(at), static_cast<int>(std::nearbyint((*n.bends)[i] * per_bin))));
        }
        events.push_back(wheel(tick(n.end_s), 0));
    }
    TrackHeader header;
    header.name = "transcribed";
    header.bpm = kTranscribeTempoBpm;
    header.time_signature = false;
    return write_smf_events(std::move(events), header);
}

}  // namespace tonemorph::midi
