"""The Sampler panel without its GUI, in both plugins: plugin/tools/PluginTorture.cpp `sampler` drives the
processor's SamplerJob (the panel's own API) while a simulated audio thread keeps calling processBlock, counted
for heap allocations, frees and mutex locks the whole time: a sampler opened and described, sounds generated
from words, the first auditioned through the plugin's output, the kept ones saved to a folder, and bad input.

The sampler is test_sampler_model's tiny one (trained a few steps on test-made kicks, snares and hats); the
sounds must be what the C++ core (`_core.sampler`) gives for the same seeds and words, to the 24-bit file's
last bit. Each run gets its own temporary folder (TMPDIR), so what a run leaves behind can be looked at."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import plugin_host as host
import pytest
import soundfile as sf
from scipy.signal import resample_poly
from test_sampler_model import drums, exported, samples, trained_run  # noqa: F401 (the tiny sampler's fixtures)
from tonemorph.engine import _core
from tonemorph.engine.sampler import GenerateSettings, generate_sounds
from tonemorph.training.sampler import train as training
from tonemorph.training.sampler.model import condition_row

from tonemorph.sampler.words import parse_prompt

BOTH = [host.EFFECT, host.SYNTH]
SAMPLERS = Path(__file__).resolve().parents[1] / "models" / "sampler"
HOST_RATE = 48000
LSB = 2.0**-23  # one step of a 24-bit file
MAX_LAG = 8  # samples the audition's resampler may delay the sound by (JUCE's ResamplingAudioSource: 1)


def run_sampler(name: str, model: Path, *options: str, tmp: Path, models: Path | None = None) -> dict:
    """The torture tool's `sampler` mode; the run folders land in tmp/tonemorph-sampler."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), "TONEMORPH_MODELS": str(models or tmp / "no-models")}
    # The audio thread ran all along and never allocated, freed or locked.
    return host.job_report(name, "sampler", str(model), *options, env=env, timeout=180)


def similarity(heard: np.ndarray, sound: np.ndarray, lag: int) -> float:
    """The normalised correlation of `heard` with `sound` played `lag` samples late."""
    x = heard[lag:]
    n = min(len(x), len(sound))
    x, y = x[:n], sound[:n]
    return float(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y)))


def leftovers(tmp: Path) -> list[str]:
    root = tmp / "tonemorph-sampler"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@pytest.fixture(scope="module")
def tiny(exported) -> Path:  # noqa: F811
    return exported[0]


@pytest.fixture(scope="module")
def vocabulary(trained_run):  # noqa: F811
    return training.vocabulary_from_dict(training.load_checkpoint(trained_run[0])["vocabulary"])


@pytest.mark.parametrize("name", BOTH)
def test_the_panel_generates_what_the_core_generates_and_auditions_it(name, tiny, vocabulary, tmp_path):
    options = ["--prompt", "Bright kick", "--count", "3", "--seconds", "0.5", "--steps", "3", "--seed", "5"]
    recording = tmp_path / "heard.wav"
    report = run_sampler(name, tiny, *options, "--audition", str(recording), tmp=tmp_path)
    assert report["open_state"] == "opened", report
    assert {"kick", "snare", "hat"} <= set(report["kinds"]) and "bright" in report["words"]
    assert report["state"] == "done", report
    assert report["seeds"] == [5, 6, 7]
    assert [Path(p).name for p in report["results"]] == ["0001-seed5.wav", "0002-seed6.wav", "0003-seed7.wav"]
    folder = Path(report["folder"])
    assert folder.parent == tmp_path / "tonemorph-sampler" and folder.name.endswith("-bright-kick")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{i:04d}-seed{5 + i - 1}.{ext}" for i in (1, 2, 3) for ext in ("wav", "json")]
    )

    model = _core.sampler.SamplerModel(str(tiny))
    info = model.info
    hop, rate = info["hop"], info["sample_rate"]
    length = round(0.5 * rate / hop) * hop
    conditions = condition_row(parse_prompt("bright kick", vocabulary)).tolist()
    for path, seed in zip(report["results"], report["seeds"]):
        audio, sr = sf.read(path, dtype="float64")
        assert sr == rate and audio.shape == (length,) and sf.info(path).subtype == "PCM_24"
        assert np.sqrt(np.mean(audio**2)) > 1e-3, "silent"
        want = _core.sampler.generate(model, conditions=conditions, steps=3, seed=seed, samples=length)
        assert np.abs(audio - np.clip(want, -1, 1)).max() <= LSB, "not the core's sound for this seed"
        # The sidecar as `tonemorph sampler generate` writes it (engine/sampler.py sidecar).
        sidecar = json.loads(Path(path).with_suffix(".json").read_text())
        assert sidecar == {
            "seed": seed,
            "steps": 3,
            "guidance": info["default_guidance"],
            "prompt": "Bright kick",
            "conditions": {"kind": "kick", "brightness_hz": 2},
            "model": {"name": info["name"], "version": info["version"], "path": str(tiny)},
            "seconds": length / rate,
            "sample_rate": rate,
            "score": None,
        }

    # The first sound, heard at the plugin's output (nothing else plays: no input, no MIDI) at the host's rate,
    # from its start to its end, then the plugin's own output is back.
    assert report["audition_ended"] and report["recorded"], report
    heard, sr = sf.read(recording, dtype="float64")
    assert sr == HOST_RATE and heard.shape[1] == 2
    sound = resample_poly(sf.read(report["results"][0], dtype="float64")[0], HOST_RATE, rate)
    heard_seconds = report["heard_blocks"] * 256 / HOST_RATE
    print(f"{name}: heard {heard_seconds:.3f} s of a {len(sound) / HOST_RATE:.3f} s sound")
    assert abs(heard_seconds - len(sound) / HOST_RATE) < 0.05
    correlation, lag = max((similarity(heard[:, 0], sound, lag), lag) for lag in range(MAX_LAG + 1))
    print(f"{name}: heard vs the file: correlation {correlation:.3f} {lag} samples late")
    assert correlation > 0.9 and np.array_equal(heard[:, 0], heard[:, 1])


@pytest.mark.parametrize("name", BOTH)
def test_the_bundles_carry_the_samplers_apart_from_the_instruments(name):
    """models/sampler/ of the bundle holds every shipped sampler; the instrument list reads only models/*.onnx."""
    shipped = [p for p in SAMPLERS.glob("*.onnx") if not p.name.startswith(".")]
    if not shipped:
        pytest.skip("no sampler is shipped in models/sampler yet")
    bundled = host.vst3(name) / "Contents" / "Resources" / "models"
    for model in shipped:
        assert (bundled / "sampler" / model.name).read_bytes() == model.read_bytes()
    assert not {p.name for p in bundled.glob("*.onnx")} & {p.name for p in shipped}


def test_the_panel_writes_what_the_cli_writes(tiny, tmp_path):
    """The same settings through the panel and through `tonemorph sampler generate` (engine/sampler.py): the same
    file names, the same sidecars, the same samples (JUCE's and libsndfile's 24-bit rounding may differ by one
    step)."""
    settings = {"count": 2, "seed": 40, "steps": 2, "seconds": 0.25, "prompt": "short hat"}
    report = run_sampler(
        host.EFFECT,
        tiny,
        *[x for key, value in settings.items() for x in (f"--{key}", str(value))],
        tmp=tmp_path / "panel",
    )
    cli = tmp_path / "cli"
    generate_sounds(tiny, cli, GenerateSettings(**settings))
    panel = [Path(p) for p in report["results"]]
    assert [p.name for p in panel] == sorted(p.name for p in cli.glob("*.wav"))
    for path in panel:
        ours, _ = sf.read(path, dtype="int32")
        theirs, _ = sf.read(cli / path.name, dtype="int32")
        assert np.abs((ours >> 8).astype(np.int64) - (theirs >> 8)).max() <= 1
        sidecar = json.loads(path.with_suffix(".json").read_text())
        assert sidecar == json.loads((cli / path.name).with_suffix(".json").read_text())


def test_the_samplers_are_found_in_the_user_folder(tiny, tmp_path):
    models = tmp_path / "models"
    (models / "sampler").mkdir(parents=True)
    (models / "sampler" / "mine.onnx").symlink_to(tiny)
    report = run_sampler(host.SYNTH, tiny, "--count", "1", "--steps", "1", tmp=tmp_path, models=models)
    assert str(models / "sampler" / "mine.onnx") in report["samplers"]
    assert report["state"] == "done" and len(report["results"]) == 1


def test_save_copies_the_kept_sounds_and_never_overwrites(tiny, tmp_path):
    target = tmp_path / "kept"
    options = ["--count", "3", "--steps", "1", "--seed", "9", "--save-to", str(target), "--keep", "0,2"]
    report = run_sampler(host.EFFECT, tiny, *options, tmp=tmp_path / "a")
    assert report["save"] == "saved", report
    assert sorted(p.name for p in target.iterdir()) == [
        "0001-seed9.json",
        "0001-seed9.wav",
        "0003-seed11.json",
        "0003-seed11.wav",
    ]
    first = Path(report["results"][0])
    assert (target / first.name).read_bytes() == first.read_bytes()

    # Again into the same folder: refused before anything is copied, and nothing there changes.
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in target.iterdir()}
    options = ["--count", "3", "--steps", "1", "--seed", "100", "--save-to", str(target)]
    (target / "0002-seed101.wav").write_bytes(b"mine")
    before["0002-seed101.wav"] = hashlib.sha256(b"mine").hexdigest()
    report = run_sampler(host.EFFECT, tiny, *options, tmp=tmp_path / "b")
    print(report["save"])
    assert "already has '0002-seed101.wav'" in report["save"] and "nothing is overwritten" in report["save"]
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in target.iterdir()} == before


def test_cancel_leaves_nothing_behind(tiny, tmp_path):
    options = ["--count", "200", "--steps", "50", "--cancel-after", "0.3"]
    report = run_sampler(host.SYNTH, tiny, *options, tmp=tmp_path)
    assert report["state"] == "cancelled", report
    assert report["results"] == [] and report["folder"] == ""
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "options,message",
    [
        (
            ["--prompt", "bright snaree"],
            "unknown word 'snaree' in the prompt 'bright snaree'; nearest known words: snare",
        ),
        (["--prompt", "bright dark"], "asks for both"),
        (["--count", "0"], "Count must be 1..256"),
        (["--steps", "5000"], "steps must be 1..1000"),
        (["--seconds", "60"], "Length must be up to 10 seconds"),
    ],
)
def test_bad_settings_get_the_musicians_message_and_write_nothing(options, message, tiny, tmp_path):
    report = run_sampler(host.EFFECT, tiny, *options, tmp=tmp_path)
    print(report["error"])
    assert report["open_state"] == "opened"
    assert report["state"] == "failed" and message.lower() in report["error"].lower(), report["error"]
    assert report["results"] == [] and leftovers(tmp_path) == []


def test_models_that_are_not_samplers_are_refused_by_name(tone_model_path, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model at all")
    cases = [
        (broken, "broken.onnx' cannot be used as a sampler"),
        (tone_model_path, "is a 'instrument' model, not a sampler"),
        (tmp_path / "gone.onnx", "'gone.onnx' does not exist"),
    ]
    for model, message in cases:
        report = run_sampler(host.SYNTH, model, tmp=tmp_path / model.stem)
        print(report["open_error"])
        assert report["open_state"] == "failed" and message in report["open_error"], report["open_error"]
        assert report["state"] == "failed" and report["results"] == []
        assert leftovers(tmp_path / model.stem) == []


@pytest.mark.parametrize("name", BOTH)
def test_the_panel_shows_the_words_and_lists_the_sounds(name, tiny, tmp_path):
    """The editor with the Sampler tab in view (PluginTorture `snapshot`): the chosen model described (its
    words below the model row), then after a run its four sounds listed below the settings; the top of the
    panel stays where it was."""
    shots = {}
    with host.xvfb() as display:
        for label, extra in (("opened", []), ("listed", ["short kick"])):
            out = tmp_path / f"{label}.png"
            env = {**os.environ, "DISPLAY": display, "TMPDIR": str(tmp_path)}
            shots[label] = host.editor_snapshot(
                name, out, "Offline tools", "Sampler", "--sampler", str(tiny), *extra, env=env
            )
    # The words line (kinds and descriptor words) is drawn under the model row: text there, in both.
    words = shots["opened"][230:250, 90:780]
    assert (words > 100).sum() > 200, "no words shown"
    changed = np.abs(shots["listed"] - shots["opened"]) > 24
    rows = np.flatnonzero(changed.any(axis=1))
    assert rows.size > 0, "the sounds did not show"
    print(f"{name}: the panel changed on rows {rows.min()}..{rows.max()}")
    assert rows.min() > 340 and rows.max() - rows.min() > 4 * 24
