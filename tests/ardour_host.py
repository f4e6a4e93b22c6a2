"""Helpers for the Ardour tests: a real DAW, Debian's Ardour 7, run headless through its Lua session tool,
renders the plugins by export and by track bounce.

One session (tests/ardour/render_session.lua) holds both plugins on the Dummy backend at a chosen block
size: an audio track playing a guitar clip through the effect, then, after it on the timeline, a MIDI track
playing the same melody through the Synth, both into the master bus. Each track is bounced over the
session range and the master bus is exported over the same range; Ardour's own latency figures come back
with them.

Ardour 7.3 headless, as found on Debian 12 (what the helpers work around):
- Every session gets its own HOME and XDG folders, so no config or plugin cache leaks between runs.
- It never scans VST3 plugins itself: the bundles are linked into $HOME/.vst3 (a folder it searches) and
  indexed there with ardour-vst3-scanner first. LV2 bundles are found through LV2_PATH.
- Its Lua cannot import a file headless: the clips go in as Sources and Regions written into the saved
  session's XML between two luasession processes, one that creates the session and one that renders it.
  (Closing it and loading it again in one process aborted in 3 of about 50 runs, the heap corrupted by the
  time the session was finally closed; two processes aborted in none of 33.)
- Creating an exporter loads every export format in ARDOUR_DATA_PATH, and the MP3 formats, whose encoder
  Debian's build lacks, corrupt the heap: Session:simple_export aborted in 5 of 15 runs with them, in none
  of 56 without. Runs see a copy of the data folder without them, and export through one float WAV preset
  of ours at the session rate.
- ardour7-export starts the Dummy backend without setting a buffer size (its default, 1024 samples), so the
  export runs in the Lua session, at the block size under test.
- New tracks are not connected to the master bus; the script connects them (and disconnects their inputs).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pytest

ARDOUR_LIB = Path("/usr/lib/ardour7")
ARDOUR_SHARE = Path("/usr/share/ardour7")
ARDOUR_CONFIG = Path("/etc/ardour7")
LUASESSION = ARDOUR_LIB / "luasession"  # what ardour7-lua runs
VST3_SCANNER = ARDOUR_LIB / "ardour-vst3-scanner"
ARDOUR_TEST_FILES = Path(__file__).resolve().parent / "ardour"
RENDER_SCRIPT = ARDOUR_TEST_FILES / "render_session.lua"
EXPORT_PRESET_FILE, EXPORT_FORMAT_FILE = "tonemorph-float.preset", "tonemorph-float.format"

SAMPLE_RATE = 48000
SUPERCLOCK_RATE = 282_240_000  # Ardour 7's Temporal::superclock_ticks_per_second: positions in the XML
MIDI_TICKS_PER_BEAT = 1920  # Ardour's own beat resolution (Temporal::ticks_per_beat)
MIDI_BPM = 120.0  # a new session's tempo; Ardour places a MIDI file's beats on the session's tempo map
EFFECT_TRACK, SYNTH_TRACK = "guitar", "melody"
GAP_S = 1.0  # silence between the guitar clip and the MIDI clip on the timeline
RUN_TIMEOUT_S = 120.0  # one luasession process; a session takes 2-10 s
SCAN_TIMEOUT_S = 120.0
# A run that Ardour kills itself in (a signal) or hangs in is tried again, RUN_ATTEMPTS times in all. Ardour 7.3
# corrupts its heap now and then at a 64-sample block, with our VST3 and our LV2 alike (measured in loops of two
# renders at a time under gdb: LV2 7 of 60, VST3 2 of 24; at 1024, 0 of 30): glibc aborts while Ardour frees its
# own export graph (AudioGrapher's Limiter, SndfileWriter, PortExportChannel) or its ports in Session::destroy.
# A valgrind run of the render saw no invalid access. Two attempts both failed in one CI run; three now.
RUN_ATTEMPTS = 3
FIRST_CLIP_ID = 1_000_001  # ids of the Sources and Regions we add, above anything a fresh session holds
ID_COUNTER = 2_000_000


def require_ardour() -> None:
    if not LUASESSION.is_file() or not VST3_SCANNER.is_file():
        pytest.skip("Ardour 7 is not installed: `apt install ardour` (scripts/setup.sh installs it)")


# --- the melody ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """A held-out melody: the nylon guitar playing it [samples] float32, and its notes as played."""

    audio: np.ndarray
    notes: list[tuple[int, float, float, int]]  # (MIDI pitch, start s, end s, velocity)
    sample_rate: int
    piece: str

    @property
    def samples(self) -> int:
        return len(self.audio)


def heldout_clip(max_seconds: float, sample_rate: int = SAMPLE_RATE, instrument: str = "trumpet") -> Clip:
    """The opening of the first held-out melody of `instrument`'s held-out set (render_heldout_set, seed 0),
    cut at the last note that ends before max_seconds, rendered by the guitar as that set renders it."""
    from tonemorph.training import soundfont as sf

    inst, guitar = sf.INSTRUMENTS[instrument], sf.INSTRUMENTS[sf.GUITAR]
    rng = sf._rng(0, inst.name, "heldout")
    low, high = max(inst.low, guitar.low), min(inst.high, guitar.high)
    full = next(sf._melody_performances(True, rng, low, high, vibrato=False))
    notes = [n for n in full.notes if n.end <= max_seconds]
    assert len(notes) >= 6, f"the held-out melody has only {len(notes)} notes in {max_seconds} s"
    performance = sf.Performance(notes, full.expression, full.volume, [], dict(full.info))
    audio = sf.FluidRenderer(sample_rate).render(performance, guitar).astype(np.float32)
    at = [tuple(n) for n in sf._notes_json(performance, sample_rate)]  # the sample each event was sent
    return Clip(
        audio, [(int(p), float(s), float(e), int(v)) for p, s, e, v in at], sample_rate, full.info["piece"]
    )


def write_midi(notes: list[tuple[int, float, float, int]], path: Path) -> Path:
    """The notes as a type 0 Standard MIDI File at MIDI_BPM, the tempo Ardour reads it at."""
    import mido

    seconds_per_tick = 60.0 / MIDI_BPM / MIDI_TICKS_PER_BEAT
    events = []
    for pitch, start, end, velocity in notes:
        events.append((round(end / seconds_per_tick), 0, mido.Message("note_off", note=pitch, velocity=0)))
        events.append(
            (round(start / seconds_per_tick), 1, mido.Message("note_on", note=pitch, velocity=velocity))
        )
    song = mido.MidiFile(type=0, ticks_per_beat=MIDI_TICKS_PER_BEAT)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(MIDI_BPM), time=0))
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    song.tracks.append(track)
    song.save(path)
    return path


def write_float_wav(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """[channels, samples] as 32-bit float WAV (no dither, no clipping)."""
    import soundfile

    soundfile.write(path, np.asarray(audio, np.float32).T, sample_rate, subtype="FLOAT")
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """[channels, samples] float32 and the rate."""
    import soundfile

    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return audio.T.copy(), rate


# --- an isolated Ardour -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArdourHome:
    """Everything one test run's Ardour sees: its environment, the folder it lives in, its export preset."""

    root: Path
    env: dict[str, str]
    export_preset: str


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _data_folder(root: Path) -> Path:
    """ARDOUR_DATA_PATH: Debian's /usr/share/ardour7 without its export formats (see the module docstring)."""
    data = root / "ardour-data"
    data.mkdir()
    for item in ARDOUR_SHARE.iterdir():
        if item.name != "export":
            (data / item.name).symlink_to(item)
    (data / "export").mkdir()
    return data


def _export_preset(config: Path) -> str:
    """Our export preset (tests/ardour/*.preset, *.format) in the user's config; returns its id."""
    folder = config / "ardour7" / "export"
    folder.mkdir(parents=True)
    for name in (EXPORT_PRESET_FILE, EXPORT_FORMAT_FILE):
        shutil.copy(ARDOUR_TEST_FILES / name, folder / name)
    return re.search(r'<ExportPreset id="([^"]+)"', (folder / EXPORT_PRESET_FILE).read_text())[1]


def ardour_home(root: Path, vst3_bundles: list[Path], lv2_bundles: list[Path]) -> ArdourHome:
    """A private HOME for Ardour under `root` that knows exactly these plugin bundles.

    The VST3 bundles are linked into $HOME/.vst3 and indexed there by ardour-vst3-scanner; the LV2 bundles'
    folders make LV2_PATH.
    """
    require_ardour()
    root.mkdir(parents=True, exist_ok=True)
    home = root / "home"
    config, cache = home / ".config", home / ".cache"
    for folder in (home / ".vst3", config, cache):
        folder.mkdir(parents=True)
    export_preset = _export_preset(config)
    links = []
    for bundle in vst3_bundles:
        link = home / ".vst3" / Path(bundle).name
        link.symlink_to(Path(bundle).resolve())
        links.append(str(link))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(config),
        "XDG_CACHE_HOME": str(cache),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        # Only the bundles under test: with Ardour's own ACE Reasonable Synth on the path, its MIDI auditioner
        # loads it as the session is made, and 3 of 10 creations aborted ("Port already exists").
        "LV2_PATH": ":".join(sorted({str(Path(b).resolve().parent) for b in lv2_bundles})),
        "LD_LIBRARY_PATH": str(ARDOUR_LIB),
        "ARDOUR_DATA_PATH": str(_data_folder(root)),
        "ARDOUR_CONFIG_PATH": str(ARDOUR_CONFIG),
        "ARDOUR_DLL_PATH": str(ARDOUR_LIB),
        "LANG": "C.UTF-8",
        # conftest.py's display that does not exist: without DISPLAY, JUCE in the plugins opened :0, often the
        # other test worker's Xvfb, and when that Xvfb stopped, Xlib's exit(1) from JUCE's message thread
        # took Ardour down mid-render (4 of 4 renders when an Xvfb on :0 was stopped part-way).
        "DISPLAY": os.environ.get("DISPLAY", ":65535"),
    }
    if "TONEMORPH_MODELS" in os.environ:  # the plugins' user model folder, where a test sets one
        env["TONEMORPH_MODELS"] = os.environ["TONEMORPH_MODELS"]
    if links:
        scan = subprocess.run(
            [str(VST3_SCANNER), "-f", *links],
            env=env,
            capture_output=True,
            text=True,
            timeout=SCAN_TIMEOUT_S,
            check=False,
        )
        cached = list((cache / "ardour7" / "vst").glob("*.v3i"))
        if scan.returncode != 0 or len(cached) != len(links):
            pytest.fail(
                f"ardour-vst3-scanner indexed {len(cached)} of {len(links)} bundles (exit {scan.returncode}):\n"
                f"{_tail(scan.stdout + scan.stderr)}"
            )
    return ArdourHome(root, env, export_preset)


# --- one session --------------------------------------------------------------------------------------------


@dataclass
class ArdourRender:
    """What one session gave back. Audio is [2, samples] float32 from the session start."""

    plugin_format: str
    requested_block: int
    block: int  # what the session ran at
    sample_rate: int
    effect_start: int  # where the guitar clip sits on the timeline, in samples
    synth_start: int  # where the MIDI clip sits
    length: int  # the session range [0, length) that was bounced and exported
    plugin_latency: dict[str, int]  # track -> the plugin's latency as Ardour reads it, once loaded
    plugin_latency_after_export: dict[str, int]
    route_latency: dict[str, int]  # track -> the track's own latency (its plugin's and Ardour's)
    export: np.ndarray
    bounce: dict[str, np.ndarray]  # track -> its bounce
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each step
    retried: list[str] = field(default_factory=list)  # why each earlier attempt failed


def _lua_string(text: str) -> str:
    level = "=" * (max((len(m) for m in re.findall(r"\](=*)\]", text)), default=-1) + 1)
    return f"[{level}[{text}]{level}]"


def _lua_table(values: dict) -> str:
    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        return _lua_string(str(v))

    return "{ " + ", ".join(f"[ {_lua_string(k)} ] = {value(v)}" for k, v in values.items()) + " }"


def _superclock(samples: int, sample_rate: int) -> int:
    ticks, rest = divmod(samples * SUPERCLOCK_RATE, sample_rate)
    assert rest == 0, f"{samples} samples at {sample_rate} Hz is not a whole number of superclock ticks"
    return ticks


_REGION_FLAGS = (
    'muted="0" opaque="1" locked="0" video-locked="0" automatic="0" import="0" external="0" sync-marked="0" '
    'left-of-split="0" right-of-split="0" hidden="0" position-locked="0" valid-transients="0" stretch="1" '
    'shift="1" layering-index="0" tags="" contents="0" first-edit="nothing"'
)


def _add_clips(
    session_file: Path, wav: Path, midi: Path, clip_samples: int, effect_start: int, synth_start: int, sr: int
) -> None:
    """Put the stereo WAV on the effect's track and the MIDI file on the Synth's, as Sources, whole-file
    Regions and playlist Regions in the saved session's XML (Ardour 7.3's format, positions in superclock
    ticks, the MIDI region's start in beats); the file is otherwise left as Ardour wrote it."""
    ids = iter(range(FIRST_CLIP_ID, FIRST_CLIP_ID + 100))
    left, right, smf = next(ids), next(ids), next(ids)
    length = _superclock(clip_samples, sr)

    def audio_region(whole: bool, position: int) -> str:
        return (
            f'<Region name="{EFFECT_TRACK}" whole-file="{int(whole)}" {_REGION_FLAGS} start="a0" '
            f'length="a{length}@a{_superclock(position, sr)}" sync-position="a0" ancestral-start="a0" '
            'ancestral-length="a0@a0" envelope-active="0" default-fade-in="0" default-fade-out="0" '
            'fade-in-active="0" fade-out-active="0" scale-amplitude="1" '
            f'id="{next(ids)}" type="audio" source-0="{left}" source-1="{right}" master-source-0="{left}" '
            f'master-source-1="{right}" channels="2"/>'
        )

    def midi_region(whole: bool, position: int) -> str:
        return (
            f'<Region name="{SYNTH_TRACK}" whole-file="{int(whole)}" {_REGION_FLAGS} start="b0" '
            f'length="a{length}@a{_superclock(position, sr)}" sync-position="b0" ancestral-start="b0" '
            f'ancestral-length="b0@b0" id="{next(ids)}" type="midi" source-0="{smf}" master-source-0="{smf}"/>'
        )

    sources = (
        f'<Source name={quoteattr(str(wav))} type="audio" flags="" id="{left}" channel="0" origin="" gain="1"/>'
        f'<Source name={quoteattr(str(wav))} type="audio" flags="" id="{right}" channel="1" origin="" gain="1"/>'
        f'<Source name={quoteattr(str(midi))} type="midi" flags="" id="{smf}" origin=""/>'
    )
    whole_files = audio_region(True, 0) + midi_region(True, 0)
    edits = {  # pattern -> what replaces its one match
        r'id-counter="\d+"': lambda m: f'id-counter="{ID_COUNTER}"',  # our ids stay below Ardour's next
        r"<Sources/>": lambda m: f"<Sources>{sources}</Sources>",
        r"<Regions/>": lambda m: f"<Regions>{whole_files}</Regions>",
    }
    for track, region in (
        (EFFECT_TRACK, audio_region(False, effect_start)),
        (SYNTH_TRACK, midi_region(False, synth_start)),
    ):
        edits[rf'(<Playlist id="\d+" name="{track}" [^>]*)/>'] = lambda m, r=region: f"{m[1]}>{r}</Playlist>"
    xml = session_file.read_text()
    for pattern, replace in edits.items():
        xml, n = re.subn(pattern, replace, xml)
        assert n == 1, f"{session_file}: expected one match of {pattern}, found {n}"
    session_file.write_text(xml)


def _report(stdout: str) -> dict[str, str]:
    """The script's "TONEMORPH key value" lines; a key may contain spaces, the value is the last word."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith("TONEMORPH "):
            key, _, value = line.removeprefix("TONEMORPH ").rpartition(" ")
            out[key] = value
    return out


class _RunFailed(Exception):
    """Ardour died (a signal) or hung: worth one more attempt."""


def _run_step(home: ArdourHome, work: Path, params: dict, timeout: float) -> tuple[dict[str, str], float]:
    """One luasession process on render_session.lua with P = params, in its own process group (a hung Ardour
    is killed with its children). Returns the script's report and the wall time."""
    script = work / f"{params['step']}.lua"
    script.write_text(f"P = {_lua_table(params)}\n\n{RENDER_SCRIPT.read_text()}")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(LUASESSION), str(script)],
        env=home.env,
        cwd=work,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise _RunFailed(
            f"{params['step']}: timed out after {timeout:.0f} s\n{_tail(stdout + stderr)}"
        ) from None
    report = _report(stdout)
    if proc.returncode == 0 and report.get("done") == "1":
        return report, time.perf_counter() - started
    code = proc.returncode
    problem = (
        f"{params['step']}: exit {code}{f' ({signal.Signals(-code).name})' if code < 0 else ''}"
        f"{', after the results were written' if 'exported plugin_latency ' + EFFECT_TRACK in report else ''}"
        f"\n{_tail(stdout + stderr)}"
    )
    if code < 0:
        raise _RunFailed(problem)
    # The script stopped on an error of its own (a check, a Lua error): running it again cannot help.
    pytest.fail(f"Ardour ({params['plugin_type']}, block {params['block']}): {problem}")


def render_session(
    home: ArdourHome,
    plugin_format: str,
    effect: str,
    synth: str,
    block: int,
    clip: Clip,
    midi: Path,
    wav: Path,
    timeout: float = RUN_TIMEOUT_S,
) -> ArdourRender:
    """One session with both plugins at `block` samples (see the module docstring); `wav` is the clip as a
    stereo float WAV and `midi` its notes (write_float_wav, write_midi). plugin_format: "VST3" or "LV2".

    Two luasession processes: one creates the session, one renders it after the clips are added to its XML
    (see the module docstring). A run that Ardour dies in (a signal) or hangs in is tried again from a new
    session, RUN_ATTEMPTS times in all; a run the script stops with an error fails at once.
    """
    sr = clip.sample_rate
    # The MIDI clip starts on a beat: Ardour places MIDI in beats, and from a position between two of its
    # ticks every note lands a sample late.
    beat = sr * 60 / MIDI_BPM
    effect_start, synth_start = 0, int(np.ceil((clip.samples + GAP_S * sr) / beat) * beat)
    length = synth_start + clip.samples
    failures = []
    for attempt in range(1, RUN_ATTEMPTS + 1):
        work = home.root / f"{plugin_format.lower()}-{block}-{attempt}-{uuid.uuid4().hex[:6]}"
        work.mkdir()
        params = {
            "dir": str(work / "session"),
            "name": "render",
            "sample_rate": sr,
            "block": block,
            "plugin_type": plugin_format,
            "effect": effect,
            "synth": synth,
            "effect_track": EFFECT_TRACK,
            "synth_track": SYNTH_TRACK,
            "length": length,
            "export_preset": home.export_preset,
            "export_dir": str(work / "export"),
            "export_name": "master",
        }
        try:
            _, create_wall = _run_step(home, work, {**params, "step": "create"}, timeout)
            _add_clips(
                work / "session" / "render.ardour",
                wav.resolve(),
                midi.resolve(),
                clip.samples,
                effect_start,
                synth_start,
                sr,
            )
            report, render_wall = _run_step(home, work, {**params, "step": "render"}, timeout)
        except _RunFailed as failure:
            failures.append(f"attempt {attempt}: {failure}")
            continue
        render = _collect(report, plugin_format, block, sr, effect_start, synth_start, length)
        render.seconds = {"create": create_wall, **render.seconds, "render": render_wall}
        render.retried = failures
        return render
    pytest.fail(
        f"Ardour ({plugin_format}, block {block}) failed {RUN_ATTEMPTS} times:\n" + "\n".join(failures)
    )


def _collect(report, plugin_format, block, sr, effect_start, synth_start, length) -> ArdourRender:
    def audio(paths: list[str]) -> np.ndarray:
        channels = []
        for path in paths:
            data, rate = read_wav(Path(path))
            assert rate == sr, f"{path}: {rate} Hz, the session runs at {sr} Hz"
            channels.extend(data)
        return np.stack(channels)

    tracks = (EFFECT_TRACK, SYNTH_TRACK)
    return ArdourRender(
        plugin_format=plugin_format,
        requested_block=block,
        block=int(report["block"]),
        sample_rate=int(report["sample_rate"]),
        effect_start=effect_start,
        synth_start=synth_start,
        length=length,
        plugin_latency={t: int(report[f"loaded plugin_latency {t}"]) for t in tracks},
        plugin_latency_after_export={t: int(report[f"exported plugin_latency {t}"]) for t in tracks},
        route_latency={t: int(report[f"loaded route_latency {t}"]) for t in tracks},
        export=audio([report["export"]]),
        bounce={t: audio([report[f"bounce {t} {c}"] for c in (0, 1)]) for t in tracks},
        seconds={k.removeprefix("seconds "): float(v) for k, v in report.items() if k.startswith("seconds ")},
    )


def cleanup(home: ArdourHome) -> None:
    shutil.rmtree(home.root, ignore_errors=True)
