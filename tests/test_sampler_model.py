"""The sampler's generator: a tiny model trains on test-made drums and generates, resumes exactly, exports to
ONNX with its metadata, and the C++ sampling loop gives torch's audio from the same noise.

The drums are test_sampler_data's (kicks, snares, hats of known shape); the models are tiny (16 channels, 2
blocks) so that every test runs in seconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_sampler_data import hat, kick, snare, write
from tonemorph.engine import _core
from tonemorph.training.sampler import train as training
from tonemorph.training.sampler.export import KIND, export_sampler, metadata, read_metadata
from tonemorph.training.sampler.model import (
    CONDITIONS,
    KINDS,
    UNSPECIFIED_BIN,
    UNSPECIFIED_KIND,
    VelocityNet,
    condition_row,
    guided_velocity,
    sample,
    time_grid,
    unspecified,
)

from tonemorph.cli import main
from tonemorph.sampler import curate
from tonemorph.sampler.data import MODEL_SAMPLE_RATE, SamplerDataError, load_samples
from tonemorph.sampler.words import parse_prompt

SR = MODEL_SAMPLE_RATE
PARITY_TOLERANCE = 1e-5  # max abs difference of C++ and torch audio from the same noise (measured ~1e-7)
TINY = {"channels": 16, "blocks": 2, "condition_dim": 16}


def tiny_config(**overrides) -> training.SamplerConfig:
    values = {
        **TINY,
        "steps": 4,
        "batch_size": 2,
        "checkpoint_every": 2,
        "validate_every": 2,
        "sample_steps": 2,
    }
    return training.SamplerConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def drums(tmp_path_factory):
    """12 one-shots in kick / snare / hat folders, at 44.1 kHz."""
    root = tmp_path_factory.mktemp("drums")
    for i in range(4):
        write(root / "kit" / "kicks" / f"kick{i}.wav", kick(44100, 0.3 + 0.1 * i), 44100, delay=100 * i)
        write(root / "kit" / "snares" / f"snare{i}.wav", snare(44100, i), 44100)
        write(root / "kit" / "hats" / f"hat{i}.wav", hat(44100, 10 + i), 44100)
    return root


@pytest.fixture(scope="module")
def samples(drums):
    return load_samples(drums)


@pytest.fixture(scope="module")
def trained_run(samples, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "tiny"
    training.start_run(run, samples, tiny_config(), name="tiny")
    result = training.train(run, show_progress=False)
    return run, result


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "tiny.onnx"
    return export_sampler(trained_run[0], out)


def test_tiny_model_trains_and_writes_examples_per_checkpoint(trained_run):
    run, result = trained_run
    assert result.step == 4 and not result.interrupted
    losses = [loss for _, loss in result.history["train"]]
    assert len(losses) == 4 and all(np.isfinite(losses))
    for step in (2, 4):
        folder = run / training.REPORT_DIR / f"step-{step:06d}"
        report = json.loads((folder / "report.json").read_text())
        assert report["step"] == step
        import soundfile

        for name in ("kick", "snare", "hat", "any"):
            audio, rate = soundfile.read(folder / f"{name}.wav")
            assert rate == SR and len(audio) == SR
            assert soundfile.info(folder / f"{name}.wav").subtype == "PCM_24"
            assert not curate.is_silent(audio)


def test_conditions_come_from_names_and_descriptors(trained_run):
    run, _ = trained_run
    data = training.load_run_data(run)
    kinds = {KINDS[k] for k in data["train_conditions"][:, 0]}
    assert kinds == {"kick", "snare", "hat"}
    descriptor_bins = data["train_conditions"][:, 1:]
    assert set(np.unique(descriptor_bins)) <= {0, 1, 2, UNSPECIFIED_BIN}
    assert len(np.unique(descriptor_bins[:, 0])) == 3  # brightness spread over all three bins


def test_condition_row_maps_a_parsed_prompt(trained_run):
    saved = training.load_checkpoint(trained_run[0])
    vocabulary = training.vocabulary_from_dict(saved["vocabulary"])
    row = condition_row(parse_prompt("short bright snare", vocabulary))
    assert row[0] == KINDS.index("snare")
    assert row[CONDITIONS.index("decay_s")] == 0 and row[CONDITIONS.index("brightness_hz")] == 2
    assert row[CONDITIONS.index("pitch_hz")] == UNSPECIFIED_BIN
    assert list(condition_row({})) == list(unspecified(1)[0])


def test_resume_is_exact(samples, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    for run in (whole, parts):
        training.start_run(run, samples, tiny_config(), name="r")
    training.train(whole, show_progress=False, report=False)
    stopped = training.train(parts, show_progress=False, report=False, on_step=lambda step, loss: step == 2)
    assert stopped.interrupted and stopped.step == 2
    training.train(parts, show_progress=False, report=False)
    a, b = training.load_checkpoint(whole), training.load_checkpoint(parts)
    assert a["step"] == b["step"] == 4
    for key in ("model", "ema"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name)
    assert a["history"]["train"] == b["history"]["train"]


def test_fine_tuning_starts_from_the_base_weights(exported, samples, tmp_path):
    _, weights = exported
    base = training.load_checkpoint(weights)
    run = training.start_run(tmp_path / "ft", samples, training.SamplerConfig(steps=1), name="ft", init=base)
    saved = training.load_checkpoint(run)
    assert saved["model_args"] == base["model_args"] and saved["audio_scale"] == base["audio_scale"]
    for field in training.BASE_FIELDS:  # the base's tuned sampling and its loss, not the defaults
        assert saved["config"][field] == base["config"][field]
    spectral = {**base, "config": {**base["config"], "spectral_weight": 0.25}}
    run = training.start_run(
        tmp_path / "ft2", samples, training.SamplerConfig(steps=1), name="ft", init=spectral
    )
    assert training.load_checkpoint(run)["config"]["spectral_weight"] == 0.25
    for name, value in base["ema"].items():
        assert torch.equal(saved["model"][name], value)
    assert saved["info"]["init_from"] == "tiny"


def test_too_few_sounds_are_refused_and_nothing_written(drums, tmp_path):
    few = load_samples(drums / "kit" / "kicks")
    with pytest.raises(SamplerDataError, match="only 4 sounds"):
        training.start_run(tmp_path / "few", few, tiny_config(), name="few")
    assert not (tmp_path / "few").exists()


def test_export_metadata(exported, trained_run):
    onnx_path, weights = exported
    props = read_metadata(onnx_path)
    saved = training.load_checkpoint(trained_run[0])
    assert props["kind"] == KIND == "sampler" and props["name"] == "tiny"
    assert int(props["sample_rate"]) == SR and int(props["length"]) == SR and int(props["hop"]) == 96
    assert float(props["audio_scale"]) == pytest.approx(saved["audio_scale"])
    conditions = json.loads(props["conditions"])
    assert [c["name"] for c in conditions] == CONDITIONS
    assert conditions[0]["unspecified"] == UNSPECIFIED_KIND
    assert json.loads(props["kinds"]) == KINDS
    vocabulary = json.loads(props["vocabulary"])
    assert vocabulary["words"]["snare"] == ["kind", "snare"] and set(vocabulary["kinds"]) == {
        "kick",
        "snare",
        "hat",
    }
    schedule = json.loads(props["schedule"])
    assert (
        schedule["flow"] == "rectified" and schedule["solver"] == "euler" and schedule["default_steps"] == 2
    )
    assert int(props["train_steps"]) == 4
    info = _core.sampler.SamplerModel(str(onnx_path)).info
    assert info["default_steps"] == 2 and info["default_guidance"] == 2.0
    assert info["unspecified"] == list(unspecified(1)[0])
    assert training.load_checkpoint(weights)["kind"] == training.WEIGHTS_KIND


def random_model(tmp_path, seed: int = 0, shift: float = 1.0):
    torch.manual_seed(seed)
    net = VelocityNet(**TINY, audio_scale=0.1).eval()
    props = metadata(
        net,
        name="random",
        sample_rate=SR,
        length=SR,
        vocabulary={"words": {}, "edges": {}, "kinds": {}},
        config=tiny_config(sample_shift=shift),
    )
    path = tmp_path / "random.onnx"
    from tonemorph.training.sampler.export import export_onnx

    export_onnx(net, path, props, SR)
    return net, _core.sampler.SamplerModel(str(path))


@pytest.mark.parametrize(("guidance", "shift"), [(1.0, 1.0), (3.0, 1.0), (0.0, 1.0), (2.0, 3.0)])
def test_torch_and_cpp_sampler_agree(tmp_path, guidance, shift):
    net, model = random_model(tmp_path, shift=shift)
    assert model.info["time_shift"] == shift
    noise = _core.sampler.noise(11, SR)
    conditions = condition_row({"kind": "snare", "decay_s": 0})
    want = sample(
        net,
        torch.from_numpy(noise)[None],
        torch.from_numpy(conditions)[None],
        steps=3,
        guidance=guidance,
        shift=shift,
    )
    got = _core.sampler.generate(
        model, conditions=conditions.tolist(), steps=3, guidance=guidance, noise=noise, finish=False
    )
    assert got.shape == (SR,)
    assert np.abs(got - want[0].numpy()).max() < PARITY_TOLERANCE
    assert np.abs(got).max() > 0.01


def test_guidance_one_is_the_conditional_velocity(tmp_path):
    net, _ = random_model(tmp_path)
    x = torch.randn(2, 960)
    conditions = torch.from_numpy(np.stack([condition_row({"kind": "kick"}), condition_row({"kind": "hat"})]))
    with torch.no_grad():
        plain = net(x, torch.full((2,), 0.5), conditions)
        assert torch.allclose(guided_velocity(net, x, 0.5, conditions, 1.0), plain)
        unconditional = net(x, torch.full((2,), 0.5), unspecified(2))
        assert torch.allclose(guided_velocity(net, x, 0.5, conditions, 0.0), unconditional, atol=1e-6)


def test_seeds_reproduce(tmp_path):
    _, model = random_model(tmp_path)
    a = _core.sampler.generate(model, seed=3, steps=2)
    b = _core.sampler.generate(model, seed=3, steps=2)
    c = _core.sampler.generate(model, seed=4, steps=2)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    noise = _core.sampler.noise(3, SR)
    assert np.array_equal(noise, _core.sampler.noise(3, SR))
    assert abs(float(noise.mean())) < 0.02 and abs(float(noise.std()) - 1) < 0.02
    assert np.array_equal(a, _core.sampler.generate(model, noise=noise, steps=2))


def test_cpp_refuses_bad_requests(tmp_path):
    _, model = random_model(tmp_path)
    with pytest.raises(ValueError, match="steps must be"):
        _core.sampler.generate(model, steps=-1)
    with pytest.raises(ValueError, match="guidance must be"):
        _core.sampler.generate(model, guidance=50.0)
    with pytest.raises(ValueError, match="multiple of 96"):
        _core.sampler.generate(model, samples=1000)
    with pytest.raises(ValueError, match="noise has 10 samples"):
        _core.sampler.generate(model, noise=np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="condition 0 is 99"):
        _core.sampler.generate(model, conditions=[99, 3, 3, 3, 3, 3, 3])
    with pytest.raises(ValueError, match="7 conditions"):
        _core.sampler.generate(model, conditions=[1, 2])


def test_progress_reports_and_can_stop_a_run(tmp_path):
    _, model = random_model(tmp_path)
    seen = []
    _core.sampler.generate(model, steps=4, progress=seen.append)
    assert seen == [0.25, 0.5, 0.75, 1.0]

    def stop(fraction):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _core.sampler.generate(model, steps=4, progress=stop)


def test_wrong_kind_and_corrupt_files_are_refused(tmp_path):
    instrument = tmp_path / "flute.onnx"
    from tonemorph.paths import bundled_models_dir

    instrument.write_bytes((bundled_models_dir() / "flute.onnx").read_bytes())
    with pytest.raises(_core.sampler.SamplerError, match=r"is a 'instrument' model, not a sampler"):
        _core.sampler.SamplerModel(str(instrument))
    with pytest.raises(ValueError, match="not a sampler"):
        read_metadata(instrument)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model at all")
    with pytest.raises(_core.sampler.SamplerError, match="broken.onnx' cannot be used as a sampler"):
        _core.sampler.SamplerModel(str(broken))
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        read_metadata(broken)
    instrument_weights = tmp_path / "flute.pt"
    instrument_weights.write_bytes((bundled_models_dir() / "flute.pt").read_bytes())
    with pytest.raises(ValueError, match="not a sampler checkpoint or weights file"):
        training.load_checkpoint(instrument_weights)
    with pytest.raises(ValueError, match="not a readable sampler checkpoint"):
        training.load_checkpoint(broken)


def test_cli_train_refuses_an_empty_folder_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(
        [
            "sampler",
            "train",
            str(tmp_path / "empty"),
            "--name",
            "x",
            "--run-dir",
            str(tmp_path / "run"),
            "--out",
            str(tmp_path / "x.onnx"),
        ]
    )
    assert code == 2
    assert "no audio files" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "x.onnx").exists()


def test_cli_train_refuses_an_existing_model(drums, tmp_path, capsys):
    (tmp_path / "x.onnx").write_bytes(b"keep me")
    code = main(["sampler", "train", str(drums), "--name", "x", "--out", str(tmp_path / "x.onnx")])
    assert code == 2 and "already exists" in capsys.readouterr().err
    assert (tmp_path / "x.onnx").read_bytes() == b"keep me"


def test_cli_fine_tunes_exports_and_resumes(drums, exported, tmp_path, capsys):
    """--from the tiny model (so the run is tiny too): train, examples, NAME.onnx and NAME.pt, --resume."""
    run, out = tmp_path / "run", tmp_path / "models" / "kit.onnx"
    args = ["sampler", "train", str(drums), "--name", "kit", "--from", str(exported[0]), "--steps", "1"]
    assert main([*args, "--run-dir", str(run), "--out", str(out)]) == 0, capsys.readouterr().err
    props = read_metadata(out)
    assert props["train_steps"] == "1" and "fine-tuned from 'tiny'" in props["description"]
    assert out.with_suffix(".pt").is_file()
    assert (run / training.REPORT_DIR / "step-000001" / "kick.wav").is_file()
    assert main(["sampler", "train", "--resume", str(run), "--steps", "2", "--threads", "2"]) == 0
    assert training.load_checkpoint(run)["config"]["threads"] == 2
    assert read_metadata(out)["train_steps"] == "2"
    assert "--from kit" in capsys.readouterr().out


def test_cli_train_refuses_too_few_sounds(drums, tmp_path, capsys):
    code = main(
        [
            "sampler",
            "train",
            str(drums / "kit" / "hats"),
            "--name",
            "x",
            "--run-dir",
            str(tmp_path / "run"),
            "--out",
            str(tmp_path / "x.onnx"),
        ]
    )
    assert code == 2
    assert "only 4 sounds to train on; the sampler needs at least 8" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "x.onnx").exists()


def test_frechet_distance_and_noise_bursts():
    from tonemorph.training.sampler.evaluate import frechet_distance, noise_bursts

    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + [3.0, 0.0, 4.0]) == pytest.approx(25.0, abs=1e-6)  # |shift|^2
    assert frechet_distance(a, 2 * a) == pytest.approx(
        3 * (2 - 1) ** 2, rel=0.05
    )  # tr(S + 4S - 2 * 2S) = tr S
    t = np.arange(SR) / SR
    decaying = (np.sin(2 * np.pi * 100 * t) * np.exp(-t / 0.05))[None].astype(np.float32)
    burst = noise_bursts(decaying)[0]
    assert burst.shape == (SR,)
    early, late = np.sqrt(np.mean(burst[:2400] ** 2)), np.sqrt(np.mean(burst[-2400:] ** 2))
    assert early > 0.1 and late < 1e-6  # the drum's envelope, not the noise's


def test_evaluate_a_run_with_held_out_kits(samples, tmp_path):
    from dataclasses import replace

    from tonemorph.training.sampler.evaluate import evaluate

    kits = ["held" if i % 4 == 0 else "train" for i in range(len(samples))]
    run = training.start_run(
        tmp_path / "run",
        replace(samples, kits=kits),
        tiny_config(steps=1),
        name="e",
        validation_kits=["held"],
    )
    training.train(run, show_progress=False, report=False)
    result = evaluate(run)
    assert result["held_out_sounds"] == 3 and result["step"] == 1
    assert set(result["frechet_distance"]) == {
        "generated",
        "training sounds (floor)",
        "untrained network",
        "noise bursts with drum envelopes",
    }
    assert all(np.isfinite(v) and v >= -1e-6 for v in result["frechet_distance"].values())
    assert (run / training.REPORT_DIR / "evaluation-step-000001.json").is_file()
    lone = training.start_run(tmp_path / "lone", samples, tiny_config(steps=1), name="lone")
    with pytest.raises(ValueError, match="0 held-out sounds"):
        evaluate(lone)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here")
def test_device_cuda_without_a_gpu_is_refused(drums, trained_run, tmp_path, capsys):
    code = main(
        [
            "sampler",
            "train",
            str(drums),
            "--name",
            "x",
            "--device",
            "cuda",
            "--run-dir",
            str(tmp_path / "r"),
            "--out",
            str(tmp_path / "x.onnx"),
        ]
    )
    assert code == 2 and "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    with pytest.raises(ValueError, match="no CUDA GPU"):
        training.train(trained_run[0], device="cuda", show_progress=False)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("hop", "x", "metadata 'hop' is 'x', not a whole number 1..65536"),
        ("audio_scale", "nan", "metadata 'audio_scale' is 'nan', not a number"),
        ("condition_values", "15,4", "metadata 'condition_values' is '15,4', not 7 comma-separated"),
        ("default_steps", None, "metadata 'default_steps' is missing"),
    ],
)
def test_bad_metadata_is_refused_by_name(tmp_path, key, value, message):
    import onnx

    random_model(tmp_path)
    graph = onnx.load(tmp_path / "random.onnx")
    props = {p.key: p.value for p in graph.metadata_props if p.key != key}
    if value is not None:
        props[key] = value
    del graph.metadata_props[:]
    onnx.helper.set_model_props(graph, props)
    onnx.save(graph, tmp_path / "bad.onnx")
    with pytest.raises(_core.sampler.SamplerError, match=f"bad.onnx' cannot be used as a sampler: {message}"):
        _core.sampler.SamplerModel(str(tmp_path / "bad.onnx"))


def test_cli_train_refuses_zero_steps(drums, tmp_path, capsys):
    code = main(
        ["sampler", "train", str(drums), "--name", "x", "--steps", "0", "--run-dir", str(tmp_path / "r")]
    )
    assert code == 2 and "--steps 0: train for 1 step or more" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_split_holds_out_a_tenth_of_a_large_folder(samples):
    from dataclasses import replace

    many = replace(samples, audio=np.zeros((50, 8), np.float32))
    train, held = training.split(many, None, seed=0)
    assert len(held) == 5 and len(train) == 45 and not set(train) & set(held)
    assert np.array_equal(held, training.split(many, None, seed=0)[1])
    few = replace(samples, audio=np.zeros((training.VALIDATION_MIN_CHUNKS - 1, 8), np.float32))
    assert len(training.split(few, None, seed=0)[1]) == 0


def test_from_finds_a_sampler_by_name_in_the_user_folder(exported, tmp_path, monkeypatch):
    from tonemorph.cli_sampler import SAMPLER_FOLDER, resolve_weights

    monkeypatch.setenv("TONEMORPH_MODELS", str(tmp_path))
    folder = tmp_path / SAMPLER_FOLDER
    folder.mkdir()
    (folder / "mine.pt").write_bytes(exported[1].read_bytes())
    assert resolve_weights("mine") == folder / "mine.pt"
    assert resolve_weights(str(exported[0])) == exported[1]
    with pytest.raises(ValueError, match=r"no sampler named 'theirs' \(known: (drums, )?mine\)"):
        resolve_weights("theirs")  # the bundled drums (models/sampler) and the user's


@pytest.mark.parametrize("balance", [0.0, 0.5, 1.0])
def test_batches_draw_rare_kinds_as_often_as_balance_asks(balance):
    kind = CONDITIONS.index("kind")
    conditions = unspecified(100).numpy()
    conditions[:, kind] = 0  # 95 sounds of one kind, 5 of another
    conditions[95:, kind] = 1
    config = training.SamplerConfig(balance_kinds=balance, drop_condition=0.0, drop_all=0.0)
    batches = training.BatchSampler(np.zeros((100, 96), np.float32), conditions, config, torch.device("cpu"))
    drawn = np.concatenate([batches.draw(64) for _ in range(200)])
    rare = float(np.mean(drawn >= 95))
    expected = (1 - balance) * 0.05 + balance * 0.5
    assert rare == pytest.approx(expected, abs=0.015)
    _, batch_conditions = batches.sample(64)
    assert set(batch_conditions[:, kind].tolist()) <= {0, 1}


@pytest.mark.parametrize(
    ("count", "strength", "shift"), [(8, 1.0, 1.0), (8, 1.0, 3.0), (3, 0.4, 3.0), (5, 0.7, 0.5)]
)
def test_time_grid_cpp_equals_torch_and_spends_steps_on_the_noise(count, strength, shift):
    grid = time_grid(count, strength, shift)
    assert _core.sampler.time_grid(count, strength, shift) == grid  # the same doubles
    assert grid[0] == pytest.approx(1 - strength, abs=1e-12) and grid[-1] == 1.0
    steps = np.diff(grid)
    assert np.all(steps > 0)
    if shift == 1.0:
        assert np.allclose(grid, (1 - strength) + strength * np.arange(count + 1) / count, atol=1e-12)
    else:  # above 1 the first steps are the short ones (more of the run near the noise); below 1 the last
        assert (steps[0] < steps[-1]) == (shift > 1.0)


def test_spectral_distance_is_librosas_stft_distance():
    import librosa
    from tonemorph.training.sampler.model import SPECTRAL_EPS, SPECTRAL_FFTS, spectral_distance

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4800)).astype(np.float32)
    b[1] *= 0.1  # one pair far apart in level
    want = np.zeros(3)
    for n in SPECTRAL_FFTS:
        sa, sb = (
            np.abs(librosa.stft(x, n_fft=n, hop_length=n // 4, window="hann", pad_mode="reflect"))
            for x in (a, b)
        )
        want += np.abs(sa - sb).sum((1, 2)) / sb.sum((1, 2))
        want += np.abs(np.log(sa + SPECTRAL_EPS) - np.log(sb + SPECTRAL_EPS)).mean((1, 2))
    want /= len(SPECTRAL_FFTS)
    got = spectral_distance(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert np.allclose(got, want, rtol=1e-4)
    assert float(spectral_distance(torch.from_numpy(a), torch.from_numpy(a)).max()) == 0.0


def test_flow_loss_adds_the_spectral_term_only_when_asked():
    from tonemorph.training.sampler.model import flow_loss

    torch.manual_seed(0)
    net = VelocityNet(**TINY, audio_scale=0.1)
    audio = 0.1 * torch.randn(2, 4800)
    conditions = unspecified(2)
    plain = flow_loss(net, audio, conditions, torch.Generator().manual_seed(1))
    again = flow_loss(net, audio, conditions, torch.Generator().manual_seed(1), spectral_weight=0.0)
    spectral = flow_loss(net, audio, conditions, torch.Generator().manual_seed(1), spectral_weight=0.5)
    assert torch.equal(plain, again) and spectral > plain
