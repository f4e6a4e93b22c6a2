#include "EventModel.h"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "Clip.h"
#include "ModelMetadata.h"
#include "OnnxFile.h"
#include "OrtRuntime.h"

namespace tonemorph::midi {

namespace {

constexpr std::size_t kMaxModelBytes = std::size_t{64} << 20;  // ours are a few MB
constexpr int kMaxEvents = 4096;
constexpr int kMaxLayers = 8, kMaxHidden = 4096;
const char* const kInputNames[] = {"event", "state"};
const char* const kOutputNames[] = {"logits", "state_out"};

[[noreturn]] void fail(const std::string& path, const std::string& why) {
    throw MidiError("'" + path + "' cannot be used as a MIDI model: " + why + ".");
}

int whole_number(const Metadata& meta, const std::string& path, const std::string& key, int low, int high) {
    try {
        return metadata_int(meta, key, low, high);
    } catch (const BadMetadata& e) {
        fail(path, e.what());
    }
}

// "[[36, 35], [38, 27]]" -> {{36, 35}, {38, 27}}: a JSON list of lists of MIDI notes, nothing else.
std::vector<std::vector<int>> note_lists(const std::string& text, const std::string& path) {
    std::vector<std::vector<int>> out;
    int depth = 0;
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c == '[') {
            if (++depth > 2) break;
            if (depth == 2) out.emplace_back();
            ++i;
        } else if (c == ']') {
            if (--depth < 0) break;
            ++i;
        } else if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
            ++i;
        } else if (std::isdigit(static_cast<unsigned char>(c)) && depth == 2) {
            std::size_t j = i;
            while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) && j - i < 4) ++j;
            const int note = std::atoi(text.substr(i, j - i).c_str());
            if (note > 127) break;
            out.back().push_back(note);
            i = j;
        } else {
            depth = -1;
            break;
        }
    }
    if (depth != 0 || out.empty() || std::any_of(out.begin(), out.end(), [](const auto& v) { return v.empty(); }))
        fail(path, "metadata 'drum_classes' is not a list of lists of MIDI notes");
    return out;
}

}  // namespace

EventModel::~EventModel() = default;

std::size_t EventModel::state_size() const {
    return static_cast<std::size_t>(2 * info_.layers) * static_cast<std::size_t>(info_.hidden);
}

std::shared_ptr<const EventModel> EventModel::open(const std::string& path, const std::string& kind) {
    OnnxFile file;
    try {
        file = OnnxFile::read(path, kMaxModelBytes);
    } catch (const std::runtime_error& e) {
        fail(path, e.what());
    }
    const auto& meta = file.metadata;
    const auto found = meta.find("kind");
    if (found == meta.end())
        fail(path, "it has no 'kind' in its metadata; it is not one of tonemorph's MIDI models");
    if (found->second != kind)
        throw MidiError("'" + path + "' is a '" + printable_text(found->second) + "' model, not a " + kind + " model.");
    std::shared_ptr<EventModel> model(new EventModel());
    EventModelInfo& info = model->info_;
    info.path = path;
    info.kind = kind;
    info.name = meta.count("name") ? printable_text(meta.at("name")) : "";
    info.description = meta.count("description") ? meta.at("description").substr(0, 500) : "";
    info.version = whole_number(meta, path, "version", 0, 1 << 20);
    info.num_events = whole_number(meta, path, "num_events", 2, kMaxEvents);
    info.num_inputs = whole_number(meta, path, "num_inputs", info.num_events, kMaxEvents + 1);
    info.start_token = whole_number(meta, path, "start_token", 0, info.num_inputs - 1);
    info.steps_per_bar = whole_number(meta, path, "steps_per_bar", kStepsPerBar, kStepsPerBar);
    info.layers = whole_number(meta, path, "layers", 1, kMaxLayers);
    info.hidden = whole_number(meta, path, "hidden", 1, kMaxHidden);
    if (kind == kMelodyKind) {
        info.no_event = whole_number(meta, path, "no_event", 0, info.num_events - 1);
        info.note_off = whole_number(meta, path, "note_off", 0, info.num_events - 1);
        info.first_note_on = whole_number(meta, path, "first_note_on", 0, info.num_events - 1);
        info.min_pitch = whole_number(meta, path, "min_pitch", 0, 127);
        info.max_pitch = whole_number(meta, path, "max_pitch", info.min_pitch, 127);
        if (info.first_note_on + info.max_pitch - info.min_pitch != info.num_events - 1)
            fail(path, "its note range does not match its number of events");
    } else {
        const auto classes = meta.find("drum_classes");
        if (classes == meta.end()) fail(path, "metadata 'drum_classes' is missing");
        info.drum_classes = note_lists(classes->second, path);
        if (info.drum_classes.size() > 16 || (1 << info.drum_classes.size()) != info.num_events)
            fail(path, "its number of events is not 2 to the power of its number of drum classes");
    }
    for (const char* name : kInputNames)
        if (!find_value(file.graph.inputs, name)) fail(path, std::string("the graph has no input '") + name + "'");
    for (const char* name : kOutputNames)
        if (!find_value(file.graph.outputs, name)) fail(path, std::string("the graph has no output '") + name + "'");

    try {
        model->session_ = open_single_thread_session(path);
    } catch (const Ort::Exception& e) {
        fail(path, std::string("ONNX Runtime cannot open it (") + e.what() + ")");
    }
    return model;
}

void EventModel::step(std::int64_t event, std::vector<float>& state, std::vector<float>& logits) const {
    if (event < 0 || event >= info_.num_inputs)
        throw MidiError("event " + std::to_string(event) + " is outside the model's 0.." +
                        std::to_string(info_.num_inputs - 1));
    if (state.size() != state_size()) state.assign(state_size(), 0.0f);
    const Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    const std::int64_t event_shape[] = {1, 1};
    const std::int64_t state_shape[] = {2 * info_.layers, 1, info_.hidden};
    Ort::Value inputs[] = {
        Ort::Value::CreateTensor<std::int64_t>(memory, &event, 1, event_shape, 2),
        Ort::Value::CreateTensor<float>(memory, state.data(), state.size(), state_shape, 3),
    };
    auto outputs = session_->Run(Ort::RunOptions{nullptr}, kInputNames, inputs, 2, kOutputNames, 2);
    const auto logits_info = outputs[0].GetTensorTypeAndShapeInfo();
    const auto state_info = outputs[1].GetTensorTypeAndShapeInfo();
    if (logits_info.GetElementCount() != static_cast<std::size_t>(info_.num_events) ||
        state_info.GetElementCount() != state.size())
        throw MidiError("'" + info_.path + "' gave outputs of the wrong size; it does not match its metadata.");
    const float* l = outputs[0].GetTensorData<float>();
    logits.assign(l, l + info_.num_events);
    const float* s = outputs[1].GetTensorData<float>();
    std::copy(s, s + state.size(), state.begin());
}

}  // namespace tonemorph::midi
