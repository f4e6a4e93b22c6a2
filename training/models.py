"""The DDSP decoder (Engel et al. 2020, RnnFcDecoder) and the end-to-end module trained on audio.

`Decoder` is what the ONNX file holds (docs/model-format.md); `DDSP` adds the synths and the learned reverb.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .synths import exp_sigmoid, filtered_noise, harmonic_synth, reverb

MIDI_RANGE = 127.0
LEAKY_RELU_SLOPE = 0.2  # tf.nn.leaky_relu's default, as in DDSP's fc_stack
NOISE_INITIAL_BIAS = -5.0  # exp_sigmoid(-5) ~ 2e-5: the noise starts quiet (DDSP's FilteredNoise)
REVERB_INITIAL_STD = 0.01
REVERB_INITIAL_DECAY_DB = 60.0  # over the IR's length


def hz_to_midi(f0_hz: torch.Tensor) -> torch.Tensor:
    """MIDI note number 12 log2(f / 440) + 69; 0 where f <= 0 (unvoiced), as DDSP's core.hz_to_midi."""
    voiced = f0_hz > 0.0
    midi = 12.0 * torch.log2(torch.where(voiced, f0_hz, torch.ones_like(f0_hz)) / 440.0) + 69.0
    return torch.where(voiced, midi, torch.zeros_like(midi))


def mlp(in_size: int, hidden: int, layers: int) -> nn.Sequential:
    """DDSP's fc_stack: (Linear, LayerNorm, LeakyReLU) x layers."""
    modules: list[nn.Module] = []
    for i in range(layers):
        modules += [nn.Linear(in_size if i == 0 else hidden, hidden), nn.LayerNorm(hidden)]
        modules.append(nn.LeakyReLU(LEAKY_RELU_SLOPE))
    return nn.Sequential(*modules)


class Decoder(nn.Module):
    """f0 and loudness per frame -> synth controls, with a GRU state carried between calls.

    forward(f0_hz [b, t, 1], loudness_db [b, t, 1], state [gru_layers, b, hidden] or None for zeros)
        -> amplitude [b, t, 1], harmonic_distribution [b, t, n_harmonics],
           noise_magnitudes [b, t, n_noise_bands], state_out [gru_layers, b, hidden]   (controls > 0)

    f0 enters as midi / 127, loudness as (ld - loudness_mean) / loudness_std; each goes through its own MLP,
    the GRU runs over both, and an MLP over [gru out, both MLP outs] feeds one dense head.
    """

    def __init__(
        self,
        *,
        n_harmonics: int = 60,
        n_noise_bands: int = 65,
        hidden: int = 256,
        gru_layers: int = 1,
        sample_rate: int = 24000,
        hop: int = 96,
        loudness_mean: float,
        loudness_std: float,
        mlp_layers: int = 3,
    ):
        super().__init__()
        if n_harmonics < 1 or n_noise_bands < 2 or hidden < 1 or gru_layers < 1 or mlp_layers < 1:
            raise ValueError(
                "Decoder: need n_harmonics >= 1, n_noise_bands >= 2, hidden, gru_layers, mlp_layers >= 1; got "
                f"{n_harmonics}, {n_noise_bands}, {hidden}, {gru_layers}, {mlp_layers}"
            )
        if sample_rate <= 0 or hop <= 0:
            raise ValueError(f"Decoder: sample_rate and hop must be > 0, got {sample_rate}, {hop}")
        if not (loudness_std > 0.0 and math.isfinite(loudness_std) and math.isfinite(loudness_mean)):
            raise ValueError(
                f"Decoder: loudness_std must be > 0 and finite, got {loudness_mean}, {loudness_std}"
            )
        self.n_harmonics = n_harmonics
        self.n_noise_bands = n_noise_bands
        self.hidden = hidden
        self.gru_layers = gru_layers
        self.sample_rate = sample_rate
        self.hop = hop
        self.loudness_mean = float(loudness_mean)
        self.loudness_std = float(loudness_std)

        self.f0_mlp = mlp(1, hidden, mlp_layers)
        self.loudness_mlp = mlp(1, hidden, mlp_layers)
        self.gru = nn.GRU(2 * hidden, hidden, num_layers=gru_layers, batch_first=True)
        self.out_mlp = mlp(3 * hidden, hidden, mlp_layers)
        self.head = nn.Linear(hidden, 1 + n_harmonics + n_noise_bands)

    def initial_state(self, batch: int = 1) -> torch.Tensor:
        """Zeros [gru_layers, batch, hidden]: the state at the start of a stream."""
        return torch.zeros(self.gru_layers, batch, self.hidden, device=self.head.weight.device)

    def forward(
        self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if state is None:
            state = self.initial_state(f0_hz.shape[0])
        f0 = self.f0_mlp(hz_to_midi(f0_hz) / MIDI_RANGE)
        loudness = self.loudness_mlp((loudness_db - self.loudness_mean) / self.loudness_std)
        recurrent, state_out = self.gru(torch.cat([f0, loudness], dim=-1), state)
        out = self.head(self.out_mlp(torch.cat([recurrent, f0, loudness], dim=-1)))
        amplitude, distribution, noise = torch.split(out, [1, self.n_harmonics, self.n_noise_bands], dim=-1)
        return (
            exp_sigmoid(amplitude),
            exp_sigmoid(distribution),
            exp_sigmoid(noise + NOISE_INITIAL_BIAS),
            state_out,
        )


class DDSP(nn.Module):
    """Decoder + harmonic synth + filtered noise + learned reverb, end to end.

    forward(f0_hz [b, t], loudness_db [b, t]) -> audio [b, t hop] at decoder.sample_rate.
    The reverb IR (reverb_seconds long) starts as noise decaying by 60 dB over its length; its first tap is
    held at 0 because the dry path is added separately.
    """

    def __init__(self, decoder: Decoder, reverb_seconds: float = 1.0):
        super().__init__()
        ir_length = round(reverb_seconds * decoder.sample_rate)
        if ir_length < 1:
            raise ValueError(f"DDSP: reverb_seconds must give at least one sample, got {reverb_seconds}")
        self.decoder = decoder
        t = torch.arange(ir_length, dtype=torch.float32) / ir_length
        decay = 10.0 ** (-REVERB_INITIAL_DECAY_DB / 20.0 * t)
        self.reverb_ir_raw = nn.Parameter(REVERB_INITIAL_STD * torch.randn(ir_length) * decay)

    def reverb_ir(self) -> torch.Tensor:
        """The reverb impulse response [L] with ir[0] = 0."""
        return torch.cat([self.reverb_ir_raw.new_zeros(1), self.reverb_ir_raw[1:]])

    def forward(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> torch.Tensor:
        amplitude, distribution, noise_magnitudes, _ = self.decoder(
            f0_hz.unsqueeze(-1), loudness_db.unsqueeze(-1)
        )
        hop = self.decoder.hop
        harmonic = harmonic_synth(f0_hz, amplitude.squeeze(-1), distribution, self.decoder.sample_rate, hop)
        return reverb(harmonic + filtered_noise(noise_magnitudes, hop), self.reverb_ir())
