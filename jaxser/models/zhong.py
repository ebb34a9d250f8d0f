"""The networks of Zhong, Yu & Zhang (2020), IEEE Access 8:222533 ("Exploration of an
Independent Training Framework for Speech Emotion Recognition").

- :class:`ACLN` (attention-based convolution LSTM network) on MFCC: four convolution
  blocks, an LSTM, an attention layer over time, its own softmax head. The attention
  output is the paper's ALF (automatically learned features).
- :class:`FCN` on the 384 IS09 functionals: three fully connected layers with batch
  normalisation, dropout 0.25 before the output. The last hidden layer is the ELF
  (empirically learned features).
- :class:`FusedACLNFCN`, the "fused training" baseline the paper argues against: both
  branches' features concatenated before ONE softmax, trained by one loss.

Each network returns logits; ``features=True`` returns ``(logits, learned features)``,
the vectors the SVM fusion stage classifies. Independent training keeps ACLN and FCN as
two networks with two optimisers (see :mod:`jaxser.train.state`), so no gradient
crosses between them.

The paper's Tables 1-2 (layer sizes) did not survive in our copy. What the text gives,
and what we chose where it is silent (all are fields):

* **MFCC** (Sec. III-A): pre-emphasis, a 24 ms Hamming window with a 12 ms hop (384/192
  samples at 16 kHz), mel filterbank, log, DCT. The paper's 256-point FFT is shorter than
  its own window; we take n_fft 512 (BUILD_NOTES, "On-device features"). Not given: the
  number of mel bands and coefficients (we take 40 and 13, the usual choice) and any
  normalisation. We standardise each coefficient with BatchNorm statistics of the
  training data (no learned scale or shift), so the convolutions see unit-scale inputs
  and the clip's level and mean spectral envelope, emotion cues, stay in them.
  Per-clip CMVN (``input_norm="cmvn"``) removes both: on one EmoDB 80/20 split (40 + 10
  epochs) the ACLN alone reached 44.9 % WA with CMVN and 69.2 % with BatchNorm.
* **Four convolution blocks**: conv 3x3 -> BatchNorm -> ELU -> max-pool 2x2 (the LFLB of
  :mod:`jaxser.models.layers`, padding-aware), filters 32, 64, 64, 128: a 3 s clip's
  250 x 13 MFCC becomes 16 x 1 x 128.
* **LSTM** of 128 units over the 16 (or so) remaining steps, every step returned.
* **Attention** (Sec. III-B: "find out the salient emotional regions"): additive
  attention, score_t = v . tanh(W h_t + b), softmax over the valid steps, ALF = the
  weighted sum of h_t (128 values).
* **FCN** (Sec. IV-B): Dense 256, 128, 64, each followed by BatchNorm and ReLU;
  dropout 0.25; Dense(num_classes). ELF = the 64 values after the third layer.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from jaxser import features
from jaxser.models.layers import BN_EPSILON, BN_MOMENTUM, LFLB


class _Attention(nn.Module):
    """Additive attention over valid time steps: ``[B, T, H]`` -> ``[B, H]``."""

    units: int

    @nn.compact
    def __call__(self, h: jax.Array, valid: jax.Array) -> jax.Array:
        score = nn.Dense(1, use_bias=False, name="v")(jnp.tanh(nn.Dense(self.units, name="w")(h)))[..., 0]
        score = jnp.where(valid, score, -jnp.inf)
        weights = jax.nn.softmax(score, axis=-1)
        return jnp.einsum("bt,bth->bh", weights, h)


def _softmax_layer(learned, num_classes: int, dropout_rate: float, *, train: bool, features: bool):
    """Dropout then Dense ``out`` (the softmax is the loss's); called inside a compact
    ``__call__``, so ``out`` is the calling network's layer. ``features``: also return
    the learned features."""
    logits = nn.Dense(num_classes, name="out")(nn.Dropout(dropout_rate, deterministic=not train)(learned))
    return (logits, learned) if features else logits


def _cmvn(x: jax.Array, valid: jax.Array) -> jax.Array:
    """Standardise each coefficient over a clip's valid frames; padded frames stay 0."""
    m = valid[..., None].astype(x.dtype)
    n = jnp.maximum(m.sum(1, keepdims=True), 1.0)
    mean = (x * m).sum(1, keepdims=True) / n
    var = (jnp.square(x - mean) * m).sum(1, keepdims=True) / n
    return jnp.where(m > 0, (x - mean) * jax.lax.rsqrt(var + 1e-5), 0.0)


class ACLN(nn.Module):
    """ACLN on MFCC: ``audio [B, N]`` at 16 kHz -> logits ``[B, num_classes]``."""

    num_classes: int
    bn_axis_name: str | None = None
    filters: tuple[int, ...] = (32, 64, 64, 128)
    pool: int = 2
    lstm_units: int = 128
    attention_units: int = 128
    dropout_rate: float = 0.0
    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 384
    hop_length: int = 192
    n_mels: int = 40
    n_mfcc: int = 13
    preemphasis: float = 0.97
    # How the MFCC is standardised: "cmvn" (each coefficient over the clip's valid frames:
    # removes the clip's mean spectral envelope and level), "batchnorm" (each coefficient
    # with BatchNorm statistics over the training data, no scale or shift: keeps them)
    # or "none".
    input_norm: str = "batchnorm"
    head: bool = True  # False: the ALF only, no softmax layer (the fused baseline's branch)
    bn_momentum: float = BN_MOMENTUM
    bn_epsilon: float = BN_EPSILON

    def mfcc(self, audio: jax.Array, lengths: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The MFCC ``[B, frames, n_mfcc, 1]`` (CMVN-ed when ``input_norm="cmvn"``) and valid frames ``[B]``."""
        y = features.preemphasis(audio, coef=self.preemphasis, zi=0.0, lengths=lengths)
        c = features.mfcc(
            y, sr=self.sample_rate, n_mfcc=self.n_mfcc, n_fft=self.n_fft, win_length=self.win_length,
            hop_length=self.hop_length, window="hamming", n_mels=self.n_mels, lengths=lengths,
        )
        frames = features.num_frames(lengths, n_fft=self.n_fft, hop_length=self.hop_length)
        valid = jnp.arange(c.shape[1]) < frames[:, None]
        c = _cmvn(c, valid) if self.input_norm == "cmvn" else jnp.where(valid[..., None], c, 0.0)
        return jax.lax.stop_gradient(c)[..., None], frames

    @nn.compact
    def __call__(self, audio, lengths, *, train: bool = False, features: bool = False):
        audio = jnp.asarray(audio, jnp.float32)
        lengths = jnp.asarray(lengths, jnp.int32)
        if self.input_norm not in ("cmvn", "batchnorm", "none"):
            raise ValueError(f"ACLN input_norm={self.input_norm!r}: use 'cmvn', 'batchnorm' or 'none'")
        x, steps = self.mfcc(audio, lengths)
        if self.input_norm == "batchnorm":
            valid = (jnp.arange(x.shape[1]) < steps[:, None])[:, :, None, None]
            x = nn.BatchNorm(
                use_running_average=not train, momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                axis_name=self.bn_axis_name, use_scale=False, use_bias=False, axis=(2,), name="input_bn",
            )(x, mask=jnp.broadcast_to(valid, x.shape))
            x = jnp.where(valid, x, 0.0)
        for i, f in enumerate(self.filters):
            x, steps = LFLB(
                f, (self.pool, self.pool), bn_axis_name=self.bn_axis_name, bn_momentum=self.bn_momentum,
                bn_epsilon=self.bn_epsilon, name=f"block{i + 1}",
            )(x, steps, train=train)
        seq = x.reshape(x.shape[0], x.shape[1], -1)  # [B, T', F' * C]: the LSTM runs over time
        steps = jnp.clip(steps, 1, seq.shape[1])  # a clip shorter than one step keeps its first
        h = nn.RNN(nn.OptimizedLSTMCell(self.lstm_units), name="lstm")(seq, seq_lengths=steps)
        valid = jnp.arange(seq.shape[1]) < steps[:, None]
        alf = _Attention(self.attention_units, name="attention")(h, valid)
        if not self.head:
            return alf
        return _softmax_layer(alf, self.num_classes, self.dropout_rate, train=train, features=features)


class FCN(nn.Module):
    """FCN on functionals: ``x [B, D]`` (normalised) -> logits ``[B, num_classes]``."""

    num_classes: int
    bn_axis_name: str | None = None
    hidden: tuple[int, ...] = (256, 128, 64)
    dropout_rate: float = 0.25
    head: bool = True  # False: the ELF only, no softmax layer (the fused baseline's branch)
    bn_momentum: float = BN_MOMENTUM
    bn_epsilon: float = BN_EPSILON

    @nn.compact
    def __call__(self, x, *, train: bool = False, features: bool = False):
        h = jnp.asarray(x, jnp.float32)
        for i, units in enumerate(self.hidden):
            h = nn.Dense(units, name=f"dense{i + 1}")(h)
            h = nn.BatchNorm(
                use_running_average=not train, momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                axis_name=self.bn_axis_name, name=f"bn{i + 1}",
            )(h)
            h = nn.relu(h)
        elf = h
        if not self.head:
            return elf
        return _softmax_layer(elf, self.num_classes, self.dropout_rate, train=train, features=features)


class FusedACLNFCN(nn.Module):
    """The fused-training baseline: ALF and ELF concatenated before one softmax."""

    num_classes: int
    bn_axis_name: str | None = None
    # Field overrides of the ACLN and FCN branches, as (name, value) pairs: a module's
    # fields must be hashable when it rides in a jitted state (a dict is accepted too).
    acln: tuple = ()
    fcn: tuple = ()
    dropout_rate: float = 0.25

    @nn.compact
    def __call__(self, audio, lengths, functionals, *, train: bool = False, features: bool = False):
        # The branches are the independent networks without their softmax layers.
        alf = ACLN(self.num_classes, self.bn_axis_name, **dict(self.acln), head=False, name="acln")(
            audio, lengths, train=train
        )
        elf = FCN(self.num_classes, self.bn_axis_name, **dict(self.fcn), head=False, name="fcn")(
            functionals, train=train
        )
        fused = jnp.concatenate([alf, elf], axis=-1)
        return _softmax_layer(fused, self.num_classes, self.dropout_rate, train=train, features=features)


__all__ = ["ACLN", "FCN", "FusedACLNFCN"]
