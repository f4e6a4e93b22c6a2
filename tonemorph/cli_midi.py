"""`tonemorph midi ...`: the MIDI tools (issue 12). Transcribe so far (tonemorph.midi.transcribe)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_transcribe(args: argparse.Namespace) -> int:
    from tonemorph.cli import _progress
    from tonemorph.midi.transcribe import transcribe

    pitch_range = None
    if args.lowest is not None or args.highest is not None:
        pitch_range = (
            args.lowest if args.lowest is not None else 0,
            args.highest if args.highest is not None else 127,
        )
    with _progress("transcribe") as bar:
        task = bar.add_task("transcribing", total=1.0)
        summary = transcribe(
            args.audio,
            args.out,
            mono=args.mono,
            overwrite=args.overwrite,
            onset_threshold=args.onset_threshold,
            frame_threshold=args.frame_threshold,
            min_note_ms=args.min_note_ms,
            pitch_range=pitch_range,
            progress=lambda fraction: bar.update(task, completed=fraction),
        )
    print(
        f"{summary['notes']} notes in {summary['seconds']:.1f} s (MIDI {summary['lowest']}..{summary['highest']}, "
        f"{summary['bent_notes']} with pitch bends){', one voice' if args.mono else ''}: {summary['output']}"
    )
    return 0


def _with_progress(tool: str, label: str, call) -> dict:
    """call(progress) under a progress bar named TOOL whose task reads LABEL; its summary."""
    from tonemorph.cli import _progress

    with _progress(tool) as bar:
        task = bar.add_task(label, total=1.0)
        return call(lambda fraction: bar.update(task, completed=fraction))


def _print_clips(summary: dict, messages, headline: str, rows) -> int:
    """The notes (yellow, on stderr), then the headline, a line a clip and where the settings went."""
    from tonemorph.cli import _console

    console = _console()
    for message in messages:
        console.print(f"[yellow]note: {message}", soft_wrap=True)
    print(headline)
    for row in rows:
        print(row)
    print(f"settings: {summary['sidecar']}")
    return 0


def _run_tool(
    args: argparse.Namespace, tool: str, call, label: str = "sampling", what: str | None = None
) -> int:
    """Runs continue, generate, groove or drumify with a progress bar, then says what was done and where it
    went (WHAT names a clip; default: the summary's kind, 'melody clip' or 'drums clip')."""
    summary = _with_progress(tool, f"{tool}: {label}", call)
    s, count = summary["settings"], len(summary["files"])
    what = what or f"{s['kind']} clip"
    return _print_clips(
        summary,
        summary.get("read_messages", []) + summary["messages"],
        f"{count} {what}{'s' if count != 1 else ''} "
        f"({summary['bars_each'][0]:g} bars each, temperature {s['temperature']:g}, seed {s['seed']}): "
        f"{Path(summary['files'][0]).parent}",
        (
            f"  {Path(path).name}  {notes} notes"
            for path, notes in zip(summary["files"], summary["notes_each"])
        ),
    )


def _given(args: argparse.Namespace, *names: str) -> dict:
    """The options NAMES (and --temperature, --seed, --model, --overwrite, which every clip-writing tool
    takes) as keyword arguments of the tool's function."""
    return {name: getattr(args, name) for name in (*names, "temperature", "seed", "model", "overwrite")}


def cmd_continue(args: argparse.Namespace) -> int:
    from tonemorph.engine.midi import continue_midi

    return _run_tool(
        args,
        "continue",
        lambda progress: continue_midi(
            args.clip, args.out, **_given(args, "bars", "variations", "kind"), progress=progress
        ),
    )


def cmd_generate(args: argparse.Namespace) -> int:
    from tonemorph.engine.midi import generate_midi

    return _run_tool(
        args,
        "generate",
        lambda progress: generate_midi(
            args.out, **_given(args, "kind", "bars", "variations", "bpm"), progress=progress
        ),
    )


def _out_dir_option(p) -> None:
    """--out DIR: where a clip-writing tool puts its clips."""
    p.add_argument(
        "--out", "-o", required=True, metavar="DIR", help="the folder for the clips (made if missing)"
    )


def _draw_options(p, *, temperature: float, temperature_help: str, model_help: str) -> None:
    """--temperature, --seed, --model, --overwrite: the controls every clip-writing tool shares."""
    from tonemorph.cli import _number

    p.add_argument("--temperature", type=_number, default=temperature, help=temperature_help)
    p.add_argument(
        "--seed", type=int, default=None, help="the same seed gives the same clips (default: random)"
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument("--overwrite", action="store_true", help="replace clips of an earlier run in the folder")


def _sampling_options(p, bars: int, variations: int) -> None:
    """--bars, --variations, --temperature, --seed, --model, --overwrite: Continue's and Generate's controls."""
    _out_dir_option(p)
    p.add_argument("--bars", type=int, default=bars, help=f"bars of new material, 1..64 (default {bars})")
    p.add_argument(
        "--variations", type=int, default=variations, help=f"how many clips, 1..64 (default {variations})"
    )
    _draw_options(
        p,
        temperature=1.0,
        temperature_help="0: always the likeliest note; 1: as the model learned (default); higher: wilder",
        model_help="another model file of the kind (default: the bundled one)",
    )


def _training_data(model: str):
    """(data, its summary numbers, a line that says what was read, what the model is trained on)."""
    from tonemorph.cli import _progress

    if model == "melody":
        from tonemorph.training.midi import melody_data

        with _progress("melodies") as bar:
            task = bar.add_task("reading the music21 corpus (once; cached)", total=None)
            data = melody_data.melody_data(
                progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
        n = data.summary()
        line = (
            f"melodies: {n['train_tunes']} training tunes ({n['train_steps']} steps), "
            f"{n['validation_tunes']} held out ({n['validation_steps']} steps)"
        )
        return data, n, line, f"{n['train_tunes']} corpus tunes"
    from tonemorph.training.midi import drum_data

    with _progress("drums") as bar:
        task = bar.add_task("reading Hydrogen's songs, rendering MMA's grooves (once; cached)", total=None)
        data = drum_data.drum_data(progress=lambda done, total: bar.update(task, completed=done, total=total))
    n = data.summary()
    line = (
        f"drums: {n['train_patterns']} training songs and grooves ({n['train_steps']} steps, "
        f"{n['train_groups']} songs or styles), {n['validation_patterns']} held out ({n['validation_steps']} "
        f"steps, {n['validation_groups']})"
    )
    return data, n, line, f"{n['train_patterns']} Hydrogen songs and MMA grooves"


def _run_folder(
    args: argparse.Namespace, what: str, trainer, default_name: str, load=None, files=lambda out: [out]
):
    """(run folder, model file) of `tonemorph midi train WHAT`: --resume's (LOAD, default TRAINER's
    load_checkpoint, reads its checkpoint), or a new run's, refused if the folder holds a run or FILES(model
    file) exist without --overwrite."""
    from tonemorph.paths import user_models_dir
    from tonemorph.training.train import runs_dir

    if args.resume:
        run_dir = Path(args.resume).expanduser()
        saved = (load or trainer.load_checkpoint)(run_dir)
        return run_dir, Path(args.out) if args.out else Path(saved["data"]["model_path"])
    run_dir = Path(args.run_dir).expanduser() if args.run_dir else runs_dir() / f"midi-{what}"
    out = Path(args.out) if args.out else user_models_dir() / "midi" / default_name
    if (run_dir / trainer.CHECKPOINT_NAME).exists():
        raise ValueError(
            f"'{run_dir}' already holds {'an' if what[0] in 'aeiou' else 'a'} {what} run; continue it with "
            f"--resume {run_dir}, or give another --run-dir."
        )
    existing = [str(p) for p in files(out) if p.exists()]
    if existing and not args.overwrite:
        raise ValueError(
            f"'{existing[0]}' already exists; give another --out, or add --overwrite to replace it when "
            "training ends."
        )
    return run_dir, out


def _train_run(args: argparse.Namespace, what: str, trainer, config, run_dir: Path, out: Path, data, numbers):
    """Starts a new run with CONFIG() (not on --resume), trains it; None when Ctrl-C stopped it (and says how to
    go on), else TRAINER's result."""
    from tonemorph.cli import _console

    if not args.resume:
        trainer.start_run(run_dir, config(), {**numbers, "model_path": str(out.expanduser().resolve())})
    _console().print(f"run folder: {run_dir}   (tensorboard --logdir {run_dir})", soft_wrap=True)
    result = trainer.train(run_dir, data, steps=args.steps)
    if not result.interrupted:
        return result
    print(
        f"stopped at step {result.step}; checkpoint saved in {run_dir}\n"
        f"continue with: tonemorph midi train {what} --resume {run_dir}",
        file=sys.stderr,
    )
    return None


def _steps(args: argparse.Namespace) -> dict:
    return {"steps": args.steps} if args.steps else {}


def cmd_train_events(args: argparse.Namespace) -> int:
    """`tonemorph midi train melody|drums`: the next-event models of Continue and Generate."""
    if args.model == "groove":
        return cmd_train_groove(args)
    if args.model == "interpolate":
        return cmd_train_interpolate(args)
    from tonemorph.cli import _console
    from tonemorph.training.midi import melody_train
    from tonemorph.training.midi.drums_export import DRUMS_CONFIG, export_drums, markov_extra
    from tonemorph.training.midi.melody_export import export_melody

    what = args.model
    run_dir, out = _run_folder(
        args,
        what,
        melody_train,
        f"{what}.onnx",
        load=lambda run_dir: melody_train.load_checkpoint(run_dir, what),
    )
    data, numbers, line, trained_on = _training_data(what)
    _console().print(f"{line}; cache {data.meta.get('cache')}", soft_wrap=True)
    defaults = DRUMS_CONFIG if what == "drums" else {}
    config = lambda: melody_train.MelodyConfig(**{**defaults, **_steps(args)})
    result = _train_run(args, what, melody_train, config, run_dir, out, data, numbers)
    if result is None:
        return 130
    model = melody_train.model_from_checkpoint(melody_train.load_checkpoint(run_dir, what))
    nll = result.history["validation"][-1][1]
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = {"validation_nll": f"{nll:.4f}", "train_steps": result.step}
    if what == "drums":
        extra.update(markov_extra(data))
    export = export_drums if what == "drums" else export_melody
    export(
        model,
        out,
        description=f"trained by tonemorph for {result.step} steps "
        f"({result.train_seconds / 60:.1f} min) on {trained_on}",
        extra=extra,
    )
    weights = melody_train.save_weights(run_dir, out.with_suffix(".pt"), what)
    print(f"model:   {out}   (held-out NLL {nll:.3f} nats per step)")
    print(f"weights: {weights}")
    return 0


def cmd_train_groove(args: argparse.Namespace) -> int:
    """`tonemorph midi train groove`: the Groove / Drumify model (training/midi/groove_*.py)."""
    from tonemorph.cli import _console, _progress
    from tonemorph.training.midi import groove_data, groove_train
    from tonemorph.training.midi.groove_export import export_groove

    console = _console()
    run_dir, out = _run_folder(args, "groove", groove_train, "groove.onnx")
    with _progress("drums") as bar:
        task = bar.add_task("reading Hydrogen's songs, rendering MMA's grooves (once; cached)", total=None)
        grids = groove_data.training_grids(
            progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    numbers = {
        "train_windows": int((~grids.validation).sum()),
        "validation_windows": int(grids.validation.sum()),
        "patterns": grids.meta.get("patterns"),
    }
    console.print(
        f"groove: {numbers['train_windows']} training 2-bar windows, {numbers['validation_windows']} held out, "
        f"from {numbers['patterns']} 4/4 songs and grooves; timing and dynamics made by the humaniser "
        "(training/midi/groove_data.py)",
        soft_wrap=True,
    )
    config = lambda: groove_train.GrooveConfig(**_steps(args))
    result = _train_run(args, "groove", groove_train, config, run_dir, out, grids, numbers)
    if result is None:
        return 130
    model = groove_train.model_from_checkpoint(groove_train.load_checkpoint(run_dir))
    values = result.history["validation"][-1][1]
    out.parent.mkdir(parents=True, exist_ok=True)
    export_groove(
        model,
        out,
        description=f"trained by tonemorph for {result.step} steps ({result.train_seconds / 60:.1f} min) on "
        f"{numbers['train_windows']} 2-bar windows of Hydrogen songs and MMA grooves, with timing and "
        "dynamics made by a rule-based humaniser (no human-played data)",
        extra={
            "train_steps": result.step,
            **{f"validation_{k.replace('/', '_')}": f"{v:.5f}" for k, v in values.items()},
        },
    )
    weights = groove_train.save_weights(run_dir, out.with_suffix(".pt"))
    print(
        f"model:   {out}   (held-out velocity MSE {values['groove/velocity']:.4f}, offset MSE "
        f"{values['groove/offset']:.4f} steps^2, Drumify hit BCE {values['drumify/hits_prior']:.3f})"
    )
    print(f"weights: {weights}")
    return 0


def cmd_groove_tool(args: argparse.Namespace) -> int:
    """`tonemorph midi groove|drumify`: tonemorph.engine.midi_groove."""
    from tonemorph.engine.midi_groove import drumify_midi, groove_midi

    tool = args.midi_command
    run = groove_midi if tool == "groove" else drumify_midi
    return _run_tool(
        args,
        tool,
        lambda progress: run(args.clip, args.out, **_given(args, "variations"), progress=progress),
        label="running the model",
        what="grooved drum clip" if tool == "groove" else "drum clip",
    )


def cmd_live(args: argparse.Namespace) -> int:
    import secrets
    import signal
    import threading

    from tonemorph.midi import live

    if not args.list_ports:
        for option, value in (("--in", args.port_in), ("--out", args.port_out)):
            if value is None and not args.virtual:
                raise ValueError(
                    f"name a port with {option} (tonemorph midi live --list-ports shows them), or add "
                    "--virtual for tonemorph's own ports"
                )
        if args.bars < 1:
            raise ValueError(f"--bars {args.bars}: an answer is at least one bar long")
    system = live.MidiSystem(args.api)
    if args.list_ports:
        print(f"MIDI system: {system.name}")
        for title, ports in (
            ("sources (play into tonemorph: --in)", system.sources()),
            ("destinations (tonemorph answers on: --out)", system.destinations()),
        ):
            print(f"{title}:")
            print("\n".join(f"  {i}: {name}" for i, name in enumerate(ports)) or "  (none)")
        return 0
    if args.tool == "echo":
        answer = live.echo_answer
    else:
        from tonemorph.engine.midi import find_event_model, load_event_model

        seed = args.seed if args.seed is not None else secrets.randbelow(1 << 31)
        answer = live.continue_answer(args.temperature, seed)
        model = load_event_model("melody")  # opened now, so the first answer does not wait for it
        try:
            drums = find_event_model("drums")
        except ValueError:
            drums = "not installed, so a phrase on channel 10 gets no answer"
        print(f"continue: temperature {args.temperature:g}, seed {seed} (answer k draws with seed + k)")
        print(f"models: melody {model.info['path']}; drums {drums}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    live.run_live(
        system,
        answer,
        port_in=args.port_in,
        port_out=args.port_out,
        stop=stop,
        report=lambda line: print(line, flush=True),
        bars=args.bars,
        bpm=args.bpm,
        silence=args.silence,
        answer_on=args.answer_on,
    )
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from tonemorph.engine.midi_interpolate import interpolate_midi

    summary = _with_progress(
        "interpolate",
        "interpolate: decoding",
        lambda progress: interpolate_midi(
            args.a, args.b, args.out, **_given(args, "steps"), progress=progress
        ),
    )
    s, bars = summary["settings"], summary["bars_each"][0]
    return _print_clips(
        summary,
        [message for messages in summary["read"].values() for message in messages] + summary["messages"],
        f"{len(summary['files'])} clips from A to B ({bars:g} bar{'' if bars == 1 else 's'} each, temperature "
        f"{s['temperature']:g}{'' if s['temperature'] == 0 else ', seed ' + str(s['seed'])}): "
        f"{Path(summary['files'][0]).parent}",
        (
            f"  {Path(path).name}  {notes} notes  ({at:.2f} of the way to B)"
            for path, notes, at in zip(summary["files"], summary["notes_each"], summary["positions"])
        ),
    )


def cmd_train_interpolate(args: argparse.Namespace) -> int:
    """`tonemorph midi train interpolate`: Interpolate's melody VAE (training/midi/vae_*.py)."""
    from tonemorph.cli import _console
    from tonemorph.training.midi import vae_train
    from tonemorph.training.midi.vae_export import export_vae, paths

    run_dir, out = _run_folder(args, "interpolate", vae_train, "melody_vae_decoder.onnx", files=paths)
    data, numbers, line, trained_on = _training_data("melody")
    _console().print(f"{line}; cache {data.meta.get('cache')}", soft_wrap=True)
    config = lambda: vae_train.VAEConfig(**_steps(args))
    result = _train_run(args, "interpolate", vae_train, config, run_dir, out, data, numbers)
    if result is None:
        return 130
    model = vae_train.model_from_checkpoint(vae_train.load_checkpoint(run_dir))
    held_out = result.history["validation"][-1][1]
    encoder, decoder = paths(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    export_vae(
        model,
        decoder,
        description=f"trained by tonemorph for {result.step} steps ({result.train_seconds / 60:.1f} min) on "
        f"2-bar windows of {trained_on}",
        extra={
            "validation_accuracy": f"{held_out['accuracy']:.4f}",
            "validation_note_on_accuracy": f"{held_out['note_on_accuracy']:.4f}",
            "train_steps": result.step,
        },
    )
    weights = vae_train.save_weights(
        run_dir, decoder.with_name(decoder.name.removesuffix("_decoder.onnx") + ".pt")
    )
    print(
        f"model:   {encoder}\n         {decoder}\n         (held-out 2-bar windows rebuilt: "
        f"{held_out['accuracy']:.3f} of steps, {held_out['note_on_accuracy']:.3f} of note onsets)"
    )
    print(f"weights: {weights}")
    return 0


def _midi_note(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 127:
        raise argparse.ArgumentTypeError(f"'{text}' is not a MIDI note number (0..127)")
    return value


def add_midi_commands(sub) -> None:
    from tonemorph.cli import _number
    from tonemorph.midi.transcribe import FRAME_THRESHOLD, MIN_NOTE_MS, ONSET_THRESHOLD

    p = sub.add_parser(
        "midi",
        help="MIDI tools: transcribe, continue, generate, interpolate, live, ...",
        description="MIDI tools. Transcribe turns a recording into a MIDI clip; Continue and Generate write "
        "new melodies and drum patterns (after a clip, or from nothing); Interpolate morphs one melody into "
        "another; Live answers your playing.",
    )
    midi_sub = p.add_subparsers(dest="midi_command", required=True, metavar="TOOL")
    p = midi_sub.add_parser(
        "transcribe",
        help="audio to a MIDI file with pitch bends (Basic Pitch)",
        description="Transcribe AUDIO (WAV/FLAC/MP3/OGG/AIFF, any rate, mono or stereo; a played riff, a "
        "sung line, chords) into a MIDI file: the notes with their velocity, and pitch bends (within +-2 "
        "semitones) on notes that do not overlap another. Spotify's Basic Pitch model, bundled (Apache-2.0). "
        "Audio with no note in it (silence, noise, drums) is an error and writes nothing.",
    )
    p.add_argument("audio", help="the recording to transcribe")
    p.add_argument("--out", "-o", required=True, help="the MIDI file to write (.mid)")
    p.add_argument(
        "--mono",
        action="store_true",
        help="keep one voice, for the melody tools: the loudest line (of notes struck together the "
        "strongest; a new note replaces the sounding one if at least 0.7 times as strong). Meant for a "
        "single line, a riff or a melody; on chords it follows the strongest note, not always the top one",
    )
    p.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    p.add_argument(
        "--onset-threshold",
        type=_number,
        default=ONSET_THRESHOLD,
        help=f"how sure the model must be that a note starts, 0..1 (default {ONSET_THRESHOLD}; lower finds "
        "more notes)",
    )
    p.add_argument(
        "--frame-threshold",
        type=_number,
        default=FRAME_THRESHOLD,
        help=f"how sure it must be that a note still sounds, 0..1 (default {FRAME_THRESHOLD}; lower makes "
        "notes longer)",
    )
    p.add_argument(
        "--min-note-ms",
        type=_number,
        default=MIN_NOTE_MS,
        help=f"shortest note kept, in milliseconds (default {MIN_NOTE_MS})",
    )
    p.add_argument(
        "--lowest", type=_midi_note, default=None, help="lowest MIDI note to keep (default 21, A0)"
    )
    p.add_argument(
        "--highest", type=_midi_note, default=None, help="highest MIDI note to keep (default 108, C8)"
    )
    p.set_defaults(func=cmd_transcribe)

    p = midi_sub.add_parser(
        "continue",
        help="what could follow a MIDI clip (melody or drums)",
        description="Continue CLIP (a .mid file): the model hears the clip's last 4 bars and plays on. Writes "
        "one .mid per variation into --out DIR (continue-01.mid, ...), each the clip and then --bars new bars, "
        "and continue.json (seed, settings, model). A clip with notes only on channel 10 is drums, else a "
        "melody (notes on channel 10 left out); --kind chooses. The melody model plays one voice: of notes "
        "struck together the highest is kept, and it says so.",
    )
    p.add_argument("clip", help="the MIDI clip to continue (type 0 or 1)")
    _sampling_options(p, bars=2, variations=4)
    p.add_argument(
        "--kind", choices=["auto", "melody", "drums"], default="auto", help="melody or drums (default: auto)"
    )
    p.set_defaults(func=cmd_continue)

    p = midi_sub.add_parser(
        "generate",
        help="new melodies or drum patterns from nothing",
        description="Generate new clips from nothing: one .mid per variation into --out DIR "
        "(generate-01.mid, ...) and generate.json (seed, settings, model).",
    )
    p.add_argument("--kind", choices=["melody", "drums"], required=True, help="what to generate")
    _sampling_options(p, bars=4, variations=8)
    p.add_argument("--bpm", type=_number, default=120.0, help="the clips' tempo (default 120)")
    p.set_defaults(func=cmd_generate)

    p = midi_sub.add_parser(
        "interpolate",
        help="clips that morph from one melody into another",
        description="Interpolate between two melody clips A and B of the same length (1 to 4 bars): --steps "
        "clips into --out DIR (interpolate-01.mid near A ... interpolate-NN.mid near B) and interpolate.json, "
        "through the latent space of a small MusicVAE-style model (models/midi/melody_vae_*.onnx). Its window "
        "is 2 bars: longer clips are morphed 2 bars at a time. Chords keep their top note; drum clips are "
        "refused.",
    )
    p.add_argument("a", help="the MIDI clip to start from (A)")
    p.add_argument("b", help="the MIDI clip to end at (B), as long as A")
    _out_dir_option(p)
    p.add_argument(
        "--steps", type=int, default=5, help="clips written, A's and B's ends included, 2..32 (default 5)"
    )
    _draw_options(
        p,
        temperature=0.0,
        temperature_help="0: the likeliest notes (default; the seed changes nothing); above 0: drawn, wilder as "
        "it rises",
        model_help="another melody VAE (either of its two .onnx files; default: the bundled one)",
    )
    p.set_defaults(func=cmd_interpolate)

    for tool, help_text, description in (
        (
            "groove",
            "a quantised drum clip played with a drummer's timing and dynamics",
            (
                "Groove (after Magenta's GrooVAE humanize): each variation gives the drum clip in CLIP (General MIDI "
                "drums on channel 10) new velocities and micro-timing (within half a sixteenth); which drums hit, on "
                "which steps, stays, and the clip's own velocities are not used. The model learned from drum "
                "patterns whose timing and dynamics a rule-based humaniser made (no human-played drum data was "
                "available; see the README). Clips up to 64 bars, worked in 2-bar windows with one feel per "
                "variation. A file whose notes are not on channel 10 is refused (use drumify for those)."
            ),
        ),
        (
            "drumify",
            "a drum groove that follows the rhythm and accents of any clip",
            (
                "Drumify (after Magenta's GrooVAE tap2drum): every onset of CLIP (a bassline, a melody, a tapped "
                "rhythm, drums) collapsed to one tap track, the loudest note of a step its accent, and a drum "
                "groove (kick, snare, hi-hats, toms, cymbals, with velocities and micro-timing) drawn to fit it, "
                "as long as the clip (up to 64 bars, in 2-bar windows)."
            ),
        ),
    ):
        p = midi_sub.add_parser(tool, help=help_text, description=description)
        p.add_argument("clip", help="the MIDI file (.mid)")
        _out_dir_option(p)
        p.add_argument("--variations", type=int, default=4, help="how many clips, 1..64 (default 4)")
        _draw_options(
            p,
            temperature=1.0,
            temperature_help="0..10: 0 the model's likeliest feel (the same every time); 1 as it learned "
            "(default); higher: wilder",
            model_help="another midi-groove model (default: the bundled one)",
        )
        p.set_defaults(func=cmd_groove_tool)

    p = midi_sub.add_parser(
        "train",
        help="train the MIDI tools' models (melody, drums, groove, interpolate)",
        description="Train a MIDI tool's model on this computer. `melody`: the next-note model Continue and "
        "Generate will use, an LSTM trained on melodies from music21's bundled corpus (read once, about 8 "
        "minutes, then cached), about 20 minutes on one CPU core. `drums`: the same for drum patterns, "
        "trained on Hydrogen's demo songs and MMA's groove library (Debian packages hydrogen-data and mma; "
        "rendered once, about 4 minutes, then cached), about 10 minutes on one CPU core. `interpolate`: "
        "Interpolate's melody VAE on 2-bar windows of the same melodies, about 50 minutes on one busy CPU core. "
        "`groove`: Groove and Drumify's model on 2-bar windows of the drum patterns, their timing and dynamics "
        "made by a rule-based humaniser, about 35 minutes on one CPU core. "
        "Ctrl-C stops and saves; --resume continues.",
    )
    p.add_argument("model", choices=["melody", "drums", "groove", "interpolate"], help="which model")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train up to this many steps (default: the model's own; 4000 for melody, 2000 for drums)",
    )
    p.add_argument("--resume", metavar="RUN", help="continue the run in this folder")
    p.add_argument(
        "--run-dir",
        metavar="DIR",
        help="where to keep the run (default: runs/midi-MODEL beside your models)",
    )
    p.add_argument("--out", "-o", help="the model file to write (default: midi/MODEL.onnx in your models)")
    p.add_argument("--overwrite", action="store_true", help="replace the model file if it exists")
    p.set_defaults(func=cmd_train_events)

    p = midi_sub.add_parser(
        "live",
        help="call and response over MIDI ports: play a phrase, pause, hear an answer in tempo",
        description="Listen on a MIDI input; when you pause (nothing held and a beat of silence after your last "
        "note), take the phrase, find its tempo, quantise it to sixteenths and answer on the output, in "
        "tempo, from the next bar line: Continue with the melody model (the drums model for a phrase on "
        "channel 10). Playing again stops the answer. Ctrl-C ends. Works with ALSA, JACK, CoreMIDI or "
        "Windows MIDI through python-rtmidi.",
    )
    p.add_argument("--list-ports", action="store_true", help="list the MIDI ports and stop")
    p.add_argument(
        "--api",
        choices=["auto", "alsa", "jack", "coremidi", "winmm"],
        default="auto",
        help="the MIDI system (default auto: ALSA, then JACK on Linux; CoreMIDI on macOS; WinMM on Windows)",
    )
    p.add_argument(
        "--in", dest="port_in", metavar="PORT", help="the port to listen to: number, name or part of one"
    )
    p.add_argument(
        "--out", dest="port_out", metavar="PORT", help="the port to answer on: number, name or part"
    )
    p.add_argument(
        "--virtual",
        action="store_true",
        help="open tonemorph's own ports (tonemorph-listen:in, tonemorph-answer:out) for those not named with "
        "--in/--out, for other programs to connect to (not on Windows)",
    )
    p.add_argument(
        "--tool",
        choices=["continue", "echo"],
        default="continue",
        help="continue: the model's continuation (default); echo: your phrase played back as quantised (no "
        "model: checks ports and timing)",
    )
    p.add_argument("--bars", type=int, default=2, help="bars in each answer (default 2)")
    p.add_argument(
        "--temperature", type=_number, default=1.0, help="continue: randomness, 0 = likeliest (default 1.0)"
    )
    p.add_argument(
        "--seed", type=int, default=None, help="continue: answer k draws with seed + k (default random)"
    )
    p.add_argument(
        "--bpm", type=_number, default=None, help="the tempo (default: found from each phrase, 60..180 BPM)"
    )
    p.add_argument(
        "--silence",
        type=_number,
        default=None,
        metavar="SECONDS",
        help="the pause that ends a phrase (default one beat, within 0.3..1.5 s)",
    )
    p.add_argument(
        "--answer-on",
        choices=["bar", "beat"],
        default="bar",
        help="the answer begins on the next bar line (default) or the next beat",
    )
    p.set_defaults(func=cmd_live)
