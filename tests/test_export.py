"""export_onnx writes the model file of docs/model-format.md, validated against torch, or nothing at all."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from tonemorph.training.export import ExportValidationError, export_onnx, read_metadata
from tonemorph.training.models import DDSP, Decoder

OUTPUTS = ("amplitude", "harmonic_distribution", "noise_magnitudes", "state_out")
TOLERANCE = 1e-4
SMALL = {
    "n_harmonics": 8,
    "n_noise_bands": 9,
    "hidden": 16,
    "gru_layers": 2,
    "sample_rate": 16000,
    "hop": 64,
    "mlp_layers": 2,
}


def small_ddsp(seed=0):
    torch.manual_seed(seed)
    model = DDSP(Decoder(**SMALL, loudness_mean=-45.123456789, loudness_std=12.3456789), reverb_seconds=0.01)
    with torch.no_grad():
        model.reverb_ir_raw[0] = 0.5  # the file must still carry ir[0] = 0
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = small_ddsp()
    path = tmp_path_factory.mktemp("export") / "small.onnx"
    export_onnx(model, path, name="small test", version=3, f0_range=(80.0, 900.0), description="random init")
    return model, path


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def controls(frames, seed):
    """f0 across and beyond the training range with unvoiced frames; loudness from silence to full scale."""
    generator = torch.Generator().manual_seed(seed)
    f0 = 40.0 * 2.0 ** (6.0 * torch.rand(1, frames, 1, generator=generator))
    f0[:, ::7] = 0.0
    loudness = -80.0 + 80.0 * torch.rand(1, frames, 1, generator=generator)
    return f0, loudness


def run_ort(sess, f0, loudness, state):
    return sess.run(
        list(OUTPUTS), {"f0_hz": f0.numpy(), "loudness_db": loudness.numpy(), "state": state.numpy()}
    )


def max_abs_diff(got, expected):
    assert [g.shape for g in got] == [tuple(e.shape) for e in expected]
    return max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))


def test_metadata_round_trips(exported):
    model, path = exported
    metadata = read_metadata(path)
    ir = metadata.pop("reverb_ir")
    assert metadata == {
        "tonemorph_format": 1,
        "name": "small test",
        "version": 3,
        "sample_rate": 16000,
        "hop_size": 64,
        "n_harmonics": 8,
        "n_noise_bands": 9,
        "loudness_n_fft": 512,
        "loudness_mean": -45.123456789,
        "loudness_std": 12.3456789,
        "f0_min_hz": 80.0,
        "f0_max_hz": 900.0,
        "description": "random init",
    }
    assert ir.dtype == np.float32 and ir.shape == (160,)
    assert ir[0] == 0.0
    np.testing.assert_array_equal(ir, model.reverb_ir().detach().numpy())


def test_graph_has_contract_names_and_dynamic_frames(exported):
    _, path = exported
    graph = onnx.load(str(path)).graph

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert [(i.name, dims(i)) for i in graph.input] == [
        ("f0_hz", [1, "T", 1]),
        ("loudness_db", [1, "T", 1]),
        ("state", [2, 1, 16]),
    ]
    assert [(o.name, dims(o)) for o in graph.output] == [
        ("amplitude", [1, "T", 1]),
        ("harmonic_distribution", [1, "T", 8]),
        ("noise_magnitudes", [1, "T", 9]),
        ("state_out", [2, 1, 16]),
    ]
    assert all(i.data_type == onnx.TensorProto.FLOAT for i in graph.initializer)


def test_ort_matches_torch_frame_by_frame_with_state_carried(exported):
    model, path = exported
    sess = session(path)
    f0, loudness = controls(60, seed=1)
    state = model.decoder.initial_state()
    worst = 0.0
    with torch.no_grad():
        for k in range(60):
            expected = model.decoder(f0[:, k : k + 1], loudness[:, k : k + 1], state)
            got = run_ort(sess, f0[:, k : k + 1], loudness[:, k : k + 1], state)
            worst = max(worst, max_abs_diff(got, expected))
            state = torch.from_numpy(got[-1])  # the engine carries ORT's state, not torch's
    assert worst <= TOLERANCE
    assert np.abs(got[-1]).max() > 0.01  # the state did move


def test_ort_matches_torch_for_many_frames_per_call(exported):
    model, path = exported
    sess = session(path)
    f0, loudness = controls(80, seed=2)
    state = torch.randn(2, 1, 16, generator=torch.Generator().manual_seed(3)) * 0.5
    with torch.no_grad():
        expected = model.decoder(f0, loudness, state)
    got = run_ort(sess, f0, loudness, state)
    assert max_abs_diff(got, expected) <= TOLERANCE
    # Streaming: one call of 80 frames is the same as 80 calls of one frame.
    streamed, carried = [], state
    for k in range(80):
        outputs = run_ort(sess, f0[:, k : k + 1], loudness[:, k : k + 1], carried)
        streamed.append(outputs[:3])
        carried = torch.from_numpy(outputs[-1])
    for i in range(3):
        np.testing.assert_allclose(np.concatenate([s[i] for s in streamed], axis=1), got[i], atol=TOLERANCE)
    np.testing.assert_allclose(carried.numpy(), got[3], atol=TOLERANCE)


def test_outputs_are_non_negative_controls(exported):
    _, path = exported
    f0, loudness = controls(50, seed=4)
    got = run_ort(session(path), f0, loudness, torch.zeros(2, 1, 16))
    assert all(np.all(np.isfinite(g)) for g in got)
    assert all(np.all(g >= 0.0) for g in got[:3])


def corrupt_after_export(monkeypatch):
    """Make torch.onnx.export write a graph whose weights are 5 % off, as a broken exporter would."""
    real_export = torch.onnx.export

    def export_then_corrupt(model, args, f, **kwargs):
        real_export(model, args, f, **kwargs)
        proto = onnx.load(f)
        for init in proto.graph.initializer:
            values = onnx.numpy_helper.to_array(init)
            init.CopyFrom(onnx.numpy_helper.from_array(values * np.float32(1.05), init.name))
        onnx.save(proto, f)

    monkeypatch.setattr(torch.onnx, "export", export_then_corrupt)


def test_export_that_differs_from_torch_is_refused_and_leaves_no_file(tmp_path, monkeypatch):
    corrupt_after_export(monkeypatch)
    path = tmp_path / "broken.onnx"
    with pytest.raises(ExportValidationError, match="differ"):
        export_onnx(small_ddsp(), path, name="broken", version=1, f0_range=(80.0, 900.0))
    assert list(tmp_path.iterdir()) == []


def test_refused_export_keeps_the_previous_model(tmp_path, monkeypatch):
    path = tmp_path / "model.onnx"
    export_onnx(small_ddsp(seed=1), path, name="good", version=1, f0_range=(80.0, 900.0))
    before = path.read_bytes()
    corrupt_after_export(monkeypatch)
    with pytest.raises(ExportValidationError):
        export_onnx(small_ddsp(seed=2), path, name="broken", version=2, f0_range=(80.0, 900.0))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_bare_decoder_exports_with_a_silent_reverb_and_keeps_training_mode(tmp_path):
    torch.manual_seed(7)
    decoder = Decoder(**SMALL, loudness_mean=-40.0, loudness_std=20.0)
    decoder.train()
    difference = export_onnx(decoder, tmp_path / "dry.onnx", name="dry", version=0, f0_range=(50.0, 2000.0))
    assert 0.0 <= difference <= TOLERANCE
    assert decoder.training
    metadata = read_metadata(tmp_path / "dry.onnx")
    np.testing.assert_array_equal(metadata["reverb_ir"], np.zeros(1, dtype=np.float32))
    assert "description" not in metadata


def test_read_metadata_rejects_other_onnx_files(tmp_path):
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        [node], "g", [value("x", onnx.TensorProto.FLOAT, [1])], [value("y", onnx.TensorProto.FLOAT, [1])]
    )
    onnx.save(onnx.helper.make_model(graph), tmp_path / "other.onnx")
    with pytest.raises(ValueError, match="not a tonemorph model"):
        read_metadata(tmp_path / "other.onnx")
