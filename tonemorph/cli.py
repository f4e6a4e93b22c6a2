"""The `tonemorph` command: one entry, verbs for each job."""

from __future__ import annotations

import argparse
import faulthandler
import math
import os
import signal
import sys
from pathlib import Path


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _progress(description: str):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(), console=_console(), transient=True,
    )


def _number(text: str) -> float:
    """A finite number (float() would also take 'nan' and 'inf')."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a number")
    return value


def _parse_param(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--param takes NAME=VALUE, got '{text}'")
    try:
        return name.strip(), _number(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"--param {name}: '{value}' is not a number") from None


MIDI_RENDER_RATE = 48000
MIDI_RENDER_RATES = (8000, 192000)  # --rate: what a musician would ask for, within what the engine runs at


def _check_output(src: Path, dst: Path, overwrite: bool) -> None:
    """Refuse, before any work, to write over the input, a folder, or (without --overwrite) an existing file,
    or where write_audio cannot write."""
    from tonemorph.engine.render import check_writable

    if src.resolve() == dst.resolve():
        raise ValueError(f"the output '{dst}' is the input file; choose another name so nothing is "
                         "overwritten.")
    if dst.is_dir():
        raise ValueError(f"the output '{dst}' is a folder; give a file name such as '{dst / 'out.wav'}'.")
    if dst.exists() and not overwrite:
        raise ValueError(f"'{dst}' already exists; choose another name, or add --overwrite to replace it.")
    check_writable(dst)


def cmd_render(args: argparse.Namespace) -> int:
    import numpy as np

    from tonemorph.engine import Engine
    from tonemorph.engine.midi_file import describe_channels, is_midi_file, read_midi
    from tonemorph.engine.render import read_audio, render, write_audio

    src, dst = Path(args.input), Path(args.output)
    _check_output(src, dst, args.overwrite)
    midi, tail = None, {}
    if is_midi_file(src):
        rate = float(MIDI_RENDER_RATE if args.rate is None else args.rate)
        if not MIDI_RENDER_RATES[0] <= rate <= MIDI_RENDER_RATES[1]:
            low, high = MIDI_RENDER_RATES
            raise ValueError(f"--rate must be {low}..{high} Hz, got {args.rate}.")
        performance = read_midi(src, rate, args.channel)
        midi = performance.events
        # Silence to play the notes over, as a view: an hour of it would otherwise take 700 MB.
        samples = int(np.ceil(performance.seconds * rate)) + 1
        audio = np.broadcast_to(np.zeros((1, 1), np.float32), (1, samples))
        others = f"; also in the file, not played: {describe_channels(performance.other_channels)}" \
            if performance.other_channels else ""
        print(f"playing channel {performance.channel} ({performance.notes} notes){others}")
    else:
        if args.rate is not None or args.channel is not None:
            raise ValueError(f"--rate and --channel are for MIDI files; '{src}' is audio and renders at its own "
                             "rate.")
        audio, rate = read_audio(src)
    engine = Engine(args.model)
    engine.set_param("semitones", args.semitones)
    engine.set_param("octave", args.octave)
    if midi is not None:
        engine.set_param("midi_mode", 1)
    for name, value in args.param or []:
        engine.set_param(name, value)
    if midi is not None:  # the last note's release and the reverb after it
        info = engine.model.info
        tail = {"tail_seconds": engine.get_param("release_ms") / 1000.0
                + info["reverb_ir_length"] / info["sample_rate"] + 0.1}
    with _progress("render") as bar:
        task = bar.add_task(f"{src.name} → {engine.model.name}", total=1)
        out = render(engine, audio, rate, block=args.block, midi=midi, **tail,
                     progress=lambda done, total: bar.update(task, completed=done, total=total))
    write_audio(dst, out, rate)
    print(f"{dst}  ({out.shape[1] / rate:.1f} s, {rate:.0f} Hz, {out.shape[0]} ch, model {engine.model.name})")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rich.table import Table

    from tonemorph.engine import ModelError, list_models, load_model
    from tonemorph.engine.sampler import SamplerError, list_samplers, open_sampler
    from tonemorph.paths import bundled_models_dir, user_models_dir

    table = Table("name", "kind", "source", "rate", "harmonics", "path")
    for entry in list_models():
        try:
            info = load_model(entry.path).info
            table.add_row(info["name"], "instrument", entry.source, f"{info['sample_rate']:.0f}",
                          str(info["n_harmonics"]), str(entry.path))
        except ModelError as e:
            table.add_row(entry.name, "instrument", entry.source, "-", "-", f"[red]unusable: {e}")
    for name, path, source in list_samplers():
        try:
            info = open_sampler(path).info
            table.add_row(name, info["kind"], source, str(info["sample_rate"]), "-", str(path))
        except SamplerError as e:
            table.add_row(name, "sampler", source, "-", "-", f"[red]unusable: {e}")
    from rich.console import Console

    Console().print(table)
    print(f"user models:    {user_models_dir()}\nbundled models: {bundled_models_dir()}")
    return 0


def cmd_plugin_path(args: argparse.Namespace) -> int:
    from tonemorph.plugins import bundles, plugins_dir

    print(plugins_dir())
    for b in bundles():
        print(f"  {b.format:<10} {b.name:<16} {b.path}")
    return 0


def cmd_plugin_install(args: argparse.Namespace) -> int:
    from tonemorph.plugins import FORMATS, install

    done = install(tuple(args.format or FORMATS))
    for b, dest in done:
        print(f"{b.format:<10} {b.name:<16} -> {dest}")
    if not done:
        raise ValueError("no plugin bundle was built; rebuild with `bash scripts/build.sh`.")
    print("Rescan plugins in your host (Reaper, Ardour, Bitwig...) to find tonemorph and tonemorph Synth.")
    return 0


# --- training: prepare, train, export, eval -------------------------------------------------------------------

TRAIN_EPILOG = """examples:
  tonemorph train ~/recordings/sax --name mysax          # from scratch: 10-15 min of audio, ~25 min on 2 cores
  tonemorph train ~/recordings/sax --name mysax --from trumpet     # fine-tune a bundled model (a few minutes)
  tonemorph train --resume ~/.local/share/tonemorph/runs/mysax      # continue after Ctrl-C
  torchrun --nproc_per_node 4 -m tonemorph.cli train DATA --name NAME --device cuda   # several GPUs

Ctrl-C stops after the current step and saves; nothing is lost. The run folder keeps the checkpoint, TensorBoard
logs (tensorboard --logdir RUN) and, at the end, a report/ folder with plots and example sounds."""


def _progress_callback(bar, task):
    def update(*args):  # prepare reports (done, total, ...)
        if len(args) >= 2:
            bar.update(task, completed=args[0], total=args[1])

    return update


def _load_data(source: str | Path, *, sample_rate: int, hop: int, cache: str | None, processes=None):
    """A prepared .npz (from `tonemorph prepare --out`) or a folder of audio (prepared now, cached)."""
    from tonemorph.training.dataset import load_prepared

    source = Path(source).expanduser()
    if source.is_file():
        return load_prepared(source)
    if not source.is_dir():
        raise ValueError(f"'{source}' does not exist; give a folder of recordings (WAV/FLAC/MP3/OGG) or a file "
                         "made by `tonemorph prepare --out`.")
    from tonemorph.training.prepare import prepare

    def run_prepare(show: bool):
        if not show:
            return prepare(source, sample_rate=sample_rate, hop=hop, cache_dir=cache)
        with _progress("prepare") as bar:
            task = bar.add_task(f"analysing {source.name}", total=None)
            return prepare(source, sample_rate=sample_rate, hop=hop, cache_dir=cache,
                           progress=_progress_callback(bar, task))

    if processes is None or not processes.distributed:
        return run_prepare(True)
    import torch.distributed as dist

    # One process analyses the folder and fills the cache; the others then read the cache.
    dataset = run_prepare(True) if processes.main else None
    dist.barrier()
    return dataset if processes.main else run_prepare(False)


def _describe_data(dataset) -> str:
    import numpy as np

    voiced = float(np.mean(dataset.confidence >= 0.5)) if len(dataset) else 0.0
    return (f"{dataset.seconds() / 60:.1f} min of audio in {len(dataset)} chunks from {len(dataset.files)} files, "
            f"{100 * voiced:.0f}% pitched, {dataset.sample_rate} Hz")


def cmd_prepare(args: argparse.Namespace) -> int:
    dataset = _load_data(args.data_dir, sample_rate=args.sample_rate, hop=args.hop, cache=args.cache)
    print(_describe_data(dataset))
    for entry in dataset.meta.get("skipped") or []:
        print(f"  skipped: {entry.get('reason', entry)}")
    if dataset.meta.get("cache"):
        print(f"cache: {dataset.meta['cache']}  (a second run on the same folder reads it at once)")
    if args.out:
        out = Path(args.out)
        dataset.save(out)
        print(f"prepared data: {out}  (train on it with `tonemorph train {out} --name NAME`)")
    return 0


def _check_name(name: str) -> str:
    if not name or name != Path(name).name or name.startswith("."):
        raise ValueError(f"--name '{name}': use a plain name such as 'mysax' (it becomes the file NAME.onnx).")
    return name


def _train_config(args: argparse.Namespace):
    from dataclasses import fields

    from tonemorph.training.config import FINETUNE_OVERRIDES, TrainConfig

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
              if getattr(args, f.name, None) is not None}
    if args.init_from:
        values = {**FINETUNE_OVERRIDES, **values}
    return TrainConfig(**values)


def cmd_train(args: argparse.Namespace) -> int:
    from tonemorph.paths import user_models_dir
    from tonemorph.training import train as training

    console = _console()
    if args.resume:
        if args.data_dir or args.init_from:
            raise ValueError("--resume continues a run with its own data and settings; give only the run folder "
                             "(and optionally --steps or --device).")
        run_dir = Path(args.resume).expanduser()
        saved = training.load_checkpoint(run_dir)
        if saved["kind"] != training.CHECKPOINT_KIND:
            raise ValueError(f"'{run_dir}' is not a training run folder (it holds exported weights).")
        config = training.TrainConfig.from_dict(saved["config"])
        run = saved["run"]
        name = saved["name"]
        model_path = Path(run["model_path"]) if run.get("model_path") else user_models_dir() / f"{name}.onnx"
        processes = training.init_processes(args.device or config.device)
        dataset = _load_data(run["data_source"], sample_rate=config.sample_rate, hop=config.hop, cache=args.cache,
                             processes=processes)
        if run.get("data_fingerprint") and dataset.meta.get("fingerprint") != run["data_fingerprint"]:
            console.print(f"[yellow]warning: the audio in {run['data_source']} changed since this run started; "
                          "training continues on the audio as it is now.")
    else:
        if not args.data_dir or not args.name:
            raise ValueError("give the folder of recordings and a name: tonemorph train DATA_DIR --name NAME "
                             "(or --resume RUN_DIR to continue a run).")
        name = _check_name(args.name)
        model_path = Path(args.out) if args.out else user_models_dir() / f"{name}.onnx"
        if model_path.exists() and not args.overwrite:
            raise ValueError(f"'{model_path}' already exists; choose another --name, or add --overwrite to "
                             "replace it when training ends.")
        run_dir = Path(args.run_dir) if args.run_dir else training.runs_dir() / name
        if (run_dir / training.CHECKPOINT_NAME).exists():
            raise ValueError(f"a run named '{name}' already exists in {run_dir}; continue it with "
                             f"`tonemorph train --resume {run_dir}`, or choose another --name or --run-dir.")
        config = _train_config(args)
        if args.init_from:  # the data must be prepared at the rate of the model we start from
            init = training.load_checkpoint(training.resolve_init(args.init_from))
            config = training.TrainConfig.from_dict({**vars(config), **init["model_args"]})
        processes = training.init_processes(config.device)
        dataset = _load_data(args.data_dir, sample_rate=config.sample_rate, hop=config.hop, cache=args.cache,
                             processes=processes)
        if processes.main:
            console.print(f"data: {_describe_data(dataset)}", soft_wrap=True)
            training.start_run(dataset, run_dir, config, name=name,
                               data_source=str(Path(args.data_dir).expanduser().resolve()),
                               init_from=args.init_from, model_path=model_path.expanduser().resolve())
        training.barrier(processes)
    if processes.main:
        console.print(f"run folder: {run_dir}   (tensorboard --logdir {run_dir})", soft_wrap=True)
    result = training.train(run_dir, dataset, steps=args.steps, device=args.device)
    training.leave_processes(processes, result.interrupted)
    if result.interrupted:
        print(f"stopped at step {result.step}; checkpoint saved in {run_dir}\n"
              f"continue with: tonemorph train --resume {run_dir}", file=sys.stderr)
        return 130
    onnx_path, weights = training.export_checkpoint(run_dir, model_path, name=name)
    print(f"report:  {result.report}")
    print(f"model:   {onnx_path}   (play it: tonemorph render IN.wav OUT.wav --model {name})")
    print(f"weights: {weights}   (for fine-tuning: --from {name})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tonemorph.paths import user_models_dir
    from tonemorph.training.train import export_checkpoint, load_checkpoint

    data = load_checkpoint(args.checkpoint)
    name = _check_name(args.name or data.get("name") or Path(args.checkpoint).stem)
    out = Path(args.out) if args.out else user_models_dir() / f"{name}.onnx"
    if out.exists() and not args.overwrite:
        raise ValueError(f"'{out}' already exists; choose another --name or --out, or add --overwrite.")
    onnx_path, weights = export_checkpoint(args.checkpoint, out, name=name)
    print(f"model:   {onnx_path}  (step {data.get('step', 0)})\nweights: {weights}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from tonemorph.training.evaluate import evaluate, format_table

    results = evaluate(args.model, args.heldout, instrument=args.instrument, out_json=args.json,
                       params=dict(args.param or []))
    print(format_table(results))
    if args.json:
        print(f"numbers: {args.json}")
    return 0


def add_training_commands(sub) -> None:
    from tonemorph.training.config import FINETUNE_OVERRIDES, TrainConfig

    defaults = TrainConfig()
    p = sub.add_parser("prepare", help="analyse a folder of recordings for training (pitch, loudness; cached)",
                       description="Find every WAV/FLAC/MP3/OGG under DATA_DIR (nested folders too), resample it, "
                                   "trim silence, cut it into chunks and measure pitch and loudness. The result is "
                                   "cached, so `tonemorph train` on the same folder starts at once. Unreadable "
                                   "files are skipped and listed.")
    p.add_argument("data_dir", metavar="DATA_DIR", help="folder of recordings of one instrument")
    p.add_argument("--out", metavar="FILE.npz", help="also save the prepared data to this file "
                                                     "(`tonemorph train FILE.npz` trains on it)")
    p.add_argument("--cache-dir", dest="cache", metavar="DIR",
                   help="where to keep the analysis cache (default: .tonemorph inside DATA_DIR)")
    p.add_argument("--sample-rate", type=int, default=defaults.sample_rate,
                   help=f"model sample rate in Hz (default {defaults.sample_rate})")
    p.add_argument("--hop", type=int, default=defaults.hop,
                   help=f"samples per control frame (default {defaults.hop}, 4 ms at 24 kHz)")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help="train an instrument from a folder of recordings",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=TRAIN_EPILOG,
                       description="Turn a folder of recordings of one monophonic instrument (10-15 minutes is "
                                   "plenty; a few minutes with --from) into an instrument model: prepare the "
                                   "audio, train, and export NAME.onnx into your model folder, where `tonemorph "
                                   "render`, `tonemorph models` and the plugin find it.")
    p.add_argument("data_dir", metavar="DATA_DIR", nargs="?",
                   help="folder of recordings, or a file made by `tonemorph prepare --out`")
    p.add_argument("--name", "-n", help="the instrument's name; the model is saved as NAME.onnx")
    p.add_argument("--from", dest="init_from", metavar="MODEL",
                   help="fine-tune from a model (a name from `tonemorph models`, an .onnx with its .pt beside it, "
                        "or a run folder); a few minutes of audio are enough")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last checkpoint")
    p.add_argument("--run-dir", metavar="DIR",
                   help="where to keep checkpoints, logs and the report (default: runs/NAME beside your model "
                        "folder; $TONEMORPH_RUNS overrides)")
    p.add_argument("--out", metavar="FILE.onnx", help="write the model here instead of your model folder")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model of the same name")
    p.add_argument("--cache-dir", dest="cache", metavar="DIR",
                   help="where to keep the analysis cache (default: .tonemorph inside DATA_DIR)")
    g = p.add_argument_group("training settings (the defaults suit 10-15 minutes of audio on a laptop CPU)")
    g.add_argument("--steps", type=int, help=f"training steps (default {defaults.steps}; "
                                             f"{FINETUNE_OVERRIDES['steps']} with --from); with --resume: the new total")
    g.add_argument("--device", help="cpu, cuda or cuda:N (default cpu)")
    g.add_argument("--batch-size", dest="batch_size", type=int,
                   help=f"audio crops per step (default {defaults.batch_size}, per process under torchrun)")
    g.add_argument("--crop-seconds", dest="crop_seconds", type=_number,
                   help=f"length of each training crop (default {defaults.crop_seconds})")
    g.add_argument("--lr", type=_number, help=f"learning rate (default {defaults.lr}; "
                                            f"{FINETUNE_OVERRIDES['lr']} with --from), halved every --lr-decay-steps")
    g.add_argument("--lr-decay-steps", dest="lr_decay_steps", type=int,
                   help=f"steps over which the learning rate halves (default {defaults.lr_decay_steps})")
    g.add_argument("--seed", type=int, help=f"random seed (default {defaults.seed})")
    g.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="compile the model with torch.compile: ~1.75x faster steps after ~45 s of compiling "
                        "(default on; falls back to plain PyTorch where it cannot compile)")
    g.add_argument("--checkpoint-every", dest="checkpoint_every", type=int,
                   help=f"save a checkpoint every N steps (default {defaults.checkpoint_every})")
    g = p.add_argument_group("model size (ignored with --from: the model keeps its size)")
    g.add_argument("--hidden", type=int, help=f"GRU and MLP width (default {defaults.hidden})")
    g.add_argument("--harmonics", dest="n_harmonics", type=int,
                   help=f"harmonics of the additive synth (default {defaults.n_harmonics})")
    g.add_argument("--noise-bands", dest="n_noise_bands", type=int,
                   help=f"bands of the noise filter (default {defaults.n_noise_bands})")
    g.add_argument("--reverb-seconds", dest="reverb_seconds", type=_number,
                   help=f"length of the learned reverb (default {defaults.reverb_seconds})")
    g.add_argument("--sample-rate", dest="sample_rate", type=int,
                   help=f"model sample rate in Hz (default {defaults.sample_rate})")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="write a model file from a training run's checkpoint",
                       description="Export a training run (its folder or a checkpoint .pt) as an instrument model "
                                   "(.onnx, checked against torch in ONNX Runtime), with NAME.pt beside it for "
                                   "fine-tuning. Useful to try a run before it finishes.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a run folder or a checkpoint .pt file")
    p.add_argument("--name", "-n", help="instrument name (default: the run's name)")
    p.add_argument("--out", metavar="FILE.onnx", help="where to write it (default: NAME.onnx in your model folder)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("eval", help="measure an instrument on held-out audio through the real engine",
                       description="Render held-out audio through MODEL with the real-time engine and measure: "
                                   "(a) resynthesis: the pitch of the output vs the input (median cents) on the "
                                   "instrument's own held-out renders; (b) guitar in: how far the output's timbre "
                                   "(mean MFCC) is from the instrument's render of the same melody, relative to "
                                   "the guitar's distance (target <= 0.6), and how closely its pitch follows the "
                                   "guitar (target <= 20 cents median).")
    p.add_argument("model", metavar="MODEL", help="model name (see `tonemorph models`) or .onnx path")
    p.add_argument("--heldout", required=True, metavar="DIR",
                   help="held-out folder with manifest.json (made by training/soundfont.py)")
    p.add_argument("--instrument", help="which instrument of the held-out set the model plays "
                                        "(default: the model's name)")
    p.add_argument("--json", metavar="FILE", help="write the numbers to this JSON file")
    p.add_argument("--param", action="append", type=_parse_param, metavar="NAME=VALUE",
                   help="an engine parameter for the renders, e.g. --param auto_adjust=1 (repeatable; "
                        "default: the engine's defaults)")
    p.set_defaults(func=cmd_eval)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tonemorph",
        description="A neural instrument: play guitar (or sing, or MIDI) and hear a trumpet, violin, flute...",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("render", help="play an audio or MIDI file through an instrument model",
                       description="Play an audio file (WAV/FLAC/MP3/OGG, any rate, mono or stereo) through an "
                                   "instrument model and write the result (WAV/FLAC/AIFF). A MIDI file (.mid, "
                                   ".midi) is played as one voice: the newest held note sounds, with velocity, "
                                   "pitch bend, mod wheel / breath / expression and aftertouch, from one "
                                   "channel (--channel, else the one with the most notes outside the drums "
                                   "on 10).")
    p.add_argument("input", help="the audio or MIDI file to play")
    p.add_argument("output", help="where to write the result (.wav, .flac or .aiff)")
    p.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    p.add_argument("--model", "-m", default="trumpet", help="model name (see `tonemorph models`) or .onnx path")
    p.add_argument("--semitones", "-s", type=_number, default=0.0, help="pitch shift in semitones (-24..24)")
    p.add_argument("--octave", type=_number, default=0.0, help="pitch shift in octaves (-2..2)")
    p.add_argument("--block", type=int, default=512, help="block size the engine runs at (1..8192)")
    p.add_argument("--channel", type=int, default=None, help="MIDI input: the channel to play (1..16)")
    p.add_argument("--rate", type=int, default=None,
                   help=f"MIDI input: sample rate of the result (default {MIDI_RENDER_RATE} Hz)")
    p.add_argument("--param", action="append", type=_parse_param, metavar="NAME=VALUE",
                   help="any engine parameter, e.g. --param dry_wet=0.8 or glide_ms=80 (repeatable)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("models", help="list the installed instrument models",
                       description="List the bundled instruments and those in your user model folder.")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("plugin-path", help="print where the built plugins (VST3, LV2, standalone) are",
                       description="Print the folder holding the built plugin bundles, and each bundle.")
    p.set_defaults(func=cmd_plugin_path)
    p = sub.add_parser("plugin", help="install the plugins into your plugin folders",
                       description="Plugin bundles: `tonemorph plugin install` copies them into the standard "
                                   "per-user folders (~/.vst3, ~/.lv2; the standalone apps into your data folder "
                                   "with links in ~/.local/bin).")
    plugin_sub = p.add_subparsers(dest="plugin_command", required=True, metavar="ACTION")
    p = plugin_sub.add_parser("install", help="copy the built bundles into your plugin folders")
    p.add_argument("--format", action="append", choices=["vst3", "lv2", "standalone"],
                   help="only this format (repeatable; default: all)")
    p.set_defaults(func=cmd_plugin_install)

    add_training_commands(sub)
    from tonemorph.cli_master import add_master_command
    from tonemorph.cli_midi import add_midi_commands
    from tonemorph.cli_sampler import add_sampler_commands

    add_master_command(sub)
    add_midi_commands(sub)
    add_sampler_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # numpy's OpenBLAS starts a thread per core at import (~0.1 s of CPU) and spins them after each call; the
    # CLI's numpy work is small (torch, which trains, has its own BLAS), so one thread: `master` measured
    # 0.24 -> 0.14 s of CPU for numpy's import. A value the user set stays.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if argv is None and hasattr(signal, "SIGUSR1"):  # a command line: `kill -USR1 PID` prints where it is
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted; nothing was written.", file=sys.stderr)
        return 130
    except (ValueError, KeyError, OSError) as e:
        message = str(e.args[0] if isinstance(e, KeyError) and e.args else e)
        paragraph = " ".join(line.strip() for line in message.splitlines() if line.strip())
        print(f"error: {paragraph}", file=sys.stderr)  # unwrapped, so paths stay whole
        return 2
    except MemoryError:
        print("error: not enough memory for this job; try a shorter file, or close other programs.",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
