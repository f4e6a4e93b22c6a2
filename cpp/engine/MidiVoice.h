// Monophonic MIDI voice (last-note priority) that turns note, velocity, pitch bend, CC1/CC2/CC11
// and aftertouch into the f0 and loudness the model expects, evaluated at any time t >= the last event:
//   f0(t)    = f_target + (f_start - f_target) exp(-(t - t_event) / glide)
//   level(t) = linear ramp in dB over attack (note on) or release (all notes off)
// Every value is a closed form of the time since the last event, so the result does not depend
// on how the host split its blocks.
#pragma once

#include <array>
#include <cstdint>

namespace tonemorph {

struct MidiEvent {
    int offset = 0;  // sample offset inside the block
    std::uint8_t data[3] = {0, 0, 0};
};

class MidiVoice final {
public:
    struct Settings {
        double glide_s = 0.04, attack_s = 0.015, release_s = 0.15, bend_range_st = 2.0;
        float floor_db = -80.0f;
        float quiet_db = -60.0f;  // level 0 (velocity 1) maps here, level 1 to loud_db
        float loud_db = -10.0f;
    };

    void reset();
    void handle(const std::uint8_t* data, double t, const Settings& s);  // t in seconds
    void all_notes_off(double t, const Settings& s);

    double f0_hz(double t, const Settings& s) const;
    float loudness_db(double t, const Settings& s) const;
    bool sounding(double t, const Settings& s) const;
    int current_note() const { return held_count_ ? held_[held_count_ - 1] : -1; }

private:
    double target_hz(const Settings& s) const;
    float target_db(const Settings& s) const;
    void retarget(double t, const Settings& s);  // freeze the current values as new start points

    std::array<int, 128> held_{};
    int held_count_ = 0;
    int velocity_ = 0;
    double bend_ = 0.0;        // -1..1
    double expression_ = 1.0;  // CC11
    double dynamics_ = 1.0;    // last of CC1, CC2, aftertouch
    double t_event_ = 0.0;
    double f_start_ = 0.0, f_target_ = 0.0;
    float db_start_ = -80.0f;
    bool releasing_ = true;
    bool has_pitch_ = false;
};

}  // namespace tonemorph
