"""Generating from a sampler: `tonemorph sampler generate` and `words`, the C++ prompt parser against words.py,
variations and morphs (C++ against torch), and every bad input refused with nothing written.

The model is test_sampler_model's tiny one (trained a few steps on test-made kicks, snares and hats), so the
sounds are noise-like; what is checked is the plumbing: lengths, rates, seeds, files, errors.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile
import torch
from child_signals import sigint_not_ignored
from test_sampler_data import kick, snare, write
from test_sampler_model import TINY, drums, exported, samples, tiny_config, trained_run  # noqa: F401 (fixtures)
from tonemorph.engine import _core
from tonemorph.engine.sampler import GenerateSettings, find_sampler, generate_sounds
from tonemorph.training.sampler import train as training
from tonemorph.training.sampler.export import export_onnx, metadata
from tonemorph.training.sampler.model import VelocityNet, condition_row, sample

from tonemorph.cli import main
from tonemorph.cli_sampler import SAMPLER_FOLDER
from tonemorph.sampler import curate
from tonemorph.sampler.words import parse_prompt

SR = 24000
PARITY_TOLERANCE = 1e-5  # max abs difference of C++ and torch audio, variations as plain sampling
PROMPTS = [
    "short bright snare",
    "Hi Hat, noisy",
    "hi hat hi hat",
    "bd",
    "bass drum loud",
    "  KICK,,dark  ",
    "",
    "tight punchy kick quiet tonal",
    "snare snares sd",
]
BAD_PROMPTS = ["short snar", "tom", "bright dark kick", "kick snare", "zzzz"]


@pytest.fixture(scope="module")
def model_path(exported):  # noqa: F811
    return exported[0]


@pytest.fixture(scope="module")
def vocabulary(trained_run):  # noqa: F811
    return training.vocabulary_from_dict(training.load_checkpoint(trained_run[0])["vocabulary"])


@pytest.fixture(scope="module")
def random_net(tmp_path_factory):
    """An untrained tiny network (outputs far from silence) and its ONNX model with the tiny vocabulary, its
    steps spaced with shift 2."""
    torch.manual_seed(1)
    net = VelocityNet(**TINY, audio_scale=0.1).eval()
    words = {"snare": ["kind", "snare"], "kick": ["kind", "kick"], "bright": ["brightness_hz", 2]}
    vocabulary = {"words": words, "edges": {}, "kinds": {"snare": 3, "kick": 2}}
    props = metadata(
        net,
        name="random",
        sample_rate=SR,
        length=SR,
        vocabulary=vocabulary,
        config=tiny_config(sample_shift=2.0),
    )
    path = tmp_path_factory.mktemp("random") / "random.onnx"
    export_onnx(net, path, props, SR)
    return net, _core.sampler.SamplerModel(str(path))


class StillNet(torch.nn.Module):
    """v = 0 everywhere: the flow stays where it starts, so a variation is exactly s noise + (1 - s) sound
    (times audio_scale), which a test can predict. The inputs are used (times 0) so that the graph keeps them."""

    hop = 96

    def __init__(self):
        super().__init__()
        self.register_buffer("audio_scale", torch.tensor(0.1))

    def forward(self, x, t, conditions):
        return 0.0 * x * t[:, None] * conditions.sum(dim=1, keepdim=True).to(x.dtype)


@pytest.fixture(scope="module")
def still_model(tmp_path_factory):
    net = StillNet()
    vocabulary = {"words": {}, "edges": {}, "kinds": {}}
    props = metadata(
        net, name="still", sample_rate=SR, length=SR, vocabulary=vocabulary, config=tiny_config()
    )
    path = tmp_path_factory.mktemp("still") / "still.onnx"
    export_onnx(net, path, props, SR)
    return _core.sampler.SamplerModel(str(path))


@pytest.fixture(scope="module")
def sounds(tmp_path_factory):
    """A kick at 44.1 kHz stereo and a snare at 24 kHz, 0.5 s (shorter than the model's length)."""
    folder = tmp_path_factory.mktemp("sounds")
    stereo = np.stack([kick(44100), 0.5 * kick(44100)], axis=1)
    soundfile.write(folder / "kick.wav", stereo, 44100, subtype="PCM_24")
    write(folder / "snare.wav", snare(SR, 3)[: SR // 2], SR)
    return folder / "kick.wav", folder / "snare.wav"


def run(args: list[str], capsys) -> tuple[int, str]:
    code = main(["sampler", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def folder_state(folder) -> dict:
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))}


def test_cpp_prompts_give_what_words_py_gives(model_path, vocabulary):
    model = _core.sampler.SamplerModel(str(model_path))
    for prompt in PROMPTS:
        want = condition_row(parse_prompt(prompt, vocabulary)).tolist()
        assert _core.sampler.parse_prompt(model, prompt) == want, prompt
    for prompt in BAD_PROMPTS:
        with pytest.raises(ValueError) as python:
            parse_prompt(prompt, vocabulary)
        with pytest.raises(_core.sampler.SamplerError) as cpp:
            _core.sampler.parse_prompt(model, prompt)
        # the same word named in the same words; the nearest ones are by edit distance in C++
        assert str(cpp.value).split(";")[0] == str(python.value).split(";")[0], prompt


def test_unknown_word_names_the_nearest_and_a_missing_kind(model_path):
    model = _core.sampler.SamplerModel(str(model_path))
    with pytest.raises(_core.sampler.SamplerError, match=r"unknown word 'snar'.*nearest known words: snare"):
        _core.sampler.parse_prompt(model, "short snar")
    with pytest.raises(
        _core.sampler.SamplerError, match=r"trained on no tom sounds \(its kinds: kick, snare, hat\)"
    ):
        _core.sampler.parse_prompt(model, "tom")


def test_info_lists_the_vocabulary(model_path, vocabulary):
    info = _core.sampler.SamplerModel(str(model_path)).info
    assert info["has_words"]
    assert {w for w, _, _ in info["words"]} == set(vocabulary.words)
    assert ("snare", "kind", info["kind_names"].index("snare")) in info["words"]
    assert dict(zip(info["kind_names"], info["kind_sounds"]))["kick"] == vocabulary.kinds["kick"]


def test_a_model_without_the_word_list_says_so(model_path, tmp_path, capsys):
    import onnx

    graph = onnx.load(model_path)
    props = {
        p.key: p.value for p in graph.metadata_props if p.key not in ("words", "kind_names", "kind_sounds")
    }
    del graph.metadata_props[:]
    onnx.helper.set_model_props(graph, props)
    onnx.save(graph, tmp_path / "old.onnx")
    model = _core.sampler.SamplerModel(str(tmp_path / "old.onnx"))
    assert not model.info["has_words"] and model.info["words"] == []
    assert _core.sampler.parse_prompt(model, "") == list(model.info["unspecified"])
    with pytest.raises(_core.sampler.SamplerError, match="has no word list.*re-export it"):
        _core.sampler.parse_prompt(model, "snare")
    assert main(["sampler", "words", str(tmp_path / "old.onnx")]) == 2
    assert "has no word list" in capsys.readouterr().err


@pytest.mark.parametrize("strength", [0.3, 0.5, 1.0])
def test_variation_cpp_equals_torch(random_net, strength):
    net, model = random_net
    start = (0.3 * np.sin(np.arange(SR) / 7.0)).astype(np.float32)
    noise = _core.sampler.noise(5, SR)
    conditions = condition_row({"kind": "snare"})
    want = sample(
        net,
        torch.from_numpy(noise)[None],
        torch.from_numpy(conditions)[None],
        steps=4,
        guidance=2.0,
        start=torch.from_numpy(start)[None],
        strength=strength,
        shift=2.0,
    )[0].numpy()
    got = _core.sampler.generate(
        model,
        conditions=conditions.tolist(),
        steps=4,
        guidance=2.0,
        noise=noise,
        start=start,
        strength=strength,
        finish=False,
    )
    assert np.abs(got - want).max() < PARITY_TOLERANCE
    if strength == 1.0:  # ignores the sound: the plain sampler
        plain = _core.sampler.generate(
            model, conditions=conditions.tolist(), steps=4, guidance=2.0, noise=noise, finish=False
        )
        assert np.array_equal(got, plain)


def test_variation_at_strength_zero_returns_the_sound(random_net, still_model):
    _, model = random_net
    start = (0.3 * np.sin(np.arange(SR) / 7.0)).astype(np.float32)
    got = _core.sampler.generate(model, steps=4, seed=1, start=start, strength=0.0)
    assert np.array_equal(got, start)
    noise = _core.sampler.noise(1, SR)
    for strength in (0.1, 0.6):  # the flow's point at t0 = 1 - strength, where a still flow stays
        got = _core.sampler.generate(still_model, steps=4, seed=1, start=start, strength=strength)
        assert np.allclose(got, 0.1 * strength * noise + (1 - strength) * start, atol=1e-6)


def test_morph_walks_from_a_to_b(still_model, sounds):
    model = still_model
    a = _core.sampler.fit_sound(model, soundfile.read(sounds[0], dtype="float32")[0].T, 44100)
    b = _core.sampler.fit_sound(model, soundfile.read(sounds[1], dtype="float32")[0], SR)
    walk = _core.sampler.morph(model, a, b, 5, steps=4, seed=3, strength=0.2)
    assert len(walk) == 5

    def distance(x, y):
        return float(np.linalg.norm(x - y) / np.linalg.norm(y))

    assert distance(walk[0], a) < distance(walk[0], b) and distance(walk[-1], b) < distance(walk[-1], a)
    to_b = [distance(w, b) for w in walk]
    assert to_b[0] > to_b[1] > to_b[2] > to_b[3] > to_b[4]
    noise = 0.1 * 0.2 * _core.sampler.noise(3, SR)  # the one noise of every item, at strength 0.2
    assert np.allclose(walk[0], noise + 0.8 * a, atol=1e-6) and np.allclose(
        walk[-1], noise + 0.8 * b, atol=1e-6
    )
    # each item is generate() from the blended start and the one noise: what the CLI's workers compute
    third = _core.sampler.generate(
        model, steps=4, seed=3, strength=0.2, start=_core.sampler.morph_start(a, b, 0.5)
    )
    assert np.array_equal(walk[2], third)
    ends = _core.sampler.morph(model, a, b, 2, steps=4, seed=3, strength=0.0)
    assert np.array_equal(ends[0], a) and np.array_equal(ends[1], b)


def test_fit_sound_mixes_resamples_and_pads(random_net):
    _, model = random_net
    t = np.arange(44100) / 44100
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    fitted = _core.sampler.fit_sound(model, np.stack([tone, -tone * 0.0]), 44100)
    assert fitted.shape == (SR,)
    assert np.sqrt(np.mean(fitted[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
    short = _core.sampler.fit_sound(model, tone[:1000], SR, 960)
    assert short.shape == (960,) and np.array_equal(short, tone[:960])
    padded = _core.sampler.fit_sound(model, tone[:100], SR)
    assert np.array_equal(padded[:100], tone[:100]) and not padded[100:].any()
    with pytest.raises(_core.sampler.SamplerError, match="sample rate"):
        _core.sampler.fit_sound(model, tone, 10.0)


def test_generate_writes_valid_sounds_and_sidecars(model_path, tmp_path, capsys):
    out = tmp_path / "out"
    code, text = run(
        [
            "generate",
            str(model_path),
            "--count",
            "3",
            "--out",
            str(out),
            "--seed",
            "12345",
            "--prompt",
            "short snare",
            "--steps",
            "2",
        ],
        capsys,
    )
    assert code == 0, text
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"000{i + 1}-seed{12345 + i}.{s}" for i in range(3) for s in ("json", "wav")]
    for i in range(3):
        path = out / f"000{i + 1}-seed{12345 + i}.wav"
        info = soundfile.info(path)
        assert info.samplerate == SR and info.frames == SR and info.subtype == "PCM_24" and info.channels == 1
        audio = soundfile.read(path)[0]
        assert not curate.is_silent(audio) and not curate.is_clipped(audio)
        facts = json.loads(path.with_suffix(".json").read_text())
        assert facts["seed"] == 12345 + i and facts["steps"] == 2 and facts["prompt"] == "short snare"
        assert facts["conditions"] == {"kind": "snare", "decay_s": 0}
        assert facts["model"]["name"] == "tiny" and facts["seconds"] == 1.0 and facts["score"] is None


def test_a_workers_error_reaches_the_caller_and_its_processes_end(model_path, tmp_path):
    """--workers: an item that fails in a worker process (here its model file gone) is raised in the parent,
    and no worker process is left behind."""
    import dataclasses
    import multiprocessing

    from tonemorph.engine import sampler as engine_sampler

    settings = GenerateSettings(count=6, seed=3, steps=2, seconds=0.5, workers=2)
    plan = engine_sampler.make_plan(engine_sampler.open_sampler(model_path), settings)
    gone = dataclasses.replace(plan, path=str(tmp_path / "gone.onnx"))
    done = []
    with pytest.raises(Exception, match="gone.onnx"):
        engine_sampler._run_items(
            gone, engine_sampler.plan_items(settings, 3), 2, lambda i, s: done.append(i), print
        )
    assert done == [] and multiprocessing.active_children() == []


def test_seeds_reproduce_whatever_the_workers(model_path, tmp_path, capsys):
    common = ["--count", "3", "--seed", "7", "--steps", "2", "--seconds", "0.5"]
    assert run(["generate", str(model_path), *common, "--out", str(tmp_path / "one")], capsys)[0] == 0
    code, text = run(
        ["generate", str(model_path), *common, "--out", str(tmp_path / "two"), "--workers", "2"], capsys
    )
    assert code == 0, text
    one, two = folder_state(tmp_path / "one"), folder_state(tmp_path / "two")
    assert sorted(one) == sorted(two) and len(one) == 6
    for name in one:
        if name.endswith(".wav"):
            assert one[name] == two[name], name
    assert soundfile.info(tmp_path / "one" / "0001-seed7.wav").frames == SR // 2
    a = soundfile.read(tmp_path / "one" / "0001-seed7.wav")[0]
    b = soundfile.read(tmp_path / "one" / "0002-seed8.wav")[0]
    assert not np.allclose(a, b)


def test_like_and_between_from_the_cli(model_path, sounds, tmp_path, capsys):
    out = tmp_path / "like"
    code, text = run(
        [
            "generate",
            str(model_path),
            "--count",
            "2",
            "--out",
            str(out),
            "--like",
            str(sounds[0]),
            "--strength",
            "0",
        ],
        capsys,
    )
    assert code == 0, text
    model = _core.sampler.SamplerModel(str(model_path))
    want = _core.sampler.fit_sound(model, soundfile.read(sounds[0], dtype="float32")[0].T, 44100)
    got = soundfile.read(next(out.glob("0001-*.wav")), dtype="float32")[0]
    assert np.abs(got - want).max() <= 2 / 2**23  # 24-bit rounding
    facts = json.loads(next(out.glob("0001-*.json")).read_text())
    assert facts["strength"] == 0 and facts["like"] == str(sounds[0])
    walk = tmp_path / "walk"
    args = ["generate", str(model_path), "--count", "3", "--out", str(walk), "--seed", "4", "--steps", "2"]
    code, text = run([*args, "--between", str(sounds[0]), str(sounds[1])], capsys)
    assert code == 0, text
    assert sorted(p.name for p in walk.glob("*.wav")) == [
        "0001-seed4.wav",
        "0002-seed4.wav",
        "0003-seed4.wav",
    ]
    positions = [json.loads((walk / f"000{i}-seed4.json").read_text())["position"] for i in (1, 2, 3)]
    assert positions == [0.0, 0.5, 1.0]


def test_words_lists_the_vocabulary(model_path, capsys):
    code, text = run(["words", str(model_path)], capsys)
    assert code == 0, text
    assert "hihat" in text and "brightness_hz high third" in text
    hat = next(line for line in text.splitlines() if "kind hat" in line)
    assert "hhat" in hat and " 4 " in hat  # the tiny data's four hats
    assert "not a general text-to-audio model" in text


def test_a_sampler_is_found_by_name_user_folder_first(model_path, tmp_path, monkeypatch):
    monkeypatch.setenv("TONEMORPH_MODELS", str(tmp_path))
    (tmp_path / SAMPLER_FOLDER).mkdir()
    (tmp_path / SAMPLER_FOLDER / "mine.onnx").write_bytes(model_path.read_bytes())
    assert find_sampler("mine") == tmp_path / SAMPLER_FOLDER / "mine.onnx"
    with pytest.raises(
        ValueError, match=r"no sampler named 'flute' \(samplers: .*mine.*'flute' is an instrument"
    ):
        find_sampler("flute")


BAD = [
    (["--count", "0"], "--count must be 1..9999, not 0"),
    (["--steps", "0"], "--steps must be 1..1000, not 0"),
    (["--prompt", "short snar"], "unknown word 'snar'"),
    (["--like", "MISSING"], "missing.wav' does not exist"),
    (["--between", "MISSING", "MISSING"], "missing.wav' does not exist"),
    (["--seconds", "100"], "--seconds 100 does not fit this sampler"),
    (["--seconds", "0"], "--seconds 0 does not fit this sampler"),
    (["--strength", "0.5"], "give --like FILE or --between A B"),
    (["--like", "KICK", "--strength", "2"], "--strength must be 0..1"),
    (["--workers", "0"], "--workers must be 1..64"),
    (["--guidance", "-1"], "--guidance must be 0..20"),
    (["--between", "KICK", "KICK", "--count", "1"], "--between walks over --count 2 or more"),
]


@pytest.mark.parametrize(("extra", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_settings_are_refused_and_nothing_written(model_path, sounds, tmp_path, capsys, extra, message):
    swap = {"MISSING": str(tmp_path / "missing.wav"), "KICK": str(sounds[0])}
    extra = [swap.get(a, a) for a in extra]
    out = tmp_path / "out"
    code, text = run(["generate", str(model_path), "--count", "2", "--out", str(out), *extra], capsys)
    assert code == 2 and message in text, text
    assert not out.exists()


def test_bad_models_are_refused_and_nothing_written(tmp_path, capsys):
    from tonemorph.paths import bundled_models_dir

    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    instrument = str(bundled_models_dir() / "flute.onnx")
    for model, message in [
        (str(tmp_path / "broken.onnx"), "broken.onnx' cannot be used as a sampler"),
        (instrument, "is a 'instrument' model, not a sampler"),
        ("flute", "'flute' is an instrument"),
        (str(tmp_path / "nothing.onnx"), "nothing.onnx' does not exist"),
    ]:
        code, text = run(["generate", model, "--out", str(tmp_path / "out")], capsys)
        assert code == 2 and message in text, text
        assert not (tmp_path / "out").exists()


def test_existing_files_are_not_overwritten(model_path, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "0002-seed6.wav").write_bytes(b"keep me")
    (out / "notes.txt").write_bytes(b"mine")
    before = folder_state(out)
    code, text = run(["generate", str(model_path), "--count", "2", "--seed", "5", "--out", str(out)], capsys)
    assert code == 2 and "already holds 0002-seed6.wav" in text
    assert folder_state(out) == before
    code, text = run(
        ["generate", str(model_path), "--count", "2", "--seed", "50", "--steps", "1", "--out", str(out)],
        capsys,
    )
    assert code == 0, text  # other names: the folder's own files stay
    assert (out / "notes.txt").read_bytes() == b"mine" and (out / "0001-seed50.wav").is_file()


def test_cancel_leaves_nothing(model_path, tmp_path):
    """Ctrl-C (an exception from progress, as the plugin's Cancel) in the middle of a batch: no file stays."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    seen = []

    def stop(done, total):
        seen.append(done)
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_sounds(model_path, out, GenerateSettings(count=4, seed=1, steps=2), progress=stop)
    assert seen and [p.name for p in out.iterdir()] == ["keep.txt"]
    fresh = tmp_path / "fresh"
    with pytest.raises(KeyboardInterrupt):
        generate_sounds(model_path, fresh, GenerateSettings(count=4, seed=1, steps=2), progress=stop)
    assert not fresh.exists()


def test_ctrl_c_on_the_command_leaves_nothing(model_path, tmp_path):
    """A real SIGINT to `tonemorph sampler generate --workers 2` part-way: exit 130, no folder left."""
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "tonemorph.cli",
        "sampler",
        "generate",
        str(model_path),
        "--count",
        "2000",
    ]
    with sigint_not_ignored():
        process = (
            subprocess.Popen(  # 2000 sounds of 200 steps: about a minute of work, still going when it is
                # interrupted however late this process gets to send the signal on a loaded machine
                [*command, "--steps", "200", "--workers", "2", "--out", str(out)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(out.glob(".tonemorph-generate-*/*.wav")):
        time.sleep(0.1)
    assert any(out.glob(".tonemorph-generate-*/*.wav")), (
        process.stderr.read1().decode() if process.poll() else ""
    )
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:  # where it is stuck (the CLI prints every thread's stack on SIGUSR1)
        process.send_signal(signal.SIGUSR1)
        time.sleep(3)
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(
            f"still running 60 s after Ctrl-C; its threads:\n{process.communicate()[1].decode()[-6000:]}"
        )
    assert process.returncode == 130
    assert not out.exists()


def test_sigusr1_prints_where_the_command_is(model_path, tmp_path):
    """`kill -USR1` on a running tonemorph command prints every thread's Python stack to stderr and the work
    goes on (how the tests above say where a command is stuck)."""
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "tonemorph.cli", "sampler", "generate", str(model_path), "--count", "2000"]
        + ["--steps", "200", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(out.glob(".tonemorph-generate-*")):
            time.sleep(0.1)
        process.send_signal(signal.SIGUSR1)
        time.sleep(2)
        assert process.poll() is None  # still working
    finally:
        process.kill()
        stderr = process.communicate()[1].decode()
    assert "most recent call first" in stderr and "sampler.py" in stderr, stderr[-3000:]


def test_models_lists_samplers_with_their_kind(model_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TONEMORPH_MODELS", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    (tmp_path / SAMPLER_FOLDER).mkdir()
    (tmp_path / SAMPLER_FOLDER / "mine.onnx").write_bytes(model_path.read_bytes())
    (tmp_path / SAMPLER_FOLDER / "junk.onnx").write_bytes(b"junk")
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    mine = next(line for line in lines if " mine " in line)
    assert "sampler" in mine and "user" in mine and "24000" in mine
    assert "unusable" in next(line for line in lines if " junk " in line)
    assert any("flute" in line and "instrument" in line for line in lines)
