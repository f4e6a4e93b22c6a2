// An ONNX next-event model of the MIDI tools (kinds midi-melody and midi-drums), one step per call:
//     event     int64 [1, 1]           START first, then the events played or sampled
//     state     float [L, 1, H]         h of each layer, then c of each layer; zeros at the start
//  -> logits    float [1, 1, N]         unnormalised log-probabilities of the next event
//     state_out float [L, 1, H]
// Its metadata (read with bounds checks before ONNX Runtime sees the file) says the encoding.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace Ort {
struct Session;
}

namespace tonemorph::midi {

constexpr const char* kMelodyKind = "midi-melody";
constexpr const char* kDrumsKind = "midi-drums";

struct EventModelInfo {
    std::string path, kind, name;
    int version = 0;
    int num_events = 0;   // output classes
    int num_inputs = 0;   // num_events + START
    int start_token = 0;
    int steps_per_bar = 16;
    int layers = 0, hidden = 0;  // the state is [2 * layers, 1, hidden]
    // midi-melody: events 0 no event, 1 note-off, first_note_on + (pitch - min_pitch) note-on
    int no_event = 0, note_off = 1, first_note_on = 2, min_pitch = 0, max_pitch = -1;
    // midi-drums: event = bitmask of the classes hit; each class's GM notes, the first one written out
    std::vector<std::vector<int>> drum_classes;
    std::string description;
};

class EventModel final {
public:
    // Opens `path` as a model of `kind` (kMelodyKind or kDrumsKind). Throws MidiError naming the file: not
    // readable, not an event model, or "it is a 'X' model, not a midi-melody model"; OrtUnavailable.
    static std::shared_ptr<const EventModel> open(const std::string& path, const std::string& kind);
    ~EventModel();

    const EventModelInfo& info() const { return info_; }
    std::size_t state_size() const;  // 2 * layers * hidden

    // One step: feeds `event` with `state` (state_size() floats, updated in place) and writes num_events
    // logits. Thread-safe (each caller keeps its own state).
    void step(std::int64_t event, std::vector<float>& state, std::vector<float>& logits) const;

private:
    EventModel() = default;
    EventModelInfo info_;
    std::unique_ptr<Ort::Session> session_;
};

}  // namespace tonemorph::midi
