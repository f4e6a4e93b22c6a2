"""Training settings, kept free of torch so that the command line can show their defaults cheaply."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class TrainConfig:
    """Everything that decides what a run computes. Saved in every checkpoint; `--resume` reads it back."""

    # model
    sample_rate: int = 24000
    hop: int = 96
    hidden: int = 256
    gru_layers: int = 1
    mlp_layers: int = 3
    n_harmonics: int = 60
    n_noise_bands: int = 65
    reverb_seconds: float = 1.0
    # optimisation
    steps: int = 5000
    batch_size: int = 8  # crops per process and step
    crop_seconds: float = 1.0
    lr: float = 1e-3
    lr_decay: float = 0.5  # the learning rate is multiplied by this every lr_decay_steps (smoothly)
    lr_decay_steps: int = 2500
    grad_clip: float = 3.0
    fft_sizes: tuple[int, ...] | None = None  # the loss's FFT sizes; None: spectral.SPECTRAL_LOSS_FFT_SIZES
    seed: int = 0
    # machinery (does not change the numbers a step computes, except device)
    device: str = "cpu"
    threads: int = 0  # torch threads per process; 0 = the cores divided among the processes on this machine
    compile: bool = True  # torch.compile the model: 1.75x faster steps on 2 CPU cores, after ~45 s of compiling
    checkpoint_every: int = 250
    validate_every: int = 250
    log_every: int = 10
    validation_fraction: float = 0.1

    def __post_init__(self):
        if self.fft_sizes is not None:
            self.fft_sizes = tuple(int(s) for s in self.fft_sizes)
        positive = ("sample_rate", "hop", "hidden", "gru_layers", "mlp_layers", "n_harmonics", "batch_size",
                    "lr_decay_steps", "checkpoint_every", "validate_every", "log_every")
        bad = [f"{n}={getattr(self, n)}" for n in positive if getattr(self, n) < 1]
        if self.steps < 0:
            bad.append(f"steps={self.steps}")
        if self.n_noise_bands < 2:
            bad.append(f"n_noise_bands={self.n_noise_bands}")
        if not (self.lr > 0 and 0 < self.lr_decay <= 1 and self.crop_seconds > 0 and self.reverb_seconds > 0):
            bad.append(f"lr={self.lr}, lr_decay={self.lr_decay}, crop_seconds={self.crop_seconds}, "
                       f"reverb_seconds={self.reverb_seconds}")
        if self.fft_sizes is not None and (not self.fft_sizes or min(self.fft_sizes) < 8):
            bad.append(f"fft_sizes={self.fft_sizes}")
        if bad:
            raise ValueError(f"invalid training settings: {', '.join(bad)}")

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def model_args(self) -> dict:
        return {k: getattr(self, k) for k in ("sample_rate", "hop", "hidden", "gru_layers", "mlp_layers",
                                               "n_harmonics", "n_noise_bands", "reverb_seconds")}


# Fine-tuning a trained instrument on a few minutes of new audio (`--from`): a gentler learning rate, few steps.
FINETUNE_OVERRIDES = {"steps": 600, "lr": 3e-4, "lr_decay": 0.5, "lr_decay_steps": 600}
