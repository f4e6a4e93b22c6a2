#include "SmfWriter.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace tonemorph::midi {

namespace {

constexpr int kTicksPerStep = kWriteTicksPerQuarter / kStepsPerQuarter;

void put_u32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

void put_varlen(std::string& out, std::uint32_t v) {
    char bytes[5];
    int n = 0;
    bytes[n++] = static_cast<char>(v & 0x7F);
    while (v >>= 7) bytes[n++] = static_cast<char>((v & 0x7F) | 0x80);
    while (n) out.push_back(bytes[--n]);
}

std::int64_t tick(int step, float offset) {
    return std::llround((step + static_cast<double>(offset)) * kTicksPerStep);
}

}  // namespace

std::string write_smf(const Clip& clip, const std::string& track_name) {
    if (!(clip.bpm >= 10.0 && clip.bpm <= 1000.0))
        throw MidiError("a clip's tempo must be 10..1000 bpm, not " + std::to_string(clip.bpm));
    // At one tick note-offs (order 0) go before note-ons (1), so a repeated note sounds again.
    std::vector<TickEvent> events;
    events.reserve(clip.notes.size() * 2);
    const auto channel = static_cast<std::uint8_t>(clip.drums ? kGmDrumChannel - 1 : 0);
    for (const Note& n : clip.notes) {
        if (n.pitch < 0 || n.pitch > 127 || n.velocity < 1 || n.velocity > 127 || n.end_step <= n.start_step ||
            n.start_step < 0)
            throw MidiError("a note cannot be written: pitch " + std::to_string(n.pitch) + ", velocity " +
                            std::to_string(n.velocity) + ", steps " + std::to_string(n.start_step) + ".." +
                            std::to_string(n.end_step));
        const std::int64_t on = std::max<std::int64_t>(0, tick(n.start_step, n.start_offset));
        const std::int64_t off = std::max(on + 1, tick(n.end_step, n.end_offset));
        const auto pitch = static_cast<std::uint8_t>(n.pitch);
        events.push_back({on, 1, {static_cast<std::uint8_t>(0x90 | channel), pitch, static_cast<std::uint8_t>(n.velocity)}, 3});
        events.push_back({off, 0, {static_cast<std::uint8_t>(0x80 | channel), pitch, 0}, 3});
    }
    TrackHeader header;
    header.name = track_name;
    header.bpm = clip.bpm;
    return write_smf_events(std::move(events), header, static_cast<std::int64_t>(std::max(clip.steps, 0)) * kTicksPerStep);
}

std::string write_smf_events(std::vector<TickEvent> events, const TrackHeader& header, std::int64_t end_tick) {
    if (!(header.bpm >= 10.0 && header.bpm <= 1000.0))
        throw MidiError("a MIDI file's tempo must be 10..1000 bpm, not " + std::to_string(header.bpm));
    std::stable_sort(events.begin(), events.end(), [](const TickEvent& a, const TickEvent& b) {
        return a.tick != b.tick ? a.tick < b.tick : a.order < b.order;
    });
    std::string track;
    const std::string name = header.name.substr(0, 127);
    put_varlen(track, 0);
    track += "\xFF\x03";
    put_varlen(track, static_cast<std::uint32_t>(name.size()));
    track += name;
    const auto tempo = static_cast<std::uint32_t>(std::lround(60000000.0 / header.bpm));
    put_varlen(track, 0);
    track += std::string("\xFF\x51\x03", 3);
    track += {static_cast<char>(tempo >> 16), static_cast<char>((tempo >> 8) & 0xFF), static_cast<char>(tempo & 0xFF)};
    if (header.time_signature) {
        put_varlen(track, 0);
        track += std::string("\xFF\x58\x04\x04\x02\x18\x08", 7);  // 4/4, 24 clocks per click, 8 32nds per quarter
    }
    std::int64_t now = 0;
    std::uint8_t running = 0;  // running status: a message with the status of the one before leaves it out
    for (const TickEvent& e : events) {
        if (e.tick < 0) throw MidiError("a MIDI event cannot come before the start of the file");
        put_varlen(track, static_cast<std::uint32_t>(e.tick - now));
        const int skip = e.data[0] == running ? 1 : 0;
        track.append(reinterpret_cast<const char*>(e.data) + skip, static_cast<std::size_t>(std::clamp(e.size, 1, 3) - skip));
        running = e.data[0];
        now = e.tick;
    }
    put_varlen(track, static_cast<std::uint32_t>(std::max(end_tick, now) - now));
    track += std::string("\xFF\x2F\x00", 3);

    std::string out = "MThd";
    put_u32(out, 6);
    out += std::string("\x00\x00\x00\x01", 4);  // type 0, one track
    out.push_back(static_cast<char>(kWriteTicksPerQuarter >> 8));
    out.push_back(static_cast<char>(kWriteTicksPerQuarter & 0xFF));
    out += "MTrk";
    put_u32(out, static_cast<std::uint32_t>(track.size()));
    out += track;
    return out;
}

}  // namespace tonemorph::midi
