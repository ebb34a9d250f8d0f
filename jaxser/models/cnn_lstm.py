"""The 1D and 2D CNN-LSTM networks of Zhao, Mao & Chen (2019), Biomed. Signal Process.
Control 47:312-323 ("Speech emotion recognition using deep 1D & 2D CNN LSTM networks").

Both networks: four local feature learning blocks (LFLB: conv 3 / 3x3, SAME, stride 1
-> BatchNorm -> ELU -> max-pool, filters 64, 64, 128, 128), one LSTM layer (256 units)
whose last output feeds a fully connected layer with one unit per emotion (softmax is
left to the loss). Features are computed inside the module so the whole train step is
one jitted function:

    model = CNNLSTM2D(num_classes=7)
    variables = model.init({"params": k1, "dropout": k2}, audio, lengths, train=False)
    logits, updates = model.apply(variables, audio, lengths, train=True,
                                  mutable=["batch_stats"], rngs={"dropout": k3})

``audio``: float32 ``[B, N]`` waveforms at 16 kHz in [-1, 1], zero-padded; ``lengths``:
int ``[B]`` valid samples. Output: float32 logits ``[B, num_classes]``.

Choices where the paper is silent or ambiguous (all are fields):

* **Input of the 2D network.** Log-mel with the paper's n_fft 2048, hop 512, 128 mels
  (librosa conventions: centred frames, Hann window, Slaney mel scale); an 8 s clip gives
  251 frames. The paper does not give the dB reference or any normalisation: we use
  ``ref='max'`` (each clip's own maximum, so 0 dB is its loudest bin) with
  ``top_db=80``, then map [-80, 0] dB to [0, 1] (``(dB + db_offset) * db_scale``), so
  silence, padding and the convolutions' zero padding all read as 0.
* **Input of the 1D network.** The raw waveform ``[B, N, 1]``, unnormalised.
* **Layout.** Time is axis 1 throughout (``[B, T, C]`` and ``[B, T, F, C]``); after the
  last block the frequency and channel axes are flattened into the LSTM's features, so
  the LSTM runs over time.
* **Padding and cropping.** The paper pads or crops every clip to 8 s (the data
  pipeline does that) and runs the LSTM over all steps, padding included; that is
  ``mask_padding=False`` (floor pooling, last LSTM step). ``mask_padding=True`` (the
  default) makes a clip's result independent of its padding: padded steps are left out
  of the BatchNorm statistics and the pools and zeroed after every block, pools keep
  the final partial window (ceil), and the output is read at each clip's last valid
  LSTM step (``nn.RNN(seq_lengths=...)``).
* **Sequence length of the 2D LSTM.** Pools 2, 4, 4, 4 shrink 128 mels x 251 frames to
  1 x 1 (floor; ``mask_padding=False``) or 1 x 2 (ceil), so the LSTM sees a sequence of
  one or two steps of 128 features. This is what Table 2 specifies (output
  M/128 x N/128), and we keep it; the 1D network's LSTM sees 500 steps of an 8 s clip.
* **After the LSTM.** The last hidden state, optional dropout (``dropout_rate``,
  default 0: the paper names no dropout), then Dense(num_classes) (layer 2F / 1F).
* **Initialisation and BatchNorm.** Keras' defaults, since the paper used Keras:
  Glorot-uniform conv kernels with biases, BatchNorm momentum 0.99 and epsilon 1e-3.
  The LSTM is Flax's ``OptimizedLSTMCell`` (same gates and parameter count as Keras').
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from jaxser import features
from jaxser.models.layers import BN_EPSILON, BN_MOMENTUM, LFLB


def _check_inputs(audio: jax.Array, lengths: jax.Array) -> None:
    if audio.ndim != 2:
        raise ValueError(f"audio must be [batch, samples], got shape {audio.shape}")
    if lengths.shape != audio.shape[:1]:
        raise ValueError(f"lengths must be [batch]={audio.shape[:1]}, got shape {lengths.shape}")


class _Head(nn.Module):
    """LSTM over time (read at the last valid step or the last step), dropout, Dense."""

    num_classes: int
    lstm_units: int
    dropout_rate: float

    @nn.compact
    def __call__(self, seq: jax.Array, seq_lengths: jax.Array | None, *, train: bool) -> jax.Array:
        if seq_lengths is not None:  # a clip shorter than one step still gets its first step
            seq_lengths = jnp.clip(seq_lengths, 1, seq.shape[1])
        (_, h), _ = nn.RNN(nn.OptimizedLSTMCell(self.lstm_units), name="lstm")(
            seq, seq_lengths=seq_lengths, return_carry=True
        )
        h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
        return nn.Dense(self.num_classes, name="dense")(h)


class _Blocks(nn.Module):
    """The four LFLBs; returns ``(activations, valid lengths along time)``."""

    filters: tuple[int, ...]
    pools: tuple[tuple[int, ...], ...]
    kernel_size: int
    mask_padding: bool
    bn_axis_name: str | None
    bn_momentum: float
    bn_epsilon: float
    impl: str

    @nn.compact
    def __call__(self, x, lengths, *, train: bool):
        if len(self.filters) != len(self.pools):
            raise ValueError(f"filters {self.filters} and pools {self.pools} must have the same length")
        for i, (f, p) in enumerate(zip(self.filters, self.pools)):
            x, lengths = LFLB(
                f,
                p,
                kernel_size=self.kernel_size,
                mask_padding=self.mask_padding,
                bn_axis_name=self.bn_axis_name,
                bn_momentum=self.bn_momentum,
                bn_epsilon=self.bn_epsilon,
                impl=self.impl,
                name=f"lflb{i + 1}",
            )(x, lengths, train=train)
        return x, lengths


class CNNLSTM2D(nn.Module):
    """2D CNN-LSTM (Table 2): log-mel ``[B, frames, mels, 1]`` -> 4 LFLBs -> LSTM -> Dense."""

    num_classes: int
    bn_axis_name: str | None = None
    filters: tuple[int, ...] = (64, 64, 128, 128)
    kernel_size: int = 3
    pools: tuple[int, ...] = (2, 4, 4, 4)
    lstm_units: int = 256
    dropout_rate: float = 0.0
    mask_padding: bool = True
    sample_rate: int = 16000
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    ref: float | str = "max"
    top_db: float | None = 80.0
    db_offset: float = 80.0
    db_scale: float = 1.0 / 80.0
    bn_momentum: float = BN_MOMENTUM
    bn_epsilon: float = BN_EPSILON
    impl: str = "fast"

    def log_mel(self, audio: jax.Array, lengths: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The network's input ``[B, frames, n_mels, 1]`` and valid frames ``[B]``."""
        db = features.log_mel(
            audio, sr=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels,
            ref=self.ref, top_db=self.top_db, lengths=lengths,
        )
        frames = features.num_frames(lengths, n_fft=self.n_fft, hop_length=self.hop_length)
        valid = jnp.arange(db.shape[1]) < frames[:, None]
        x = jnp.where(valid[..., None], (db + self.db_offset) * self.db_scale, 0.0)
        return jax.lax.stop_gradient(x)[..., None], frames

    @nn.compact
    def __call__(self, audio: jax.Array, lengths: jax.Array, *, train: bool = False) -> jax.Array:
        audio = jnp.asarray(audio, jnp.float32)
        lengths = jnp.asarray(lengths, jnp.int32)
        _check_inputs(audio, lengths)
        x, frames = self.log_mel(audio, lengths)
        x, steps = _Blocks(
            tuple(self.filters), tuple((p, p) for p in self.pools), self.kernel_size, self.mask_padding,
            self.bn_axis_name, self.bn_momentum, self.bn_epsilon, self.impl, name="blocks",
        )(x, frames, train=train)
        seq = x.reshape(x.shape[0], x.shape[1], -1)  # [B, T', F' * C]: the LSTM runs over time
        return _Head(self.num_classes, self.lstm_units, self.dropout_rate, name="head")(
            seq, steps if self.mask_padding else None, train=train
        )


class CNNLSTM1D(nn.Module):
    """1D CNN-LSTM (Table 1): raw waveform ``[B, N, 1]`` -> 4 LFLBs -> LSTM -> Dense."""

    num_classes: int
    bn_axis_name: str | None = None
    filters: tuple[int, ...] = (64, 64, 128, 128)
    kernel_size: int = 3
    pools: tuple[int, ...] = (4, 4, 4, 4)
    lstm_units: int = 256
    dropout_rate: float = 0.0
    mask_padding: bool = True
    bn_momentum: float = BN_MOMENTUM
    bn_epsilon: float = BN_EPSILON
    impl: str = "fast"

    @nn.compact
    def __call__(self, audio: jax.Array, lengths: jax.Array, *, train: bool = False) -> jax.Array:
        audio = jnp.asarray(audio, jnp.float32)
        lengths = jnp.asarray(lengths, jnp.int32)
        _check_inputs(audio, lengths)
        x, steps = _Blocks(
            tuple(self.filters), tuple((p,) for p in self.pools), self.kernel_size, self.mask_padding,
            self.bn_axis_name, self.bn_momentum, self.bn_epsilon, self.impl, name="blocks",
        )(audio[..., None], lengths, train=train)
        return _Head(self.num_classes, self.lstm_units, self.dropout_rate, name="head")(
            x, steps if self.mask_padding else None, train=train
        )


__all__ = ["CNNLSTM1D", "CNNLSTM2D"]
