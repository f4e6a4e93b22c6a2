#include "SmfReader.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace tonemorph::midi {

namespace {

struct RawNote {
    std::int64_t on = 0, off = 0;
    int channel = 0;  // 1-based
    int pitch = 0, velocity = 0;
};

std::string unreadable(const std::string& name, const std::string& detail) {
    return name + " is not a readable MIDI file (" + detail +
           "); export it again as a Standard MIDI File (.mid) from your sequencer.";
}

// A cursor over one chunk's bytes: every read checks what is left, so a hostile length cannot run past it.
class Bytes {
public:
    Bytes(const std::uint8_t* data, std::size_t size, const std::string& name) : p_(data), end_(data + size), name_(name) {}
    bool done() const { return p_ >= end_; }
    std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }
    std::uint8_t peek() const {
        need(1);
        return *p_;
    }
    std::uint8_t u8() {
        need(1);
        return *p_++;
    }
    std::uint32_t u16() {
        need(2);
        const std::uint32_t v = (std::uint32_t{p_[0]} << 8) | p_[1];
        p_ += 2;
        return v;
    }
    std::uint32_t u32() {
        need(4);
        const std::uint32_t v = (std::uint32_t{p_[0]} << 24) | (std::uint32_t{p_[1]} << 16) | (std::uint32_t{p_[2]} << 8) | p_[3];
        p_ += 4;
        return v;
    }
    std::uint32_t varlen() {  // at most 4 bytes (0x0FFFFFFF), as the SMF specification allows
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            const std::uint8_t b = u8();
            v = (v << 7) | (b & 0x7F);
            if (!(b & 0x80)) return v;
        }
        throw MidiError(unreadable(name_, "a number in it is longer than 4 bytes"));
    }
    const std::uint8_t* take(std::size_t n) {
        need(n);
        const std::uint8_t* at = p_;
        p_ += n;
        return at;
    }

private:
    void need(std::size_t n) const {
        if (left() < n) throw MidiError(unreadable(name_, "it ends in the middle of an event: the file is truncated"));
    }
    const std::uint8_t* p_;
    const std::uint8_t* end_;
    const std::string& name_;
};

struct TrackData {
    std::vector<RawNote> notes;
    std::vector<std::pair<std::int64_t, std::uint32_t>> tempos;  // (tick, microseconds per quarter)
    std::int64_t end_tick = 0;
    int unclosed = 0;
};

void read_track(Bytes track, const std::string& name, std::int64_t max_tick, std::size_t& total_notes,
                TrackData& out) {
    std::int64_t tick = 0;
    int status = 0;
    std::map<std::pair<int, int>, std::deque<std::pair<std::int64_t, int>>> open;  // (channel, pitch) -> ons
    auto too_long = [&] {
        return MidiError(name + " is longer than tonemorph's MIDI tools take (" + std::to_string(kMaxClipBars) +
                         " bars); cut the clip you want to work on out of the song and save it on its own.");
    };
    while (!track.done()) {
        tick += track.varlen();
        if (tick > max_tick) throw too_long();
        std::uint8_t byte = track.peek();
        if (byte & 0x80) {
            track.u8();
            if (byte >= 0xF0) {
                if (byte == 0xFF) {
                    const std::uint8_t type = track.u8();
                    const std::uint32_t length = track.varlen();
                    const std::uint8_t* data = track.take(length);
                    if (type == 0x2F) break;  // end of track
                    if (type == 0x51 && length == 3) {
                        const std::uint32_t us = (std::uint32_t{data[0]} << 16) | (std::uint32_t{data[1]} << 8) | data[2];
                        if (us > 0) out.tempos.emplace_back(tick, us);
                    }
                } else if (byte == 0xF0 || byte == 0xF7) {
                    track.take(track.varlen());  // system exclusive
                } else {
                    throw MidiError(unreadable(name, "it holds a system message (status " + std::to_string(byte) +
                                                         ") that a MIDI file cannot hold"));
                }
                status = 0;  // running status ends at system and meta events
                continue;
            }
            status = byte;
        } else if (status == 0) {
            throw MidiError(unreadable(name, "a data byte where an event should begin"));
        }
        const int kind = status & 0xF0;
        const int channel = (status & 0x0F) + 1;
        const std::uint8_t a = track.u8();
        const std::uint8_t b = (kind == 0xC0 || kind == 0xD0) ? 0 : track.u8();
        if ((a | b) & 0x80) throw MidiError(unreadable(name, "an event's data byte is out of range"));
        if (kind == 0x90 && b > 0) {
            if (++total_notes > static_cast<std::size_t>(kMaxClipNotes))
                throw MidiError(name + " has more than " + std::to_string(kMaxClipNotes) +
                                " notes; cut the clip you want to work on out of the song and save it on its own.");
            open[{channel, a}].emplace_back(tick, b);
        } else if (kind == 0x80 || kind == 0x90) {
            auto it = open.find({channel, a});
            if (it != open.end() && !it->second.empty()) {
                const auto [on, velocity] = it->second.front();
                it->second.pop_front();
                out.notes.push_back({on, tick, channel, a, velocity});
            }
        }
    }
    out.end_tick = tick;
    for (auto& [key, ons] : open)
        for (const auto& [on, velocity] : ons) {
            out.notes.push_back({on, std::max(tick, on), key.first, key.second, velocity});
            ++out.unclosed;
        }
}

std::string count_text(std::size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

}  // namespace

SmfRead read_smf(const std::uint8_t* data, std::size_t size, const std::string& name, ClipKind kind) {
    if (size == 0)
        throw MidiError(name + " is empty (0 bytes); export the clip again as a Standard MIDI File (.mid).");
    if (size > kMaxSmfBytes)
        throw MidiError(name + " is " + std::to_string(size >> 20) + " MB; tonemorph's MIDI tools read files of up to " +
                        std::to_string(kMaxSmfBytes >> 20) + " MB (a clip is a few kB): save the clip on its own.");
    Bytes file(data, size, name);
    if (size < 14 || std::string(reinterpret_cast<const char*>(data), 4) != "MThd")
        throw MidiError(unreadable(name, "it does not start with a MIDI file header ('MThd')"));
    file.take(4);
    const std::uint32_t header_length = file.u32();
    if (header_length < 6 || header_length > file.left())
        throw MidiError(unreadable(name, "its header has a length of " + std::to_string(header_length)));
    Bytes header(file.take(header_length), header_length, name);
    SmfRead result;
    result.format = static_cast<int>(header.u16());
    const std::uint32_t declared_tracks = header.u16();
    const std::uint32_t division = header.u16();
    if (result.format == 2)
        throw MidiError(name + " is a type 2 MIDI file (several independent patterns), which the MIDI tools do not "
                               "read; export the clip as type 0 or 1 from your sequencer.");
    if (result.format > 2) throw MidiError(unreadable(name, "its type is " + std::to_string(result.format) + ", not 0 or 1"));
    if (division & 0x8000)
        throw MidiError(name + " is timed in SMPTE frames, not beats; export it with musical time (ticks per "
                               "quarter note) from your sequencer.");
    if (division == 0) throw MidiError(unreadable(name, "its time division is 0 ticks per quarter note"));
    if (declared_tracks == 0) throw MidiError(unreadable(name, "its header says it has no tracks"));
    result.ticks_per_quarter = static_cast<int>(division);
    const double ticks_per_step = static_cast<double>(division) / kStepsPerQuarter;
    const auto max_tick = static_cast<std::int64_t>(std::ceil(ticks_per_step * kStepsPerBar * (kMaxClipBars + 1)));

    std::vector<TrackData> tracks;
    std::size_t total_notes = 0;
    while (file.left() >= 8 && tracks.size() < declared_tracks) {
        const std::string type(reinterpret_cast<const char*>(file.take(4)), 4);
        const std::uint32_t length = file.u32();
        if (length > file.left()) {
            if (type == "MTrk")
                throw MidiError(unreadable(name, "track " + std::to_string(tracks.size() + 1) + " says it has " +
                                                     std::to_string(length) + " bytes but only " +
                                                     std::to_string(file.left()) + " are left: the file is truncated"));
            break;  // an unknown chunk at the end, cut short: nothing of ours is in it
        }
        const std::uint8_t* chunk = file.take(length);
        if (type != "MTrk") continue;  // chunks of other kinds are skipped, as the specification asks
        tracks.emplace_back();
        read_track(Bytes(chunk, length, name), name, max_tick, total_notes, tracks.back());
        if (result.format == 0) break;
    }
    if (tracks.empty()) throw MidiError(unreadable(name, "it has no track"));
    if (tracks.size() < declared_tracks && result.format == 1)
        result.messages.push_back("the file says it has " + std::to_string(declared_tracks) + " tracks; " +
                                  std::to_string(tracks.size()) + " were found and read");

    // The tempo map: the first tempo is the clip's; the grid is in ticks (beats), so later changes move no note.
    std::vector<std::pair<std::int64_t, std::uint32_t>> tempos;
    std::vector<RawNote> notes;
    std::int64_t end_tick = 0;
    int unclosed = 0;
    for (auto& t : tracks) {
        tempos.insert(tempos.end(), t.tempos.begin(), t.tempos.end());
        notes.insert(notes.end(), t.notes.begin(), t.notes.end());
        end_tick = std::max(end_tick, t.end_tick);
        unclosed += t.unclosed;
    }
    std::stable_sort(tempos.begin(), tempos.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    if (!tempos.empty()) {
        result.clip.bpm = std::clamp(60000000.0 / tempos.front().second, 10.0, 1000.0);
        for (std::size_t i = 1; i < tempos.size(); ++i) result.tempo_changes += tempos[i].second != tempos[i - 1].second;
    }
    if (result.tempo_changes > 0)
        result.messages.push_back("the tempo changes " + count_text(static_cast<std::size_t>(result.tempo_changes), "time") +
                                  "; the notes stay on the beat grid and the clip is written at " +
                                  std::to_string(static_cast<int>(std::lround(result.clip.bpm))) + " bpm");
    if (unclosed > 0)
        result.messages.push_back(count_text(static_cast<std::size_t>(unclosed), "note") +
                                  " had no note-off and end where the track ends");
    result.notes_in_file = static_cast<int>(notes.size());

    std::size_t on_drum_channel = 0;
    for (const RawNote& n : notes) on_drum_channel += n.channel == kGmDrumChannel;
    const std::size_t elsewhere = notes.size() - on_drum_channel;
    if (notes.empty())
        throw MidiError(name + " has no notes; record or draw a few into the clip first.");
    bool drums = false;
    switch (kind) {
        case ClipKind::Auto: drums = elsewhere == 0; break;
        case ClipKind::Melody: drums = false; break;
        case ClipKind::Drums: drums = true; break;
    }
    if (!drums && elsewhere == 0)
        throw MidiError(name + " has only drums (" + count_text(on_drum_channel, "note") +
                        " on channel 10); give a melody, or use the drum model (--kind drums).");
    const bool keep_all = drums && on_drum_channel == 0;  // a drum clip written on another channel
    if (drums && keep_all)
        result.messages.push_back("no notes on channel 10: all " + count_text(notes.size(), "note") +
                                  " are read as General MIDI drums");
    else if (drums && elsewhere > 0)
        result.messages.push_back(count_text(elsewhere, "note") + " outside channel 10 left out (drums only)");
    else if (!drums && on_drum_channel > 0)
        result.messages.push_back(count_text(on_drum_channel, "drum note") + " on channel 10 left out");

    result.clip.drums = drums;
    int last_step = 0;
    for (const RawNote& n : notes) {
        if (!keep_all && (n.channel == kGmDrumChannel) != drums) continue;
        Note note;
        const double on = static_cast<double>(n.on) / ticks_per_step, off = static_cast<double>(n.off) / ticks_per_step;
        note.start_step = static_cast<int>(std::lround(on));
        note.end_step = std::max(note.start_step + 1, static_cast<int>(std::lround(off)));
        note.start_offset = static_cast<float>(on - note.start_step);
        note.end_offset = static_cast<float>(std::clamp(off - note.end_step, -0.5, 0.5));
        note.pitch = n.pitch;
        note.velocity = n.velocity;
        last_step = std::max(last_step, note.end_step);
        result.clip.notes.push_back(note);
    }
    sort_notes(result.clip.notes);
    const int end_step = static_cast<int>(std::lround(static_cast<double>(end_tick) / ticks_per_step));
    result.clip.steps = whole_bars(std::max(last_step, end_step));
    if (result.clip.steps > kMaxClipBars * kStepsPerBar)
        throw MidiError(name + " is longer than tonemorph's MIDI tools take (" + std::to_string(kMaxClipBars) +
                        " bars); cut the clip you want to work on out of the song and save it on its own.");
    return result;
}

SmfRead read_smf(const std::string& bytes, const std::string& name, ClipKind kind) {
    return read_smf(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), name, kind);
}

SmfRead read_smf_file(const std::string& path, ClipKind kind) {
    const std::string name = "'" + path + "'";
    const auto fs_path = std::filesystem::u8path(path);
    std::error_code error;
    const auto size = std::filesystem::file_size(fs_path, error);
    if (error) throw MidiError("cannot read " + name + " (" + error.message() + ").");
    if (size > kMaxSmfBytes) return read_smf(nullptr, static_cast<std::size_t>(size), name, kind);  // refused by size
    std::ifstream in(fs_path, std::ios::binary);
    std::string bytes(static_cast<std::size_t>(size), '\0');
    if (!in || !in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
        throw MidiError("cannot read " + name + ".");
    return read_smf(bytes, name, kind);
}

}  // namespace tonemorph::midi
