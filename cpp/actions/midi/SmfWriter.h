// A Clip written as a Standard MIDI File: type 0, 480 ticks per quarter, the clip's tempo, a 4/4 time
// signature, notes on channel 1 (drums: channel 10), micro-timing offsets applied, end of track at the
// clip's length.
#pragma once

#include <string>

#include "Clip.h"

namespace tonemorph::midi {

constexpr int kWriteTicksPerQuarter = 480;

// The file's bytes. Throws MidiError for a clip that cannot be written (a pitch or velocity out of range,
// a note that ends before it starts, bpm not in 10..1000).
std::string write_smf(const Clip& clip, const std::string& track_name = "tonemorph");

}  // namespace tonemorph::midi
