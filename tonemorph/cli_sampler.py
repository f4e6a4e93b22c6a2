"""`tonemorph sampler ...`: train a sound generator on a folder of one-shots and loops."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tonemorph.paths import SAMPLER_FOLDER, sampler_dirs


def resolve_weights(name_or_path: str) -> Path:
    """What --from names: a run folder, a sampler .pt file, an .onnx path (its .pt beside it) or a sampler name."""
    path = Path(name_or_path).expanduser()
    if path.is_dir() or path.suffix == ".pt":
        return path
    if path.suffix == ".onnx":
        return path.with_suffix(".pt")
    for folder in sampler_dirs():
        if (folder / f"{name_or_path}.pt").is_file():
            return folder / f"{name_or_path}.pt"
    known = sorted({p.stem for folder in sampler_dirs() if folder.is_dir() for p in folder.glob("*.pt")})
    raise ValueError(
        f"--from: no sampler named '{name_or_path}' (known: {', '.join(known) or 'none'}); give a sampler "
        "name, its .onnx or .pt file, or a sampler run folder."
    )


def _load_samples(data_dir: str):
    from tonemorph.cli import _progress
    from tonemorph.sampler.data import load_samples

    with _progress("reading sounds") as bar:
        task = bar.add_task("reading sounds", total=None)

        def update(done: int, total: int, _name: str) -> None:
            bar.update(task, completed=done, total=total)

        return load_samples(data_dir, progress=update)


def cmd_train(args: argparse.Namespace) -> int:
    from tonemorph.cli import _check_name, _console
    from tonemorph.paths import user_models_dir
    from tonemorph.training.sampler import train as training
    from tonemorph.training.sampler.export import export_sampler
    from tonemorph.training.train import barrier, init_processes, leave_processes, runs_dir

    console = _console()
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps {args.steps}: train for 1 step or more.")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA GPU is available to this torch; use --device cpu.")
    if args.add and not (args.init_from and args.data_dir):
        raise ValueError(
            "--add folds kept sounds into a fine-tune: tonemorph sampler train DIR --add KEPT_DIR --from BASE "
            "--name NAME."
        )
    if args.resume:
        if args.data_dir or args.init_from:
            raise ValueError(
                "--resume continues a run with its own data and settings; give only the run folder "
                "(and optionally --steps, --threads or --device)."
            )
        run_dir = Path(args.resume).expanduser()
        saved = training.load_checkpoint(run_dir)
        if saved["kind"] != training.CHECKPOINT_KIND:
            raise ValueError(f"'{run_dir}' is not a sampler training run folder (it holds exported weights).")
        name = saved["name"]
        out = Path(args.out) if args.out else Path(saved["info"]["model_path"])
        processes = init_processes(args.device or saved["config"]["device"])
    else:
        if not args.data_dir or not args.name:
            raise ValueError(
                "give the folder of sounds and a name: tonemorph sampler train DIR --name NAME "
                "(or --resume RUN_DIR to continue a run)."
            )
        name = _check_name(args.name)
        out = Path(args.out).expanduser() if args.out else user_models_dir() / SAMPLER_FOLDER / f"{name}.onnx"
        if out.suffix != ".onnx":
            raise ValueError(f"--out '{out}': the model file must end in .onnx.")
        if out.exists() and not args.overwrite:
            raise ValueError(
                f"'{out}' already exists; choose another --name, or add --overwrite to replace it when "
                "training ends."
            )
        run_dir = Path(args.run_dir).expanduser() if args.run_dir else runs_dir() / f"sampler-{name}"
        if (run_dir / training.CHECKPOINT_NAME).exists():
            raise ValueError(
                f"'{run_dir}' already holds a sampler run; continue it with `tonemorph sampler train "
                f"--resume {run_dir}`, or choose another --name or --run-dir."
            )
        processes = init_processes(args.device or "cpu")
        if processes.main:  # under torchrun the others train from the run folder it writes
            _start_run(args, run_dir, name, out)
        barrier(processes)
    if processes.main:
        console.print(f"run folder: {run_dir}   (tensorboard --logdir {run_dir})", soft_wrap=True)
    result = training.train(run_dir, steps=args.steps, threads=args.threads, device=args.device)
    leave_processes(processes, result.interrupted)
    if result.interrupted:
        print(
            f"stopped at step {result.step}; checkpoint saved in {run_dir}\n"
            f"continue with: tonemorph sampler train --resume {run_dir}",
            file=sys.stderr,
        )
        return 130
    if training.load_checkpoint(run_dir)["info"].get("added_chunks"):
        _score_stage(run_dir, "after", "")
    onnx_path, weights = export_sampler(run_dir, out)
    print(f"report:  {run_dir / training.REPORT_DIR}")
    print(f"model:   {onnx_path}")
    print(f"weights: {weights}   (for fine-tuning: --from {name})")
    return 0


def _start_run(args: argparse.Namespace, run_dir: Path, name: str, out: Path) -> None:
    """`sampler train DIR --name NAME`'s new run: the sounds read, the run folder made (training.start_run)
    and what it holds said; with --add, the score report before the fine-tune."""
    from tonemorph.cli import _console
    from tonemorph.sampler.data import HYDROGEN_DRUMKITS, HYDROGEN_VALIDATION_KITS
    from tonemorph.training.sampler import train as training

    console = _console()
    init = training.load_checkpoint(resolve_weights(args.init_from)) if args.init_from else None
    data_dir = Path(args.data_dir).expanduser()
    kits = args.validation_kits
    if kits is None and data_dir.resolve() == HYDROGEN_DRUMKITS.resolve():
        kits = list(HYDROGEN_VALIDATION_KITS)
    samples = _load_samples(args.data_dir)
    added = training.load_kept(args.add) if args.add else None
    for skipped in samples.skipped:
        if skipped["kind"] != "duplicate":
            console.print(f"[yellow]skipped: {skipped['reason']}", soft_wrap=True)
    values = {
        **(training.FINETUNE_OVERRIDES if init else {}),
        **({"steps": args.steps} if args.steps else {}),
        "threads": args.threads or 1,
        "device": args.device or "cpu",
    }
    config = training.SamplerConfig.from_dict(values)
    training.start_run(
        run_dir,
        samples,
        config,
        name=name,
        validation_kits=kits,
        init=init,
        info={"data_source": str(data_dir.resolve()), "model_path": str(out.resolve())},
        added=added,
    )
    saved = training.load_checkpoint(run_dir)
    info = saved["info"]
    prior = info.get("prior_chunks", 0)
    console.print(
        f"data: {len(samples)} sounds from {data_dir}: {training.own_chunks(info)} to train on, "
        f"{info['validation_chunks']} held out"
        + (f" (kits {', '.join(kits)})" if kits else "")
        + (
            f"; and {prior} sounds of '{info['init_from']}' itself ({config.prior_per_kind} per kind it "
            "knows), so that it keeps what your folder does not show"
            if prior
            else ""
        ),
        soft_wrap=True,
    )
    if added is not None:
        _score_stage(run_dir, "before", f"{len(added)} kept sounds from {args.add} added; ")


def cmd_generate(args: argparse.Namespace) -> int:
    from tonemorph.cli import _console, _progress
    from tonemorph.engine.sampler import GenerateSettings, generate_sounds

    settings = GenerateSettings(
        count=args.count,
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
        seconds=args.seconds,
        prompt=args.prompt or "",
        like=args.like,
        between=tuple(args.between) if args.between else None,
        strength=args.strength,
        workers=args.workers,
    )
    if args.keep_best is not None:
        return _generate_best(args, settings)
    with _progress("generating") as bar:
        task = bar.add_task(f"generating {args.count} sound{'s' * (args.count != 1)}", total=args.count)
        written = generate_sounds(
            args.name, args.out, settings, progress=lambda done, total: bar.update(task, completed=done)
        )
    _console().print(
        f"wrote {len(written)} sound{'s' * (len(written) != 1)} to {Path(args.out).expanduser()} "
        f"({written[0].name} ...), each with a .json beside it",
        soft_wrap=True,
    )
    return 0


def _generate_best(args: argparse.Namespace, settings) -> int:
    """generate --keep-best K: curate.generate_best, then a table of the kept sounds and why others were not."""
    import numpy as np
    from rich.table import Table

    from tonemorph.cli import _console, _progress
    from tonemorph.sampler.curate import generate_best

    with _progress("generating") as bar:
        task = bar.add_task(
            f"generating {args.count} sounds, keeping the best {args.keep_best}", total=args.count
        )
        kept, scores = generate_best(
            args.name,
            args.out,
            settings,
            args.keep_best,
            lambda done, total: bar.update(task, completed=done),
        )
    console = _console()
    table = Table("file", "score", "heard as", "p(kind)", "closeness", "nearest training sound (dB RMS)")
    for path, score in kept:
        p = "-" if score.kind_probability is None else f"{score.kind_probability:.2f}"
        table.add_row(
            path.name,
            f"{score.score:.3f}",
            score.heard_as or "-",
            p,
            f"{score.closeness:.2f}",
            f"{score.nearest_distance:.2f}  {score.nearest_file}",
        )
    console.print(table)
    rejected = [s.rejected for s in scores if s.rejected]
    reasons = ", ".join(f"{rejected.count(r)} {r}" for r in dict.fromkeys(rejected)) or "none"
    console.print(
        f"kept {len(kept)} of {len(scores)} in {Path(args.out).expanduser()} (scores in their .json); "
        f"rejected: {reasons}; median distance to the nearest training sound "
        f"{np.median([s.nearest_distance for s in scores]):.2f} dB (near-copies are rejected)",
        soft_wrap=True,
    )
    if len(kept) < args.keep_best:
        console.print(
            f"[yellow]only {len(kept)} sounds passed; generate more (--count) to keep {args.keep_best}."
        )
    return 0


BIN_NAMES = ("low", "middle", "high")


def cmd_words(args: argparse.Namespace) -> int:
    from rich.table import Table

    from tonemorph.cli import _console
    from tonemorph.engine.sampler import open_sampler

    info = open_sampler(args.name).info
    if not info["has_words"]:
        raise ValueError(
            f"'{info['path']}' has no word list (it was exported before words were stored for the C++ core); "
            "re-export it with this version of tonemorph."
        )
    console = _console()
    grouped: dict[tuple[str, int], list[str]] = {}
    for word, condition, value in info["words"]:
        grouped.setdefault((condition, value), []).append(word)
    sounds = dict(zip(info["kind_names"], info["kind_sounds"]))
    table = Table("asks for", "words", "training sounds", title=f"words of the sampler '{info['name']}'")
    for (condition, value), words in sorted(
        grouped.items(), key=lambda item: (item[0][0] != "kind", item[0])
    ):
        if condition == "kind":
            kind = info["kind_names"][value]
            table.add_row(f"kind {kind}", ", ".join(words), str(sounds[kind]))
        else:
            table.add_row(f"{condition} {BIN_NAMES[value]} third", ", ".join(words), "")
    console.print(table)
    console.print(
        'A prompt is a few of these words ("short bright snare"); words left out are not asked for. This is '
        "not a general text-to-audio model: only the words above mean anything to it.",
        soft_wrap=True,
    )
    return 0


def _score_stage(run_dir: Path, stage: str, prefix: str) -> None:
    """--add's score report at one stage (classifier.write_score_report), printed."""
    from tonemorph.cli import _console
    from tonemorph.training.sampler.classifier import describe_summary, write_score_report

    with _console().status(f"scoring sounds generated {stage} the fine-tune"):
        report = write_score_report(run_dir, stage)
    _console().print(f"{prefix}{stage} the fine-tune: {describe_summary(report[stage])}", soft_wrap=True)
    if stage == "after" and "before" in report:
        _console().print(f"        before: {describe_summary(report['before'])}", soft_wrap=True)


def add_sampler_commands(sub) -> None:
    p = sub.add_parser(
        "sampler",
        help="train a sound generator on your one-shots and loops",
        description="The sampler: a generator of 1-second sounds trained on a folder of audio.",
    )
    sampler_sub = p.add_subparsers(dest="sampler_command", required=True, metavar="ACTION")
    p = sampler_sub.add_parser(
        "train",
        help="train a sampler on a folder of sounds (or fine-tune one with --from)",
        description="Cut every audio file under DIR into 1-second training chunks (one-shots at their onset, "
        "longer files into windows), learn their kinds from folder and file names and their descriptors from "
        "the audio, and train a generator. Ctrl-C stops and saves; --resume continues. Several processes "
        "(GPUs) share each step under torchrun: torchrun --nproc_per_node N -m tonemorph.cli sampler train ...",
    )
    p.add_argument("data_dir", nargs="?", metavar="DIR", help="folder of sounds (nested folders, any rate)")
    p.add_argument("--name", help="the sampler's name (its file is NAME.onnx in your sampler folder)")
    p.add_argument(
        "--from",
        dest="init_from",
        metavar="BASE",
        help="fine-tune this sampler (a name such as 'drums', an .onnx/.pt file or a run folder)",
    )
    p.add_argument(
        "--add",
        metavar="KEPT_DIR",
        help="with --from: also train on these sounds (kept with generate --keep-best; their kinds from their "
        ".json); report/scores.json shows generated sounds' scores before and after",
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run")
    p.add_argument("--steps", type=int, help="train up to this many steps (default 20000; 1000 with --from)")
    p.add_argument("--run-dir", help="where the run's checkpoints and report go (default: runs/sampler-NAME)")
    p.add_argument("--out", help="the model file to write when training ends (.onnx)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    p.add_argument(
        "--validation-kits",
        nargs="+",
        metavar="KIT",
        help="hold out these first-level folders for validation (default: 10%% of the sounds; for "
        "Debian's Hydrogen kits the four in docs/sampler-data.md)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads for training (default 1, per process under torchrun; with --resume: as the run had)",
    )
    p.add_argument("--device", choices=["cpu", "cuda"], help="train on the CPU (default) or a CUDA GPU")
    p.set_defaults(func=cmd_train)

    p = sampler_sub.add_parser(
        "generate",
        help="generate sounds from a sampler (optionally steered by words, like a sound, or between two)",
        description="Generate --count sounds from the sampler NAME into --out DIR: 24-bit WAVs at the\n"
        "model's rate named NNNN-seedK.wav (they sort), each with a JSON sidecar. The same seed gives the\n"
        "same file whatever --workers. --like FILE --strength S makes variations of a sound (0 returns it,\n"
        "1 ignores it); --between A B walks from one sound to another over --count sounds. Ctrl-C leaves no\n"
        "partial files.",
        epilog="examples:\n  tonemorph sampler generate drums --count 16 --out kicks --prompt 'short punchy kick'\n"
        "  tonemorph sampler generate drums --count 8 --out vars --like snare.wav --strength 0.4\n"
        "  tonemorph sampler generate drums --count 9 --out walk --between kick.wav clap.wav",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="NAME", help="a sampler's name (see `tonemorph models`) or its .onnx file")
    p.add_argument("--count", type=int, default=1, help="how many sounds (default 1)")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder for the sounds (made if missing)")
    p.add_argument("--seed", type=int, help="item i uses seed + i (default: drawn; the sidecars keep it)")
    p.add_argument(
        "--steps", type=int, help="sampling steps (default: the model's; more is slower and finer)"
    )
    p.add_argument("--seconds", type=float, help="length (default: the model's, 1 s)")
    p.add_argument(
        "--prompt", metavar="WORDS", help="words such as 'short bright snare' (see `sampler words`)"
    )
    p.add_argument(
        "--guidance",
        type=float,
        help="how hard to follow the words, 0..20 (default: the model's own; drums: 4)",
    )
    p.add_argument("--like", metavar="FILE", help="make variations of this sound")
    p.add_argument(
        "--between", nargs=2, metavar=("A", "B"), help="walk from sound A to sound B over --count sounds"
    )
    p.add_argument(
        "--strength",
        type=float,
        help="with --like or --between: 0 keeps the sound, 1 ignores it (default 0.5)",
    )
    p.add_argument("--workers", type=int, default=1, help="processes to share the batch (default 1)")
    p.add_argument(
        "--keep-best",
        type=int,
        metavar="K",
        help="score every sound (not silent, not clipped, not a copy of a training sound, heard as the kind "
        "asked, close to the training sounds) and write only the best K, scores in their .json",
    )
    p.set_defaults(func=cmd_generate)

    p = sampler_sub.add_parser(
        "words",
        help="list the words a sampler's prompts may use",
        description="The vocabulary of the sampler NAME: each word and the condition it asks for, and the "
        "kinds of sound it was trained on with their counts.",
    )
    p.add_argument("name", metavar="NAME", help="a sampler's name or its .onnx file")
    p.set_defaults(func=cmd_words)
