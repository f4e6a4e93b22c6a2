#include "SmfWriter.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <tuple>
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
    // (tick, order, bytes): at one tick note-offs go before note-ons, so a repeated note sounds again.
    std::vector<std::tuple<std::int64_t, int, std::string>> events;
    const int channel = clip.drums ? kGmDrumChannel - 1 : 0;
    std::int64_t last = static_cast<std::int64_t>(std::max(clip.steps, 0)) * kTicksPerStep;
    for (const Note& n : clip.notes) {
        if (n.pitch < 0 || n.pitch > 127 || n.velocity < 1 || n.velocity > 127 || n.end_step <= n.start_step ||
            n.start_step < 0)
            throw MidiError("a note cannot be written: pitch " + std::to_string(n.pitch) + ", velocity " +
                            std::to_string(n.velocity) + ", steps " + std::to_string(n.start_step) + ".." +
                            std::to_string(n.end_step));
        const std::int64_t on = std::max<std::int64_t>(0, tick(n.start_step, n.start_offset));
        const std::int64_t off = std::max(on + 1, tick(n.end_step, n.end_offset));
        events.emplace_back(on, 1, std::string{static_cast<char>(0x90 | channel), static_cast<char>(n.pitch),
                                               static_cast<char>(n.velocity)});
        events.emplace_back(off, 0, std::string{static_cast<char>(0x80 | channel), static_cast<char>(n.pitch), 0});
        last = std::max(last, off);
    }
    std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
        return std::get<0>(a) != std::get<0>(b) ? std::get<0>(a) < std::get<0>(b) : std::get<1>(a) < std::get<1>(b);
    });

    std::string track;
    const std::string name = track_name.substr(0, 127);
    put_varlen(track, 0);
    track += "\xFF\x03";
    put_varlen(track, static_cast<std::uint32_t>(name.size()));
    track += name;
    const auto tempo = static_cast<std::uint32_t>(std::lround(60000000.0 / clip.bpm));
    put_varlen(track, 0);
    track += std::string("\xFF\x51\x03", 3);
    track += {static_cast<char>(tempo >> 16), static_cast<char>((tempo >> 8) & 0xFF), static_cast<char>(tempo & 0xFF)};
    put_varlen(track, 0);
    track += std::string("\xFF\x58\x04\x04\x02\x18\x08", 7);  // 4/4, 24 clocks per click, 8 32nds per quarter
    std::int64_t now = 0;
    for (const auto& [at, order, bytes] : events) {
        put_varlen(track, static_cast<std::uint32_t>(at - now));
        track += bytes;
        now = at;
    }
    put_varlen(track, static_cast<std::uint32_t>(last - now));
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
