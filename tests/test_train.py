"""Training: a prepared set -> a few steps -> an instrument the engine plays; checkpoints, resume, Ctrl-C,
the report, DistributedDataParallel, fine-tuning, and the commands a musician runs.

Tiny models on seconds of synthetic tones (known f0, the engine's loudness), so the suite runs in seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from tonemorph.training import train as training
from tonemorph.training.config import TrainConfig
from tonemorph.training.dataset import PreparedDataset
from tonemorph.training.spectral import compute_loudness

SR, HOP = 24000, 96
TINY = TrainConfig(hidden=16, mlp_layers=1, n_harmonics=16, n_noise_bands=17, reverb_seconds=0.05, steps=8,
                   batch_size=4, crop_seconds=0.25, lr=3e-3, checkpoint_every=4, validate_every=4, threads=1,
                   compile=False)
NOTES_HZ = (196.0, 220.0, 261.6, 329.6, 392.0, 440.0)
TONEMORPH = [sys.executable, "-m", "tonemorph.cli"]


def tone_chunk(f0_hz: float, level: float, frames: int, rng: np.random.Generator) -> np.ndarray:
    """A brass-like tone: harmonics at 0.7^k, a 20 ms attack, a little vibrato."""
    n = frames * HOP
    t = np.arange(n) / SR
    f0 = f0_hz * 2.0 ** (15.0 * np.sin(2 * np.pi * 5.0 * t + rng.uniform(0, 6.3)) / 1200.0)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    audio = sum(0.7**k * np.sin((k + 1) * phase) for k in range(10) if (k + 1) * f0_hz < SR / 2)
    return (level * np.minimum(1.0, t / 0.02) * audio / np.abs(audio).max()).astype(np.float32)


def synthetic_set(n_files: int = 4, chunks_per_file: int = 3, chunk_seconds: float = 0.5, seed: int = 0,
                  notes=NOTES_HZ) -> PreparedDataset:
    """Chunks of tones with known f0, confidence 1 and loudness from compute_loudness (what prepare gives)."""
    rng = np.random.default_rng(seed)
    frames = int(chunk_seconds * SR) // HOP
    audio, f0, files = [], [], []
    for f in range(n_files):
        for _ in range(chunks_per_file):
            note = float(rng.choice(notes))
            audio.append(tone_chunk(note, rng.uniform(0.1, 0.5), frames, rng))
            f0.append(np.full(frames, note, np.float32))
            files.append(f)
    audio = np.stack(audio)
    f0 = np.stack(f0)
    loudness = compute_loudness(torch.from_numpy(audio), SR, HOP).numpy()
    return PreparedDataset(audio, f0, np.ones_like(f0), loudness, np.array(files, np.int32), SR, HOP,
                           [f"take_{i}.wav" for i in range(n_files)], {"fingerprint": f"synthetic-{seed}"})


@pytest.fixture(scope="module")
def dataset():
    return synthetic_set()


def new_run(tmp_path, dataset, config=TINY, name="tiny", **kwargs):
    return training.start_run(dataset, tmp_path / name, config, name=name, **kwargs)


def quiet_train(run_dir, dataset, **kwargs):
    return training.train(run_dir, dataset, show_progress=False, report=kwargs.pop("report", False), **kwargs)


def assert_same_state(run_a, run_b):
    a = training.load_checkpoint(run_a)
    b = training.load_checkpoint(run_b)
    assert a["step"] == b["step"]
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=1e-6, msg=key)
    for pa, pb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(pa[key], pb[key], rtol=0, atol=1e-6)
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"]
    np.testing.assert_allclose(np.array(a["history"]["train"]), np.array(b["history"]["train"]), rtol=0, atol=1e-6)
    assert torch.equal(a["rng"][0]["torch"], b["rng"][0]["torch"])
    assert a["rng"][0]["sampler"] == b["rng"][0]["sampler"]


def test_loss_goes_down(tmp_path, dataset):
    run = new_run(tmp_path, dataset, replace(TINY, steps=30, validate_every=10))
    result = quiet_train(run, dataset)
    losses = np.array([loss for _, loss in result.history["train"]])
    assert len(losses) == 30 and np.all(np.isfinite(losses))
    assert losses[-5:].mean() < 0.7 * losses[:5].mean()
    validation = [loss for _, loss in result.history["validation"]]
    assert len(validation) == 3 and validation[-1] < validation[0]


def test_resume_gives_the_state_of_an_uninterrupted_run(tmp_path, dataset):
    straight = new_run(tmp_path, dataset, name="straight")
    quiet_train(straight, dataset)

    stopped = new_run(tmp_path, dataset, name="stopped")

    def ctrl_c_after_step_3(step, loss):
        if step == 3:
            raise KeyboardInterrupt

    first = quiet_train(stopped, dataset, on_step=ctrl_c_after_step_3)
    assert first.interrupted and first.step == 3
    assert training.load_checkpoint(stopped)["step"] == 3
    second = quiet_train(stopped, dataset)
    assert not second.interrupted and second.step == TINY.steps
    assert_same_state(straight, stopped)


def test_ctrl_c_inside_a_step_saves_the_last_whole_step(tmp_path, dataset, monkeypatch):
    straight = new_run(tmp_path, dataset, name="straight")
    quiet_train(straight, dataset)

    stopped = new_run(tmp_path, dataset, name="stopped")
    calls = []
    loss = training.multiscale_spectral_loss

    def interrupted_loss(*args, **kwargs):
        calls.append(torch.is_grad_enabled())  # validation runs without grad
        if sum(calls) == 6:  # inside step 6, after its crops and noise were drawn
            raise KeyboardInterrupt
        return loss(*args, **kwargs)

    monkeypatch.setattr(training, "multiscale_spectral_loss", interrupted_loss)
    result = quiet_train(stopped, dataset)
    assert result.interrupted and result.step == 5
    assert training.load_checkpoint(stopped)["step"] == 5
    monkeypatch.setattr(training, "multiscale_spectral_loss", loss)
    quiet_train(stopped, dataset)
    assert_same_state(straight, stopped)


def test_sigint_stops_after_the_step_and_resume_continues(tmp_path, dataset):
    straight = new_run(tmp_path, dataset, name="straight")
    quiet_train(straight, dataset)

    stopped = new_run(tmp_path, dataset, name="stopped")
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN in a background job
    result = quiet_train(stopped, dataset,
                         on_step=lambda step, loss: step == 2 and os.kill(os.getpid(), signal.SIGINT))
    assert result.interrupted and 2 <= result.step < TINY.steps
    assert training.load_checkpoint(stopped)["step"] == result.step
    assert signal.getsignal(signal.SIGINT) is before  # the handler is given back
    quiet_train(stopped, dataset)
    assert_same_state(straight, stopped)


def test_without_a_working_torch_compile_training_runs_eagerly(tmp_path, dataset, monkeypatch):
    eager = new_run(tmp_path, dataset, name="eager")
    quiet_train(eager, dataset)

    def broken_compile(module):
        def fail(*args):
            raise RuntimeError("InductorError: no C++ compiler found")

        return fail

    monkeypatch.setattr(training.torch, "compile", broken_compile)
    fallback = new_run(tmp_path, dataset, replace(TINY, compile=True), name="fallback")
    result = quiet_train(fallback, dataset)
    assert result.step == TINY.steps and not result.interrupted
    assert_same_state(eager, fallback)


def test_checkpoint_writes_are_atomic(tmp_path, dataset, monkeypatch):
    run = new_run(tmp_path, dataset)
    quiet_train(run, dataset, steps=4)
    before = (run / training.CHECKPOINT_NAME).read_bytes()
    real_save = torch.save

    def crash_halfway(obj, f):
        real_save({"partial": torch.zeros(1000)}, f)
        raise OSError("disk full")

    monkeypatch.setattr(training.torch, "save", crash_halfway)
    with pytest.raises(OSError, match="disk full"):
        quiet_train(run, dataset, steps=8)
    monkeypatch.setattr(training.torch, "save", real_save)
    assert (run / training.CHECKPOINT_NAME).read_bytes() == before
    assert training.load_checkpoint(run)["step"] == 4
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]


def test_report_has_plots_and_sounds(tmp_path, dataset):
    run = new_run(tmp_path, dataset)
    result = quiet_train(run, dataset, report=True)
    names = {p.name for p in result.report.iterdir()}
    assert {"loss.png", "summary.json", "example_0_spectrogram.png", "example_0_controls.png",
            "example_0_input.wav", "example_0_resynthesis.wav"} <= names
    for png in result.report.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    import soundfile as sf

    audio, rate = sf.read(result.report / "example_0_resynthesis.wav")
    assert rate == SR and len(audio) == dataset.audio.shape[1] and np.all(np.isfinite(audio))
    assert np.abs(audio).max() > 0
    summary = json.loads((result.report / "summary.json").read_text())
    assert summary["steps"] == TINY.steps and summary["steps_per_second"] > 0
    assert list((run / training.TENSORBOARD_DIR).glob("events.out.tfevents.*"))


def test_trained_model_exports_and_plays_in_the_engine(tmp_path, dataset):
    from tonemorph.engine import Engine
    from tonemorph.engine.render import render
    from tonemorph.training.export import read_metadata

    run = new_run(tmp_path, dataset)
    quiet_train(run, dataset)
    onnx_path, weights = training.export_checkpoint(run, tmp_path / "models" / "tiny.onnx")
    assert weights == tmp_path / "models" / "tiny.pt" and weights.is_file()
    metadata = read_metadata(onnx_path)
    stats = training.dataset_stats(dataset)
    assert metadata["name"] == "tiny" and metadata["n_harmonics"] == TINY.n_harmonics
    assert metadata["loudness_mean"] == pytest.approx(stats["loudness_mean"])
    assert metadata["f0_min_hz"] == pytest.approx(min(NOTES_HZ), rel=0.02)
    assert len(metadata["reverb_ir"]) == round(TINY.reverb_seconds * SR)
    # A checkpoint already read (time_to_usable reads it once) exports the same model.
    again, _ = training.export_checkpoint(training.load_checkpoint(run), tmp_path / "again" / "tiny.onnx")
    assert again.read_bytes() == onnx_path.read_bytes()

    engine = Engine(onnx_path)
    rng = np.random.default_rng(1)
    out = render(engine, tone_chunk(261.6, 0.3, 250, rng)[None], SR)
    assert np.all(np.isfinite(out)) and np.abs(out).max() > 1e-3


def test_fine_tuning_starts_from_the_exported_model(tmp_path, dataset, monkeypatch):
    source = new_run(tmp_path, dataset, name="source")
    quiet_train(source, dataset)
    training.export_checkpoint(source, tmp_path / "models" / "horn.onnx")

    louder = synthetic_set(n_files=2, seed=7, notes=(293.7, 349.2))
    louder.audio *= 2.0
    louder.loudness_db = compute_loudness(torch.from_numpy(louder.audio), SR, HOP).numpy()
    monkeypatch.setenv("TONEMORPH_MODELS", str(tmp_path / "models"))
    tuned = training.start_run(louder, tmp_path / "tuned", replace(TINY, hidden=64, steps=4), name="mine",
                               init_from="horn")

    # The fine-tuned run starts as the source model, with the new data's loudness statistics folded in.
    original = training.model_from_checkpoint(training.load_checkpoint(source)).decoder
    start = training.model_from_checkpoint(training.load_checkpoint(tuned)).decoder
    assert start.hidden == TINY.hidden  # the model keeps its size
    assert start.loudness_mean == pytest.approx(training.dataset_stats(louder)["loudness_mean"])
    assert start.loudness_mean != pytest.approx(original.loudness_mean)
    f0 = torch.full((1, 50, 1), 300.0)
    loudness = torch.linspace(-70.0, -5.0, 50).view(1, 50, 1)
    with torch.no_grad():
        for got, expected in zip(start(f0, loudness)[:3], original(f0, loudness)[:3]):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)

    result = quiet_train(tuned, louder)
    assert result.step == 4
    stats = training.load_checkpoint(tuned)["data"]  # the playing range is the new data's, not the source's
    assert stats["f0_min_hz"] == pytest.approx(293.7, rel=0.01)
    assert stats["f0_max_hz"] == pytest.approx(349.2, rel=0.01)


def test_fine_tuning_needs_the_weights_beside_the_model(tmp_path, dataset):
    from model_fixtures import export_random_model

    bare = export_random_model(tmp_path / "bare.onnx")
    with pytest.raises(training.InitError, match="bare.pt"):
        training.start_run(dataset, tmp_path / "run", TINY, init_from=bare)
    assert not (tmp_path / "run").exists()


def test_a_data_set_at_another_rate_is_refused(tmp_path, dataset):
    with pytest.raises(ValueError, match="prepare the data at the model's rate"):
        training.start_run(dataset, tmp_path / "run", replace(TINY, sample_rate=16000))


# --- the commands -------------------------------------------------------------------------------------------


def run_cli(*args, env=None, runner=TONEMORPH, timeout=300):
    return subprocess.run([*runner, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)


TINY_FLAGS = ("--hidden", "16", "--harmonics", "16", "--noise-bands", "17", "--reverb-seconds", "0.05",
              "--batch-size", "2", "--crop-seconds", "0.25", "--threads", "1", "--no-compile")


@pytest.fixture
def cli_env(tmp_path):
    return {**os.environ, "TONEMORPH_MODELS": str(tmp_path / "models"), "TONEMORPH_RUNS": str(tmp_path / "runs"),
            "COLUMNS": "200"}


@pytest.fixture
def prepared_file(tmp_path, dataset):
    path = tmp_path / "prepared.npz"
    dataset.save(path)
    return path


def test_train_command_leaves_a_model_in_the_user_folder(tmp_path, prepared_file, cli_env):
    result = run_cli("train", prepared_file, "--name", "mybrass", "--steps", "3", *TINY_FLAGS, env=cli_env)
    assert result.returncode == 0, result.stderr
    model = tmp_path / "models" / "mybrass.onnx"
    assert model.is_file() and (tmp_path / "models" / "mybrass.pt").is_file()
    assert str(model) in result.stdout
    assert (tmp_path / "runs" / "mybrass" / "report" / "loss.png").is_file()
    listed = run_cli("models", env=cli_env)
    assert "mybrass" in listed.stdout

    # The same name again: refused before any training, nothing touched.
    before = model.read_bytes()
    again = run_cli("train", prepared_file, "--name", "mybrass", "--steps", "3", *TINY_FLAGS, env=cli_env)
    assert again.returncode != 0 and "already exists" in again.stderr and "Traceback" not in again.stderr
    assert model.read_bytes() == before

    # More steps on the finished run, then export it under another name.
    resumed = run_cli("train", "--resume", tmp_path / "runs" / "mybrass", "--steps", "5", env=cli_env)
    assert resumed.returncode == 0, resumed.stderr
    assert training.load_checkpoint(tmp_path / "runs" / "mybrass")["step"] == 5
    exported = run_cli("export", tmp_path / "runs" / "mybrass", "--name", "brass2", env=cli_env)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "models" / "brass2.onnx").is_file()


def test_train_command_errors_speak_to_the_musician(tmp_path, cli_env):
    missing = run_cli("train", tmp_path / "nowhere", "--name", "x", env=cli_env)
    assert missing.returncode != 0 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    no_name = run_cli("train", tmp_path, env=cli_env)
    assert no_name.returncode != 0 and "--name" in no_name.stderr
    bad_resume = run_cli("train", "--resume", tmp_path, env=cli_env)
    assert bad_resume.returncode != 0 and "does not exist" in bad_resume.stderr
    bad_name = run_cli("train", tmp_path, "--name", "../evil", env=cli_env)
    assert bad_name.returncode != 0 and "plain name" in bad_name.stderr


def test_help_explains_each_training_command():
    for command, words in {"train": ("--resume", "--from", "NAME.onnx", "Ctrl-C"),
                           "prepare": ("cached", "skipped"), "export": ("--name", "--out"),
                           "eval": ("--heldout", "0.6", "cents")}.items():
        result = run_cli(command, "--help")
        assert result.returncode == 0
        for word in words:
            assert word in result.stdout, (command, word)


def test_torchrun_trains_with_two_processes(tmp_path, prepared_file, cli_env):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "tonemorph.cli"]
    result = run_cli("train", prepared_file, "--name", "ddp", "--steps", "2", *TINY_FLAGS, env=cli_env,
                     runner=torchrun)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = training.load_checkpoint(tmp_path / "runs" / "ddp")
    assert checkpoint["step"] == 2 and len(checkpoint["rng"]) == 2
    assert checkpoint["rng"][0]["sampler"] != checkpoint["rng"][1]["sampler"]  # each process drew its own crops
    assert (tmp_path / "models" / "ddp.onnx").is_file()


def test_prepare_train_export_and_the_engine_plays_it(tmp_path, cli_env):
    """The whole path from a folder of recordings, through the real prepare, to a sound from the C++ engine."""
    import soundfile as sf
    import soxr
    from tonemorph.engine import Engine
    from tonemorph.engine.render import render

    folder = tmp_path / "recordings"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i, note in enumerate((220.0, 261.6, 329.6, 392.0)):
        take = np.concatenate([tone_chunk(note * 2 ** (k / 12), 0.3, 500, rng) for k in range(5)])
        rate = 44100 if i % 2 else SR  # mixed rates
        sf.write(folder / f"take_{i}.wav", soxr.resample(take, SR, rate), rate)
    prepared = run_cli("prepare", folder, "--out", tmp_path / "p.npz", env=cli_env)
    assert prepared.returncode == 0, prepared.stderr
    assert "min of audio" in prepared.stdout and (tmp_path / "p.npz").is_file()
    trained = run_cli("train", folder, "--name", "fromfolder", "--steps", "2", *TINY_FLAGS, env=cli_env)
    assert trained.returncode == 0, trained.stderr
    model = tmp_path / "models" / "fromfolder.onnx"
    out = render(Engine(model), tone_chunk(293.7, 0.3, 250, rng)[None], SR)
    assert np.all(np.isfinite(out)) and np.abs(out).max() > 1e-3


def test_on_checkpoint_sees_each_periodic_checkpoint_and_can_stop_the_run(tmp_path, dataset):
    run = new_run(tmp_path, dataset)
    seen = []

    def stop_at_second(step, path):
        seen.append((step, training.load_checkpoint(path)["step"]))
        return len(seen) == 2

    result = quiet_train(run, dataset, on_checkpoint=stop_at_second, steps=20)
    assert seen == [(4, 4), (8, 8)]
    assert result.interrupted and result.step == 8
    assert quiet_train(run, dataset, steps=20).step == 20  # resumable like any stop


def test_time_to_usable_evaluates_every_checkpoint_within_the_budget(tmp_path):
    import soundfile as sf
    from tonemorph.training.time_to_usable import measure

    rng = np.random.default_rng(0)
    data = tmp_path / "takes"
    data.mkdir()
    for i in range(4):
        frames = int(8.0 * SR) // HOP
        sf.write(data / f"take{i}.wav", tone_chunk(NOTES_HZ[i], 0.3, frames, rng), SR)
    heldout = tmp_path / "heldout"
    for voice in ("brass", "guitar"):
        (heldout / voice).mkdir(parents=True)
    notes = [tone_chunk(f, 0.3, int(0.5 * SR) // HOP, rng) for f in NOTES_HZ]
    sf.write(heldout / "brass" / "m.wav", np.concatenate(notes), SR)
    decay = np.exp(-np.arange(len(notes[0])) / (0.15 * SR)).astype(np.float32)
    sf.write(heldout / "guitar" / "m.wav", np.concatenate([n * decay for n in notes]), SR)
    (heldout / "manifest.json").write_text(json.dumps(
        {"guitar": "guitar", "files": [{"audio": {"brass": "brass/m.wav", "guitar": "guitar/m.wav"}}]}))

    whole = measure(data, heldout, "brass", tmp_path / "whole", config=TINY, show_progress=False,
                    out_json=tmp_path / "whole.json")
    assert [c["step"] for c in whole["checkpoints"]] == [4, 8]  # the periodic one and the last step
    assert whole["checkpoints"][0]["seconds"] < whole["checkpoints"][1]["seconds"]
    assert all(np.isfinite(c["envelope_ratio"]) and c["validation_loss"] is not None for c in whole["checkpoints"])
    assert whole["prepare_seconds"] > 0 and whole["audio_seconds"] == pytest.approx(32.0, abs=1.0)
    assert whole["frames_per_second"] > 0
    assert json.loads((tmp_path / "whole.json").read_text())["checkpoints"] == whole["checkpoints"]
    assert (whole["usable_seconds"] is None) == (not any(c["usable"] for c in whole["checkpoints"]))

    spent = measure(data, heldout, "brass", tmp_path / "spent", config=TINY, budget_seconds=0.0,
                    show_progress=False)
    assert [c["step"] for c in spent["checkpoints"]] == [4]  # over budget at the first checkpoint: stop


def test_time_to_usable_trains_as_tonemorph_train_does(tmp_path, monkeypatch, capsys):
    from tonemorph.training import time_to_usable
    from tonemorph.training.config import FINETUNE_OVERRIDES

    seen = {}

    def fake_measure(data, heldout, instrument, work_dir, *, config, init_from, budget_seconds, out_json):
        seen.update(config=config, init_from=init_from, budget=budget_seconds)
        return {"checkpoints": [], "usable_seconds": None, "prepare_seconds": 1.0}

    monkeypatch.setattr(time_to_usable, "measure", fake_measure)
    common = ["data", "--heldout", "h", "--instrument", "sax", "--json", str(tmp_path / "r.json")]
    time_to_usable.main([*common, "--from", "trumpet", "--steps", "7", "--budget-minutes", "2"])
    assert seen["config"].lr == FINETUNE_OVERRIDES["lr"] and seen["config"].steps == 7
    assert seen["init_from"] == "trumpet" and seen["budget"] == 120.0
    time_to_usable.main(common)
    assert seen["config"].lr == TrainConfig().lr and seen["config"].steps == TrainConfig().steps
    assert "not usable within 30 min" in capsys.readouterr().out
