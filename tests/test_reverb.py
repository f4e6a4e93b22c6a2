"""Reverb (cpp/dsp/Reverb.h): zero-latency partitioned convolution, wet = (x * ir)[:len(x)]."""

import numpy as np
import pytest
from tonemorph.engine import _core

SR = 24000
HOP = 96


def decaying_ir(length, seed, rt60_s=0.5):
    """Exponentially decaying noise of unit energy, like a room's impulse response."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / SR
    ir = rng.standard_normal(length) * 10.0 ** (-3.0 * t / rt60_s)
    return (ir / np.sqrt(np.sum(ir**2))).astype(np.float32)


@pytest.mark.parametrize("ir_length", [1, HOP, int(3.5 * HOP), SR], ids=["1", "hop", "3.5hop", "1s"])
def test_matches_numpy_convolve(ir_length):
    ir = decaying_ir(ir_length, seed=ir_length)
    n_hops = (ir_length + 2 * SR // 10) // HOP + 3  # past the IR's end, so every partition is exercised
    x = np.random.default_rng(1).uniform(-1.0, 1.0, n_hops * HOP).astype(np.float32)

    wet = _core.Reverb(ir, HOP).process(x)
    expected = np.convolve(x.astype(np.float64), ir.astype(np.float64))[: len(x)]
    assert wet.shape == x.shape
    assert np.abs(expected).max() > 0.5
    assert np.max(np.abs(wet - expected)) < 1e-4


@pytest.mark.parametrize("hop", [1, 2, 64, 250])
def test_matches_numpy_convolve_at_other_hops(hop):
    ir = decaying_ir(1000, seed=hop)
    x = np.random.default_rng(hop).uniform(-1.0, 1.0, (2000 // hop + 1) * hop).astype(np.float32)
    wet = _core.Reverb(ir, hop).process(x)
    assert np.max(np.abs(wet - np.convolve(x.astype(np.float64), ir)[: len(x)])) < 1e-4


@pytest.mark.parametrize("position", [0, 1, HOP - 1, HOP, 5 * HOP + 37])
def test_impulse_at_sample_n_gives_ir_at_sample_n(position):
    ir = decaying_ir(3 * HOP + 10, seed=2)
    x = np.zeros(10 * HOP, np.float32)
    x[position] = 1.0
    wet = _core.Reverb(ir, HOP).process(x)
    assert np.max(np.abs(wet[:position]), initial=0.0) < 1e-6
    end = min(len(x), position + len(ir))
    np.testing.assert_allclose(wet[position:end], ir[: end - position], atol=1e-6)
    assert np.max(np.abs(wet[end:]), initial=0.0) < 1e-6


def test_output_independent_of_chunking_and_reset_clears_the_tail():
    ir = decaying_ir(7 * HOP + 3, seed=4)
    x = np.random.default_rng(4).uniform(-1.0, 1.0, 40 * HOP).astype(np.float32)
    reverb = _core.Reverb(ir, HOP)
    whole = reverb.process(x)

    reverb.reset()
    pieces = [reverb.process(x[a * HOP : b * HOP]) for a, b in [(0, 1), (1, 1), (1, 9), (9, 40)]]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)

    reverb.reset()
    np.testing.assert_array_equal(reverb.process(np.zeros(10 * HOP, np.float32)), 0.0)


def test_empty_ir_gives_silence():
    reverb = _core.Reverb(np.zeros(0, np.float32), HOP)
    assert reverb.ir_length == 0
    x = np.random.default_rng(0).uniform(-1.0, 1.0, 8 * HOP).astype(np.float32)
    np.testing.assert_array_equal(reverb.process(x), 0.0)


def test_non_finite_input_does_not_poison_output():
    ir = decaying_ir(4 * HOP, seed=5)
    x = np.random.default_rng(5).uniform(-1.0, 1.0, 20 * HOP).astype(np.float32)
    x[100], x[101], x[102] = np.nan, np.inf, -np.inf
    assert np.all(np.isfinite(_core.Reverb(ir, HOP).process(x)))


def test_bad_input_raises_value_error():
    reverb = _core.Reverb(np.ones(10, np.float32), HOP)
    with pytest.raises(ValueError, match="whole number of hops"):
        reverb.process(np.zeros(HOP + 1, np.float32))
    with pytest.raises(ValueError, match="1-D"):
        reverb.process(np.zeros((2, HOP), np.float32))
    with pytest.raises(ValueError, match="ir must be a 1-D"):
        _core.Reverb(np.ones((2, 5), np.float32), HOP)
    with pytest.raises(ValueError, match="hop must be > 0"):
        _core.Reverb(np.ones(10, np.float32), 0)
