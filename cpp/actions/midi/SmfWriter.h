// Standard MIDI Files written: a Clip (type 0, 480 ticks per quarter, the clip's tempo, a 4/4 time signature,
// notes on channel 1, drums on channel 10, micro-timing offsets applied, end of track at the clip's length),
// or any channel messages at given ticks (what Transcribe writes: notes off the grid and pitch bends).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "Clip.h"

namespace tonemorph::midi {

constexpr int kWriteTicksPerQuarter = 480;

// The file's bytes. Throws MidiError for a clip that cannot be written (a pitch or velocity out of range,
// a note that ends before it starts, bpm not in 10..1000).
std::string write_smf(const Clip& clip, const std::string& track_name = "tonemorph");

// One channel message at `tick`; at one tick, events go by `order` (lower first), then as given.
struct TickEvent {
    std::int64_t tick = 0;
    int order = 0;
    std::uint8_t data[3] = {0, 0, 0};
    int size = 3;  // 2 for a program change or channel pressure
};

struct TrackHeader {
    std::string name = "tonemorph";  // the track name meta event (at most 127 bytes kept)
    double bpm = 120.0;              // 10..1000
    bool time_signature = true;      // a 4/4 time signature meta event after the tempo
};

// A type 0 file (kWriteTicksPerQuarter): the header's meta events, then `events` sorted by (tick, order) with
// running status (as mido writes), the end of track at the later of `end_tick` and the last event. Throws
// MidiError for a tempo out of 10..1000 bpm or a negative tick.
std::string write_smf_events(std::vector<TickEvent> events, const TrackHeader& header, std::int64_t end_tick = 0);

}  // namespace tonemorph::midi
