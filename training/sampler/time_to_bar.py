"""How long until a sampler fine-tuned on a user's one-shots passes the quality bar (evaluate.quality_bar).

    python -m tonemorph.training.sampler.time_to_bar DIR --from drums --budget-minutes 20 \\
        --json benchmarks/results/sampler-time-to-bar.json [--every 100] [--validation-fraction 0.3]

DIR is read as `tonemorph sampler train DIR --from BASE` reads it and split at random: `--validation-fraction`
of the sounds are held out (the user's own kind of sound, which the fine-tune should come near). The run
trains with `sampler train`'s fine-tuning settings and is evaluated (evaluate.evaluate, `--per-sound` sounds
generated per held-out sound) before the first step (the base as it is) and every `--every` steps. The clock
counts what a musician waits for: reading the folder, making the run and training, not the evaluations in
between. It stops at the first step that passes every test of the bar, when the budget is spent or at the
run's last step; the JSON, written after every evaluation, lists each (step, training seconds, validation
loss, the measures and which tests passed).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tonemorph.atomic import write_json

from . import evaluate as evaluation
from . import train as training


def _summary(numbers: dict) -> dict:
    """The measures a checkpoint's line in the JSON keeps."""
    fd = numbers["frechet_distance"]
    adherence = numbers["prompt_adherence"]
    return {
        "frechet_distance": numbers["frechet_distance"],
        "distance_over_floor": fd["generated"] / fd["training sounds (floor)"],
        "prompt_adherence": None if adherence is None else adherence["accuracy"],
        "classifier_held_out_accuracy": None if adherence is None else adherence["held_out_accuracy"],
        "adherence_per_kind": None if adherence is None else adherence["per_kind"],
        "median_nearest_training_db": numbers["median_nearest_training_db"],
        "near_copies": numbers["near_copies_generated"],
        "silent": numbers["silent_generated"],
        "clipped": numbers["clipped_generated"],
        "quiet_floor_db": numbers["quiet_floor_db"],
        "score_median": numbers["score_median"],
        "quality_bar": numbers["quality_bar"],
        "passed": all(numbers["quality_bar"].values()),
    }


def measure(
    data_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    *,
    init_from: str | os.PathLike,
    config: training.SamplerConfig,
    budget_seconds: float = 1200.0,
    every: int = 100,
    per_sound: int = 2,
    per_kind: int = evaluation.PER_KIND,
    out_json: str | os.PathLike | None = None,
    show_progress: bool = True,
    load_samples=None,
) -> dict:
    """Fine-tune from init_from (a weights file or run folder) on data_dir in work_dir/run, evaluating as the
    module docstring says. Returns {"passed_seconds": training clock at the first step that passed or None,
    "passed_step", "checkpoints": [...], ...}; written to out_json after each evaluation.
    load_samples(data_dir): how the folder is read (default tonemorph.sampler.data.load_samples).
    """
    from tonemorph.sampler.data import load_samples as read_folder

    result: dict = {
        "data": str(data_dir),
        "init_from": str(init_from),
        "budget_seconds": budget_seconds,
        "cpu_count": os.cpu_count(),
        "threads": config.threads,
        "validation_fraction": config.validation_fraction,
        "per_sound": per_sound,
        "bar": {name: value for name, value in vars(evaluation).items() if name.startswith("BAR_")},
        "passed_seconds": None,
        "passed_step": None,
        "checkpoints": [],
    }
    if out_json is not None:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    paused = 0.0  # seconds spent evaluating, kept off the clock
    samples = (load_samples or read_folder)(data_dir)
    init = training.load_checkpoint(init_from)
    run_dir = training.start_run(
        Path(work_dir) / "run",
        samples,
        config,
        name="time-to-bar",
        init=init,
        info={"data_source": str(Path(data_dir).resolve())},
    )
    result["read_seconds"] = time.perf_counter() - started
    info = training.load_checkpoint(run_dir)["info"]
    result["prior_sounds"] = info.get("prior_chunks", 0)
    result["train_sounds"] = training.own_chunks(info)
    result["held_out_sounds"] = info["validation_chunks"]

    def evaluate_now(step: int, history: dict) -> bool:
        nonlocal paused
        clock = time.perf_counter() - started - paused
        began = time.perf_counter()
        numbers = evaluation.evaluate(run_dir, per_kind=per_kind, per_sound=per_sound)
        validation = [loss for s, loss in history.get("validation", []) if s == step]
        line = {"step": step, "seconds": clock, "validation_loss": validation[0] if validation else None}
        line.update(_summary(numbers))
        result["checkpoints"].append(line)
        if line["passed"] and result["passed_seconds"] is None and step > 0:
            result["passed_seconds"], result["passed_step"] = clock, step
        if out_json is not None:
            write_json(out_json, result)
        paused += time.perf_counter() - began
        if show_progress:
            print(_line(line), flush=True)
        return line["passed"] and step > 0 or clock >= budget_seconds

    evaluate_now(0, {})
    step = 0
    while step < config.steps:
        target = min(step + every, config.steps)
        run = training.train(
            run_dir,
            show_progress=show_progress,
            report=False,
            on_step=lambda s, _loss, target=target: s >= target,
        )
        step = run.step
        if step < target:  # Ctrl-C: what was measured stays in the JSON
            result["interrupted"] = True
            break
        if evaluate_now(step, run.history):
            break
    if out_json is not None:
        write_json(out_json, result)
    return result


def _line(c: dict) -> str:
    fd = c["frechet_distance"]
    adherence = "-" if c["prompt_adherence"] is None else f"{c['prompt_adherence']:.0%}"
    return (
        f"step {c['step']:5d}  {c['seconds'] / 60:5.1f} min  Fréchet {fd['generated']:,.0f} "
        f"({c['distance_over_floor']:.2f} x floor, noise bursts {fd['noise bursts with drum envelopes']:,.0f})  "
        f"adherence {adherence}  quietest {c['quiet_floor_db']['generated']:.0f} dBFS  "
        f"{evaluation.bar_line(c['quality_bar'])}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tonemorph.training.sampler.time_to_bar", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("data", help="folder of one-shots to fine-tune on")
    parser.add_argument(
        "--from", dest="init_from", required=True, help="base sampler: name, .onnx/.pt or run"
    )
    parser.add_argument("--budget-minutes", type=float, default=20.0, help="stop after this much training")
    parser.add_argument("--every", type=int, default=100, help="evaluate every this many steps")
    parser.add_argument("--steps", type=int, help="the run's length (sets the learning-rate plan)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for training (default 2)")
    parser.add_argument(
        "--validation-fraction", type=float, default=0.3, help="sounds held out (default 0.3)"
    )
    parser.add_argument("--per-sound", type=int, default=2, help="sounds generated per held-out sound")
    parser.add_argument("--json", required=True, help="where the numbers go")
    parser.add_argument("--work-dir", help="keep the run here (default: a temporary folder)")
    args = parser.parse_args(argv)

    from tonemorph.cli_sampler import resolve_weights

    values = {**training.FINETUNE_OVERRIDES, "threads": args.threads}
    values["validation_fraction"] = args.validation_fraction
    if args.steps:
        values["steps"] = args.steps
    config = training.SamplerConfig.from_dict(values)
    with tempfile.TemporaryDirectory(prefix="tonemorph-ttb-") as tmp:
        result = measure(
            args.data,
            args.work_dir or tmp,
            init_from=resolve_weights(args.init_from),
            config=config,
            budget_seconds=60.0 * args.budget_minutes,
            every=args.every,
            per_sound=args.per_sound,
            out_json=args.json,
        )
    passed = result["passed_seconds"]
    print(
        f"read {result['read_seconds']:.0f} s, {result['train_sounds']} sounds to train on, "
        f"{result['held_out_sounds']} held out; "
        + (
            f"passed the quality bar after {passed / 60:.1f} min (step {result['passed_step']})"
            if passed is not None
            else f"did not pass the quality bar within {args.budget_minutes:g} min"
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
