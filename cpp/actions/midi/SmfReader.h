// Standard MIDI Files (type 0 and 1) read into a Clip, hardened against hostile files: every length is
// checked against what is left of the file, the file and the clip are bounded in size, and the work is
// linear in the file's size, so a damaged or malicious file gets a MidiError, never a hang or a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "Clip.h"

namespace tonemorph::midi {

constexpr std::size_t kMaxSmfBytes = 16u << 20;  // larger files are refused before they are read
constexpr int kMaxClipBars = 4096;               // longer clips are refused (16 bars a minute at 120 bpm: 4 h)
constexpr int kMaxClipNotes = 200000;

// Which notes of the file become the clip.
enum class ClipKind {
    Auto,    // channel 10 alone -> drums; otherwise the notes outside channel 10 (a melody)
    Melody,  // the notes outside channel 10
    Drums,   // channel 10's notes, or every note if the file has none there (a drum clip on another channel)
};

struct SmfRead {
    Clip clip;
    int format = 0;               // SMF type, 0 or 1
    int ticks_per_quarter = 0;
    int tempo_changes = 0;        // tempo events after the first (the grid follows the beat, not the clock)
    int notes_in_file = 0;        // note-ons with velocity > 0, all channels
    std::vector<std::string> messages;  // what was left out and why, for the musician
};

// Reads a whole SMF from memory. `name` names the file in messages ("'riff.mid'"). Notes are quantised to
// sixteenths in ticks (so tempo changes do not move the grid); their offsets from the grid are kept.
// Throws MidiError: type 2, SMPTE time, truncated or corrupt data, more than kMaxSmfBytes, a clip of more
// than kMaxClipBars bars or kMaxClipNotes notes, or no note of the kind asked for.
SmfRead read_smf(const std::uint8_t* data, std::size_t size, const std::string& name,
                 ClipKind kind = ClipKind::Auto);
SmfRead read_smf(const std::string& bytes, const std::string& name, ClipKind kind = ClipKind::Auto);

// The same from a file (UTF-8 path); MidiError when it cannot be opened or is larger than kMaxSmfBytes.
SmfRead read_smf_file(const std::string& path, ClipKind kind = ClipKind::Auto);

}  // namespace tonemorph::midi
