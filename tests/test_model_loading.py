"""Model files: lookup by name or path, and a clear error for anything that is not a playable model."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from tonemorph.engine import Engine, ModelError, find_model, list_models, load_model


def test_load_reads_the_metadata(tone_model_path):
    model = load_model(tone_model_path)
    info = model.info
    assert info["name"] == "tone" and info["sample_rate"] == 24000 and info["hop_size"] == 96
    assert info["n_harmonics"] == 30 and info["state_shape"] == [1, 1, 4]


def test_load_by_name_from_the_user_folder(tone_model_path, tmp_path, monkeypatch):
    monkeypatch.setenv("TONEMORPH_MODELS", str(tmp_path))
    (tmp_path / "MyHorn.onnx").write_bytes(tone_model_path.read_bytes())
    assert find_model("myhorn") == tmp_path / "MyHorn.onnx"
    assert any(e.name == "MyHorn" and e.source == "user" for e in list_models())
    assert load_model("MyHorn").info["name"] == "tone"


def test_unknown_name_lists_what_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("TONEMORPH_MODELS", str(tmp_path))
    with pytest.raises(ModelError, match="no model named 'tuba'.*known"):
        load_model("tuba")


def strip_metadata(src, dst, key):
    graph = onnx.load(str(src))
    kept = [p for p in graph.metadata_props if p.key != key]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    onnx.save(graph, str(dst))


def set_metadata(src, dst, key, value):
    graph = onnx.load(str(src))
    for p in graph.metadata_props:
        if p.key == key:
            p.value = value
    onnx.save(graph, str(dst))


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda src, dst: dst.write_bytes(src.read_bytes()[: len(src.read_bytes()) // 2]), "damaged .truncated"),
        (lambda src, dst: dst.write_bytes(bytes(range(256)) * 64), "not an ONNX model, or it is damaged"),
        (lambda src, dst: dst.write_bytes(b""), "empty"),
        (lambda src, dst: strip_metadata(src, dst, "sample_rate"), "metadata 'sample_rate' is missing"),
        (lambda src, dst: strip_metadata(src, dst, "tonemorph_format"), "tonemorph_format"),
        (lambda src, dst: strip_metadata(src, dst, "reverb_ir"), "reverb_ir"),
        (lambda src, dst: set_metadata(src, dst, "hop_size", "ninety"), "hop_size.*not a number"),
        (lambda src, dst: set_metadata(src, dst, "tonemorph_format", "7"), "format is 7"),
        (lambda src, dst: set_metadata(src, dst, "n_harmonics", "31"), "n_harmonics"),
        (lambda src, dst: set_metadata(src, dst, "hop_size", "97"), "hop_size. 97 is not supported"),
    ],
    ids=["truncated", "random_bytes", "empty", "no_sample_rate", "no_format", "no_reverb", "bad_number",
         "future_format", "wrong_harmonics", "unsupported_hop"],
)
def test_bad_model_file_gives_clear_error(tone_model_path, tmp_path, make, message):
    bad = tmp_path / "bad.onnx"
    make(tone_model_path, bad)
    with pytest.raises(ModelError, match=message) as err:
        load_model(bad)
    assert "bad.onnx" in str(err.value)


def test_wrong_graph_is_refused(tmp_path):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = tmp_path / "identity.onnx"
    onnx.save(graph, str(path))
    with pytest.raises(ModelError, match="no input 'f0_hz'"):
        load_model(path)


@pytest.mark.parametrize("name,kind", [("melody.onnx", "midi-melody"), ("basic_pitch.onnx", "midi-transcribe")])
def test_another_kind_of_model_is_named_as_such(name, kind):
    """The MIDI tools' models are tonemorph models, but not instruments: the message says which kind."""
    path = Path(__file__).resolve().parents[1] / "models" / "midi" / name
    with pytest.raises(ModelError, match=f"it is a '{kind}' model, not an instrument"):
        load_model(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ModelError, match="nothere.onnx"):
        Engine(tmp_path / "nothere.onnx")


def test_reverb_tail_below_80_db_is_trimmed(tmp_path):
    import torch
    from model_fixtures import ToneDecoder
    from tonemorph.training.export import export_onnx
    from tonemorph.training.models import DDSP

    ddsp = DDSP(ToneDecoder(), reverb_seconds=0.5)
    with torch.no_grad():
        ddsp.reverb_ir_raw[:] = 0.0
        ddsp.reverb_ir_raw[1] = 1.0
        ddsp.reverb_ir_raw[3000] = 2e-4  # -74 dB: kept
        ddsp.reverb_ir_raw[5000] = 5e-5  # -86 dB: dust
    path = tmp_path / "tail.onnx"
    export_onnx(ddsp, path, name="tail", version=1, f0_range=(50.0, 2000.0))
    model = load_model(path)
    assert model.info["reverb_ir_length"] == 3001
    assert model.reverb_ir[1] == 1.0


def test_loading_a_loaded_file_again_shares_it(tone_model_path, tmp_path):
    """Instances that play one file share its session (one copy in memory); a rewritten file loads afresh."""
    from model_fixtures import export_tone_model

    path = tmp_path / "horn.onnx"
    path.write_bytes(tone_model_path.read_bytes())
    first = load_model(path)
    assert load_model(path) is first
    assert load_model(tmp_path / "." / "horn.onnx") is first  # the same file, spelled otherwise
    export_tone_model(path, name="horn2")
    second = load_model(path)
    assert second is not first and second.info["name"] == "horn2"


def test_engines_sharing_a_model_keep_their_own_streams(random_model_path):
    import numpy as np

    sr, block = 48000, 256
    t = np.arange(sr) / sr
    a = (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    b = (0.3 * np.sin(2 * np.pi * 330.0 * t)).astype(np.float32)

    alone = Engine(random_model_path)
    alone.prepare(sr, block, 1)
    expected = np.concatenate([alone.process(a[i : i + block][None]) for i in range(0, sr, block)], axis=-1)
    shared = load_model(random_model_path)
    first, second = Engine(shared), Engine(shared)
    for engine in (first, second):
        engine.prepare(sr, block, 1)
    got = []
    for i in range(0, sr, block):
        got.append(first.process(a[i : i + block][None]))
        second.process(b[i : i + block][None])  # interleaved: the GRU state must not be shared
    assert np.array_equal(np.concatenate(got, axis=-1), expected)
