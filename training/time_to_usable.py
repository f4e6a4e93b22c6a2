"""How long until an instrument is usable: train, and at every checkpoint export it and run `tonemorph eval`.

    python -m tonemorph.training.time_to_usable DATA_DIR --heldout data/heldout --instrument trumpet \\
        --budget-minutes 30 --json benchmarks/results/time-to-usable-trumpet.json [--from trumpet]

"Usable" is what `tonemorph eval` calls passing: resynthesis pitch and guitar pitch following within 20 cents
(median) and the guitar -> instrument envelope ratio at most 0.6. The clock counts what a musician waits for:
preparing the folder (from an empty cache), building the model and training, not the evaluations in between.
The run stops at the first usable checkpoint or when the budget is spent; the JSON lists every checkpoint
(step, training seconds, validation loss, eval numbers) and the throughput in frames per second.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from .config import FINETUNE_OVERRIDES, TrainConfig


def measure(
    data_dir: str | os.PathLike,
    heldout: str | os.PathLike,
    instrument: str,
    work_dir: str | os.PathLike,
    *,
    config: TrainConfig | None = None,
    init_from: str | os.PathLike | None = None,
    budget_seconds: float = 1800.0,
    out_json: str | os.PathLike | None = None,
    show_progress: bool = True,
) -> dict:
    """Prepare `data_dir` (cache in work_dir), train in work_dir/run, evaluate each checkpoint on `heldout`.

    Returns {"usable_seconds": training clock at the first usable checkpoint or None, "checkpoints": [...],
    ...}; also written to out_json after every checkpoint, so an interrupted measurement keeps what it saw.
    """
    from tonemorph.atomic import write_json

    from .evaluate import evaluate
    from .prepare import prepare
    from .train import export_checkpoint, load_checkpoint, start_run, train

    work_dir = Path(work_dir)
    config = config or TrainConfig()
    if out_json is not None:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
    result: dict = {
        "data": str(data_dir),
        "instrument": instrument,
        "init_from": str(init_from or "") or None,
        "budget_seconds": budget_seconds,
        "cpu_count": os.cpu_count(),
        "usable_seconds": None,
        "usable_step": None,
        "checkpoints": [],
    }

    started = time.perf_counter()
    dataset = prepare(data_dir, sample_rate=config.sample_rate, hop=config.hop, cache_dir=work_dir / "cache")
    result["prepare_seconds"] = time.perf_counter() - started
    result["audio_seconds"] = dataset.seconds()
    run_dir = start_run(
        dataset, work_dir / "run", config, name=instrument, data_source=str(data_dir), init_from=init_from
    )
    frames_per_step = config.batch_size * round(config.crop_seconds * config.sample_rate / config.hop)
    paused = 0.0  # seconds spent evaluating, kept off the clock

    def on_checkpoint(step: int, checkpoint: Path) -> bool:
        nonlocal paused
        clock = time.perf_counter() - started - paused
        began = time.perf_counter()
        data = load_checkpoint(checkpoint)
        history = data["history"]
        model, _ = export_checkpoint(data, work_dir / "models" / f"{instrument}-{step}.onnx", name=instrument)
        numbers = evaluate(model, heldout, instrument=instrument)
        usable = all(numbers["passed"].values())
        validation = [loss for s, loss in history["validation"] if s == step]
        result["checkpoints"].append(
            {
                "step": step,
                "seconds": clock,
                "validation_loss": validation[0] if validation else None,
                "resynthesis_cents": numbers["resynthesis"]["median_abs_cents"],
                "guitar_cents": numbers["guitar"]["median_abs_cents"],
                "envelope_ratio": numbers["guitar"]["envelope_ratio"],
                "usable": usable,
            }
        )
        result["frames_per_second"] = step * frames_per_step / max(clock - result["prepare_seconds"], 1e-9)
        if usable and result["usable_seconds"] is None:
            result["usable_seconds"], result["usable_step"] = clock, step
        if out_json is not None:
            write_json(out_json, result)
        paused += time.perf_counter() - began
        return usable or clock >= budget_seconds

    run = train(run_dir, dataset, on_checkpoint=on_checkpoint, show_progress=show_progress, report=False)
    if not run.interrupted and (not result["checkpoints"] or result["checkpoints"][-1]["step"] < run.step):
        on_checkpoint(run.step, run.checkpoint)  # the last step is not a periodic checkpoint
    result["config"] = asdict(config)
    if out_json is not None:
        write_json(out_json, result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tonemorph.training.time_to_usable", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("data", help="folder of recordings to train on")
    parser.add_argument("--heldout", required=True, help="held-out set for `tonemorph eval`")
    parser.add_argument("--instrument", required=True, help="the instrument of the held-out set")
    parser.add_argument(
        "--from", dest="init_from", help="fine-tune from this model (name, .onnx or run folder)"
    )
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="stop after this much training")
    parser.add_argument("--every", type=int, default=250, help="evaluate every this many steps")
    parser.add_argument(
        "--steps", type=int, default=None, help="the run's length (sets the learning-rate plan)"
    )
    parser.add_argument("--json", required=True, help="where the numbers go")
    parser.add_argument("--work-dir", help="keep the run here (default: a temporary folder)")
    args = parser.parse_args(argv)

    # The settings `tonemorph train` uses: its defaults, and FINETUNE_OVERRIDES with --from.
    base = TrainConfig(**FINETUNE_OVERRIDES) if args.init_from else TrainConfig()
    config = replace(base, checkpoint_every=args.every, validate_every=args.every)
    if args.steps:
        config = replace(config, steps=args.steps)
    with tempfile.TemporaryDirectory(prefix="tonemorph-ttu-") as tmp:
        result = measure(
            args.data,
            args.heldout,
            args.instrument,
            args.work_dir or tmp,
            config=config,
            init_from=args.init_from,
            budget_seconds=60.0 * args.budget_minutes,
            out_json=args.json,
        )
    for c in result["checkpoints"]:
        print(
            f"step {c['step']:5d}  {c['seconds'] / 60:5.1f} min  validation loss {c['validation_loss'] or 0:.3f}  "
            f"ratio {c['envelope_ratio']:.3f}  pitch {c['resynthesis_cents']:.1f}/{c['guitar_cents']:.1f} ct"
            f"{'  usable' if c['usable'] else ''}"
        )
    usable = result["usable_seconds"]
    print(
        f"prepare {result['prepare_seconds']:.0f} s; "
        + (
            f"usable after {usable / 60:.1f} min (step {result['usable_step']})"
            if usable is not None
            else f"not usable within {args.budget_minutes:g} min"
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
