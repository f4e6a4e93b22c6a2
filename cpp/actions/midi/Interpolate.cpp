#include "Interpolate.h"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "Encoding.h"
#include "ModelMetadata.h"
#include "OnnxFile.h"
#include "OrtRuntime.h"

namespace tonemorph::midi {

namespace {

constexpr std::size_t kMaxPartBytes = std::size_t{64} << 20;  // ours are a few MB
constexpr int kMaxLatent = 4096, kMaxEvents = 4096, kMaxLayers = 8, kMaxHidden = 4096, kMaxWindow = 1024;
const char* const kEncoderInputs[] = {"events"};
const char* const kEncoderOutputs[] = {"mu"};
const char* const kDecoderInputs[] = {"event", "z", "state"};
const char* const kDecoderOutputs[] = {"logits", "state_out"};

[[noreturn]] void fail(const std::string& path, const std::string& why) {
    throw MidiError("'" + path + "' cannot be used as the Interpolate model: " + why + ".");
}

struct Part {
    std::string path;
    Metadata meta;
    OnnxGraph graph;

    const std::string& text(const std::string& key) const {
        try {
            return metadata_text(meta, key);
        } catch (const BadMetadata& e) {
            fail(path, e.what());
        }
    }
    int number(const std::string& key, int low, int high) const {
        try {
            return metadata_int(meta, key, low, high);
        } catch (const BadMetadata& e) {
            fail(path, e.what());
        }
    }
    void require_values(const std::vector<OnnxValueInfo>& values, const char* const* names, int count,
                        const char* what) const {
        for (int i = 0; i < count; ++i) {
            const bool found = std::any_of(values.begin(), values.end(), [&](const auto& v) { return v.name == names[i]; });
            if (!found) fail(path, std::string("the graph has no ") + what + " '" + names[i] + "'");
        }
    }
};

Part read_part(const std::string& path) {
    if (!std::filesystem::is_regular_file(std::filesystem::u8path(path)))
        throw MidiError("'" + path + "' does not exist. The Interpolate model is two files side by side, "
                        "<name>_encoder.onnx and <name>_decoder.onnx (models/midi/melody_vae_*.onnx); give "
                        "either, or reinstall tonemorph's models.");
    Part part;
    part.path = path;
    try {
        OnnxFile file = OnnxFile::read(path, kMaxPartBytes);
        part.meta = std::move(file.metadata);
        part.graph = std::move(file.graph);
    } catch (const std::runtime_error& e) {
        fail(path, e.what());
    }
    const auto kind = part.meta.find("kind");
    if (kind == part.meta.end())
        fail(path, "it has no 'kind' in its metadata; it is not one of tonemorph's MIDI models");
    if (kind->second != kMelodyVaeKind)
        throw MidiError("'" + path + "' is a '" + printable_text(kind->second) + "' model, not a " + kMelodyVaeKind +
                        " model (Interpolate needs models/midi/melody_vae_encoder.onnx and _decoder.onnx).");
    return part;
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string strip(const std::string& s, const std::string& suffix) { return s.substr(0, s.size() - suffix.size()); }

std::unique_ptr<Ort::Session> session(const std::string& path) {
    try {
        return open_single_thread_session(path);
    } catch (const Ort::Exception& e) {
        fail(path, std::string("ONNX Runtime cannot open it (") + e.what() + ")");
    }
}

void check_cancel(const std::atomic<bool>* cancel) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Cancelled();
}

double mean_velocity(const Clip& clip) {
    double sum = 0.0;
    for (const Note& n : clip.notes) sum += n.velocity;
    return clip.notes.empty() ? 100.0 : sum / static_cast<double>(clip.notes.size());
}

// The clip's checks and its one voice; messages name the clip.
Clip prepared(const Clip& clip, const std::string& name, std::vector<std::string>& messages) {
    if (clip.drums)
        throw MidiError("'" + name + "' is a drum clip (channel 10); Interpolate's model morphs melodies. Give it "
                        "two melody clips (Groove and Drumify are the drum tools).");
    if (clip.notes.empty())
        throw MidiError("'" + name + "' has no notes; Interpolate needs a melody of 1 to " +
                        std::to_string(kMaxInterpolateBars) + " bars in each clip.");
    OneVoice one = one_voice(clip);
    if (one.dropped > 0)
        messages.push_back("'" + name + "' has chords: the highest note of each onset was kept (" +
                           std::to_string(one.dropped) + " note" + (one.dropped == 1 ? "" : "s") + " left out)");
    return one.clip;
}

}  // namespace

MelodyVae::~MelodyVae() = default;

std::shared_ptr<const MelodyVae> MelodyVae::open(const std::string& path) {
    // Which of the two files `path` names (or their stem), from its metadata when it is a file.
    std::string stem = path;
    if (ends_with(path, "_encoder.onnx")) {
        stem = strip(path, "_encoder.onnx");
    } else if (ends_with(path, "_decoder.onnx")) {
        stem = strip(path, "_decoder.onnx");
    } else if (ends_with(path, ".onnx")) {
        if (std::filesystem::is_regular_file(std::filesystem::u8path(path))) read_part(path);  // names a wrong kind
        stem = strip(path, ".onnx");
    }
    const Part encoder = read_part(stem + "_encoder.onnx");
    const Part decoder = read_part(stem + "_decoder.onnx");
    if (encoder.text("part") != "encoder") fail(encoder.path, "its metadata 'part' is not 'encoder'");
    if (decoder.text("part") != "decoder") fail(decoder.path, "its metadata 'part' is not 'decoder'");
    for (const char* key : {"name", "version", "latent", "steps"})
        if (encoder.text(key) != decoder.text(key))
            fail(decoder.path, std::string("it is not the decoder of '") + encoder.path + "' (their '" + key +
                                   "' differ); keep the two files of one model together");
    encoder.require_values(encoder.graph.inputs, kEncoderInputs, 1, "input");
    encoder.require_values(encoder.graph.outputs, kEncoderOutputs, 1, "output");
    decoder.require_values(decoder.graph.inputs, kDecoderInputs, 3, "input");
    decoder.require_values(decoder.graph.outputs, kDecoderOutputs, 2, "output");

    std::shared_ptr<MelodyVae> model(new MelodyVae());
    MelodyVaeInfo& info = model->info_;
    info.encoder_path = encoder.path;
    info.decoder_path = decoder.path;
    info.name = printable_text(decoder.text("name"));
    info.description = decoder.meta.count("description") ? decoder.meta.at("description").substr(0, 500) : "";
    info.version = decoder.number("version", 0, 1 << 20);
    info.latent = decoder.number("latent", 1, kMaxLatent);
    info.window = decoder.number("steps", kStepsPerBar, kMaxWindow);
    if (info.window % kStepsPerBar != 0) fail(decoder.path, "its window ('steps') is not a whole number of bars");
    EventModelInfo& e = info.events;
    e.path = decoder.path;
    e.kind = kMelodyKind;  // the melody encoding, for Encoding.h
    e.name = info.name;
    e.version = info.version;
    e.num_events = decoder.number("num_events", 3, kMaxEvents);
    e.num_inputs = decoder.number("num_inputs", e.num_events, kMaxEvents + 1);
    e.start_token = decoder.number("start_token", 0, e.num_inputs - 1);
    e.steps_per_bar = decoder.number("steps_per_bar", kStepsPerBar, kStepsPerBar);
    e.layers = decoder.number("layers", 1, kMaxLayers);
    e.hidden = decoder.number("hidden", 1, kMaxHidden);
    e.no_event = decoder.number("no_event", 0, e.num_events - 1);
    e.note_off = decoder.number("note_off", 0, e.num_events - 1);
    e.first_note_on = decoder.number("first_note_on", 0, e.num_events - 1);
    e.min_pitch = decoder.number("min_pitch", 0, 127);
    e.max_pitch = decoder.number("max_pitch", e.min_pitch, 127);
    if (e.first_note_on + e.max_pitch - e.min_pitch != e.num_events - 1)
        fail(decoder.path, "its note range does not match its number of events");
    model->encoder_ = session(encoder.path);
    model->decoder_ = session(decoder.path);
    return model;
}

std::vector<float> MelodyVae::encode(const std::vector<int>& events) const {
    if (events.size() != static_cast<std::size_t>(info_.window))
        throw MidiError("the Interpolate model reads " + std::to_string(info_.window) + " steps at a time, not " +
                        std::to_string(events.size()));
    std::vector<std::int64_t> input(events.begin(), events.end());
    for (std::int64_t e : input)
        if (e < 0 || e >= info_.events.num_events)
            throw MidiError("event " + std::to_string(e) + " is outside the model's 0.." +
                            std::to_string(info_.events.num_events - 1));
    const Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    const std::int64_t shape[] = {1, info_.window};
    Ort::Value value = Ort::Value::CreateTensor<std::int64_t>(memory, input.data(), input.size(), shape, 2);
    auto outputs = encoder_->Run(Ort::RunOptions{nullptr}, kEncoderInputs, &value, 1, kEncoderOutputs, 1);
    if (outputs[0].GetTensorTypeAndShapeInfo().GetElementCount() != static_cast<std::size_t>(info_.latent))
        throw MidiError("'" + info_.encoder_path + "' gave a latent of the wrong size; it does not match its metadata.");
    const float* mu = outputs[0].GetTensorData<float>();
    return std::vector<float>(mu, mu + info_.latent);
}

std::vector<int> MelodyVae::decode(const std::vector<float>& z_in, double temperature, Pcg32& rng,
                                   const std::atomic<bool>* cancel) const {
    if (z_in.size() != static_cast<std::size_t>(info_.latent))
        throw MidiError("a latent point of " + std::to_string(z_in.size()) + " numbers given to a model of " +
                        std::to_string(info_.latent));
    const EventModelInfo& e = info_.events;
    std::vector<float> z = z_in, state(static_cast<std::size_t>(2 * e.layers * e.hidden), 0.0f);
    std::int64_t event = e.start_token;
    const Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    const std::int64_t event_shape[] = {1, 1};
    const std::int64_t z_shape[] = {1, info_.latent};
    const std::int64_t state_shape[] = {2 * e.layers, 1, e.hidden};
    std::vector<int> events;
    events.reserve(static_cast<std::size_t>(info_.window));
    for (int t = 0; t < info_.window; ++t) {
        check_cancel(cancel);
        Ort::Value inputs[] = {
            Ort::Value::CreateTensor<std::int64_t>(memory, &event, 1, event_shape, 2),
            Ort::Value::CreateTensor<float>(memory, z.data(), z.size(), z_shape, 2),
            Ort::Value::CreateTensor<float>(memory, state.data(), state.size(), state_shape, 3),
        };
        auto outputs = decoder_->Run(Ort::RunOptions{nullptr}, kDecoderInputs, inputs, 3, kDecoderOutputs, 2);
        if (outputs[0].GetTensorTypeAndShapeInfo().GetElementCount() != static_cast<std::size_t>(e.num_events) ||
            outputs[1].GetTensorTypeAndShapeInfo().GetElementCount() != state.size())
            throw MidiError("'" + info_.decoder_path + "' gave outputs of the wrong size; it does not match its metadata.");
        const float* s = outputs[1].GetTensorData<float>();
        std::copy(s, s + state.size(), state.begin());
        const int chosen = sample_event(outputs[0].GetTensorData<float>(), e.num_events, temperature, rng);
        events.push_back(chosen);
        event = chosen;
    }
    return events;
}

std::vector<float> slerp(const std::vector<float>& a, const std::vector<float>& b, double t) {
    double dot = 0.0, na = 0.0, nb = 0.0;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        dot += static_cast<double>(a[i]) * b[i];
        na += static_cast<double>(a[i]) * a[i];
        nb += static_cast<double>(b[i]) * b[i];
    }
    double wa = 1.0 - t, wb = t;
    if (na > 0.0 && nb > 0.0) {
        const double omega = std::acos(std::clamp(dot / std::sqrt(na * nb), -1.0, 1.0));
        if (std::sin(omega) > 1e-6) {
            wa = std::sin((1.0 - t) * omega) / std::sin(omega);
            wb = std::sin(t * omega) / std::sin(omega);
        }
    }
    std::vector<float> out(std::min(a.size(), b.size()));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(wa * a[i] + wb * b[i]);
    return out;
}

InterpolateResult interpolate(const MelodyVae& model, const InterpolateRequest& request, const Progress& progress,
                              const std::atomic<bool>* cancel) {
    if (request.steps < kMinInterpolateSteps || request.steps > kMaxInterpolateSteps)
        throw MidiError("steps must be from " + std::to_string(kMinInterpolateSteps) + " to " +
                        std::to_string(kMaxInterpolateSteps) + " (A and B included), not " +
                        std::to_string(request.steps));
    if (!(request.temperature >= 0.0) || !std::isfinite(request.temperature))
        throw MidiError("the temperature must be 0 or more (0: the likeliest notes; 1: as the model learned)");
    InterpolateResult result;
    const Clip a = prepared(request.a, request.a_name, result.messages);
    const Clip b = prepared(request.b, request.b_name, result.messages);
    const int bars_a = whole_bars(a.steps) / kStepsPerBar, bars_b = whole_bars(b.steps) / kStepsPerBar;
    for (const auto& [bars, name] : {std::pair{bars_a, request.a_name}, std::pair{bars_b, request.b_name}})
        if (bars > kMaxInterpolateBars)
            throw MidiError("'" + name + "' is " + std::to_string(bars) + " bars long; Interpolate takes clips of 1 to " +
                            std::to_string(kMaxInterpolateBars) + " bars (as Magenta Studio). Cut out the part to morph.");
    if (bars_a != bars_b)
        throw MidiError("'" + request.a_name + "' is " + std::to_string(bars_a) + " bar" + (bars_a == 1 ? "" : "s") +
                        " long and '" + request.b_name + "' " + std::to_string(bars_b) +
                        "; Interpolate morphs clips of the same length. Cut or extend one of them.");
    const MelodyVaeInfo& info = model.info();
    const EventModelInfo& m = info.events;
    const int length = bars_a * kStepsPerBar;
    result.chunks = (length + info.window - 1) / info.window;
    const int padded = result.chunks * info.window;
    if (result.chunks > 1)
        result.messages.push_back("the clips are " + std::to_string(bars_a) + " bars: morphed as " +
                                  std::to_string(result.chunks) + " windows of " +
                                  std::to_string(info.window / kStepsPerBar) + " bars, each on its own");
    if (padded > length)
        result.messages.push_back("the clips were padded with rests to the model's " +
                                  std::to_string(info.window / kStepsPerBar) + "-bar window; the rest is cut off");

    // One octave shift for both clips: the one that centres them in the model's range, as the training tunes
    // were placed (melody_data.fit_range); the model knows the edges of its range less well.
    int low = 127, high = 0;
    for (const Clip* clip : {&a, &b})
        for (const Note& n : clip->notes) {
            low = std::min(low, n.pitch);
            high = std::max(high, n.pitch);
        }
    result.transpose =
        12 * static_cast<int>(std::lround(((m.min_pitch + m.max_pitch) / 2.0 - (low + high) / 2.0) / 12.0));
    while (low + result.transpose < m.min_pitch) result.transpose += 12;
    while (high + result.transpose > m.max_pitch && low + result.transpose - 12 >= m.min_pitch) result.transpose -= 12;
    auto events_of = [&](Clip clip, const std::string& name) {
        // Both clips move by the same octaves; a note still outside the range (the two together span more
        // than the model's) moves by octaves on its own, so the encoder's own shift stays 0.
        int folded = 0;
        for (Note& n : clip.notes) {
            n.pitch += result.transpose;
            const int before = n.pitch;
            while (n.pitch < m.min_pitch) n.pitch += 12;
            while (n.pitch > m.max_pitch) n.pitch -= 12;
            folded += n.pitch != before;
        }
        if (folded > 0)
            result.messages.push_back(std::to_string(folded) + " note" + (folded == 1 ? "" : "s") + " of '" + name +
                                      "' moved by octaves into the model's range (MIDI " + std::to_string(m.min_pitch) +
                                      ".." + std::to_string(m.max_pitch) + "; the two clips together span more)");
        clip.steps = padded;
        Encoded encoded = encode(clip, m);
        // A note held across a window's start is struck again there: each window is encoded on its own.
        for (int c = 1; c < result.chunks; ++c) {
            const int s = c * info.window;
            if (encoded.events[static_cast<std::size_t>(s)] != m.no_event) continue;
            for (const Note& n : clip.notes)
                if (n.start_step < s && n.end_step > s && n.pitch >= m.min_pitch && n.pitch <= m.max_pitch)
                    encoded.events[static_cast<std::size_t>(s)] = m.first_note_on + n.pitch - m.min_pitch;
        }
        return encoded.events;
    };
    if (result.transpose != 0)
        result.messages.push_back("both clips were moved " + std::string(result.transpose > 0 ? "up " : "down ") +
                                  std::to_string(std::abs(result.transpose) / 12) + " octave(s) to fit the model's range; "
                                  "the results are moved back");
    const std::vector<int> events_a = events_of(a, request.a_name), events_b = events_of(b, request.b_name);
    std::vector<std::vector<float>> z_a, z_b;
    for (int c = 0; c < result.chunks; ++c) {
        check_cancel(cancel);
        const auto from = static_cast<std::ptrdiff_t>(c * info.window);
        z_a.push_back(model.encode(std::vector<int>(events_a.begin() + from, events_a.begin() + from + info.window)));
        z_b.push_back(model.encode(std::vector<int>(events_b.begin() + from, events_b.begin() + from + info.window)));
    }
    const double velocity_a = mean_velocity(a), velocity_b = mean_velocity(b);
    const int total = request.steps * result.chunks;
    int done = 0;
    for (int i = 0; i < request.steps; ++i) {
        const double t = static_cast<double>(i) / (request.steps - 1);
        Pcg32 rng(request.seed + static_cast<std::uint64_t>(i));
        std::vector<int> events;
        for (int c = 0; c < result.chunks; ++c) {
            const std::vector<int> window = model.decode(slerp(z_a[c], z_b[c], t), request.temperature, rng, cancel);
            events.insert(events.end(), window.begin(), window.end());
            if (progress) progress(static_cast<float>(++done) / static_cast<float>(total));
        }
        const int velocity = std::clamp(static_cast<int>(std::lround(velocity_a + t * (velocity_b - velocity_a))), 1, 127);
        Clip clip;
        clip.steps = length;
        clip.bpm = request.a.bpm;
        for (Note n : decode(events, 0, m, result.transpose, velocity)) {
            if (n.start_step >= length) continue;
            n.end_step = std::min(n.end_step, length);
            clip.notes.push_back(n);
        }
        sort_notes(clip.notes);
        result.clips.push_back(std::move(clip));
        result.positions.push_back(t);
    }
    return result;
}

}  // namespace tonemorph::midi
