"""Saved-state fuzzing for the VST3 plugin: hostile states fed through pedalboard's VST3 host in workers.

A host restores whatever a project file holds. Whatever that is, the plugin must end up working within a
bounded time: the state taken or refused, then 0.5 s rendered with finite output within the +6 dBFS clamp, and
the state read back sane: a <tonemorph> root, each parameter once with a finite value in its range, the model
a regular file (or none). An abort, a hang (no answer within CASE_TIMEOUT s), NaN out or a state that keeps a
bad value is a failure (tests/fuzz_runner.py runs the workers).

Cases: first NAMED, one each (random bytes, wrong magic, huge declared lengths, truncated and deeply nested
XML, entity expansion, parameter values NaN / inf / 1e40 / "abc", hostile model paths: missing, relative, a
folder, /dev/zero, /dev/urandom, a FIFO, a path with NUL or 10,000 characters, a non-model file, a corrupt
model, a symlink loop, a folder that never answers (a FUSE mount nobody serves where /dev/fuse and mount(2)
work, else a FIFO stands in), the host's own outer layer); then seeded mutations of a valid state.

    .venv/bin/python tests/fuzz_states.py --case 12 --play    # one case here (a hang or crash shows)
    .venv/bin/python tests/fuzz_states.py --cases 2000 --seed 3
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import random
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import fuzz_runner
import numpy as np
from fuzz_runner import Case

CASE_TIMEOUT = 10.0  # a state restore, a prepare and 0.5 s of audio take well under a second
WORKER_MEMORY = (
    8 * 2**30
)  # the host's own copy of a state declaring 2 GB must fit (pedalboard does not check)
GOOD = ("working",)
SAMPLE_RATE, BLOCK, PLAY_SECONDS = 48000, 256, 0.5
_MAGIC = struct.pack("<I", 0x21324356)  # JUCE's binary XML ("VC2!")
NUL_MARK = "__nul__"  # replaced by a NUL byte in the serialized state (ElementTree would refuse it)
NOT_UTF8_MARK = "__not_utf8__"
NOT_UTF8 = b"\xff\xfe\x80\xc0\xaf\xed\xa0\x80\xf8\x88"
HOSTILE_VALUES = (
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e40",
    "-1e40",
    "1e400",
    "abc",
    "",
    " ",
    "1e-45",
    "0x10",
    " 3 ",
    NOT_UTF8_MARK,
    NUL_MARK,
    "9" * 400,
)
BAD_NAMES = (
    "",
    "../../etc/passwd",
    "a" * 10_000,
    "tone",
    NOT_UTF8_MARK,
    NUL_MARK,
    "con",
    "horn\nhorn",
    "horn\x01",
)

# --- the files a state may point at -------------------------------------------------------------------------


NEVER_ANSWERS = """
import ctypes, os, sys
fd = os.open("/dev/fuse", os.O_RDWR)
options = f"fd={fd},rootmode=40000,user_id={os.getuid()},group_id={os.getgid()}".encode()
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b"tonemorph-never-answers", sys.argv[1].encode(), b"fuse", 0, options):
    sys.exit(1)
print("mounted", flush=True)
sys.stdin.read()  # hold the mount, answering nothing, until the parent closes stdin or dies
"""


@contextlib.contextmanager
def never_answering_folder(folder: Path) -> Iterator[bool]:
    """A FUSE file system mounted at `folder` that nobody serves: any access below it waits (killably) as long
    as the block runs. Held by a helper process, so that the process that waits is never the one holding it.
    Yields False where /dev/fuse or mount(2) cannot be used (no privilege, no FUSE)."""
    helper = subprocess.Popen(
        [sys.executable, "-c", NEVER_ANSWERS, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    mounted = helper.stdout.readline() == b"mounted\n"
    try:
        yield mounted
    finally:
        helper.stdin.close()  # the helper ends; waiting accesses fail (ENOTCONN)
        helper.wait()
        if mounted:
            ctypes.CDLL(None, use_errno=True).umount2(os.fsencode(folder), 2)  # MNT_DETACH


@contextlib.contextmanager
def hostile_files(folder: Path, tone: Path) -> Iterator[dict[str, str]]:
    """name -> a path a state may hold; made in `folder` for as long as the block runs ("stuck": a folder
    that never answers, see never_answering_folder; "stuck_is_fuse" says whether it is one)."""
    folder.mkdir(parents=True, exist_ok=True)
    whole = tone.read_bytes()
    files = {
        "corrupt": bytes(b ^ 0x5A if i % 61 == 7 else b for i, b in enumerate(whole)),
        "truncated": whole[: len(whole) // 2],
        "not_a_model": b"these are my notes, not a model\n",
        "empty": b"",
        "wav": b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28),
    }
    paths = {
        "valid": str(tone),
        "missing": str(folder / "gone" / "horn.onnx"),
        "relative": "horn.onnx",
        "relative_up": "../../models/horn.onnx",
        "home": "~/horn.onnx",
        "root": "/",
        "dev_zero": "/dev/zero",
        "dev_urandom": "/dev/urandom",
        "dev_null": "/dev/null",
        "proc_mem": "/proc/self/mem",
        "long": "/" + "a" * 10_000 + ".onnx",
        "long_name": str(folder / ("a" * 300 + ".onnx")),
        "nul": str(folder / f"a{NUL_MARK}b.onnx"),
        "newline": str(folder / "a\nb.onnx"),
        "not_utf8": str(folder / f"{NOT_UTF8_MARK}.onnx"),
    }
    for name, content in files.items():
        paths[name] = str(folder / f"{name}.onnx")
        Path(paths[name]).write_bytes(content)
    (folder / "a-folder.onnx").mkdir(exist_ok=True)
    paths["folder"] = str(folder / "a-folder.onnx")
    paths["fifo"] = str(folder / "fifo.onnx")
    os.mkfifo(paths["fifo"])
    for link, target in (("loop_a", "loop_b.onnx"), ("loop_b", "loop_a.onnx"), ("link_to_zero", "/dev/zero")):
        paths[link] = str(folder / f"{link}.onnx")
        os.symlink(target, paths[link])
    stuck = folder / "never-answers"
    stuck.mkdir()
    with never_answering_folder(stuck) as fuse:
        if fuse:
            paths["stuck"] = str(stuck / "horn.onnx")
        else:
            paths["stuck"] = str(folder / "stuck-fifo.onnx")
            os.mkfifo(paths["stuck"])
        paths["stuck_is_fuse"] = "yes" if fuse else ""
        yield paths


# --- states -------------------------------------------------------------------------------------------------


def binary(xml: bytes, declared: int | None = None) -> bytes:
    """JUCE binary XML: magic, declared length (the text and its NUL), the text, a NUL."""
    return (
        _MAGIC
        + struct.pack("<I", (len(xml) + 1 if declared is None else declared) & 0xFFFFFFFF)
        + xml
        + b"\0"
    )


def _xml(element: ET.Element) -> bytes:
    return (
        ET.tostring(element, encoding="utf-8")
        .replace(NUL_MARK.encode(), b"\0")
        .replace(NOT_UTF8_MARK.encode(), NOT_UTF8)
    )


def _laughs() -> bytes:
    entities = "".join(f'<!ENTITY l{k} "{f"&l{k - 1};" * 10}">' for k in range(1, 10))
    return (
        f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY l0 "lol">{entities}]><tonemorph model="&l9;"/>'
    ).encode()


class States:
    """The base states of a fresh plugin, and the named cases built on them."""

    def __init__(self, outer: ET.Element, inner: ET.Element, hostile: dict[str, str]):
        self.outer_xml, self.inner, self.hostile = outer, inner, hostile

    @classmethod
    def of(cls, raw_state: bytes, hostile: dict[str, str]) -> States:
        from plugin_host import juce_b64decode, xml_from_binary

        outer = xml_from_binary(raw_state)
        return cls(outer, xml_from_binary(juce_b64decode(outer.find("IComponent").text)), hostile)

    def inner_element(self) -> ET.Element:
        return ET.fromstring(ET.tostring(self.inner))

    def wrap(self, inner: bytes) -> bytes:
        """A host state (pedalboard's raw_state) holding `inner` as the plugin's own state."""
        from plugin_host import juce_b64encode

        outer = ET.fromstring(ET.tostring(self.outer_xml))
        outer.find("IComponent").text = juce_b64encode(inner)
        return binary(ET.tostring(outer, encoding="utf-8"))

    def with_params(self, value: str, only: str | None = None) -> bytes:
        state = self.inner_element()
        for p in state.iter("PARAM"):
            if only is None or p.get("id") == only:
                p.set("value", value)
        return self.wrap(binary(_xml(state)))

    def with_model(self, path: str, name: str = "horn") -> bytes:
        state = self.inner_element()
        state.set("model", path)
        state.set("modelName", name)
        return self.wrap(binary(_xml(state)))

    def with_children(self, make: Callable[[ET.Element], None]) -> bytes:
        state = self.inner_element()
        make(state)
        return self.wrap(binary(_xml(state)))

    def named(self) -> list[tuple[str, str, Callable[[], bytes]]]:
        """(kind, what, make the host state) for each named case."""
        text = _xml(self.inner)
        cases = [
            ("host layer", "empty", lambda: b""),
            ("host layer", "1000 random bytes", lambda: os.urandom(1000)),
            ("host layer", "wrong magic", lambda: b"XXXX" + binary(ET.tostring(self.outer_xml))[4:]),
            ("host layer", "no IComponent", lambda: binary(b"<VST3PluginState/>")),
            (
                "host layer",
                "IComponent not base64",
                lambda: binary(b"<VST3PluginState><IComponent>!!!</IComponent></VST3PluginState>"),
            ),
            (
                "host layer",
                "IComponent declaring 2 GB",
                lambda: binary(
                    b"<VST3PluginState><IComponent>2147483647.AAAA</IComponent></VST3PluginState>"
                ),
            ),
            ("state bytes", "empty", lambda: self.wrap(b"")),
            ("state bytes", "7 bytes", lambda: self.wrap(b"VC2!\x05\x00\x00")),
            ("state bytes", "100 random bytes", lambda: self.wrap(os.urandom(100))),
            ("state bytes", "10000 random bytes", lambda: self.wrap(os.urandom(10_000))),
            ("state bytes", "wrong magic", lambda: self.wrap(b"XXXX" + binary(text)[4:])),
            ("state bytes", "declared length 2**31 - 1", lambda: self.wrap(binary(text, 2**31 - 1))),
            (
                "state bytes",
                "declared length 2**32 - 1 (negative)",
                lambda: self.wrap(binary(text, 2**32 - 1)),
            ),
            ("state bytes", "declared length 0", lambda: self.wrap(binary(text, 0))),
            ("state bytes", "declared length 1", lambda: self.wrap(binary(text, 1))),
            (
                "state bytes",
                "declared length 1 MB over the data",
                lambda: self.wrap(binary(text, len(text) + 2**20)),
            ),
            ("XML", "truncated at half", lambda: self.wrap(binary(text[: len(text) // 2]))),
            (
                "XML",
                "truncated, length as whole",
                lambda: self.wrap(binary(text, len(text) + 1)[: len(text) // 2]),
            ),
            (
                "XML",
                "another root",
                lambda: self.wrap(
                    binary(
                        text.replace(b"<tonemorph", b"<Tonemorph", 1).replace(
                            b"</tonemorph>", b"</Tonemorph>"
                        )
                    )
                ),
            ),
            ("XML", "no PARAMs", lambda: self.with_children(lambda s: [s.remove(p) for p in list(s)])),
            (
                "XML",
                "PARAMs without values",
                lambda: self.with_children(lambda s: [p.attrib.pop("value") for p in s.iter("PARAM")]),
            ),
            (
                "XML",
                "an unknown PARAM id",
                lambda: self.with_children(lambda s: ET.SubElement(s, "PARAM", id="warp_drive", value="1")),
            ),
            (
                "XML",
                "a PARAM twice, 1 and 1e9",
                lambda: self.with_children(lambda s: ET.SubElement(s, "PARAM", id="semitones", value="1e9")),
            ),
            (
                "XML",
                "a PARAM without id",
                lambda: self.with_children(lambda s: ET.SubElement(s, "PARAM", value="1")),
            ),
            (
                "XML",
                "100,000 PARAMs",
                lambda: self.wrap(
                    binary(b"<tonemorph>" + b'<PARAM id="semitones" value="1"/>' * 100_000 + b"</tonemorph>")
                ),
            ),
            (
                "XML",
                "nested 1,000 deep",
                lambda: self.wrap(binary(b"<tonemorph>" + b"<a>" * 1000 + b"</a>" * 1000 + b"</tonemorph>")),
            ),
            (
                "XML",
                "nested 30,000 deep",
                lambda: self.wrap(
                    binary(b"<tonemorph>" + b"<a>" * 30_000 + b"</a>" * 30_000 + b"</tonemorph>")
                ),
            ),
            ("XML", "entity expansion (a billion laughs)", lambda: self.wrap(binary(_laughs()))),
            (
                "XML",
                "an external entity at the FIFO",
                lambda: self.wrap(
                    binary(
                        f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY e SYSTEM "{self.hostile["fifo"]}">]>'
                        '<tonemorph model="&e;"/>'.encode()
                    )
                ),
            ),
            (
                "XML",
                "a 10 MB attribute",
                lambda: self.with_children(lambda s: s.set("junk", "x" * 10_000_000)),
            ),
            (
                "XML",
                "bytes that are not UTF-8",
                lambda: self.wrap(binary(text.replace(b"trumpet", NOT_UTF8, 1))),
            ),
        ]
        cases += [
            ("parameters", f"every parameter = {v[:12]!r}", lambda v=v: self.with_params(v))
            for v in HOSTILE_VALUES
        ]
        cases += [
            ("model path", f"{name}: {path[:60]!r}", lambda path=path: self.with_model(path))
            for name, path in self.hostile.items()
            if name != "stuck_is_fuse"
        ]
        cases += [
            (
                "model name",
                f"{which} file named {name[:20]!r}",
                lambda name=name, path=self.hostile[key]: self.with_model(path, name),
            )
            for key, which in (("missing", "a missing"), ("valid", "the valid"))
            for name in BAD_NAMES
        ]
        return cases

    def mutated(self, rng: random.Random) -> tuple[str, str, bytes]:
        """A seeded mutation of the valid state: its bytes, one parameter, or the model path and name."""
        how = rng.choice(("bit flips", "overwrite", "truncate", "parameter", "parameter", "model"))
        inner = binary(_xml(self.inner))
        if how == "bit flips":
            data = bytearray(inner)
            for _ in range(n := rng.choice((1, 2, 8, 32))):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            return "state bytes", f"{n} bit(s) flipped", self.wrap(bytes(data))
        if how == "overwrite":
            at, n = rng.randrange(len(inner)), rng.choice((1, 4, 16))
            data = inner[:at] + bytes(rng.randrange(256) for _ in range(n)) + inner[at + n :]
            return "state bytes", f"{n} byte(s) at {at} overwritten", self.wrap(data[: len(inner)])
        if how == "truncate":
            cut = rng.randrange(len(inner))
            return "state bytes", f"cut at byte {cut}", self.wrap(inner[:cut])
        if how == "parameter":
            param = rng.choice([p.get("id") for p in self.inner.iter("PARAM")])
            value = rng.choice((*HOSTILE_VALUES, repr(rng.uniform(-1e6, 1e6))))
            return "parameters", f"{param} = {value[:12]!r}", self.with_params(value, only=param)
        name = rng.choice([n for n in self.hostile if n != "stuck_is_fuse"])
        model_name = rng.choice(BAD_NAMES)
        return (
            "model path",
            f"{name}: {self.hostile[name][:40]!r}, named {model_name[:12]!r}",
            self.with_model(self.hostile[name], model_name),
        )


# --- playing a case -----------------------------------------------------------------------------------------


def _problems(inner: ET.Element, expected_ids: set[str], hostile: dict[str, str]) -> dict[str, list[str]]:
    """What is wrong with a state the plugin gave back: {kind of problem: examples} (empty: nothing)."""
    from tonemorph.engine import PARAMETERS

    specs = {p["name"]: p for p in PARAMETERS}
    problems: dict[str, list[str]] = {}
    if inner.tag != "tonemorph":
        problems["root is not <tonemorph>"] = [inner.tag]
    ids = [str(p.get("id")) for p in inner.iter("PARAM")]
    if sorted(ids) != sorted(expected_ids):
        problems["PARAM ids missing, unknown or twice"] = [
            f"{len(ids)} PARAMs",
            *sorted(set(ids) ^ expected_ids),
        ]
    for p in inner.iter("PARAM"):
        text, spec = p.get("value"), specs.get(str(p.get("id")))
        try:
            value = float(text)
        except TypeError:
            problems.setdefault("a PARAM without a value", []).append(str(p.get("id")))
            continue
        except ValueError:
            problems.setdefault("a parameter value that is not a number", []).append(
                f"{p.get('id')}={text!r}"
            )
            continue
        if not np.isfinite(value) or (spec and not spec["min"] <= value <= spec["max"]):
            problems.setdefault("a parameter value NaN, infinite or out of range", []).append(
                f"{p.get('id')}={text}"
            )
    model = inner.get("model", "")
    stuck = Path(hostile["stuck"]).parent if hostile.get("stuck_is_fuse") else None
    # A model on the folder that never answers is still loading when the state is read back: the state keeps
    # naming what was asked for (it loads when the folder answers), and the plugin plays on meanwhile.
    pending = bool(stuck) and model.startswith(str(stuck))
    kept = [
        name for name, path in hostile.items() if path and model == path and name not in ("valid", "stuck")
    ]
    if "\0" in model or kept:
        problems["the model kept at a hostile path"] = kept or [model[:60]]
    elif model and not pending and not os.path.isfile(model):
        problems["the model not a file"] = [model[:60]]
    if not pending and inner.get("modelName", "") != (Path(model).stem if model else ""):
        problems["modelName is not the model's"] = [repr(inner.get("modelName", ""))[:40], Path(model).stem]
    return problems


def target(config: dict) -> tuple[Callable[[int], Case], Callable[[Case], tuple[str, str]]]:
    """For tests/fuzz_runner.py: config has "seed", "hostile" (hostile_files), "models" (a model folder)."""
    os.environ["TONEMORPH_MODELS"] = config["models"]
    # No X server: without DISPLAY, JUCE would open :0 where a machine may run one (that of another test,
    # whose end would then end this worker).
    os.environ["DISPLAY"] = ":65535"
    sys.path.insert(0, str(fuzz_runner.TESTS_DIR))
    import pedalboard
    import plugin_host as host

    vst3 = str(host.vst3())
    fresh = pedalboard.load_plugin(vst3)
    states = States.of(fresh.raw_state, config["hostile"])
    expected_ids = {p.get("id") for p in states.inner.iter("PARAM")}
    named = states.named()
    x = host.tone(SAMPLE_RATE, PLAY_SECONDS)
    del fresh

    def make(index: int) -> Case:
        if index < len(named):
            kind, what, build = named[index]
            return Case(index, "named", kind, what, build())
        kind, what, data = states.mutated(random.Random(f"{config['seed']}/{index}"))
        return Case(index, "mutated", kind, what, data)

    def play(case: Case) -> tuple[str, str]:
        plugin = pedalboard.load_plugin(vst3)
        try:
            return restore_and_play(plugin, case.data)
        finally:
            del plugin
            gc.collect()  # unloads it (pedalboard's parameter wrappers and the plugin form a cycle)

    def restore_and_play(plugin, data: bytes) -> tuple[str, str]:
        try:
            plugin.raw_state = data
            taken = "taken"
        except Exception as e:  # noqa: BLE001 -- the host may refuse a state in its own way: that is fine
            taken = f"refused by the host ({type(e).__name__}: {str(e)[:80]})"
        y = plugin(x, SAMPLE_RATE, buffer_size=BLOCK)
        if not np.isfinite(y).all():
            return "NaN or inf out", taken
        if np.abs(y).max(initial=0.0) > host.OUTPUT_LIMIT:
            return "over +6 dBFS", f"peak {np.abs(y).max():.3g}; {taken}"
        try:
            problems = _problems(host.plugin_state(plugin.raw_state), expected_ids, config["hostile"])
        except (ET.ParseError, UnicodeDecodeError) as e:
            problems = {"the state it gives back is not well-formed UTF-8 XML": [str(e)]}
        outside = [
            f"{name}={p.raw_value!r}" for name, p in plugin.parameters.items() if not 0 <= p.raw_value <= 1
        ]
        if outside:
            problems["the host sees a parameter outside 0..1"] = outside
        if problems:  # the kinds first: the runner groups failures by the text before " -- "
            return "bad state", "; ".join(problems) + " -- " + "; ".join(
                f"{kind}: {', '.join(examples[:4])}" for kind, examples in problems.items()
            )
        return "working", f"{taken}; peak {np.abs(y).max():.3g}"

    return make, play


def named_count(hostile: dict[str, str]) -> int:
    """How many NAMED cases there are (the first indices of a run)."""
    return len(States(ET.Element("VST3PluginState"), ET.Element("tonemorph"), hostile).named())


@contextlib.contextmanager
def prepared(work_dir: Path, tone: Path) -> Iterator[dict]:
    """What the workers need: a user model folder holding the tone model (the plugin's default here), and the
    hostile files, made (and the never-answering folder unmounted) around the block."""
    models = work_dir / "user-models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "tone.onnx").write_bytes(tone.read_bytes())
    with hostile_files(work_dir / "hostile", tone) as hostile:
        yield {"hostile": hostile, "models": str(models), "memory": WORKER_MEMORY}


def notes(config: dict) -> dict[str, object]:
    return {
        "named cases": named_count(config["hostile"]),
        "a folder that never answers": "a FUSE mount nobody serves"
        if config["hostile"]["stuck_is_fuse"]
        else "a FIFO (FUSE cannot be mounted here)",
    }


def run(cases, work_dir: Path, tone: Path, seed: int = 0, **kwargs) -> fuzz_runner.Report:
    """fuzz_runner.run over this module's cases (kwargs: workers, budget, case_timeout)."""
    with prepared(work_dir, tone) as config:
        report = fuzz_runner.run(
            "fuzz_states",
            {**config, "seed": seed},
            cases,
            work_dir,
            case_timeout=kwargs.pop("case_timeout", CASE_TIMEOUT),
            **kwargs,
        )
    report.notes.update(notes(config))
    return report


def main(argv: list[str] | None = None) -> int:
    from fuzz_models import exported_bases

    with (
        tempfile.TemporaryDirectory(prefix="tonemorph-states-") as folder,
        prepared(Path(folder), exported_bases()["tone"]) as config,
    ):
        print("; ".join(f"{k}: {v}" for k, v in notes(config).items()))
        return fuzz_runner.cli(
            "fuzz_states",
            __doc__,
            config,
            argv,
            lambda case, path: path.write_bytes(case.data),
            default_cases=240,
            case_timeout=CASE_TIMEOUT,
        )


if __name__ == "__main__":
    sys.exit(main())
