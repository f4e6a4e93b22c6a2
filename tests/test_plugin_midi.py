"""The MIDI panel without its GUI, in both plugins: plugin/tools/PluginTorture.cpp `midi` drives the processor's
MidiJob (the panel's own API) while a simulated audio thread keeps calling processBlock, counted for heap
allocations, frees and mutex locks the whole time: a tool run on a test-made clip, the Synth recording a melody
from its MIDI input, the effect transcribing the last seconds of its audio input, a result auditioned through
the loaded instrument at the plugin's output, Save, and bad input. The MIDI models are found where the plugin
looks (midi/ in the user's models folder, here a temporary one holding links to models/midi)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import plugin_host as host
import pytest
import soundfile as sf
from tonemorph.engine import _core

REPO = Path(__file__).resolve().parents[1]
MIDI_MODELS = REPO / "models" / "midi"
BOTH = [host.EFFECT, host.SYNTH]
# The torture tool's melody (kMelody): its pitches and onsets in sixteenths at 120 bpm.
MELODY_PITCHES = [60, 62, 64, 65, 67, 65, 64, 62, 60]
MELODY_STARTS = [0, 4, 6, 8, 12, 16, 18, 20, 24]
midi = _core.midi


def models_folder(folder: Path, *names: str) -> Path:
    """A user models folder whose midi/ holds links to these files of models/midi."""
    (folder / "midi").mkdir(parents=True)
    for name in names:
        (folder / "midi" / name).symlink_to(MIDI_MODELS / name)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    present = [p.name for p in MIDI_MODELS.glob("*.onnx")]
    return models_folder(tmp_path_factory.mktemp("models"), *present)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")

    def write(name: str, notes: list[tuple[int, int, int]], drums: bool = False) -> Path:
        clip = midi.Clip()
        clip.notes = [midi.Note(start, end, pitch, 100) for start, end, pitch in notes]
        clip.steps = 16
        clip.drums = drums
        path = folder / name
        path.write_bytes(midi.write_clip(clip))
        return path

    scale = [60, 62, 64, 65, 67, 65, 64, 62]
    paths = {
        "melody": write("melody.mid", [(2 * i, 2 * i + 2, p) for i, p in enumerate(scale)]),
        "other": write("other.mid", [(4 * i, 4 * i + 3, p) for i, p in enumerate([72, 67, 64, 60])]),
        "drums": write(
            "drums.mid", [(2 * i, 2 * i + 1, 36 if i % 2 == 0 else 38) for i in range(8)], drums=True
        ),
        "empty": write("empty.mid", []),
        "corrupt": folder / "corrupt.mid",
    }
    paths["corrupt"].write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\xff\xff junk")
    return paths


def run_midi(name: str, tool: str, *options: str, models: Path, timeout: float = 120) -> dict:
    # The audio thread ran all along and never allocated, freed or locked.
    env = {**os.environ, "TONEMORPH_MODELS": str(models)}
    return host.job_report(name, "midi", tool, *options, env=env, timeout=timeout)


def read(path: str | Path) -> midi.Clip:
    return midi.read_clip_file(str(path))["clip"]


@pytest.mark.parametrize("name", BOTH)
def test_continue_writes_the_variations_and_auditions_one_through_the_instrument(
    name, models, clips, tone_model_path
):
    report = run_midi(
        name,
        "continue",
        "--clip",
        str(clips["melody"]),
        "--bars",
        "2",
        "--variations",
        "3",
        "--seed",
        "7",
        "--instrument",
        str(tone_model_path),
        "--audition",
        models=models,
    )
    assert report["state"] == "done", report
    folder = Path(report["folder"])
    assert [Path(p).name for p in report["results"]] == [
        "continue-01.mid",
        "continue-02.mid",
        "continue-03.mid",
    ]
    assert sorted(p.name for p in folder.iterdir()) == [
        "continue-01.mid",
        "continue-01.wav",
        "continue-02.mid",
        "continue-03.mid",
        "continue.json",
    ]
    sidecar = json.loads((folder / "continue.json").read_text())
    assert sidecar["settings"]["seed"] == "7" and sidecar["settings"]["tool"] == "continue"
    for path in report["results"]:
        clip = read(path)
        assert clip.steps == 16 + 2 * 16  # the clip's bar, then two new ones
        assert [n.pitch for n in clip.notes if n.start_step < 16] == [60, 62, 64, 65, 67, 65, 64, 62]
        assert any(n.start_step >= 16 for n in clip.notes), "no new notes"

    # Audition: the first result rendered through the instrument into a WAV, heard at the plugin's output
    # (nothing else plays: the input is silent and no MIDI arrives), then the plugin's own output is back.
    assert report["audition_state"] == "rendered", report
    audio, sr = sf.read(report["audition_wav"], dtype="float32")
    assert sr == 48000 and audio.shape[1] == 2 and np.sqrt(np.mean(audio**2)) > 1e-3
    print(f"{name}: audition heard at {report['heard_rms']:.4f} RMS, {report['quiet_rms']:.2e} without it")
    assert report["heard_blocks"] > 100 and report["heard_rms"] > 1e-3
    assert report["heard_rms"] > 30 * report["quiet_rms"]
    assert report["audition_ended"]


def test_the_synth_records_its_midi_input_into_a_clip(models, tone_model_path):
    """Record, the melody on the MIDI input at 120 bpm (no host tempo: the default), Stop: the notes on their
    sixteenths, which Continue then takes."""
    report = run_midi(host.SYNTH, "continue", "--record", "--variations", "1", "--seed", "1", models=models)
    assert report["recorded_pitches"] == MELODY_PITCHES
    assert report["recorded_starts"] == MELODY_STARTS and report["recorded_bpm"] == 120
    recorded = read(report["recording"])
    assert [n.pitch for n in recorded.notes] == MELODY_PITCHES and recorded.steps == 32
    assert report["state"] == "done" and len(report["results"]) == 1


def test_the_effect_transcribes_the_last_seconds_of_its_input(models):
    """The melody played into the effect as tones (four harmonics, decaying) at 120 bpm; Transcribe hears the
    last 5 s of the input through Basic Pitch and writes the notes at their own times (as `tonemorph midi
    transcribe` does, pitch bends kept): every pitch, and each onset a sixteenth-exact distance from the first."""
    import mido

    report = run_midi(host.EFFECT, "transcribe", "--capture", "5", models=models)
    assert report["state"] == "done", report
    assert report["heard_seconds"] >= 4.5
    (path,) = report["results"]
    assert Path(path).name == "transcribe-01.mid"
    print(report["messages"])
    now, onsets, pitches = 0.0, [], []
    for message in mido.MidiFile(path):
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            onsets.append(now)
            pitches.append(message.note)
    assert pitches == MELODY_PITCHES
    sixteenth = 60 / 120 / 4
    late = [(t - onsets[0]) - (s - MELODY_STARTS[0]) * sixteenth for t, s in zip(onsets, MELODY_STARTS)]
    assert max(abs(x) for x in late) < 0.03, late


def test_transcribe_in_the_synth_asks_for_a_file(models):
    report = run_midi(host.SYNTH, "transcribe", models=models)
    assert report["state"] == "failed" and "Choose an audio file to transcribe" in report["error"]


@pytest.mark.parametrize(
    "tool,options,model,expect",
    [
        ("generate", ["--kind", "drums", "--bars", "2", "--variations", "2"], "drums.onnx", (2, 32, True)),
        (
            "interpolate",
            ["--second", "@other", "--steps", "4", "--temperature", "0"],
            "melody_vae_decoder.onnx",
            (4, 16, False),
        ),
        ("groove", ["--variations", "2"], "groove.onnx", (2, 16, True)),
        ("drumify", ["--variations", "2"], "groove.onnx", (2, 16, True)),
    ],
)
def test_the_other_tools(tool, options, model, expect, models, clips):
    if not (MIDI_MODELS / model).is_file():
        pytest.skip(f"models/midi/{model} is not in the tree yet")
    options = [str(clips[o[1:]]) if o.startswith("@") else o for o in options]
    first = ["--clip", str(clips["drums" if tool == "groove" else "melody"])] if tool != "generate" else []
    report = run_midi(host.SYNTH, tool, *first, *options, "--seed", "3", models=models)
    assert report["state"] == "done", report
    count, steps, drums = expect
    assert [Path(p).name for p in report["results"]] == [f"{tool}-{i + 1:02d}.mid" for i in range(count)]
    for path in report["results"]:
        clip = read(path)
        assert clip.steps == steps and clip.drums == drums and len(clip.notes) > 0
    if tool == "groove":  # which drums hit stays; timing and velocity may move
        source = read(clips["drums"])
        for path in report["results"]:
            clip = read(path)
            assert [(n.start_step, n.pitch) for n in clip.notes] == [
                (n.start_step, n.pitch) for n in source.notes
            ]


@pytest.mark.parametrize(
    "tool,clip,options,message",
    [
        ("continue", "drums", ["--kind", "melody"], "drums.mid' has only drums"),
        ("continue", "empty", [], "empty.mid' has no notes"),
        ("continue", "corrupt", [], "corrupt.mid' is not a readable MIDI file"),
        ("continue", "melody", ["--temperature", "-1"], "Temperature must be 0..10"),
        ("continue", None, [], "Choose a clip to continue first"),
        ("interpolate", "melody", [], "Choose clip B"),
    ],
)
def test_bad_input_gets_the_musicians_message_and_writes_nothing(tool, clip, options, message, models, clips):
    first = ["--clip", str(clips[clip])] if clip else []
    report = run_midi(host.EFFECT, tool, *first, *options, models=models)
    print(report["error"])
    assert report["state"] == "failed" and message in report["error"], report["error"]
    assert report["results"] == [] and report["folder"] == ""


@pytest.mark.parametrize(
    "tool,options,missing,message",
    [
        ("generate", ["--kind", "drums"], "drums.onnx", "The drums model is not installed"),
        ("drumify", ["--clip", "@melody"], "groove.onnx", "The Drumify model is not installed"),
        (
            "interpolate",
            ["--clip", "@melody", "--second", "@other"],
            "melody_vae_decoder.onnx",
            "The Interpolate model is not installed",
        ),
        (
            "transcribe",
            ["--capture", "2"],
            "basic_pitch.onnx",
            "The Transcribe (Basic Pitch) model is not installed",
        ),
    ],
)
def test_a_missing_model_is_named(tool, options, missing, message, clips, tmp_path):
    present = [p.name for p in MIDI_MODELS.glob("*.onnx") if p.name != missing]
    bare = models_folder(tmp_path / "models", *present)
    options = [str(clips[o[1:]]) if o.startswith("@") else o for o in options]
    report = run_midi(host.EFFECT, tool, *options, models=bare)
    assert report["state"] == "failed" and message in report["error"], report["error"]
    assert f"midi/{missing}" in report["error"]


def test_save_copies_a_result_and_never_onto_an_input(models, clips, tmp_path):
    target = tmp_path / "saved" / "mine.mid"
    target.parent.mkdir()
    report = run_midi(
        host.SYNTH,
        "continue",
        "--clip",
        str(clips["melody"]),
        "--variations",
        "1",
        "--save-to",
        str(target),
        models=models,
    )
    assert report["save"] == "saved"
    assert target.read_bytes() == Path(report["results"][0]).read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["mine.mid"]  # no temporary file beside it

    before = hashlib.sha256(clips["melody"].read_bytes()).hexdigest()
    report = run_midi(
        host.SYNTH,
        "continue",
        "--clip",
        str(clips["melody"]),
        "--variations",
        "1",
        "--save-to",
        str(clips["melody"]),
        models=models,
    )
    assert "would overwrite 'melody.mid'" in report["save"]
    assert hashlib.sha256(clips["melody"].read_bytes()).hexdigest() == before


def test_cancel_leaves_no_run_folder(models):
    report = run_midi(
        host.SYNTH,
        "generate",
        "--kind",
        "melody",
        "--bars",
        "64",
        "--variations",
        "64",
        "--cancel-after",
        "0.05",
        models=models,
    )
    assert report["state"] == "cancelled", report
    assert report["folder"] == "" and report["results"] == []


@pytest.mark.parametrize("name", BOTH)
def test_the_bundles_carry_the_midi_models_apart_from_the_instruments(name):
    """models/midi/ of the bundle holds every MIDI model; the instrument list reads only models/*.onnx."""
    bundled = host.vst3(name) / "Contents" / "Resources" / "models"
    for model in MIDI_MODELS.glob("*.onnx"):
        if model.name.startswith("."):
            continue
        assert (bundled / "midi" / model.name).read_bytes() == model.read_bytes()
    assert not {p.name for p in bundled.glob("*.onnx")} & {p.name for p in MIDI_MODELS.glob("*.onnx")}


@pytest.mark.parametrize("name", BOTH)
def test_the_panel_lists_the_results(name, models, clips, tmp_path):
    """The editor with the MIDI panel in view (PluginTorture `snapshot`), before and after a Continue run: the
    run's four rows appear below the settings, and nothing else of the panel moves."""
    tabs = ["Offline tools", "MIDI tools"] if name == host.EFFECT else ["Offline tools"]
    shots = {}
    with host.xvfb() as display:
        for label, extra in (("empty", []), ("listed", ["--continue", str(clips["melody"])])):
            out = tmp_path / f"{label}.png"
            env = {**os.environ, "DISPLAY": display, "TONEMORPH_MODELS": str(models)}
            shots[label] = host.editor_snapshot(name, out, *tabs, *extra, env=env)
    changed = np.abs(shots["listed"] - shots["empty"]) > 24
    rows = np.flatnonzero(changed.any(axis=1))
    assert rows.size > 0, "the results did not show"
    print(f"{name}: the panel changed on rows {rows.min()}..{rows.max()}")
    # The rows (and the run's summary line above them) sit in the lower part of the panel; its top is unchanged.
    assert rows.min() > 300 and rows.max() - rows.min() > 4 * 24
