"""FluidSynth's render of a MIDI file, in a process of its own: `python fluid_render.py SR TAIL_S` reads a
MIDI file on stdin and writes mono float32 samples (peak 0.5) on stdout.

Why a process: with onnxruntime imported, libfluidsynth's output varies from run to run by up to 25 LSB
(16-bit) for the same events (seen with Debian's FluidSynth 2.3.1 and onnxruntime 1.29; a fresh interpreter without it
renders bit-identically every time), and Basic Pitch's weaker notes sit near their thresholds. The tests
that assert exact notes need the same audio every run.
"""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
from signals import SOUNDFONT


def render_here(midi_bytes: bytes, sr: int, tail_s: float) -> np.ndarray:
    """The render itself (reverb and chorus off): mono [samples] float32, peak 0.5."""
    import fluidsynth
    import mido

    midi = mido.MidiFile(file=io.BytesIO(midi_bytes))
    synth = fluidsynth.Synth(samplerate=float(sr), **{"synth.reverb.active": 0, "synth.chorus.active": 0})
    chunks, position, now = [], 0, 0.0
    try:
        sfid = synth.sfload(str(SOUNDFONT))
        if sfid < 0:
            raise RuntimeError(f"FluidSynth could not load {SOUNDFONT}")
        for message in midi:
            now += message.time
            if (until := round(now * sr)) > position:
                chunks.append(synth.get_samples(until - position))
                position = until
            if message.type == "program_change":
                synth.program_select(message.channel, sfid, 0, message.program)
            elif message.type == "note_on":
                synth.noteon(message.channel, message.note, message.velocity)
            elif message.type == "note_off":
                synth.noteoff(message.channel, message.note)
            elif message.type == "pitchwheel":
                synth.pitch_bend(message.channel, message.pitch)
        chunks.append(synth.get_samples(round(tail_s * sr)))
    finally:
        synth.delete()
    stereo = np.concatenate(chunks).astype(np.float64).reshape(-1, 2) / 32768.0
    mono = stereo.mean(axis=1)
    return (mono * (0.5 / np.max(np.abs(mono)))).astype(np.float32)


def render(midi, sr: int, tail_s: float) -> np.ndarray:
    """`midi` (a mido.MidiFile) rendered by render_here() in a fresh interpreter."""
    data = io.BytesIO()
    midi.save(file=data)
    result = subprocess.run(
        [sys.executable, __file__, str(sr), str(tail_s)],
        input=data.getvalue(),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"fluid_render.py failed: {result.stderr.decode(errors='replace')}")
    return np.frombuffer(result.stdout, np.float32).copy()


def main() -> None:
    """The child's side: the samples go to the original stdout; anything FluidSynth or its bindings print
    (a warning about an audio driver, seen on the CI machine) goes to stderr instead of into the samples."""
    import os

    samples_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    audio = render_here(sys.stdin.buffer.read(), int(sys.argv[1]), float(sys.argv[2]))
    samples_out.write(audio.tobytes())
    samples_out.close()


if __name__ == "__main__":
    main()
