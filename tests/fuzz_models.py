"""Model-file fuzzing: seeded mutations of real model files, each loaded and played in a worker process.

Untrusted input never takes the host down: whatever an .onnx file holds, tonemorph.engine either refuses it
with ModelError naming the file, or plays it with finite output within the +6 dBFS clamp. A case that kills
its worker (a signal: abort, segfault), hangs (no answer within CASE_TIMEOUT seconds), raises anything else,
refuses without naming the file or plays NaN is a failure (tests/fuzz_runner.py runs the workers). A case is
made from (seed, index) and the base models alone, so any one can be made again:

    .venv/bin/python tests/fuzz_models.py --case 123 --write /tmp/case.onnx   # the file, and what it is
    .venv/bin/python tests/fuzz_models.py --case 123 --play                   # played here: a crash shows
    .venv/bin/python tests/fuzz_models.py --cases 20000 --seed 7              # a longer run, with a report

The first cases of every run damage each node of the small test models in turn (node_sweep); the rest
mutate the test models of tests/model_fixtures.py (fast; exported once into $TMPDIR/tonemorph-fuzz-bases
here) or, a tenth of them, the shipped models/*.onnx. tests/test_fuzz_models.py runs TONEMORPH_FUZZ_CASES
cases from TONEMORPH_FUZZ_SEED.
"""

from __future__ import annotations

import base64
import random
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import fuzz_runner
import numpy as np
from fuzz_runner import Case

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
CASE_TIMEOUT = 20.0  # seconds for one case: load, two engines, two settings, 0.5 s of audio each
SETTINGS = ((48000, 256), (44100, 64))  # host rate and block size, each played offline and in real time
PLAY_SECONDS = 0.5
OUTPUT_LIMIT = 10 ** (6 / 20)  # +6 dBFS, the engine's clamp
WORKER_MEMORY = (
    4 * 2**30
)  # address space per worker: a model asking for more gets bad_alloc, not the OOM killer
PLAYED, REFUSED = "played", "refused"
GOOD = (PLAYED, REFUSED)
SHIPPED_WEIGHT = 0.1  # share of cases made from the (large, slow) shipped models

# --- making cases -------------------------------------------------------------------------------------------

METADATA_KEYS = (
    "tonemorph_format",
    "name",
    "version",
    "sample_rate",
    "hop_size",
    "n_harmonics",
    "n_noise_bands",
    "loudness_n_fft",
    "loudness_mean",
    "loudness_std",
    "f0_min_hz",
    "f0_max_hz",
    "reverb_ir",
    "description",
)
MISSING = None
# Replaced in the serialized file by as many bytes that are not UTF-8 (protobuf would refuse them).
NOT_UTF8 = "<not-utf8>"
NOT_UTF8_BYTES = b"\xff\xfe\x80\xc0\xaf\xed\xa0\x80\xf8\x88"
ANY_VALUE = (
    MISSING,
    "",
    NOT_UTF8,
    "abc",
    "-1",
    "0",
    "-0",
    "1e300",
    "-1e300",
    "1e-300",
    "nan",
    "NaN",
    "inf",
    "-inf",
    " 1",
    "1 ",
    "1.5",
    "0x10",
    "+2",
    "1e3",
    "1,5",
    "2147483648",
    "-2147483649",
    "18446744073709551617",
    "9" * 400,
    "\u0661\u0662",
    "\x00",
    "24000\x00garbage",
)
BOUNDARY_VALUES = {
    "sample_rate": ("384000", "768000", "768001", "7999", "8000", "24001", "22050", "1", "44100.5", "96000"),
    "hop_size": ("1", "2", "97", "77", "7919", "8192", "65536", "96.5", "100000"),
    "n_harmonics": ("1", "2", "29", "31", "100000", "2147483647"),
    "n_noise_bands": ("1", "2", "16", "18", "100000", "2147483647"),
    "loudness_n_fft": ("511", "513", "65536", "131072", "1", "2", "3", "94", "1000", "2187"),
    "loudness_mean": ("-1e30", "1e30", "-200"),
    "loudness_std": ("0", "-1", "1e-30", "1e30"),
    "f0_min_hz": ("0", "-50", "1e9", "5000"),
    "f0_max_hz": ("0", "1", "1e9", "49"),
    "tonemorph_format": ("2", "999", "1.0"),
    "version": ("-5", "1e9"),
    "name": ("a" * 100_000, "../../etc/passwd", "tone\nmodel", "\u202emodel", "%s%n%x"),
    "description": ("x" * 1_000_000,),
}
COMBINATIONS = (
    {"sample_rate": "384000", "hop_size": "1", "loudness_n_fft": "65536"},
    {"sample_rate": "768000", "hop_size": "1"},
    {"sample_rate": "8000", "hop_size": "8000"},
    {"hop_size": "1024", "loudness_n_fft": "512"},
    {"f0_min_hz": "2000", "f0_max_hz": "50"},
    {"sample_rate": "24001", "hop_size": "97", "loudness_n_fft": "513"},
    {"sample_rate": "384000", "n_harmonics": "100000"},
    {"sample_rate": "22050", "hop_size": "7919", "loudness_n_fft": "65536"},
    # within each key's range, at the corners (the costliest is refused by the engine's cost budget today)
    {"sample_rate": "192000", "hop_size": "8", "loudness_n_fft": "65536"},
    {"sample_rate": "48000", "hop_size": "8", "loudness_n_fft": "65536"},
    {"sample_rate": "192000", "hop_size": "9600", "loudness_n_fft": "2"},
    {"sample_rate": "8000", "hop_size": "8", "loudness_n_fft": "2"},
    {"sample_rate": "8000", "hop_size": "400", "loudness_n_fft": "65536"},
)
IO_NAMES = (
    "f0_hz",
    "loudness_db",
    "state",
    "amplitude",
    "harmonic_distribution",
    "noise_magnitudes",
    "state_out",
)
OUTPUT_NAMES = IO_NAMES[3:]
OP_TYPES = (
    "Sub",
    "Mul",
    "Div",
    "Relu",
    "Identity",
    "Neg",
    "Exp",
    "Log",
    "Sqrt",
    "Tanh",
    "Abs",
    "Reciprocal",
    "MatMul",
    "GRU",
    "LSTM",
    "Softmax",
    "NotAnOnnxOp",
)


def _props(model) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _set_prop(model, key: str, value: str | None) -> None:
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != key]
    del model.metadata_props[:]
    for k, v in kept + ([] if value is None else [(key, value)]):
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v


def _floats_b64(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, "<f4").tobytes()).decode()


def mutate_metadata(rng: random.Random, model) -> str:
    key = rng.choice(METADATA_KEYS)
    values = ANY_VALUE + BOUNDARY_VALUES.get(key, ())
    value = rng.choice(values)
    if rng.random() < 0.1 and value is not None:  # a second entry for the key
        model.metadata_props.add(key=key, value=value)
        return f"metadata {key} given twice, the second {value[:40]!r}"
    if rng.random() < 0.03:
        model.metadata_props.add(key=NOT_UTF8, value="1")
        return "metadata with a key that is not UTF-8"
    _set_prop(model, key, value)
    return f"metadata {key} {'missing' if value is None else '= ' + repr(value[:40])}"


def mutate_metadata_combination(rng: random.Random, model) -> str:
    combination = rng.choice(COMBINATIONS)
    for key, value in combination.items():
        _set_prop(model, key, value)
    return "metadata " + ", ".join(f"{k}={v}" for k, v in combination.items())


def mutate_reverb(rng: random.Random, model) -> str:
    rate = float(_props(model).get("sample_rate", 24000))
    n = rng.choice((1, 2, 97, 24000))
    ir = np.zeros(n, np.float32)
    kind = rng.choice(
        (
            "huge",
            "not_base64",
            "nan",
            "inf",
            "1e38",
            "denormal",
            "first_not_zero",
            "loud",
            "odd_bytes",
            "empty",
            "whitespace",
            "urlsafe",
        )
    )
    if kind == "huge":
        n = rng.choice((2**20, 2**22, 2**24, int(10 * rate), int(10 * rate) + 1))
        ir = np.zeros(n, np.float32)
        ir[1::997] = 1e-3
        value = _floats_b64(ir)
        return _reverb(model, value, f"reverb_ir of {n} samples ({n / rate:.0f} s)")
    values = {
        "not_base64": lambda: rng.choice(
            ("!!!!", "A", "AAA", "AAAA=", "AA==AA==", "****", "\u00e9\u00e9\u00e9\u00e9")
        ),
        "nan": lambda: _floats_b64(np.where(np.arange(n) % 2 == 1, np.nan, 0.0)),
        "inf": lambda: _floats_b64(np.where(np.arange(n) == n - 1, np.inf, 0.0)),
        "1e38": lambda: _floats_b64(np.full(n, 3e38)),
        "denormal": lambda: _floats_b64(np.full(n, 1e-45)),
        "first_not_zero": lambda: _floats_b64(np.ones(1)),
        "loud": lambda: _floats_b64(np.ones(max(n, 2))),
        "odd_bytes": lambda: base64.b64encode(bytes(5)).decode(),
        "empty": lambda: "",
        "whitespace": lambda: " " + _floats_b64(ir) + "\n",
        "urlsafe": lambda: base64.urlsafe_b64encode(np.full(n, -0.5, "<f4").tobytes()).decode(),
    }
    return _reverb(model, values[kind](), f"reverb_ir {kind} ({n} samples)")


def _reverb(model, value: str, what: str) -> str:
    _set_prop(model, "reverb_ir", value)
    return what


def _value_info(model, name: str):
    for v in list(model.graph.input) + list(model.graph.output):
        if v.name == name:
            return v
    raise KeyError(name)


def mutate_declared_shape(rng: random.Random, model) -> str:
    """The shape or type a graph input or output declares (the computation is left as it is)."""
    import onnx

    name = rng.choice(IO_NAMES)
    tensor = _value_info(model, name).type.tensor_type
    dims = tensor.shape.dim
    kind = rng.choice(("dim", "dim", "dim", "dynamic", "drop_dim", "add_dim", "no_shape", "type"))
    if kind == "type":
        elem = rng.choice(
            (
                onnx.TensorProto.DOUBLE,
                onnx.TensorProto.INT64,
                onnx.TensorProto.FLOAT16,
                onnx.TensorProto.STRING,
                onnx.TensorProto.UNDEFINED,
            )
        )
        tensor.elem_type = elem
        return f"{name} declared as {onnx.TensorProto.DataType.Name(elem)}"
    if kind == "no_shape":
        tensor.ClearField("shape")
        return f"{name} declared without a shape"
    if kind == "add_dim":
        dims.add().dim_value = rng.choice((1, 2))
        return f"{name} declared with one more dimension"
    k = rng.randrange(len(dims))
    if kind == "drop_dim":
        del dims[k]
        return f"{name} declared without dimension {k}"
    if kind == "dynamic":
        dims[k].dim_param = "X"
        return f"{name} dimension {k} declared dynamic"
    old = dims[k].dim_value or 1
    value = rng.choice((0, -1, 2 * old, old + 1, 2**31 - 1, 2**40))
    dims[k].dim_value = value
    return f"{name} dimension {k} declared {value}"


def _const(model, name: str, value: np.ndarray) -> str:
    import onnx.numpy_helper

    model.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(value), name))
    return name


def _rewire_output(model, name: str) -> str:
    """Rename what computes graph output `name` to a new tensor, returned (the caller computes `name`)."""
    inner = f"{name}__fuzz_inner"
    for node in model.graph.node:
        for i, out in enumerate(node.output):
            if out == name:
                node.output[i] = inner
    return inner


def mutate_output(rng: random.Random, model) -> str:
    """What an output really computes: wrong sizes, ranks, types or values (NaN, inf, negative)."""
    import onnx
    from onnx import helper

    name = rng.choice(OUTPUT_NAMES)
    inner = _rewire_output(model, name)
    kind = rng.choice(
        (
            "twice_the_channels",
            "one_channel_less",
            "extra_axis",
            "flat",
            "double",
            "int64",
            "times_nan",
            "times_inf",
            "negative",
            "times_1e30",
            "zero",
            "nan_in_first_channel",
        )
    )
    channels = max(1, _value_info(model, name).type.tensor_type.shape.dim[-1].dim_value)
    first_nan = np.zeros(channels, np.float32)
    first_nan[0] = np.nan
    node = {
        "twice_the_channels": lambda: helper.make_node("Concat", [inner, inner], [name], axis=-1),
        "one_channel_less": lambda: helper.make_node(
            "Slice",
            [
                inner,
                _const(model, "fuzz_start", np.array([0])),
                _const(model, "fuzz_end", np.array([-1])),
                _const(model, "fuzz_axis", np.array([-1])),
            ],
            [name],
        ),
        "extra_axis": lambda: helper.make_node(
            "Unsqueeze", [inner, _const(model, "fuzz_axes", np.array([0]))], [name]
        ),
        "flat": lambda: helper.make_node(
            "Reshape", [inner, _const(model, "fuzz_shape", np.array([-1]))], [name]
        ),
        "double": lambda: helper.make_node("Cast", [inner], [name], to=onnx.TensorProto.DOUBLE),
        "int64": lambda: helper.make_node("Cast", [inner], [name], to=onnx.TensorProto.INT64),
        "times_nan": lambda: helper.make_node(
            "Mul", [inner, _const(model, "fuzz_k", np.float32(np.nan))], [name]
        ),
        "times_inf": lambda: helper.make_node(
            "Mul", [inner, _const(model, "fuzz_k", np.float32(np.inf))], [name]
        ),
        "negative": lambda: helper.make_node("Neg", [inner], [name]),
        "times_1e30": lambda: helper.make_node(
            "Mul", [inner, _const(model, "fuzz_k", np.float32(1e30))], [name]
        ),
        "zero": lambda: helper.make_node("Mul", [inner, _const(model, "fuzz_k", np.float32(0))], [name]),
        "nan_in_first_channel": lambda: helper.make_node(
            "Add", [inner, _const(model, "fuzz_k", first_nan)], [name]
        ),
    }[kind]()
    model.graph.node.append(node)
    return f"{name} computed {kind.replace('_', ' ')}"


def _rename_everywhere(model, old: str, new: str) -> None:
    for node in model.graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for v in list(model.graph.input) + list(model.graph.output):
        if v.name == old:
            v.name = new


def _drop_node(rng, model) -> str:
    k = rng.randrange(len(model.graph.node))
    op = model.graph.node[k].op_type
    del model.graph.node[k]
    return f"node {k} ({op}) dropped"


def _change_op(rng, model) -> str:
    node = rng.choice(model.graph.node)
    old, node.op_type = node.op_type, rng.choice(OP_TYPES)
    return f"a {old} node made {node.op_type}"


def _unsupported_op(rng, model) -> str:
    from onnx import helper

    name = rng.choice(OUTPUT_NAMES)
    inner = _rewire_output(model, name)
    op, domain = rng.choice((("Sin", ""), ("Erf", ""), ("Mystery", "com.example.fuzz")))
    model.graph.node.append(helper.make_node(op, [inner], [name], domain=domain))
    if domain:
        model.opset_import.append(helper.make_opsetid(domain, 1))
    return f"{name} through {domain + '::' if domain else ''}{op}"


def _cycle(rng, model) -> str:
    nodes = model.graph.node
    k = rng.randrange(1, len(nodes))
    if nodes[k].input:
        nodes[k].input[0] = nodes[-1].output[0]
    return f"node {k} reads the last node's output (a cycle)"


def _no_nodes(rng, model) -> str:
    del model.graph.node[:]
    return "no nodes"


def _duplicate_output(rng, model) -> str:
    nodes = model.graph.node
    a, b = rng.sample(range(len(nodes)), 2)
    nodes[b].output[0] = nodes[a].output[0]
    return f"nodes {a} and {b} write the same tensor"


def _missing_input(rng, model) -> str:
    node = rng.choice([n for n in model.graph.node if n.input])
    node.input[rng.randrange(len(node.input))] = rng.choice(("", "nowhere", NOT_UTF8))
    return f"a {node.op_type} node reads a missing tensor"


def _constant_value(rng, model) -> str:
    import onnx

    constants = [n for n in model.graph.node if n.op_type == "Constant" and n.attribute]
    if not constants:
        return _drop_node(rng, model)
    t = rng.choice(constants).attribute[0].t
    change = rng.choice(("nan", "dims", "type"))
    if change == "nan" and t.data_type == onnx.TensorProto.FLOAT:
        t.raw_data = np.full(max(1, len(t.raw_data) // 4), np.nan, "<f4").tobytes()
    elif change == "dims":
        t.dims.append(3)
    else:
        t.data_type = onnx.TensorProto.DOUBLE
    return f"a Constant's tensor: {change}"


def mutate_attributes(rng: random.Random, model) -> str:
    """An attribute of an op the engine may run natively (GRU, LayerNormalization, Concat, Split, Transpose):
    its value made odd, the attribute dropped, or one the op does not know added."""
    import onnx
    from onnx import helper

    nodes = [n for n in model.graph.node if n.op_type not in ("Constant", "ConstantOfShape") and n.attribute]
    if not nodes:
        return _change_op(rng, model)
    node = rng.choice(nodes)
    k = rng.randrange(len(node.attribute))
    a = node.attribute[k]
    if rng.random() < 0.15:
        del node.attribute[k]
        return f"{node.op_type}.{a.name} dropped"
    if rng.random() < 0.1:
        name, value = rng.choice(
            (("direction", "bidirectional"), ("clip", 0.5), ("activations", ["Relu", "Relu"]), ("fuzz", 3))
        )
        node.attribute.append(helper.make_attribute(name, value))
        return f"{node.op_type} with an extra attribute {name}={value}"
    if a.type == onnx.AttributeProto.INT:
        a.i = rng.choice((-3, -2, -1, 0, 1, 2, 3, a.i * 2, a.i + 1, 2**31 - 1, -(2**31)))
        return f"{node.op_type}.{a.name} = {a.i}"
    if a.type == onnx.AttributeProto.FLOAT:
        a.f = rng.choice((float("nan"), float("inf"), -1.0, 0.0, 1e30, -1e-30))
        return f"{node.op_type}.{a.name} = {a.f}"
    if a.type == onnx.AttributeProto.INTS:
        values = list(a.ints)
        values = rng.choice(
            (values[::-1], [*values, 3], values[:-1], [v + 1 for v in values], [0] * len(values))
        )
        del a.ints[:]
        a.ints.extend(values)
        return f"{node.op_type}.{a.name} = {values}"
    if a.type == onnx.AttributeProto.STRING:
        a.s = rng.choice((b"", b"bidirectional", b"reverse", b"Tanh", NOT_UTF8.encode()))
        return f"{node.op_type}.{a.name} = {a.s!r}"
    del node.attribute[k]
    return f"{node.op_type}.{a.name} dropped"


def mutate_nodes(rng: random.Random, model) -> str:
    """Nodes dropped, made other ops (known, unknown, custom), wired into cycles or to nothing."""
    edit = rng.choice(
        (
            _drop_node,
            _change_op,
            _unsupported_op,
            _cycle,
            _no_nodes,
            _duplicate_output,
            _missing_input,
            _constant_value,
        )
    )
    return edit(rng, model)


def mutate_names(rng: random.Random, model) -> str:
    """Inputs and outputs renamed, in the declaration alone or everywhere, or two outputs swapped."""
    if rng.random() < 0.2:
        a, b = rng.sample(OUTPUT_NAMES, 2)
        _rename_everywhere(model, a, "fuzz_swap")
        _rename_everywhere(model, b, a)
        _rename_everywhere(model, "fuzz_swap", b)
        return f"outputs {a} and {b} swapped"
    name = rng.choice(IO_NAMES)
    new = rng.choice((name + "_", name.upper(), "", "x" * 1000, NOT_UTF8))
    if rng.random() < 0.5:
        _value_info(model, name).name = new
        return f"{name} renamed {new[:20]!r} in the declaration"
    _rename_everywhere(model, name, new)
    return f"{name} renamed {new[:20]!r} everywhere"


def mutate_initializer(rng: random.Random, model) -> str:
    """A weight's dims, type, length, encoding (float_data, external data) or values (NaN, inf); or none."""
    import onnx

    weights = [t for t in model.graph.initializer if t.raw_data]
    if not weights:  # the tone model has none: its Constants instead
        return _constant_value(rng, model)
    t = rng.choice(weights)
    change = rng.choice(("dims", "type", "length", "float_data", "external", "values", "dropped"))
    if change == "dims":
        dims = list(t.dims)
        how = rng.choice(
            (
                "reversed",
                "first doubled",
                "first dropped",
                "one added",
                "last zero",
                "last 2**40",
                "first negative",
            )
        )
        dims = {
            "reversed": dims[::-1],
            "first doubled": [2 * dims[0], *dims[1:]],
            "first dropped": dims[1:],
            "one added": [2, *dims],
            "last zero": [*dims[:-1], 0],
            "last 2**40": [*dims[:-1], 2**40],
            "first negative": [-dims[0], *dims[1:]],
        }[how]
        del t.dims[:]
        t.dims.extend(dims)
        return f"weight {t.name}: dims {how} ({dims}), data unchanged"
    if change == "type":
        t.data_type = rng.choice(
            (
                onnx.TensorProto.DOUBLE,
                onnx.TensorProto.FLOAT16,
                onnx.TensorProto.INT64,
                onnx.TensorProto.INT8,
                onnx.TensorProto.BOOL,
                onnx.TensorProto.STRING,
                0,
                999,
            )
        )
        return f"weight {t.name}: data type {t.data_type}, data unchanged"
    if change == "length":
        size = len(t.raw_data)
        cut = rng.choice((0, 1, size // 2, size - 4, size - 1, size + 1, size + 4, 2 * size))
        t.raw_data = t.raw_data[:cut] + bytes(max(0, cut - size))
        return f"weight {t.name}: {size} -> {cut} bytes of data"
    if change == "float_data":  # a valid alternative encoding
        values = np.frombuffer(t.raw_data, "<f4")
        t.ClearField("raw_data")
        t.float_data.extend(values.tolist())
        return f"weight {t.name}: stored as float_data (valid ONNX)"
    if change == "external":
        location = rng.choice(
            ("missing.bin", "/dev/zero", "/dev/urandom", "../../../../etc/passwd", "/proc/self/mem", ".")
        )
        t.ClearField("raw_data")
        t.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", str(rng.choice((4, 2**40))))):
            t.external_data.add(key=key, value=value)
        return f"weight {t.name}: external data at {location}"
    if change == "values":
        value = rng.choice((np.nan, np.inf, -np.inf, 3e38))
        t.raw_data = np.full(len(t.raw_data) // 4, value, "<f4").tobytes()
        return f"weight {t.name}: all {value}"
    model.graph.initializer.remove(t)
    return f"weight {t.name}: dropped"


def mutate_versions(rng: random.Random, model) -> str:
    if rng.random() < 0.5:
        model.opset_import[0].version = rng.choice((1, 6, 99, 10_000))
        return f"opset {model.opset_import[0].version}"
    model.ir_version = rng.choice((0, 1, 3, 15, 99))
    return f"ir_version {model.ir_version}"


def truncate(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    cut = rng.choice((rng.randrange(len(data)), len(data) - rng.randrange(1, 64), rng.randrange(64)))
    return data[:cut], f"cut at byte {cut} of {len(data)}"


def flip_bits(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    out = bytearray(data)
    n = rng.choice((1, 1, 2, 4, 16))
    for _ in range(n):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out), f"{n} bit(s) flipped"


def overwrite_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    out = bytearray(data)
    at, n = rng.randrange(len(out)), rng.choice((1, 4, 16))
    out[at : at + n] = bytes(rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256))) for _ in range(n))
    return bytes(out), f"{n} byte(s) at {at} overwritten"


PROTO_MUTATIONS: dict[str, Callable] = {
    "metadata": mutate_metadata,
    "metadata_combination": mutate_metadata_combination,
    "reverb": mutate_reverb,
    "declared_shape": mutate_declared_shape,
    "output": mutate_output,
    "nodes": mutate_nodes,
    "attributes": mutate_attributes,
    "names": mutate_names,
    "initializer": mutate_initializer,
    "versions": mutate_versions,
}
BYTE_MUTATIONS: dict[str, Callable] = {
    "truncate": truncate,
    "bit_flip": flip_bits,
    "overwrite": overwrite_bytes,
}
WEIGHTS = {  # percent of the cases after the sweep
    "metadata": 24,
    "metadata_combination": 3,
    "reverb": 6,
    "declared_shape": 7,
    "output": 10,
    "nodes": 10,
    "attributes": 8,
    "names": 3,
    "initializer": 8,
    "versions": 2,
    "truncate": 6,
    "bit_flip": 9,
    "overwrite": 4,
}
SWEEP, SWEPT = "sweep", ("tone", "random")  # the kind of node_sweep's cases, and the bases it sweeps
KINDS = (SWEEP, *WEIGHTS)


def node_sweep(bases: dict[str, bytes]) -> list[tuple[str, int, str]]:
    """(base, node, edit) for every node of the small test models: each of its inputs made missing, the node
    made an Identity, the node dropped. These are the first cases of every run, whatever the seed: each op
    the engine's own planner reads meets each kind of damage."""
    import onnx

    sweep = []
    for base in SWEPT:
        for k, node in enumerate(onnx.load_from_string(bases[base]).graph.node if base in bases else ()):
            sweep += [(base, k, f"input {i} missing") for i in range(len(node.input))]
            sweep += [(base, k, "made Identity"), (base, k, "dropped")]
    return sweep


def swept_case(index: int, bases: dict[str, bytes], base: str, k: int, edit: str) -> Case:
    import onnx

    model = onnx.load_from_string(bases[base])
    node = model.graph.node[k]
    what = f"node {k} ({node.op_type}) {edit}"
    if edit == "dropped":
        del model.graph.node[k]
    elif edit == "made Identity":  # a valid Identity: one input, no attributes
        node.op_type = "Identity"
        del node.input[1:]
        del node.attribute[:]
    else:
        node.input[int(edit.split()[1])] = ""
    return Case(index, base, SWEEP, what, model.SerializeToString())


def make_case(seed: int, index: int, bases: dict[str, bytes], sweep: list[tuple[str, int, str]]) -> Case:
    """Case `index` of the run from `seed`: the sweep's first, then one seeded mutation of one base model."""
    import onnx

    if index < len(sweep):
        return swept_case(index, bases, *sweep[index])
    rng = random.Random(f"{seed}/{index}")
    small = [n for n in bases if not n.startswith("shipped-")]
    shipped = [n for n in bases if n.startswith("shipped-")]
    base = rng.choice(shipped if shipped and rng.random() < SHIPPED_WEIGHT else small)
    kind = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    if kind in BYTE_MUTATIONS:
        data, what = BYTE_MUTATIONS[kind](rng, bases[base])
        return Case(index, base, kind, what, data)
    model = onnx.load_from_string(bases[base])
    what = PROTO_MUTATIONS[kind](rng, model)
    return Case(index, base, kind, what, model.SerializeToString().replace(NOT_UTF8.encode(), NOT_UTF8_BYTES))


# --- playing one case ---------------------------------------------------------------------------------------


def _tone(sr: int) -> np.ndarray:
    t = np.arange(int(PLAY_SECONDS * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.1 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


TONES = {sr: _tone(sr) for sr, _ in SETTINGS}


def play(path: Path) -> tuple[str, str]:
    """Load `path` and play it offline and in real time at each of SETTINGS. Returns (outcome, detail):
    REFUSED or PLAYED, else a failure: 'unnamed refusal', 'NaN or inf out', 'over +6 dBFS' (an exception of
    any other type is left to the caller)."""
    from tonemorph.engine import Engine, ModelError, load_model

    try:
        model = load_model(path)
        info, _ = model.info, model.name
        peak = 0.0
        for realtime in (False, True):
            engine = Engine(model, realtime=realtime)
            for sr, block in SETTINGS:
                engine.prepare(sr, block, 1)
                x = TONES[sr]
                for start in range(0, len(x), block):
                    y = engine.process(x[start : start + block])
                    if not np.isfinite(y).all():
                        return "NaN or inf out", f"realtime={realtime} {sr} Hz block {block}"
                    peak = max(peak, float(np.abs(y).max(initial=0.0)))
        if peak > OUTPUT_LIMIT:
            return "over +6 dBFS", f"peak {peak:.3g}"
        return PLAYED, f"peak {peak:.3g}, sample_rate {info.get('sample_rate')}, hop {info.get('hop_size')}"
    except ModelError as e:
        return (REFUSED if path.name in str(e) else "unnamed refusal"), str(e)


def target(config: dict) -> tuple[Callable[[int], Case], Callable[[Case], tuple[str, str]]]:
    """For tests/fuzz_runner.py: config has "seed", "bases" {name: path} and "dir" (where case files go)."""
    bases = {name: Path(path).read_bytes() for name, path in config["bases"].items()}
    folder = Path(config["dir"])
    import tonemorph.engine  # noqa: F401 -- imported before the first case is timed

    def play_case(case: Case) -> tuple[str, str]:
        path = folder / f"case-{case.index}.onnx"
        path.write_bytes(case.data)
        try:
            return play(path)
        finally:
            path.unlink(missing_ok=True)

    sweep = node_sweep(bases)
    return (lambda index: make_case(config["seed"], index, bases, sweep)), play_case


def run(
    bases: dict[str, Path], seed: int, cases: Iterable[int], work_dir: Path, **kwargs
) -> fuzz_runner.Report:
    """fuzz_runner.run over this module's cases (kwargs: workers, case_timeout, budget, abort, hang...)."""
    selftest = {k: kwargs.pop(k) for k in ("abort", "hang", "slow_start") if k in kwargs}
    config = {
        "seed": seed,
        "bases": {k: str(v) for k, v in bases.items()},
        "memory": WORKER_MEMORY,
        **selftest,
    }
    return fuzz_runner.run(
        "fuzz_models",
        config,
        cases,
        work_dir,
        case_timeout=kwargs.pop("case_timeout", CASE_TIMEOUT),
        **kwargs,
    )


# --- bases and the command line -----------------------------------------------------------------------------


def shipped_models() -> dict[str, Path]:
    return {f"shipped-{p.stem}": p for p in sorted((REPO / "models").glob("*.onnx"))}


def base_models(tone: Path, random_model: Path) -> dict[str, Path]:
    return {"tone": tone, "random": random_model, **shipped_models()}


def exported_bases() -> dict[str, Path]:
    """The test models, exported once into $TMPDIR/tonemorph-fuzz-bases (torch needed the first time)."""
    folder = Path(tempfile.gettempdir()) / "tonemorph-fuzz-bases"
    tone, random_model = folder / "tone.onnx", folder / "random.onnx"
    if not (tone.is_file() and random_model.is_file()):
        sys.path.insert(0, str(TESTS_DIR))
        from model_fixtures import export_random_model, export_tone_model

        folder.mkdir(exist_ok=True)
        export_tone_model(tone)
        export_random_model(random_model)
    return base_models(tone, random_model)


def main(argv: list[str] | None = None) -> int:
    config = {"bases": {k: str(v) for k, v in exported_bases().items()}, "memory": WORKER_MEMORY}
    return fuzz_runner.cli(
        "fuzz_models",
        __doc__,
        config,
        argv,
        lambda case, path: path.write_bytes(case.data),
        default_cases=4000,
        case_timeout=CASE_TIMEOUT,
    )


if __name__ == "__main__":
    sys.exit(main())
