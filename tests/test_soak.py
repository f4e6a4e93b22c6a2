"""A long soak of the engine as a live host drives it: ten minutes of a guitar-like part in random blocks
(1 to 2048 samples), knobs automated every block, a model swap every 20 seconds, audio and MIDI input in
turn: no NaN, no late frame, and no dropout (every note that was played sounds)."""

from __future__ import annotations

import numpy as np
from tonemorph.engine import Engine, load_model

SR = 48000
MINUTES = 10.0
NOTE = SR // 2  # a note every half second, a rest in four
BIN = SR // 20  # output level measured in 50 ms bins
SWAP_EVERY = 20 * SR
# What moves every block, and over what range (the ranges keep every note audible: the point is dropouts).
AUTOMATION = {"reverb_mix": (0.0, 2.0), "noise_gain": (0.0, 4.0), "semitones": (-12.0, 12.0), "glide_ms": (0.0, 300.0),
              "attack_ms": (0.0, 100.0), "release_ms": (20.0, 500.0), "pitch_bend_range": (0.0, 12.0),
              "auto_adjust": (0.0, 1.0), "loudness_offset_db": (-6.0, 6.0)}


def note_audio(f0: float) -> np.ndarray:
    t = np.arange(NOTE) / SR
    return (0.3 * np.exp(-2.5 * t) * sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 8))).astype(np.float32)


def test_ten_minutes_of_random_blocks_automation_and_swaps():
    models = [load_model(name) for name in ("trumpet", "violin", "flute", "saxophone")]
    engine = Engine(models[0], realtime=True)
    engine.prepare(SR, 2048, 1)
    latency = engine.latency_samples()
    rng = np.random.default_rng(7)
    total = int(MINUTES * 60 * SR)
    energy = np.zeros(total // BIN + 2)
    played, swaps, bad = [], 0, 0
    position = 0
    while position < total:
        index, offset = divmod(position, NOTE)
        midi = (index // 40) % 2 == 1  # 20 s of audio input, then 20 s of MIDI, in turn
        if offset == 0:
            rest = index % 4 == 3
            pitch = int(45 + rng.integers(0, 24))
            audio = np.zeros(NOTE, np.float32) if rest or midi else note_audio(440.0 * 2 ** ((pitch - 69) / 12))
            engine.set_param("midi_mode", float(midi))
            if not rest:
                played.append(position)
        n = min(int(rng.integers(1, 2049)), NOTE - offset, total - position)
        events = []
        if midi and not rest and offset == 0:
            events.append((0, [0x90, pitch, 100]))
        if midi and not rest and offset + n == NOTE:
            events.append((n - 1, [0x80, pitch, 0]))
        for name in rng.choice(sorted(AUTOMATION), size=2, replace=False):
            low, high = AUTOMATION[name]
            engine.set_param(name, float(rng.uniform(low, high)))
        y = engine.process(np.ascontiguousarray(audio[offset : offset + n]), events)
        bad += int(not np.isfinite(y).all())
        np.add.at(energy, (position + np.arange(n)) // BIN, y.astype(np.float64) ** 2)
        position += n
        if position >= (swaps + 1) * SWAP_EVERY and position < total:
            swaps += 1
            engine.set_model(models[swaps % len(models)])
    # Each played note's body: the 50 ms from 50 ms after it sounds (its attack, a glide, a crossfade).
    levels = [np.sqrt(energy[(start + latency) // BIN + 1] / BIN) for start in played if start + latency + 2 * BIN < total]
    assert bad == 0
    assert swaps == int(MINUTES * 60 * SR) // SWAP_EVERY - 1
    assert engine.status["overruns"] == 0  # inline decoding: never a late frame
    assert len(levels) > 850
    assert min(levels) > 1e-3, f"played notes came out silent: {sorted(levels)[:5]}"
