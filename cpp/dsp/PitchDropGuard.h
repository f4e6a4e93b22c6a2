// Holds back sudden pitch drops until they prove to be notes.
//
// A causal tracker's worst mistakes are period multiples: in the first tens of milliseconds of a note,
// while the attack is noisy and the last note still rings, YIN can lock onto 2T or 3T (the note an octave,
// or an octave and a fifth, too low) for a few frames. Played through an instrument, each is a low blip at
// the note's start. A fall of more than max_drop_semitones from the pitch in play is therefore believed
// only once confirm_frames pitched frames in a row agree on it (within kAgreeSemitones of each other);
// until then the pitch in play is held. Rises, small steps, bends and vibrato pass at once, and so does a
// fall back to where the pitch was before a leap up less than confirm_frames frames old (a grace note, or
// the tracker's own octave-up slip). Only a real leap down is late, by confirm_frames - 1 hops.
#pragma once

namespace tonemorph {

class PitchDropGuard final {
public:
    struct Spec {
        int confirm_frames = 4;           // frames a drop must hold
        float max_drop_semitones = 6.0f;  // falls up to this pass at once
    };

    void prepare(const Spec& spec);  // throws std::invalid_argument on a bad spec
    // Forget the pitch in play: the next pitch passes as it is (a note after silence).
    void reset();

    // f0 (Hz, > 0) of a pitched frame -> the f0 to play. Non-positive or non-finite f0 returns the
    // pitch in play unchanged and counts as no frame at all.
    float process(float f0_hz);

    float current_hz() const { return current_hz_; }  // 0 before the first pitch
    const Spec& spec() const { return spec_; }

private:
    Spec spec_;
    float current_hz_ = 0.0f;
    float candidate_hz_ = 0.0f;
    int candidate_frames_ = 0;
    float before_leap_hz_ = 0.0f;  // the pitch in play before the latest leap up
    int since_leap_ = 0;           // frames since that leap
};

}  // namespace tonemorph
