"""A small classifier with BatchNorm and on-device log-mel, for fast trainer tests."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from jaxser import features


class TinyMel(nn.Module):
    num_classes: int
    bn_axis_name: str | None = None
    width: int = 16
    dropout: float = 0.0

    @nn.compact
    def __call__(self, audio, lengths, *, train: bool):
        x = features.log_mel(audio, sr=16000, n_fft=512, hop_length=256, n_mels=32, lengths=lengths)
        mask = features.frame_mask(lengths, audio.shape[-1], n_fft=512, hop_length=256)[..., None]
        x = nn.Dense(self.width)((x + 40.0) / 20.0)
        x = nn.BatchNorm(use_running_average=not train, axis_name=self.bn_axis_name)(x)
        x = nn.Dropout(self.dropout, deterministic=not train)(nn.relu(x))
        x = (x * mask).sum(1) / jnp.maximum(mask.sum(1), 1.0)
        return nn.Dense(self.num_classes)(x)
