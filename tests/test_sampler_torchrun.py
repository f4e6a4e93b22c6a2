"""`tonemorph sampler train` under torchrun: two CPU processes (gloo) train one tiny sampler with
DistributedDataParallel, rank 0 alone writes the checkpoint and the model, and a resumed run continues.

That the two processes trained one model is checked by redoing their steps by hand in this process: each
rank's batch from its own random streams, the two gradients averaged, one optimiser step
(training.optimizer_step). Two processes training alone would leave rank 0's own steps in the checkpoint;
two drawing the same batches would leave a single process's.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from test_sampler_model import drums, samples, tiny_config  # noqa: F401 (fixtures)
from test_train import run_cli
from tonemorph.engine import _core
from tonemorph.training.sampler import train as training
from tonemorph.training.sampler.export import read_metadata

PROCESSES = 2
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(PROCESSES)]
TORCHRUN += ["-m", "tonemorph.cli", "sampler", "train"]


def steps_by_hand(run, start: dict, steps: int) -> tuple[dict, dict]:
    """(model, EMA) state dicts after `steps` steps of PROCESSES processes from `start` (a checkpoint of the run;
    at step 0 a fresh optimizer and fresh seeds), computed in this process with the run's data and config."""
    config = training.SamplerConfig.from_dict(training.load_checkpoint(run)["config"])
    data = training.load_run_data(run)
    with torch.random.fork_rng():
        model = training.model_from_checkpoint(start, ema=False)
        ema = training.model_from_checkpoint(start, ema=True).state_dict()
        optimizer, scheduler = training.build_optimizer(model, config)
        if start["step"] > 0:
            optimizer.load_state_dict(start["optimizer"])
            scheduler.load_state_dict(start["scheduler"])
        ranks = []
        for rank, state in enumerate(training.saved_rng_states(start) or [None] * PROCESSES):
            sampler_seed, torch_seed = training.process_seeds(config, rank, start["step"])
            batches = training.BatchSampler(
                data["train_audio"], data["train_conditions"], config, torch.device("cpu"), sampler_seed
            )
            if state is None:
                torch.manual_seed(torch_seed)
            else:
                batches.rng.bit_generator.state = state["sampler"]
                torch.set_rng_state(state["torch"])
            ranks.append([batches, torch.get_rng_state()])
        for step in range(start["step"], start["step"] + steps):
            gradients = []
            for rank in ranks:
                torch.set_rng_state(rank[1])
                optimizer.zero_grad(set_to_none=True)
                training.FlowLoss(model)(*rank[0].sample(config.batch_size)).backward()
                rank[1] = torch.get_rng_state()
                gradients.append([p.grad for p in model.parameters()])
            for parameter, *each in zip(model.parameters(), *gradients):
                parameter.grad = sum(each) / PROCESSES
            training.optimizer_step(model, ema, optimizer, scheduler, config, step)
    return model.state_dict(), ema


def assert_same_weights(saved: dict, model: dict, ema: dict) -> None:
    for name in saved["model"]:
        assert torch.equal(saved["model"][name], model[name]), name
        assert torch.equal(saved["ema"][name], ema[name]), name


@pytest.fixture
def one_thread():
    """Torch on one thread here, as in each process (the same sums in the same order, so equal bits)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_torchrun_trains_one_model_in_two_processes_and_resumes(samples, drums, tmp_path, capsys, one_thread):  # noqa: F811
    base = training.start_run(tmp_path / "base", samples, tiny_config(), name="base")  # a tiny network
    run, out = tmp_path / "run", tmp_path / "models" / "ddp.onnx"
    new = [drums, "--name", "ddp", "--from", base, "--steps", 1, "--run-dir", run, "--out", out]
    started = run_cli(*new, runner=TORCHRUN)
    assert started.returncode == 0, started.stderr[-3000:]
    first = training.load_checkpoint(run)
    assert first["step"] == 1 and len(first["history"]["train"]) == 1
    assert len(first["rng"]) == PROCESSES
    assert first["rng"][0]["sampler"] != first["rng"][1]["sampler"]  # each process drew its own batches
    weights = training.load_checkpoint(base)["ema"]
    at_start = {**first, "model": weights, "ema": weights, "step": 0, "rng": None}  # the fine-tune's step 0
    assert_same_weights(first, *steps_by_hand(run, at_start, 1))
    assert read_metadata(out)["train_steps"] == "1"

    resumed = run_cli("--resume", run, "--steps", 3, runner=TORCHRUN)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    last = training.load_checkpoint(run)
    assert last["step"] == 3 and [s for s, _ in last["history"]["train"]] == [1, 2, 3]
    assert last["history"]["train"][0] == first["history"]["train"][0]
    assert_same_weights(last, *steps_by_hand(run, first, 2))  # from the saved step and both ranks' streams
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "data.npz", "report", "tensorboard"]
    assert sorted(p.name for p in (run / training.REPORT_DIR).iterdir()) == ["step-000001", "step-000003"]
    assert read_metadata(out)["train_steps"] == "3"
    assert _core.sampler.SamplerModel(str(out)).info["length"] == last["length"]

    # One process continues the two processes' run from fresh seeds, and says so.
    alone = training.train(run, steps=4, show_progress=False, report=False)
    assert alone.step == 4 and len(training.load_checkpoint(run)["rng"]) == 1
    assert "random state of 2 processes and this run has 1" in " ".join(capsys.readouterr().err.split())
    assert np.isfinite(alone.history["train"][-1][1])


def test_a_checkpoint_with_one_process_state_as_a_dict_resumes_exactly(samples, tmp_path):  # noqa: F811
    """Runs saved before torchrun training kept one process's RNG states as a dict, not a list."""
    runs = [training.start_run(tmp_path / name, samples, tiny_config(), name=name) for name in ("a", "b")]
    training.train(runs[0], show_progress=False, report=False)
    training.train(runs[1], show_progress=False, report=False, on_step=lambda step, loss: step == 2)
    saved = training.load_checkpoint(runs[1])
    training.atomic_save({**saved, "rng": saved["rng"][0]}, runs[1] / training.CHECKPOINT_NAME)
    training.train(runs[1], show_progress=False, report=False)
    whole = training.load_checkpoint(runs[0])
    assert_same_weights(whole, *(training.load_checkpoint(runs[1])[key] for key in ("model", "ema")))
