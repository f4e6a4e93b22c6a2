"""The Windows x64 VST3 bundles (scripts/build_windows.sh) in a VST3 host of our own, JUCE's hosting code
cross-compiled the same way (plugin/tools/Vst3TestHost.cpp), run under Wine with no display: each bundle
is found and instantiated, plays a guitar melody (the effect) or a MIDI phrase (the Synth) at 48 kHz and two
block sizes with the pitch where it belongs, reports the Linux build's latency, and keeps its state; under
Xvfb the editor opens and paints. Skipped where Wine is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import plugin_host as host
import pytest
from plugin_host import assert_sane, cents
from signals import fluidsynth_notes, midi_to_hz

REPO = Path(__file__).resolve().parents[1]
DIST = REPO / "dist" / "windows"
TEST_HOST = REPO / "build-windows" / "cmake" / "plugins" / "tests" / "tonemorph-test-host.exe"
WINE = Path("/usr/lib/wine/wine64")
WINESERVER = Path("/usr/lib/wine/wineserver")
OBJDUMP = "x86_64-w64-mingw32-objdump"
STEMS = {"tonemorph": "tonemorph", "tonemorph Synth": "tonemorph-synth"}
SR = 48000
BLOCKS = (64, 512)
MODEL = "trumpet"  # the default model: bundled, so a fresh instance plays it
EDITOR_BACKGROUND = (0x16, 0x18, 0x1D)  # plugin/EditorParts.h
# What a Windows 10/11 machine has: the VST3 may import these and nothing else (no MinGW runtime DLLs, and
# not onnxruntime.dll: OrtRuntime.cpp loads the bundle's own copy at run time).
SYSTEM_DLLS = {
    "advapi32.dll",
    "comdlg32.dll",
    "dxgi.dll",
    "gdi32.dll",
    "imm32.dll",
    "kernel32.dll",
    "msvcrt.dll",
    "ole32.dll",
    "oleaut32.dll",
    "opengl32.dll",
    "rpcrt4.dll",
    "shell32.dll",
    "shlwapi.dll",
    "user32.dll",
    "version.dll",
    "wininet.dll",
    "winmm.dll",
    "ws2_32.dll",
    "wsock32.dll",
    "comctl32.dll",
    "d2d1.dll",
    "dwrite.dll",
    "uuid.dll",
    "crypt32.dll",
    "setupapi.dll",
    "dbghelp.dll",
}

pytestmark = pytest.mark.skipif(
    not WINE.is_file(),
    reason="Wine is not installed: the Windows build is tested under Wine (scripts/build_windows.sh installs it)",
)


def vst3(name: str) -> Path:
    return DIST / f"{STEMS[name]}.vst3"


def module(bundle: Path) -> Path:
    """The DLL inside a bundle: JUCE 7's VST3 host on Windows opens it, not the bundle folder."""
    return bundle / "Contents" / "x86_64-win" / bundle.name


def winpath(path: Path) -> str:
    """Wine's Z: drive is the Linux root."""
    return "Z:" + str(Path(path).resolve()).replace("/", "\\")


@pytest.fixture(scope="session")
def windows_build():
    """The bundles, built (or brought up to date: the build is incremental) by scripts/build_windows.sh."""
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "build_windows.sh")], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/build_windows.sh failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"scripts/build_windows.sh: {time.monotonic() - started:.1f} s")
    return DIST


class Wine:
    """A fresh Wine prefix, and the test host run in it (headless unless given an X display)."""

    def __init__(self, prefix: Path):
        self.prefix = prefix
        self.disabled_dlls: tuple[str, ...] = ()  # Wine's own DLLs to leave out, as a bare Windows would

    def env(self, display: str | None = None) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if k not in ("DISPLAY", "TONEMORPH_MODELS", "WAYLAND_DISPLAY")
        }
        # No Mono or Gecko installer prompts; no debug chatter. No debugger on a crash: winedbg, started headless,
        # waited out the whole timeout; without it the process ends at once, "Unhandled page fault" on stderr.
        overrides = "mscoree,mshtml,winedbg.exe=" + (
            ";" + ",".join(self.disabled_dlls) + "=d" if self.disabled_dlls else ""
        )
        env.update(WINEPREFIX=str(self.prefix), WINEDEBUG="-all", WINEDLLOVERRIDES=overrides)
        if display:
            env["DISPLAY"] = display
        return env

    def host(self, job: dict, folder: Path, display: str | None = None, timeout: float = 300.0) -> dict:
        """Runs the test host on `job` (paths as Path objects); returns its report."""
        report = folder / "report.json"
        job = {**job, "report": report}
        job_file = folder / "job.json"
        job_file.write_text(json.dumps(job, default=winpath, indent=1))
        env = self.env(display)
        try:
            done = subprocess.run(
                [str(WINE), winpath(TEST_HOST), winpath(job_file)],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            subprocess.run([str(WINESERVER), "-k"], env=env, check=False)
            raise
        finally:
            # A wineserver left over from a headless run makes the next run with a display hang.
            subprocess.run([str(WINESERVER), "-w"], env=env, check=False, timeout=120)
        assert done.returncode == 0, f"the test host failed ({done.returncode}):\n{done.stderr[-4000:]}"
        return json.loads(report.read_text())


@pytest.fixture(scope="session")
def wine(tmp_path_factory):
    return Wine(tmp_path_factory.mktemp("wineprefix"))


def linux_latency(block: int) -> int:
    from tonemorph.engine import Engine, load_model

    engine = Engine(load_model(MODEL))
    engine.prepare(SR, block, 2)
    return engine.latency_samples()


def read_wav(path: Path) -> np.ndarray:
    import soundfile

    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    assert rate == SR
    return audio.T  # [channels, samples]


def write_wav(path: Path, audio: np.ndarray) -> Path:
    import soundfile

    soundfile.write(str(path), audio, SR, subtype="FLOAT")
    return path


def octave_error(f0: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """|cents| to the nearest octave of the truth: auto-adjust folds pitch into the model's range by octaves."""
    c = cents(f0, truth)
    return np.abs(c - 1200.0 * np.round(c / 1200.0))


# --- the bundles -----------------------------------------------------------------------------------------------


def pe_headers(binary: Path) -> tuple[str, set[str]]:
    """objdump's view of a Windows binary: its header dump, and the DLLs it imports (lower case)."""
    dump = subprocess.run([OBJDUMP, "-p", str(binary)], capture_output=True, text=True, check=True).stdout
    return dump, {
        line.split("DLL Name:")[1].strip().lower() for line in dump.splitlines() if "DLL Name:" in line
    }


@pytest.mark.parametrize("name", STEMS)
def test_bundle_is_a_self_contained_windows_vst3(windows_build, name):
    bundle = vst3(name)
    dll = module(bundle)
    dump, imported = pe_headers(dll)
    assert "file format pei-x86-64" in dump and "(PE32+)" in dump
    assert "\tDLL\n" in dump.split("Time/Date")[0], "not a DLL"
    print(f"{dll.name} imports {sorted(imported)}")
    assert imported <= SYSTEM_DLLS | {d for d in imported if d.startswith("api-ms-win-")}, (
        imported - SYSTEM_DLLS
    )
    ort = dll.parent / "onnxruntime.dll"
    assert ort.is_file()
    assert {m.name for m in (bundle / "Contents" / "Resources" / "models").glob("*.onnx")} == {
        m.name for m in (REPO / "models").glob("*.onnx")
    }
    assert (bundle / "Contents" / "Resources" / "licenses" / "onnxruntime-LICENSE.txt").is_file()
    zipped = zipfile.ZipFile(DIST / f"{bundle.name}.zip").namelist()
    assert f"{bundle.name}/Contents/x86_64-win/{bundle.name}" in zipped
    assert f"{bundle.name}/Contents/x86_64-win/onnxruntime.dll" in zipped


# --- the effect ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guitar():
    return fluidsynth_notes("steel_guitar", SR)


@pytest.fixture(scope="module")
def effect_runs(windows_build, wine, guitar, tmp_path_factory):
    """One host run: the guitar through the effect wet and dry at both block sizes, bounced; then a state saved
    with +7 semitones and restored into a fresh instance. (Live is its own run: live_run.)"""
    folder = tmp_path_factory.mktemp("effect")
    x = write_wav(folder / "guitar.wav", guitar.audio)
    length = len(guitar.audio)
    renders = []
    for block in BLOCKS:
        renders.append({"block": block, "input": x, "output": folder / f"wet-{block}.wav"})
        renders.append(
            {
                "block": block,
                "input": x,
                "output": folder / f"dry-{block}.wav",
                "parameters": {"Dry wet": "0"},
            }
        )
    renders.append(
        {"block": 512, "input": x, "parameters": {"Semitones": "7"}, "state_out": folder / "up.state"}
    )
    renders.append(
        {
            "block": 512,
            "input": x,
            "state": folder / "up.state",
            "output": folder / "restored.wav",
            "state_out": folder / "restored.state",
        }
    )
    for r in renders:
        r.update(sample_rate=SR, length=length)
    started = time.monotonic()
    report = wine.host({"plugin": module(vst3("tonemorph")), "renders": renders}, folder)
    print(
        f"effect: {len(renders)} renders of {length / SR:.1f} s under Wine in {time.monotonic() - started:.1f} s"
    )
    return report, folder


def test_scan_finds_the_effect(effect_runs):
    report, _ = effect_runs
    assert len(report["types"]) == 1
    t = report["types"][0]
    assert t["name"] == "tonemorph" and t["manufacturer"] == "tonemorph" and not t["is_instrument"]
    assert t["inputs"] == 2 and t["outputs"] == 2


@pytest.mark.parametrize("block", BLOCKS)
def test_effect_reports_the_linux_latency_and_delays_the_dry_path_by_it(effect_runs, guitar, block):
    report, folder = effect_runs
    wet, dry = (report["renders"][2 * BLOCKS.index(block) + i] for i in (0, 1))
    latency = linux_latency(block)
    print(f"block {block}: Windows reports {wet['latency']} samples, Linux {latency}")
    assert wet["latency"] == dry["latency"] == latency
    y = read_wav(folder / f"dry-{block}.wav")
    x = guitar.audio
    for channel in y:
        np.testing.assert_allclose(channel[latency:], x[: len(x) - latency], atol=1e-6)


@pytest.mark.parametrize("block", BLOCKS)
def test_effect_output_follows_the_guitar_pitch(effect_runs, guitar, block):
    _, folder = effect_runs
    y = read_wav(folder / f"wet-{block}.wav")
    assert_sane(y)
    np.testing.assert_array_equal(y[0], y[1])
    error, scored, gap_level = pitch_error(y[0], guitar, linux_latency(block))
    print(
        f"block {block}: guitar -> {MODEL}: median |pitch error| {error:.1f} cents (to the octave) "
        f"over {scored} frames; level between notes {gap_level:.1e}"
    )
    assert scored > 100
    assert error < 25.0
    assert_like_linux(y, linux_render(guitar.audio, block), f"block {block}")


@pytest.fixture(scope="module")
def live_run(windows_build, wine, guitar, tmp_path_factory):
    """The guitar through the effect live at 512 (the host paces the blocks in real time)."""
    folder = tmp_path_factory.mktemp("live")
    render = {
        "block": 512,
        "input": write_wav(folder / "guitar.wav", guitar.audio),
        "output": folder / "live.wav",
        "realtime": True,
        "sample_rate": SR,
        "length": len(guitar.audio),
    }
    return wine.host({"plugin": module(vst3("tonemorph")), "renders": [render]}, folder), folder


@pytest.mark.serial  # the worker thread keeps pace with the audio thread only on a machine not busy elsewhere
def test_effect_plays_live_in_real_time(live_run, guitar):
    """Live (not a bounce): the decoder runs on the engine's worker thread, one block per block's time."""
    report, folder = live_run
    live = report["renders"][0]
    assert live["latency"] == linux_latency(512)
    y = read_wav(folder / "live.wav")
    assert_sane(y)
    error, scored, _ = pitch_error(y[0], guitar, live["latency"])
    print(f"live, block 512: median |pitch error| {error:.1f} cents over {scored} frames")
    assert scored > 100 and error < 25.0


def linux_render(
    x: np.ndarray, block: int, midi: list[tuple[int, list[int]]] = (), length: int = 0
) -> np.ndarray:
    """The Linux engine (the Python binding) on the same input, block by block as the host plays it: [2, samples]."""
    from tonemorph.engine import Engine, load_model

    engine = Engine(load_model(MODEL))
    engine.prepare(SR, block, 2)
    if midi:
        engine.set_param("midi_mode", 1.0)
        engine.reset()
    audio = np.zeros((2, length or len(x)), np.float32)
    audio[:, : len(x)] = x
    out = np.zeros_like(audio)
    for start in range(0, audio.shape[1], block):
        events = [(s - start, list(b)) for s, b in midi if start <= s < start + block]
        out[:, start : start + block] = engine.process(
            np.ascontiguousarray(audio[:, start : start + block]), events
        )
    return out


def assert_like_linux(y: np.ndarray, linux: np.ndarray, what: str) -> None:
    """The Windows plugin sounds like the Linux engine: the same within -60 dB (here they are bit-identical;
    another CPU may take other ONNX Runtime kernels on each side)."""
    difference = float(np.sqrt(np.mean((y - linux) ** 2)) / np.sqrt(np.mean(linux**2)))
    print(
        f"{what}: Windows vs Linux: max |difference| {np.abs(y - linux).max():.2e}, relative RMS {difference:.2e}"
    )
    assert difference < 1e-3


def pitch_error(y: np.ndarray, guitar, latency: int, shift: float = 0.0) -> tuple[float, int, float]:
    """Median |cents| to the nearest octave of the played note (+ `shift` semitones) over voiced frames, how
    many, and the median level between notes. The output is compared after the latency, as a host would."""
    y = y[latency:]
    f0, centres = host.pitch_track(y, SR)
    centres = np.minimum(centres, len(y) - 1)
    truth, known = guitar.f0_hz[centres], guitar.known[centres]
    level = np.array([np.sqrt(np.mean(y[max(0, c - 256) : c + 256] ** 2)) for c in centres])
    scored = known & (truth > 0) & (level > 1e-3)
    error = float(np.median(octave_error(f0[scored], truth[scored] * 2 ** (shift / 12))))
    return error, int(scored.sum()), float(np.median(level[(truth == 0) & known]))


def test_effect_state_round_trips(effect_runs, guitar):
    report, folder = effect_runs
    saved, restored = report["renders"][-2:]
    assert saved["parameters"]["Semitones"].startswith("7")
    assert restored["parameters"] == saved["parameters"]
    up = host.plugin_state((folder / "up.state").read_bytes())
    again = host.plugin_state((folder / "restored.state").read_bytes())
    assert up.get("modelName") == MODEL and up.get("model").endswith(f"\\models\\{MODEL}.onnx")
    assert again.attrib == up.attrib
    assert {p.get("id"): p.get("value") for p in again.iter("PARAM")} == {
        p.get("id"): p.get("value") for p in up.iter("PARAM")
    }
    # The restored instance plays a fifth up (to the octave): the state reached the engine.
    y = read_wav(folder / "restored.wav")[0]
    error, scored, _ = pitch_error(y, guitar, linux_latency(512), shift=7)
    print(f"restored, +7 semitones: median |pitch error| {error:.1f} cents over {scored} frames")
    assert scored > 100 and error < 25.0


def test_effect_plays_from_a_folder_with_a_non_ascii_name(windows_build, wine, guitar, tmp_path):
    """A user folder named "Jürgen" or "テスト": paths reach ONNX Runtime and the file system as UTF-16."""
    bundle = tmp_path / "Jürgen テスト" / "tonemorph.vst3"
    shutil.copytree(vst3("tonemorph"), bundle)
    x = write_wav(tmp_path / "guitar.wav", guitar.audio[: 2 * SR])
    render = {"block": 512, "sample_rate": SR, "length": 2 * SR, "input": x, "output": tmp_path / "out.wav"}
    report = wine.host(
        {"plugin": module(bundle), "renders": [{**render, "state_out": tmp_path / "s.state"}]}, tmp_path
    )
    assert report["renders"][0]["latency"] == linux_latency(512)
    assert np.sqrt(np.mean(read_wav(tmp_path / "out.wav") ** 2)) > 1e-3
    assert host.plugin_state((tmp_path / "s.state").read_bytes()).get("model") == winpath(
        bundle / "Contents" / "Resources" / "models" / f"{MODEL}.onnx"
    )


# --- the Synth -------------------------------------------------------------------------------------------------

PHRASE = (55, 60, 64, 67, 72, 76)  # G3 to E5, in the trumpet's range
NOTE_S = 0.5


@pytest.fixture(scope="module")
def synth_runs(windows_build, wine, tmp_path_factory):
    """One host run: a MIDI phrase through the Synth at both block sizes, and its state into a fresh instance."""
    folder = tmp_path_factory.mktemp("synth")
    midi = []
    for i, note in enumerate(PHRASE):
        midi += [
            (round(i * NOTE_S * SR), [0x90, note, 100]),
            (round((i + 0.8) * NOTE_S * SR), [0x80, note, 0]),
        ]
    length = round((len(PHRASE) * NOTE_S + 0.5) * SR)
    events = [[s, *b] for s, b in midi]
    renders = [{"block": b, "midi": events, "output": folder / f"synth-{b}.wav"} for b in BLOCKS]
    renders[-1]["state_out"] = folder / "synth.state"
    renders.append(
        {"block": 512, "midi": events, "state": folder / "synth.state", "state_out": folder / "again.state"}
    )
    for r in renders:
        r.update(sample_rate=SR, length=length)
    report = wine.host({"plugin": module(vst3("tonemorph Synth")), "renders": renders}, folder)
    return report, folder, midi, length


def test_scan_finds_the_synth(synth_runs):
    report = synth_runs[0]
    assert len(report["types"]) == 1
    t = report["types"][0]
    assert t["name"] == "tonemorph Synth" and t["is_instrument"] and t["outputs"] == 2 and t["inputs"] == 0


@pytest.mark.parametrize("block", BLOCKS)
def test_synth_plays_the_midi_notes_at_their_pitch(synth_runs, block):
    report, folder, midi, length = synth_runs
    render = report["renders"][BLOCKS.index(block)]
    assert render["latency"] == linux_latency(block)
    y = read_wav(folder / f"synth-{block}.wav")
    assert_sane(y)
    latency = render["latency"]
    for i, note in enumerate(PHRASE):
        start, stop = latency + int((i + 0.25) * NOTE_S * SR), latency + int((i + 0.75) * NOTE_S * SR)
        error = cents(host.median_f0(y[0, start:stop], SR), midi_to_hz(note))
        print(f"block {block}: note {note}: {error:+.1f} cents")
        assert abs(error) < 20.0, note
    assert_like_linux(y, linux_render(np.zeros(0, np.float32), block, midi, length), f"Synth, block {block}")


def test_synth_state_round_trips(synth_runs):
    _, folder, _, _ = synth_runs
    saved = host.plugin_state((folder / "synth.state").read_bytes())
    again = host.plugin_state((folder / "again.state").read_bytes())
    assert saved.get("modelName") == MODEL
    assert again.attrib == saved.attrib
    assert [(p.get("id"), p.get("value")) for p in again.iter("PARAM")] == [
        (p.get("id"), p.get("value")) for p in saved.iter("PARAM")
    ]


# --- the editor, and a bundle without ONNX Runtime -------------------------------------------------------------


def editor_screenshot(wine: Wine, plugin: Path, folder: Path) -> tuple[dict, np.ndarray]:
    """Opens the plugin's editor in the test host under Xvfb, once the plugin plays; returns the host's report
    and a screenshot of the window ([height, width, 3] RGB). Under Wine 8 the editor paints once and does not
    redraw: JUCE 7 schedules repaints on DXGI's WaitForVBlank, which Wine 8 leaves a stub."""
    from PIL import Image

    shot = folder / "editor.png"
    host_done = threading.Event()
    with host.xvfb() as display:
        env = {**os.environ, "DISPLAY": display}

        def photograph():
            while not host_done.is_set():
                found = subprocess.run(
                    ["xdotool", "search", "--onlyvisible", "--name", "^tonemorph"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout.split()
                if found:
                    time.sleep(2.0)  # the first paint
                    subprocess.run(
                        ["import", "-display", display, "-window", found[0], str(shot)],
                        env=env,
                        check=False,
                        timeout=60,
                    )
                    return
                time.sleep(0.25)

        camera = threading.Thread(target=photograph)
        camera.start()
        try:
            result = wine.host({"plugin": plugin, "editor_seconds": 6}, folder, display=display)
        finally:
            host_done.set()
            camera.join()
    assert shot.exists(), "no editor window appeared"
    return result, np.asarray(Image.open(shot).convert("RGB"))


@pytest.mark.parametrize("name", STEMS)
def test_editor_opens_and_paints(windows_build, wine, name, tmp_path):
    report, pixels = editor_screenshot(wine, module(vst3(name)), tmp_path)
    assert (report["editor"]["width"], report["editor"]["height"]) == (980, 600)
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 980, pixels.shape
    print(f"{name}: editor {pixels.shape[1]}x{pixels.shape[0]}; screenshot {tmp_path / 'editor.png'}")
    assert_painted(pixels)


def assert_painted(pixels: np.ndarray) -> None:
    """The editor's background, knobs and antialiased text (GDI's: JUCE has no DirectWrite with MinGW)."""
    colours = len({tuple(c) for c in pixels.reshape(-1, 3)})
    background = float(np.mean(np.all(pixels == EDITOR_BACKGROUND, axis=-1)))
    print(f"{colours} colours, {100 * background:.0f}% background")
    assert background > 0.2 and colours > 50


# Microsoft's Visual C++ runtime, which onnxruntime.dll needs: Wine has its own, and leaves it out on request.
VC_RUNTIME = ("msvcp140", "msvcp140_1", "vcruntime140", "vcruntime140_1")


@pytest.mark.parametrize("missing", ["onnxruntime.dll", "the Visual C++ runtime"])
def test_without_onnx_runtime_the_bundled_models_still_play(windows_build, wine, guitar, tmp_path, missing):
    """onnxruntime.dll missing from the bundle, or the Visual C++ runtime from Windows: the plugin still loads
    and plays, since its decoders run natively; only a model whose graph needs ONNX Runtime would be refused,
    with a message that says what is missing (the editor's screenshot is kept beside the test's files)."""
    broken = tmp_path / "tonemorph.vst3"
    shutil.copytree(vst3("tonemorph"), broken)
    if missing == "onnxruntime.dll":
        (module(broken).parent / "onnxruntime.dll").unlink()
    else:
        wine = Wine(wine.prefix)
        wine.disabled_dlls = VC_RUNTIME
    x = write_wav(tmp_path / "guitar.wav", guitar.audio)
    render = {
        "block": 512,
        "sample_rate": SR,
        "length": len(guitar.audio),
        "input": x,
        "output": tmp_path / "out.wav",
    }
    report = wine.host({"plugin": module(broken), "renders": [render]}, tmp_path)
    y = read_wav(tmp_path / "out.wav")
    assert_sane(y)
    assert report["renders"][0]["latency"] == linux_latency(512)
    error, scored, _ = pitch_error(y[0], guitar, linux_latency(512))
    assert scored > 100 and error < 25.0
    _, pixels = editor_screenshot(wine, module(broken), tmp_path)
    print(f"editor without {missing}: {tmp_path / 'editor.png'}")
    assert_painted(pixels)
