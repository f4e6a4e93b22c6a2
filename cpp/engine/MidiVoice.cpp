#include "MidiVoice.h"

#include <algorithm>
#include <cmath>

namespace tonemorph {

namespace {
double note_hz(double note) { return 440.0 * std::pow(2.0, (note - 69.0) / 12.0); }
}  // namespace

void MidiVoice::reset() {
    held_count_ = 0;
    velocity_ = 0;
    bend_ = 0.0;
    expression_ = 1.0;
    dynamics_ = 1.0;
    t_event_ = 0.0;
    f_start_ = f_target_ = 0.0;
    db_start_ = -80.0f;
    releasing_ = true;
    has_pitch_ = false;
}

double MidiVoice::target_hz(const Settings& s) const {
    const int note = current_note();
    if (note < 0) return f_target_;
    return note_hz(note + bend_ * s.bend_range_st);
}

float MidiVoice::target_db(const Settings& s) const {
    if (releasing_) return s.floor_db;
    const double level = (velocity_ / 127.0) * expression_ * dynamics_;
    if (level <= 0.0) return s.floor_db;
    return static_cast<float>(s.quiet_db + (s.loud_db - s.quiet_db) * level);
}

double MidiVoice::f0_hz(double t, const Settings& s) const {
    if (!has_pitch_) return 0.0;
    const double dt = std::max(0.0, t - t_event_);
    if (s.glide_s <= 0.0) return f_target_;
    return f_target_ + (f_start_ - f_target_) * std::exp(-dt / s.glide_s);
}

float MidiVoice::loudness_db(double t, const Settings& s) const {
    const double dt = std::max(0.0, t - t_event_);
    const float target = target_db(s);
    const double ramp = releasing_ ? s.release_s : s.attack_s;
    // Ramp speed: the full floor -> loud range in `ramp` seconds.
    const double rate = ramp > 0.0 ? (s.loud_db - s.floor_db) / ramp : 1e9;
    const double step = rate * dt;
    if (db_start_ < target) return static_cast<float>(std::min<double>(target, db_start_ + step));
    return static_cast<float>(std::max<double>(target, db_start_ - step));
}

bool MidiVoice::sounding(double t, const Settings& s) const { return loudness_db(t, s) > s.floor_db; }

void MidiVoice::retarget(double t, const Settings& s) {
    const double f_now = f0_hz(t, s);
    const float db_now = loudness_db(t, s);
    t_event_ = t;
    f_start_ = f_now;
    db_start_ = db_now;
}

void MidiVoice::handle(const std::uint8_t* data, double t, const Settings& s) {
    const int status = data[0] & 0xF0;
    const int d1 = data[1] & 0x7F, d2 = data[2] & 0x7F;
    retarget(t, s);
    if (status == 0x90 && d2 > 0) {  // note on
        auto end = held_.begin() + held_count_;
        auto it = std::find(held_.begin(), end, d1);
        if (it != end) std::rotate(it, it + 1, end), --held_count_;
        held_[held_count_++] = d1;
        velocity_ = d2;
        const bool was_silent = releasing_ && !sounding(t, s);
        releasing_ = false;
        f_target_ = target_hz(s);
        // A note from silence starts on pitch; a legato or overlapping note glides.
        if (!has_pitch_ || was_silent) f_start_ = f_target_;
        has_pitch_ = true;
    } else if (status == 0x80 || status == 0x90) {  // note off
        auto end = held_.begin() + held_count_;
        auto it = std::find(held_.begin(), end, d1);
        if (it != end) {
            std::rotate(it, it + 1, end);
            --held_count_;
        }
        if (held_count_ == 0) releasing_ = true;
        else f_target_ = target_hz(s);
    } else if (status == 0xE0) {  // pitch bend, 14 bits centred on 8192
        bend_ = std::clamp(((d2 << 7) | d1) - 8192, -8192, 8191) / 8192.0;
        // A bend moves the pitch at once: shift the glide's start and target by the same ratio.
        const double old_target = f_target_;
        f_target_ = target_hz(s);
        if (old_target > 0.0) f_start_ *= f_target_ / old_target;
    } else if (status == 0xB0) {  // control change
        if (d1 == 11) expression_ = d2 / 127.0;
        else if (d1 == 1 || d1 == 2) dynamics_ = d2 / 127.0;
        else if (d1 == 120 || d1 == 123) {  // all sound / all notes off
            held_count_ = 0;
            releasing_ = true;
        }
    } else if (status == 0xD0) {  // channel aftertouch
        dynamics_ = d1 / 127.0;
    } else if (status == 0xA0) {  // polyphonic aftertouch on the sounding note
        if (d1 == current_note()) dynamics_ = d2 / 127.0;
    }
}

void MidiVoice::all_notes_off(double t, const Settings& s) {
    const std::uint8_t msg[3] = {0xB0, 123, 0};
    handle(msg, t, s);
}

}  // namespace tonemorph
