"""The `tonemorph` command as a musician runs it: render and models, and what bad input gets."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from pedalboard.io import AudioFile

TONEMORPH = [sys.executable, "-m", "tonemorph.cli"]


def run(*args, env=None):
    return subprocess.run([*TONEMORPH, *map(str, args)], check=False, capture_output=True, text=True, env=env,
                          timeout=300)


def write(path, audio, sr):
    with AudioFile(str(path), "w", samplerate=sr, num_channels=audio.shape[0]) as f:
        f.write(audio.astype(np.float32))


def melody(sr, channels=1, seconds=1.5):
    t = np.arange(int(sr * seconds)) / sr
    f0 = np.where(t < seconds / 2, 220.0, 330.0)
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(f0) / sr)
    return np.tile(x, (channels, 1)).astype(np.float32)


@pytest.mark.parametrize("suffix,sr,channels", [(".wav", 44100, 1), (".flac", 32000, 2), (".mp3", 48000, 1),
                                                (".ogg", 22050, 2), (".wav", 11025, 1)])
def test_render_any_file_the_user_has(tone_model_path, tmp_path, suffix, sr, channels):
    src, dst = tmp_path / f"in{suffix}", tmp_path / "out.wav"
    write(src, melody(sr, channels), sr)
    result = run("render", src, dst, "--model", tone_model_path)
    assert result.returncode == 0, result.stderr
    out, out_sr = sf.read(dst, always_2d=True)
    assert out_sr == sr and out.shape[1] == channels
    assert out.shape[0] >= melody(sr).shape[1]
    assert np.abs(out).max() > 0.01


def test_render_shifts_pitch(tone_model_path, tmp_path):
    import librosa

    sr = 48000
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    t = np.arange(sr) / sr
    write(src, (0.3 * np.sin(2 * np.pi * 220 * t))[None], sr)
    assert run("render", src, dst, "-m", tone_model_path, "--semitones", "12").returncode == 0
    out, _ = sf.read(dst)
    f0 = np.median(librosa.yin(out[sr // 4 : sr], fmin=100, fmax=1000, sr=sr, frame_length=4096))
    assert abs(1200 * np.log2(f0 / 440.0)) < 20


def bad_input_cases(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1)), 44100)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    unknown = tmp_path / "clip.xyz"
    unknown.write_bytes(b"\x00" * 1000)
    return {"empty": (empty, "no audio"), "not_audio": (text, "cannot read"), "unknown_format": (unknown, "cannot read"),
            "missing": (tmp_path / "missing.wav", "does not exist")}


@pytest.mark.parametrize("case", ["empty", "not_audio", "unknown_format", "missing"])
def test_bad_input_is_a_clear_error_and_nothing_is_overwritten(tone_model_path, tmp_path, case):
    src, message = bad_input_cases(tmp_path)[case]
    dst = tmp_path / "out.wav"
    dst.write_bytes(b"precious")
    result = run("render", src, dst, "--model", tone_model_path, "--overwrite")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr and src.name in result.stderr
    assert dst.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def bad_models(tmp_path, tone_model_path):
    """name -> a model file a musician might pick by mistake, or a damaged one."""
    import onnx
    from onnx import TensorProto, helper

    whole = tone_model_path.read_bytes()
    models = {"junk": b"not a model", "empty": b"", "truncated": whole[: len(whole) // 2],
              "corrupt": bytes(b ^ 0xFF if i % 97 == 0 else b for i, b in enumerate(whole))}
    paths = {}
    for name, content in models.items():
        paths[name] = tmp_path / f"{name}.onnx"
        paths[name].write_bytes(content)
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in "abc"]
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "add", io[:2], io[2:])
    for name, ir_version in (("not_an_instrument", 8), ("newer_onnx", onnx.IR_VERSION + 3)):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = ir_version
        paths[name] = tmp_path / f"{name}.onnx"
        onnx.save(model, paths[name])
    paths["missing"] = tmp_path / "missing.onnx"
    paths["folder"] = tmp_path / "folder.onnx"
    paths["folder"].mkdir()
    paths["device"] = "/dev/null"
    paths["audio"] = tmp_path / "in.wav"
    return paths


BAD_MODELS = ["junk", "empty", "truncated", "corrupt", "not_an_instrument", "newer_onnx", "missing", "folder",
              "device", "audio"]


@pytest.mark.parametrize("case", BAD_MODELS)
def test_bad_model_is_a_clear_error(tone_model_path, tmp_path, case):
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    write(src, melody(44100), 44100)
    model = bad_models(tmp_path, tone_model_path)[case]
    result = run("render", src, dst, "--model", model)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert str(model) in result.stderr and result.stderr.count("\n") == 1, result.stderr  # one paragraph
    assert not dst.exists()


def test_render_refuses_to_replace_an_existing_output_unless_asked(tone_model_path, tmp_path):
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    write(src, melody(44100), 44100)
    dst.write_bytes(b"yesterday's take")
    result = run("render", src, dst, "--model", tone_model_path)
    assert result.returncode == 2 and "already exists" in result.stderr and "--overwrite" in result.stderr
    assert dst.read_bytes() == b"yesterday's take"
    assert run("render", src, dst, "--model", tone_model_path, "--overwrite").returncode == 0
    assert sf.info(dst).frames > 44100
    result = run("render", src, tmp_path, "--model", tone_model_path, "--overwrite")
    assert result.returncode == 2 and "is a folder" in result.stderr


def test_render_refuses_to_overwrite_its_input(tone_model_path, tmp_path):
    src = tmp_path / "in.wav"
    write(src, melody(44100), 44100)
    before = src.read_bytes()
    result = run("render", src, src, "--model", tone_model_path)
    assert result.returncode != 0 and "is the input" in result.stderr
    assert src.read_bytes() == before


@pytest.mark.parametrize("kind", ["folder", "fifo"])
@pytest.mark.parametrize("suffix", [".wav", ".mid"])
def test_a_folder_or_fifo_as_input_is_named_as_such(tone_model_path, tmp_path, kind, suffix):
    import os

    src = tmp_path / f"take{suffix}"
    src.mkdir() if kind == "folder" else os.mkfifo(src)  # reading a FIFO would wait forever
    result = run("render", src, tmp_path / "out.wav", "--model", tone_model_path)
    assert result.returncode == 2 and "is a folder or a device" in result.stderr and str(src) in result.stderr


@pytest.mark.parametrize("option", [("--param", "dry_wet=nan"), ("--semitones", "inf"), ("--octave", "abc")])
def test_numbers_that_are_not_numbers_are_refused(tone_model_path, tmp_path, option):
    src = tmp_path / "in.wav"
    write(src, melody(44100), 44100)
    result = run("render", src, tmp_path / "out.wav", "--model", tone_model_path, *option)
    assert result.returncode == 2 and "is not a number" in result.stderr and not (tmp_path / "out.wav").exists()


def test_a_model_given_as_a_checkpoint_is_a_short_clear_error(tone_model_path, tmp_path):
    result = run("export", tone_model_path, "--out", tmp_path / "x.onnx")
    assert result.returncode == 2 and "is not a readable tonemorph checkpoint" in result.stderr
    assert result.stderr.count("\n") == 1 and "weights_only" not in result.stderr and len(result.stderr) < 300


def test_unwritable_output_folder_is_a_clear_error(tone_model_path, tmp_path):
    src, folder = tmp_path / "in.wav", tmp_path / "read-only"
    write(src, melody(44100), 44100)
    folder.mkdir()
    (folder / "file").write_bytes(b"")
    dst = folder / "file" / "out.wav"  # a file where a folder should be: cannot be written, even by root
    result = run("render", src, dst, "--model", tone_model_path)
    assert result.returncode == 2 and str(dst) in result.stderr and "Traceback" not in result.stderr


def test_unwritable_output_format_is_refused(tone_model_path, tmp_path):
    src = tmp_path / "in.wav"
    write(src, melody(44100), 44100)
    result = run("render", src, tmp_path / "out.mp4", "--model", tone_model_path)
    assert result.returncode != 0 and ".flac" in result.stderr


def test_models_lists_user_models_and_flags_broken_ones(tone_model_path, tmp_path):
    import os

    (tmp_path / "horn.onnx").write_bytes(tone_model_path.read_bytes())
    (tmp_path / "broken.onnx").write_bytes(b"junk")
    result = run("models", env={**os.environ, "TONEMORPH_MODELS": str(tmp_path), "COLUMNS": "200"})
    assert result.returncode == 0
    assert "tone" in result.stdout and "broken" in result.stdout and "unusable" in result.stdout


def test_help_reads_well():
    result = run("--help")
    assert result.returncode == 0 and "render" in result.stdout and "models" in result.stdout
    result = run("render", "--help")
    assert "--semitones" in result.stdout and "--model" in result.stdout


def test_rendered_file_gets_normal_permissions(tone_model_path, tmp_path):
    import os

    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    write(src, melody(44100), 44100)
    assert run("render", src, dst, "--model", tone_model_path).returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    assert dst.stat().st_mode & 0o777 == 0o666 & ~umask


# --- MIDI files -------------------------------------------------------------------------------------------


def write_midi(path, notes, tempo_bpm=120.0, tempo_change=None, extra=(), tracks=1):
    """notes: [(start_beat, beats, midi_note, velocity, channel0)]; extra: [(beat, mido.Message)];
    tempo_change: (beat, bpm) or None. tracks=2: tempo map in track 0, everything else in track 1 (type 1)."""
    import mido

    song = mido.MidiFile(ticks_per_beat=480, type=1 if tracks == 2 else 0)
    tempo = [(0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm)))]
    if tempo_change:
        tempo.append((int(tempo_change[0] * 480), mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_change[1]))))
    events = [(int(beat * 480), message) for beat, message in extra]
    for start, beats, note, velocity, channel in notes:
        events.append((int(start * 480), mido.Message("note_on", note=note, velocity=velocity, channel=channel)))
        events.append((int((start + beats) * 480), mido.Message("note_off", note=note, channel=channel)))
    timelines = [tempo, events] if tracks == 2 else [tempo + events]
    for timeline in timelines:
        track, now = mido.MidiTrack(), 0
        for tick, message in sorted(timeline, key=lambda e: e[0]):
            track.append(message.copy(time=tick - now))
            now = tick
        song.tracks.append(track)
    song.save(path)
    return path


@pytest.mark.parametrize("tracks", [1, 2])
def test_read_midi_follows_the_tempo_map(tmp_path, tracks):
    from tonemorph.engine.midi_file import read_midi

    path = write_midi(tmp_path / "song.mid", [(0, 1, 69, 100, 0), (2, 1, 72, 100, 0)], 120.0, tempo_change=(1, 60),
                      tracks=tracks)
    performance = read_midi(path, 48000)
    assert (performance.notes, performance.channel) == (2, 1)
    # beat 0 at 0 s; beat 1 at 0.5 s (120 bpm); from there 60 bpm: beat 2 at 1.5 s, beat 3 at 2.5 s
    assert [(offset, data[0] & 0xF0) for offset, data in performance.events] == [
        (0, 0x90), (24000, 0x80), (72000, 0x90), (120000, 0x80)]
    assert performance.seconds == pytest.approx(2.5)


def test_one_channel_is_played_and_others_controllers_stay_out(tmp_path):
    """A melody on channel 1 and a pad on channel 2 whose CC1 = 0 and pitch bend would silence or bend the
    one voice: the channel with the most notes is played, alone."""
    import mido
    from tonemorph.engine.midi_file import read_midi

    melody = [(k, 1, 60 + k, 100, 0) for k in range(4)]
    pad = [(0, 4, 48, 80, 1)]
    extra = [(0, mido.Message("control_change", channel=1, control=1, value=0)),
             (1, mido.Message("pitchwheel", channel=1, pitch=4000))]
    path = write_midi(tmp_path / "band.mid", melody + pad, extra=extra)
    performance = read_midi(path, 48000)
    assert performance.channel == 1 and performance.other_channels == {2: 1}
    assert all(data[0] & 0x0F == 0 for _, data in performance.events) and len(performance.events) == 8
    assert read_midi(path, 48000, channel=2).events[0][1] == [0xB1, 1, 0]


def test_render_a_midi_file(tone_model_path, tmp_path):
    import librosa

    src = write_midi(tmp_path / "tune.mid", [(0, 2, 57, 100, 0), (2, 2, 64, 100, 0)])  # A3 then E4, 1 s each
    dst = tmp_path / "tune.wav"
    result = run("render", src, dst, "--model", tone_model_path, "--rate", 44100)
    assert result.returncode == 0, result.stderr
    assert "playing channel 1 (2 notes)" in result.stdout
    out, sr = sf.read(dst)
    assert sr == 44100 and len(out) >= 2 * sr

    def pitch(a, b):
        return np.median(librosa.yin(out[int(a * sr): int(b * sr)], fmin=100, fmax=1000, sr=sr, frame_length=4096))

    assert abs(1200 * np.log2(pitch(0.3, 0.9) / 220.0)) < 20
    assert abs(1200 * np.log2(pitch(1.3, 1.9) / 329.63)) < 20
    onset = np.argmax(np.abs(out) > 0.01) / sr
    assert onset < 0.03  # the first note starts at once (latency removed)
    release = 0.150  # the engine's default release_ms
    assert np.abs(out[int((2.0 + release + 0.1) * sr):]).max() < 1e-3  # silent after the last note's release


def test_midi_channels_drums_are_left_out_unless_asked_for(tmp_path):
    from tonemorph.engine.midi_file import read_midi

    drums = write_midi(tmp_path / "drums.mid", [(0, 1, 36, 100, 9)])
    with pytest.raises(ValueError, match="no notes outside the drum channel .drums on channel 10: 1 notes"):
        read_midi(drums, 48000)
    assert read_midi(drums, 48000, channel=10).notes == 1
    with pytest.raises(ValueError, match=r"no notes on channel 3 \(it has: channel 10 \(1 notes\)"):
        read_midi(drums, 48000, channel=3)


def test_bad_midi_files_get_a_clear_error(tone_model_path, tmp_path):
    empty = write_midi(tmp_path / "empty.mid", [])
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01garbage")
    truncated = tmp_path / "truncated.mid"
    truncated.write_bytes(write_midi(tmp_path / "whole.mid", [(0, 1, 60, 100, 0)]).read_bytes()[:-6])
    for src, message in ((empty, "has no notes"), (corrupt, "is not a readable MIDI file"),
                         (truncated, "is not a readable MIDI file"), (tmp_path / "missing.mid", "does not exist")):
        dst = tmp_path / "out.wav"
        result = run("render", src, dst, "--model", tone_model_path)
        assert result.returncode == 2 and message in result.stderr and str(src) in result.stderr, result.stderr
        assert "()" not in result.stderr
        assert not dst.exists()
    damaged = {"key_signature.mid": (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x0e"
                                     b"\x00\xff\x59\x02\x07\xa1\x00\x90\x3c\x64\x00\xff\x2f\x00"),
               "smpte.mid": midi_smpte_division(tmp_path / "whole.mid")}
    for name, content in damaged.items():
        (tmp_path / name).write_bytes(content)
        result = run("render", tmp_path / name, tmp_path / "out.wav", "--model", tone_model_path)
        assert result.returncode == 2 and "is not a readable MIDI file" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not (tmp_path / "out.wav").exists()
    result = run("render", empty, tmp_path / "out.wav", "--model", tone_model_path, "--channel", "17")
    assert result.returncode == 2 and "--channel must be 1..16" in result.stderr
    audio = tmp_path / "in.wav"
    write(audio, melody(48000), 48000)
    result = run("render", audio, tmp_path / "out.wav", "--model", tone_model_path, "--rate", "44100")
    assert result.returncode == 2 and "--rate and --channel are for MIDI files" in result.stderr


def midi_smpte_division(whole):
    """A file timed in SMPTE frames (a negative division), which mido reads as negative ticks per beat."""
    data = bytearray(whole.read_bytes())
    data[12:14] = b"\xe7\x28"  # -25 frames per second, 40 ticks per frame
    return bytes(data)


# A note-on after a delta of 2**27 ticks (38.8 hours at 120 bpm): 44 bytes that asked for 786 TiB.
MIDI_38_HOURS = (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0" b"MTrk\x00\x00\x00\x16"
                 b"\x00\xff\x51\x03\x07\xa1\x20" b"\xc0\x80\x80\x00\x90\x3c\x64" b"\x60\x80\x3c\x00"
                 b"\x00\xff\x2f\x00")


def test_midi_longer_than_two_hours_is_refused_before_anything_is_allocated(tone_model_path, tmp_path):
    import resource
    import time

    from tonemorph.engine.midi_file import MAX_MIDI_SECONDS

    src, dst = tmp_path / "long.mid", tmp_path / "long.wav"
    src.write_bytes(MIDI_38_HOURS)
    assert len(MIDI_38_HOURS) == 44

    def two_gigabytes():  # were it allocated, even the model rate's silence would not fit
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    started = time.monotonic()
    result = subprocess.run([*TONEMORPH, "render", str(src), str(dst), "--model", str(tone_model_path)], check=False,
                            capture_output=True, text=True, timeout=120, preexec_fn=two_gigabytes)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert str(src) in result.stderr and "38.8 hours" in result.stderr and "up to 2 hours" in result.stderr
    assert not dst.exists() and time.monotonic() - started < 60
    assert MAX_MIDI_SECONDS == 2 * 60 * 60


def test_midi_render_rate_must_be_a_real_sample_rate(tone_model_path, tmp_path):
    src = write_midi(tmp_path / "tune.mid", [(0, 1, 60, 100, 0)])
    for rate in ("0", "7999", "1000000000"):
        result = run("render", src, tmp_path / "out.wav", "--model", tone_model_path, "--rate", rate)
        assert result.returncode == 2 and "--rate must be 8000..192000 Hz" in result.stderr, result.stderr
        assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("given, expected", [(None, "1"), ("2", "2")])
def test_the_cli_runs_numpys_blas_on_one_thread_unless_told(given, expected):
    """main() sets OPENBLAS_NUM_THREADS before numpy is imported (its pool's start cost `master` 0.1 s of CPU);
    a value the user set stays."""
    script = (
        "import os; from tonemorph.cli import main; main(['models']); "
        "print(os.environ.get('OPENBLAS_NUM_THREADS'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == expected
