"""The built plugins in a real DAW, Ardour 7 run headless (tests/ardour_host.py): a held-out guitar melody
through the effect on an audio track, and the same melody as a MIDI file through the Synth on a MIDI track,
rendered by export and by track bounce at buffer sizes 64, 1024 and 8192, as VST3 and as LV2, each plugin
playing its default model (the bundled trumpet).

One session per (format, buffer size) holds both tracks, one after the other on the timeline, and gives one
export of the master bus and one bounce of each track. Ardour compensates each plugin's latency in both, so
the notes must come back on the timeline where they were played: each note's pitch is read where the note
was played, and a latency misreported or mishandled moves the output off its notes. Per session:
- Ardour ran at the block size asked for;
- the latency Ardour reads from each plugin is the engine's at that rate and block;
- in the export and in each bounce, the instrument plays every note of the melody at its pitch;
- the two bounces, added, are the export sample for sample.
"""

from __future__ import annotations

import functools

import ardour_host as ardour
import numpy as np
import plugin_host as host
import pytest
from ardour_host import EFFECT_TRACK, SYNTH_TRACK
from plugin_host import EFFECT, SYNTH, assert_sane, cents
from signals import midi_to_hz

FORMATS = ("VST3", "LV2")
BLOCKS = (64, 1024, 8192)
CLIP_SECONDS = 4.5  # the opening of the held-out melody: 11 notes of 0.2-0.7 s
NOTE_SKIP_S = 0.06  # a note's pitch is read from this long after its start (the attack, the glide) ...
NOTE_END_S = 0.01  # ... to this long before its end
RIGHT_CENTS = 50.0  # a note is right when its median pitch is within a quarter tone
NOTES_RIGHT = 0.8  # of the notes (one held note may fall an octave as the guitar string decays)
MEDIAN_CENTS = 20.0  # the median over notes of |median pitch error|
SILENT = 1e-3  # -60 dBFS: a note quieter than this is not played
BOUNCE_TOLERANCE = 1e-5  # -100 dBFS: a bounce is the export, sample for sample


@pytest.fixture(scope="session")
def melody(tmp_path_factory):
    """The guitar clip as a stereo float WAV, and its notes as a MIDI file."""
    ardour.require_ardour()
    clip = ardour.heldout_clip(CLIP_SECONDS)
    folder = tmp_path_factory.mktemp("ardour-melody")
    wav = ardour.write_float_wav(folder / "guitar.wav", np.stack([clip.audio, clip.audio]), clip.sample_rate)
    return clip, wav, ardour.write_midi(clip.notes, folder / "melody.mid")


@pytest.fixture(
    scope="module", params=[(f, b) for f in FORMATS for b in BLOCKS], ids=lambda p: f"{p[0]}-{p[1]}"
)
def session(request, melody, tmp_path_factory):
    """One Ardour session's export and bounces (ardour_host.ArdourRender), in a private Ardour home."""
    plugin_format, block = request.param
    clip, wav, midi = melody
    bundles = [host.vst3(EFFECT), host.vst3(SYNTH)] if plugin_format == "VST3" else []
    lv2_bundles = [host.lv2(EFFECT), host.lv2(SYNTH)] if plugin_format == "LV2" else []
    home = ardour.ardour_home(
        tmp_path_factory.mktemp(f"ardour-{plugin_format}-{block}"), bundles, lv2_bundles
    )
    render = ardour.render_session(home, plugin_format, EFFECT, SYNTH, block, clip, midi, wav)
    print(
        f"\nArdour {plugin_format} block {block}: "
        + ", ".join(f"{step} {s:.1f} s" for step, s in render.seconds.items())
    )
    for problem in render.retried:
        print(f"Ardour {plugin_format} block {block} was run again after {problem}")
    yield render
    ardour.cleanup(home)


@functools.cache
def engine_latency(sample_rate: int, block: int) -> int:
    from tonemorph.engine import Engine, load_model

    engine = Engine(load_model("trumpet"))
    engine.prepare(sample_rate, block, 2)
    return engine.latency_samples()


def stretch(session, audio: np.ndarray, track: str) -> np.ndarray:
    """audio [2, samples] over `track`'s stretch of the timeline, from its clip's start."""
    if track == EFFECT_TRACK:
        return audio[:, session.effect_start : session.synth_start]
    return audio[:, session.synth_start : session.length]


def played(session, by: str, track: str) -> np.ndarray:
    """`track`'s stretch of the export, or of its bounce."""
    return stretch(session, session.export if by == "export" else session.bounce[track], track)


def note_errors(y: np.ndarray, notes, sr: int) -> list[float]:
    """Each note's median pitch error in cents over [start + NOTE_SKIP_S, end - NOTE_END_S] of y [samples];
    inf where the note is silent."""
    f0, centres = host.pitch_track(y, sr)
    errors = []
    for pitch, start, end, _ in notes:
        a, b = int((start + NOTE_SKIP_S) * sr), int((end - NOTE_END_S) * sr)
        frames = (centres >= a) & (centres < b)
        level = float(np.sqrt(np.mean(y[a:b] ** 2)))
        errors.append(float(np.median(cents(f0[frames], midi_to_hz(pitch)))) if level > SILENT else np.inf)
    return errors


def assert_notes_followed(y: np.ndarray, clip, what: str) -> None:
    assert_sane(y, what)
    errors = note_errors(y.mean(axis=0), clip.notes, clip.sample_rate)
    size = np.abs(errors)
    right, median = float(np.mean(size <= RIGHT_CENTS)), float(np.median(size))
    table = ", ".join(
        f"{pitch}: {'silent' if np.isinf(e) else f'{e:+.0f}c'}" for (pitch, *_), e in zip(clip.notes, errors)
    )
    print(f"{what}: {right:.0%} of notes within {RIGHT_CENTS:.0f} cents, median |error| {median:.1f} cents")
    assert right >= NOTES_RIGHT and median <= MEDIAN_CENTS, (
        f"{what}: {right:.0%} of {len(errors)} notes right (need {NOTES_RIGHT:.0%}), median |error| "
        f"{median:.1f} cents (need <= {MEDIAN_CENTS:.0f}); per note: {table}"
    )


def test_ardour_runs_at_the_block_size_asked_for(session):
    assert (session.block, session.sample_rate) == (session.requested_block, ardour.SAMPLE_RATE)


def test_latency_ardour_reads_equals_the_engines(session):
    expected = engine_latency(session.sample_rate, session.block)
    reads = {"loaded": session.plugin_latency, "after export": session.plugin_latency_after_export}
    assert reads == {when: {EFFECT_TRACK: expected, SYNTH_TRACK: expected} for when in reads}, (
        f"{session.plugin_format} at {session.sample_rate} Hz, block {session.block}: Ardour reads {reads} "
        f"(track latency {session.route_latency}); the engine's latency is {expected} samples"
    )


@pytest.mark.parametrize("by", ["export", "bounce"])
def test_pitch_follows_the_guitar(session, melody, by):
    clip, _, _ = melody
    what = f"{by}, effect ({session.plugin_format}, block {session.block})"
    assert_notes_followed(played(session, by, EFFECT_TRACK), clip, what)


@pytest.mark.parametrize("by", ["export", "bounce"])
def test_synth_plays_the_melody_at_its_pitch(session, melody, by):
    clip, _, _ = melody
    what = f"{by}, Synth ({session.plugin_format}, block {session.block})"
    assert_notes_followed(played(session, by, SYNTH_TRACK), clip, what)


def best_lag(reference: np.ndarray, y: np.ndarray) -> int:
    """The shift of y [samples] that best lines it up with reference (cross-correlation), in samples."""
    from scipy.signal import correlate

    return int(np.argmax(np.abs(correlate(reference, y, mode="full", method="fft")))) - (len(y) - 1)


def test_bounce_equals_export(session):
    """The export holds both tracks (one after the other); their bounces, added, must be the export."""
    export = session.export
    bounces = session.bounce[EFFECT_TRACK] + session.bounce[SYNTH_TRACK]
    assert export.shape == bounces.shape
    difference = np.abs(export - bounces).max(axis=0)
    worst, at = float(difference.max()), int(np.argmax(difference))
    details = []
    for track in (EFFECT_TRACK, SYNTH_TRACK):
        e, b = stretch(session, export, track), stretch(session, bounces, track)
        assert np.abs(e).max() > SILENT, f"the export of {track} is silent: nothing to compare"
        details.append(
            f"{track}'s stretch: max |export - bounces| {np.abs(e - b).max():.3g}, peak {np.abs(e).max():.3g} "
            f"(export) / {np.abs(b).max():.3g} (bounces), lined up best with the bounces shifted "
            f"{best_lag(e[0], b[0]):+d} samples"
        )
    summary = (
        f"{session.plugin_format} block {session.block}: max |export - bounces| {worst:.3g} at "
        f"{at / session.sample_rate:.3f} s; " + "; ".join(details)
    )
    print(summary)
    assert worst <= BOUNCE_TOLERANCE, f"{summary} (tolerance {BOUNCE_TOLERANCE:g})"
