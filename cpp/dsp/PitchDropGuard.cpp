#include "PitchDropGuard.h"

#include <cmath>

#include "ArgumentError.h"

namespace tonemorph {

namespace {
// Frames of one note in the making differ by vibrato and tracker noise, far less than a semitone.
constexpr float kAgreeSemitones = 1.0f;

float semitones(float from_hz, float to_hz) { return 12.0f * std::log2(to_hz / from_hz); }
}  // namespace

void PitchDropGuard::prepare(const Spec& spec) {
    if (spec.confirm_frames < 1)
        throw argument_error("PitchDropGuard: confirm_frames must be at least 1, got ", spec.confirm_frames);
    if (!(spec.max_drop_semitones > 0.0f) || !std::isfinite(spec.max_drop_semitones))
        throw argument_error("PitchDropGuard: max_drop_semitones must be a positive number, got ",
                             spec.max_drop_semitones);
    spec_ = spec;
    reset();
}

void PitchDropGuard::reset() {
    current_hz_ = 0.0f;
    candidate_hz_ = 0.0f;
    candidate_frames_ = 0;
    before_leap_hz_ = 0.0f;
    since_leap_ = 0;
}

float PitchDropGuard::process(float f0_hz) {
    if (!(f0_hz > 0.0f) || !std::isfinite(f0_hz)) return current_hz_;
    if (since_leap_ < spec_.confirm_frames) ++since_leap_;
    const float step = current_hz_ > 0.0f ? semitones(current_hz_, f0_hz) : 0.0f;
    const bool back_from_leap = since_leap_ < spec_.confirm_frames && before_leap_hz_ > 0.0f &&
                                std::fabs(semitones(before_leap_hz_, f0_hz)) <= kAgreeSemitones;
    if (current_hz_ <= 0.0f || step >= -spec_.max_drop_semitones || back_from_leap) {
        if (step > spec_.max_drop_semitones) {
            before_leap_hz_ = current_hz_;
            since_leap_ = 0;
        }
        current_hz_ = f0_hz;
        candidate_frames_ = 0;
        return current_hz_;
    }
    const bool same_candidate =
        candidate_frames_ > 0 && std::fabs(semitones(candidate_hz_, f0_hz)) <= kAgreeSemitones;
    candidate_frames_ = same_candidate ? candidate_frames_ + 1 : 1;
    candidate_hz_ = f0_hz;
    if (candidate_frames_ >= spec_.confirm_frames) {
        current_hz_ = f0_hz;
        candidate_frames_ = 0;
    }
    return current_hz_;
}

}  // namespace tonemorph
