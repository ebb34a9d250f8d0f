"""On-device waveform augmentation for training batches: time shift and additive noise.

    cfg = AugmentConfig(noise_snr_db=(0, 5, 10, 15, 20), noise_prob=0.5, shift_seconds=0.25)
    bank = NoiseCorpus.load().split()[0].bank()          # train noise types only
    batch = augment_batch(key, batch, cfg, noise_bank=bank)   # inside the jitted train step

:func:`augment_batch` is meant for TRAINING batches only: the caller passes train
batches (evaluation uses :func:`jaxser.augment.noise.add_noise_deterministic` for a
fixed noisy test condition). Only rows with ``mask > 0`` are changed; padding rows come
back as they were. With nothing enabled it returns its input object itself, tracing
nothing, so a train step without augmentation compiles to the same program as before.

The key should differ per step and per device (e.g. ``fold_in(step_key(state), k)``),
or every device draws the same noise for its rows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import jax

from jaxser.augment.noise import (
    active_power,
    add_noise,
    add_noise_deterministic,
    eval_noise_key,
    mix_at_snr,
    noise_segments,
    utterance_seeds,
)
from jaxser.augment.shift import time_shift, time_shift_pad

__all__ = [
    "AugmentConfig",
    "active_power",
    "add_noise",
    "add_noise_deterministic",
    "augment_batch",
    "eval_noise_key",
    "mix_at_snr",
    "noise_segments",
    "time_shift",
    "time_shift_pad",
    "utterance_seeds",
]

SHIFT_MODES = ("roll", "pad")


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """What :func:`augment_batch` does; the defaults do nothing.

    Attributes:
      noise_snr_db: SNRs in dB to choose from uniformly per row (empty: no noise); with
        ``noise_snr_uniform`` a ``(low, high)`` range drawn uniformly instead.
      noise_prob: chance that a training row gets noise (0: no noise).
      shift_seconds: largest time shift (0: none); a row is never shifted by more than
        half its length.
      sample_rate: of the waveforms, to turn seconds into samples.
      noise_snr_uniform: read ``noise_snr_db`` as a continuous ``(low, high)`` range.
      shift_mode: ``"roll"`` (circular within the valid samples) or ``"pad"`` (zeros).
    """

    noise_snr_db: tuple = ()
    noise_prob: float = 0.0
    shift_seconds: float = 0.0
    sample_rate: int = 16000
    noise_snr_uniform: bool = False
    shift_mode: str = "roll"

    def __post_init__(self):
        snr = self.noise_snr_db
        if snr is None:
            snr = ()
        elif isinstance(snr, (int, float)):
            snr = (snr,)
        try:
            snr = tuple(float(v) for v in snr)
        except (TypeError, ValueError):
            raise ValueError(f"noise_snr_db must be a tuple of numbers in dB, got {self.noise_snr_db!r}") from None
        object.__setattr__(self, "noise_snr_db", snr)
        if not all(math.isfinite(v) for v in snr):
            raise ValueError(f"noise_snr_db must be finite, got {snr!r}")
        if not 0.0 <= self.noise_prob <= 1.0:
            raise ValueError(f"noise_prob must be in [0, 1], got {self.noise_prob!r}")
        if self.noise_prob > 0 and not snr:
            raise ValueError("noise_prob > 0 needs noise_snr_db, e.g. (0, 5, 10, 15, 20)")
        if self.noise_snr_uniform and (len(snr) != 2 or snr[0] > snr[1]):
            raise ValueError(f"noise_snr_uniform needs noise_snr_db = (low, high), got {snr!r}")
        if not (self.shift_seconds >= 0 and math.isfinite(self.shift_seconds)):
            raise ValueError(f"shift_seconds must be a finite number >= 0, got {self.shift_seconds!r}")
        if isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, int) or self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer, got {self.sample_rate!r}")
        if self.shift_mode not in SHIFT_MODES:
            raise ValueError(f"shift_mode must be one of {SHIFT_MODES}, got {self.shift_mode!r}")

    @classmethod
    def from_config(cls, config: Any) -> AugmentConfig:
        """An AugmentConfig from itself, None (nothing), a mapping or an object with these attributes
        (an ``ml_collections.ConfigDict`` section); missing fields take their defaults."""
        if isinstance(config, cls):
            return config
        if config is None:
            return cls()
        names = [f.name for f in dataclasses.fields(cls)]
        if isinstance(config, Mapping):
            values = {k: config[k] for k in names if k in config}
        else:
            values = {k: getattr(config, k) for k in names if hasattr(config, k)}
        return cls(**values)

    @classmethod
    def of_experiment(cls, config: Any) -> AugmentConfig:
        """The augmentation of an experiment config: its ``augment`` section at its
        ``data.sample_rate`` (raises ValueError naming the bad value)."""
        return cls.from_config({**config.augment.to_dict(), "sample_rate": config.data.sample_rate})

    @property
    def noise_enabled(self) -> bool:
        return self.noise_prob > 0 and bool(self.noise_snr_db)

    @property
    def max_shift(self) -> int:
        """``shift_seconds`` in samples."""
        return int(round(self.shift_seconds * self.sample_rate))

    @property
    def shift_enabled(self) -> bool:
        return self.max_shift > 0

    @property
    def enabled(self) -> bool:
        return self.noise_enabled or self.shift_enabled


def augment_batch(key: jax.Array, batch: dict, config: Any, noise_bank: Any = None) -> dict:
    """``batch`` with its ``audio`` augmented as ``config`` says (a training batch only).

    Args:
      key: PRNG key for this step and device.
      batch: the pipeline's dict: ``audio [B, S]``, ``length [B]``, ``mask [B]`` (rows
        with ``mask == 0`` are left alone; without ``mask`` every row is augmented).
      config: :class:`AugmentConfig` or anything :meth:`AugmentConfig.from_config` reads.
      noise_bank: ``NoiseCorpus.bank()`` of the TRAINING noise types (needed for noise);
        pass it into the jitted step as an argument, not as a closed-over constant.

    Returns:
      a new dict with the new ``audio`` (other entries shared), or ``batch`` itself when
      nothing is enabled. The time shift comes first, then the noise, so the noise is
      not shifted along with the speech.
    """
    cfg = AugmentConfig.from_config(config)
    if not cfg.enabled:
        return batch
    audio, lengths = batch["audio"], batch["length"]
    rows = batch.get("mask")
    if cfg.shift_enabled:
        shift = time_shift if cfg.shift_mode == "roll" else time_shift_pad
        audio = shift(jax.random.fold_in(key, 1), audio, lengths, cfg.max_shift, train_rows_mask=rows)
    if cfg.noise_enabled:
        if noise_bank is None:
            raise ValueError(
                "noise augmentation is on (noise_prob > 0) but no noise_bank was given; pass "
                "jaxser.data.noise.NoiseCorpus.load(...).split()[0].bank()"
            )
        snr = {"snr_range": cfg.noise_snr_db} if cfg.noise_snr_uniform else {"snr_db": cfg.noise_snr_db}
        audio = add_noise(
            jax.random.fold_in(key, 2), audio, lengths, noise_bank, prob=cfg.noise_prob, train_rows_mask=rows, **snr
        )
    return {**batch, "audio": audio}
