"""Type stubs for tonemorph.engine._core, the pybind11 module (one section per binding source)."""

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float32]
ArrayLike: TypeAlias = npt.ArrayLike

# --- bind_synths.cpp: HarmonicSynth, FilteredNoise, Reverb ---

class HarmonicSynth:
    """Phase-continuous additive synth, one hop per frame (docs/model-format.md)."""

    def __init__(self, sample_rate: float, hop: int, n_harmonics: int) -> None: ...
    def process(self, f0: ArrayLike, amplitude: ArrayLike, distribution: ArrayLike) -> FloatArray:
        """f0 [T] Hz, amplitude [T], distribution [T, n_harmonics] -> audio [T * hop]."""
    def reset(self) -> None: ...
    @property
    def hop(self) -> int: ...
    @property
    def n_harmonics(self) -> int: ...

class FilteredNoise:
    """Filtered noise, one hop per frame; FIR of ir_size = 2 (n_bands - 1) taps per frame."""

    def __init__(self, hop: int, n_bands: int, seed: int = 0x9E3779B9) -> None: ...
    def process(self, magnitudes: ArrayLike, noise: ArrayLike | None = None) -> FloatArray:
        """magnitudes [T, n_bands], noise [T * hop] or None (built-in generator) -> audio [T * hop]."""
    def reset(self, seed: int = 0x9E3779B9) -> None: ...
    @property
    def hop(self) -> int: ...
    @property
    def n_bands(self) -> int: ...
    @property
    def ir_size(self) -> int: ...

class Reverb:
    """Zero-latency partitioned FFT convolution; process returns the wet signal only."""

    def __init__(self, ir: ArrayLike, hop: int) -> None: ...
    def process(self, x: ArrayLike) -> FloatArray:
        """x [n * hop] -> wet (x * ir)[:len(x)], [n * hop]."""
    def reset(self) -> None: ...
    @property
    def hop(self) -> int: ...
    @property
    def ir_length(self) -> int: ...

# --- bind_analysis.cpp: YinPitch, PitchDropGuard, Loudness ---

class YinPitch:
    """Causal YIN pitch tracker: one f0 estimate and confidence per hop, streaming across calls."""

    VOICED_CONFIDENCE: float
    """Confidence at or above which the engine treats a frame as voiced (1 - the default threshold)."""

    def __init__(
        self,
        sample_rate: float,
        hop: int,
        fmin_hz: float = 50.0,
        fmax_hz: float = 2000.0,
        window_ms: float = 20.0,
        threshold: float = 0.15,
    ) -> None: ...
    def process(self, x: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """x [n] -> (f0_hz [frames], confidence [frames]), one per hop completed by this call."""
    def reset(self) -> None: ...
    @property
    def history_size(self) -> int: ...
    @property
    def latency_samples(self) -> int: ...
    @property
    def sample_rate(self) -> float: ...
    @property
    def hop(self) -> int: ...

class PitchDropGuard:
    """Holds back pitch drops of more than max_drop_semitones until confirm_frames frames agree on them."""

    def __init__(self, confirm_frames: int = 4, max_drop_semitones: float = 6.0) -> None: ...
    def process(self, f0_hz: ArrayLike) -> FloatArray:
        """f0 [frames] of pitched frames (0 or NaN: none) -> the pitch to play [frames]."""
    def reset(self) -> None: ...
    @property
    def current_hz(self) -> float: ...

class Loudness:
    """DDSP's A-weighted loudness in dB per hop, causal, streaming across calls."""

    def __init__(
        self, sample_rate: float, hop: int, n_fft: int = 512, range_db: float = 80.0, ref_db: float = 0.0
    ) -> None: ...
    def process(self, x: ArrayLike) -> FloatArray:
        """x [n] -> loudness_db [frames], one per hop completed by this call."""
    def reset(self) -> None: ...
    @staticmethod
    def a_weighting_db(freq: float) -> float:
        """librosa.A_weighting(freq, min_db=-80) in dB."""
    @property
    def sample_rate(self) -> float: ...
    @property
    def hop(self) -> int: ...
    @property
    def n_fft(self) -> int: ...

# --- bind_engine.cpp: Resampler, Model, Decoder, Engine ---

class ModelError(ValueError):
    """A file that is not a playable tonemorph model; the message names the file and the problem."""

class Resampler:
    """Streaming polyphase resampler between two integer rates; output independent of the block split."""

    def __init__(self, in_rate: float, out_rate: float, taps_per_phase: int = 32) -> None: ...
    def process(self, x: ArrayLike) -> FloatArray: ...
    def reset(self) -> None: ...
    @property
    def latency(self) -> float:
        """Group delay in input samples."""
    @property
    def ratio(self) -> tuple[int, int]: ...

class Model:
    @staticmethod
    def load(path: str) -> Model: ...
    @property
    def info(self) -> dict: ...
    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def reverb_ir(self) -> FloatArray: ...

class Decoder:
    def __init__(self, model: Model) -> None: ...
    def reset(self) -> None: ...
    def run(self, f0_hz: ArrayLike, loudness_db: ArrayLike) -> dict[str, FloatArray]: ...

PARAMETERS: list[dict]

class Engine:
    def __init__(self, realtime: bool = False) -> None: ...
    def set_model(self, model: Model) -> None: ...
    @property
    def model(self) -> Model | None: ...
    def prepare(self, sample_rate: float, max_block: int, channels: int = 2) -> None: ...
    def reset(self) -> None: ...
    def latency_samples(self) -> int: ...
    @property
    def sample_rate(self) -> float: ...
    @property
    def max_block(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def swap_pending(self) -> bool: ...
    def process(self, audio: ArrayLike, midi: list[tuple[int, list[int]]] = ...) -> FloatArray: ...
    def set_param(self, name: str, value: float) -> None: ...
    def get_param(self, name: str) -> float: ...
    @property
    def status(self) -> dict: ...

# --- bind_master.cpp: the mastering action (submodule master) ---

class _MasterModule:
    """cpp/actions/master: analysis, match EQ, true-peak limiter (tonemorph.engine.master wraps it)."""

    GRID_HZ: list[float]
    def analyse(self, file: object, progress: object | None = None) -> dict:
        """Loudness, range, true peak, sample peak, width, mid/side spectra of a readable file (SoundFile API)."""
    def run(
        self,
        track: object,
        reference: object | None,
        sink: object,
        *,
        match_reference: bool = True,
        target_lufs: float = -14.0,
        strength: float = 1.0,
        max_eq_db: float = 12.0,
        ceiling_dbtp: float = -1.0,
        phase: str = "linear",
        bits: int = 24,
        seed: int = 1,
        track_name: str = "the track",
        reference_name: str = "the reference",
        progress: object | None = None,
    ) -> dict:
        """Master track into sink (begin(); write(array)); the analyses, EQ, gain, passes and warnings."""

master: _MasterModule

# --- bind_transcribe.cpp: Transcribe, Basic Pitch (submodule transcribe) ---

# (start frame, end frame (exclusive), MIDI pitch, amplitude 0..1, bends in contour bins or None, start s, end s)
_TranscribedNote: TypeAlias = tuple[int, int, int, float, list[int] | None, float, float]

class _TranscribeModel:
    """A midi-transcribe model (models/midi/basic_pitch.onnx) in ONNX Runtime; ValueError for another kind."""

    def __init__(self, path: str, threads: int = 0) -> None: ...
    @property
    def info(self) -> dict:
        """path, name, version, sample_rate, hop, window_samples, frames_per_window, lowest_note,
        bins_per_semitone, pitches, contour_bins."""
    def min_frames(self, ms: float) -> int: ...
    def frame_time(self, frame: int) -> float: ...
    def posteriorgrams(self, audio: ArrayLike) -> dict[str, FloatArray]:
        """Mono audio at the model's rate -> {"note", "onset": [frames, 88], "contour": [frames, 264]}."""

class _TranscribeCancelFlag:
    def __init__(self) -> None: ...
    def set(self) -> None: ...
    @property
    def is_set(self) -> bool: ...

class _TranscribeModule:
    """cpp/actions/midi/Transcribe.h: audio to notes (tonemorph.midi.transcribe calls it)."""

    KIND: str
    PITCHED_AMPLITUDE: float
    Model: type[_TranscribeModel]
    CancelFlag: type[_TranscribeCancelFlag]
    Cancelled: type[RuntimeError]
    def run(
        self,
        model: _TranscribeModel,
        audio: ArrayLike,
        rate: float,
        *,
        mono: bool = False,
        onset_threshold: float = 0.5,
        frame_threshold: float = 0.3,
        min_note_ms: float = 127.7,
        lowest: int = 0,
        highest: int = 127,
        progress: object | None = None,
        cancel: _TranscribeCancelFlag | None = None,
    ) -> dict:
        """{notes: list of _TranscribedNote, frames, seconds, pitched}."""
    def extract_notes(
        self,
        note: ArrayLike,
        onset: ArrayLike,
        contour: ArrayLike,
        *,
        onset_threshold: float,
        frame_threshold: float,
        min_frames: int,
        lowest_note: int,
        bins_per_semitone: int,
        lowest: int = 0,
        highest: int = 127,
    ) -> list[_TranscribedNote]: ...
    def loudest_line(
        self, notes: list[tuple[int, int, int, float, list[int] | None]], min_frames: int
    ) -> list[_TranscribedNote]: ...
    def midi_file(self, notes: list[_TranscribedNote], bins_per_semitone: int) -> bytes:
        """The transcription's MIDI file (what notes_to_midi writes, byte for byte)."""
    def resample(self, audio: ArrayLike, in_rate: float, out_rate: float) -> FloatArray: ...

transcribe: _TranscribeModule

# --- bind_midi.cpp: the MIDI tools' core (submodule midi) ---

class _MidiNote:
    """A note on the sixteenth-note grid; offsets: micro-timing in fractions of a step (-0.5..0.5)."""

    start_step: int
    end_step: int
    pitch: int
    velocity: int
    start_offset: float
    end_offset: float
    def __init__(
        self,
        start_step: int,
        end_step: int,
        pitch: int,
        velocity: int = 100,
        start_offset: float = 0.0,
        end_offset: float = 0.0,
    ) -> None: ...

class _MidiClip:
    """16 steps per 4/4 bar; notes sorted by onset (assign a new list to change them)."""

    notes: list[_MidiNote]
    steps: int
    bpm: float
    drums: bool
    def __init__(
        self, notes: list[_MidiNote] = ..., steps: int = 0, bpm: float = 120.0, drums: bool = False
    ) -> None: ...

class _MidiEventModel:
    """A midi-melody or midi-drums step model (ONNX Runtime)."""

    def __init__(self, path: str, kind: str) -> None: ...
    @property
    def info(self) -> dict: ...
    def step(self, event: int, state: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """(logits [num_events], state [2 * layers * hidden]) after `event`."""
    def encode(self, clip: _MidiClip) -> tuple[list[int], int, list[str]]:
        """(events [clip.steps], transpose, messages)."""
    def decode(
        self, events: list[int], first_step: int = 0, transpose: int = 0, velocity: int = 100
    ) -> list[_MidiNote]: ...

class _Pcg32:
    """PCG32 seeded through splitmix64; uniform() = (next() >> 8) * 2**-24."""

    def __init__(self, seed: int) -> None: ...
    def next(self) -> int: ...
    def uniform(self) -> float: ...

# --- bind_midi_interpolate.cpp: Interpolate (on submodule midi) ---

class _MidiMelodyVae:
    """Interpolate's melody VAE: <stem>_encoder.onnx and <stem>_decoder.onnx (kind midi-melody-vae)."""

    def __init__(self, path: str) -> None: ...
    @property
    def info(self) -> dict: ...
    def encode(self, events: list[int]) -> list[float]:
        """window events -> the mean latent point."""
    def decode(self, z: list[float], temperature: float = 0.0, seed: int = 0) -> list[int]:
        """window events from z (argmax at temperature 0, else drawn with Pcg32(seed))."""

# --- bind_midi_groove.cpp: Groove and Drumify (on submodule midi) ---

class _MidiGrooveModel:
    """A midi-groove model (models/midi/groove.onnx): Groove's and Drumify's 2-bar decoder."""

    def __init__(self, path: str) -> None: ...
    @property
    def info(self) -> dict:
        """{path, kind, name, version, description, latent}."""
    def run(self, condition: list[float], z: list[float]) -> tuple[list[float], list[float], list[float]]:
        """condition [32 * 14], z [latent] -> (hit_logits, velocity, offset), [32 * 9] each."""

class _MidiModule:
    """cpp/actions/midi: clips, MIDI files, event models, sampling (tonemorph.engine.midi wraps it)."""

    Note: type[_MidiNote]
    Clip: type[_MidiClip]
    EventModel: type[_MidiEventModel]
    Pcg32: type[_Pcg32]
    MidiError: type[ValueError]
    Cancelled: type[RuntimeError]
    """Raised by continue_clip / generate when their progress callback returns False."""
    STEPS_PER_BAR: int
    MAX_BARS: int
    MAX_VARIATIONS: int
    PRIME_BARS: int
    MAX_SMF_BYTES: int
    def read_clip(self, data: bytes, name: str = "the MIDI file", kind: str = "auto") -> dict:
        """SMF bytes -> {clip, format, ticks_per_quarter, tempo_changes, notes_in_file, messages}."""
    def read_clip_file(self, path: str, kind: str = "auto") -> dict: ...
    def write_clip(self, clip: _MidiClip, track_name: str = "tonemorph") -> bytes: ...
    def render_clip(
        self,
        model: Model | None,
        clip: _MidiClip,
        sample_rate: float = 48000.0,
        channels: int = 2,
        tail_s: float = 2.0,
        settings: dict[str, float] = ...,
    ) -> FloatArray:
        """The clip played through `model` in MIDI mode, offline: [channels, samples] (bind_engine.cpp)."""
    def one_voice(self, clip: _MidiClip) -> tuple[_MidiClip, int, int]:
        """(clip, dropped, shortened)."""
    def sample_event(self, logits: ArrayLike, temperature: float, rng: _Pcg32) -> int: ...
    def sample(
        self, model: _MidiEventModel, primer: list[int], steps: int, temperature: float, seed: int
    ) -> list[int]: ...
    def continue_clip(
        self,
        model: _MidiEventModel,
        clip: _MidiClip,
        *,
        bars: int = 2,
        variations: int = 4,
        temperature: float = 1.0,
        seed: int = 0,
        progress: object | None = None,
    ) -> dict:
        """{clips, new_from_step, primed_steps, messages}."""
    def generate(
        self,
        model: _MidiEventModel,
        *,
        bars: int = 4,
        variations: int = 8,
        temperature: float = 1.0,
        seed: int = 0,
        bpm: float = 120.0,
        progress: object | None = None,
    ) -> dict: ...
    # Interpolate (bind_midi_interpolate.cpp)
    MelodyVae: type[_MidiMelodyVae]
    MAX_INTERPOLATE_BARS: int
    MIN_INTERPOLATE_STEPS: int
    MAX_INTERPOLATE_STEPS: int
    def slerp(self, a: list[float], b: list[float], t: float) -> list[float]: ...
    def interpolate(
        self,
        model: _MidiMelodyVae,
        a: _MidiClip,
        b: _MidiClip,
        *,
        steps: int = 5,
        temperature: float = 0.0,
        seed: int = 0,
        a_name: str = "A",
        b_name: str = "B",
        progress: object | None = None,
    ) -> dict:
        """{clips, positions, chunks, transpose, messages}."""
    # Groove and Drumify (bind_midi_groove.cpp)
    GrooveModel: type[_MidiGrooveModel]
    GROOVE_WINDOW_STEPS: int
    GROOVE_MAX_BARS: int
    GROOVE_MAX_OFFSET: float
    def groove_drum_class(self, pitch: int) -> int: ...
    def groove_latent(self, seed: int, count: int, temperature: float) -> list[float]: ...
    def groove(
        self,
        model: _MidiGrooveModel,
        clip: _MidiClip,
        *,
        variations: int = 4,
        temperature: float = 1.0,
        seed: int = 0,
        progress: object | None = None,
    ) -> dict:
        """{clips, messages}: the clip's notes with new velocities and offsets, one clip per variation."""
    def drumify(
        self,
        model: _MidiGrooveModel,
        clip: _MidiClip,
        *,
        variations: int = 4,
        temperature: float = 1.0,
        seed: int = 0,
        progress: object | None = None,
    ) -> dict:
        """{clips, messages}: drum clips as long as `clip`, following its onsets and accents."""

midi: _MidiModule

# --- bind_sampler.cpp: the sampler's generator (submodule sampler) ---

class _SamplerModel:
    """A sampler ONNX model (kind 'sampler') in ONNX Runtime; SamplerError for another kind."""

    def __init__(self, path: str) -> None: ...
    @property
    def info(self) -> dict:
        """path, kind, name, version, description, sample_rate, length, hop, audio_scale, default_steps,
        default_guidance, time_shift, condition_values, unspecified, conditions (the 7 names), has_words (False: exported
        before the flat word list), words [(word, condition name, value)], kind_names, kind_sounds."""
    def velocity(self, x: ArrayLike, t: ArrayLike, conditions: list[int]) -> FloatArray:
        """x [batch, samples], t [batch], conditions (batch x 7, flat) -> velocity [batch, samples]."""

class _SamplerModule:
    """cpp/actions/sampler/SoundGenerator.h: the rectified-flow sampling loop."""

    KIND: str
    CONDITION_COUNT: int
    MAX_STEPS: int
    MAX_GUIDANCE: float
    SamplerError: type[ValueError]
    SamplerModel: type[_SamplerModel]
    def noise(self, seed: int, count: int) -> FloatArray: ...
    def time_grid(self, count: int, strength: float, shift: float) -> list[float]:
        """The times t_0 .. t_count of count steps from 1 - strength to 1, spaced by shift (model.py's time_grid)."""
    def parse_prompt(self, model: _SamplerModel, prompt: str) -> list[int]:
        """The prompt's 7 condition values (cpp/actions/sampler/Prompt.h); SamplerError for an unknown word."""
    def fit_sound(self, model: _SamplerModel, audio: ArrayLike, rate: float, samples: int = 0) -> FloatArray:
        """audio [frames] or [channels, frames] at rate -> mono at the model's rate, samples long."""
    def morph_start(self, a: ArrayLike, b: ArrayLike, position: float) -> FloatArray:
        """cos(p pi/2) a + sin(p pi/2) b."""
    def morph(
        self,
        model: _SamplerModel,
        a: ArrayLike,
        b: ArrayLike,
        count: int,
        *,
        conditions: list[int] = ...,
        steps: int = 0,
        guidance: float = -1.0,
        seed: int = 0,
        strength: float = 0.5,
        progress: object | None = None,
    ) -> list[FloatArray]:
        """count sounds walking from a to b, one noise for all."""
    def generate(
        self,
        model: _SamplerModel,
        *,
        conditions: list[int] = ...,
        steps: int = 0,
        guidance: float = -1.0,
        seed: int = 0,
        noise: ArrayLike | None = None,
        samples: int = 0,
        start: ArrayLike | None = None,
        strength: float = 1.0,
        progress: object | None = None,
    ) -> FloatArray:
        """One sound [samples] at the model's rate; with start, a variation at strength."""

sampler: _SamplerModule
