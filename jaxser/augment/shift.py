"""Random time shifts of padded waveform batches, on the device (pure ``jax.numpy``).

Two kinds, both per row, both keeping ``lengths`` and the padding (zeros) as they are,
so the batch's masks and features stay valid and shapes are static:

* :func:`time_shift` rolls the VALID part of a row circularly: ``out[i] = x[(i - k) mod L]``
  for ``i < L`` (``L`` its length); samples leaving one end come back at the other.
* :func:`time_shift_pad` shifts with zeros: ``out[i] = x[i - k]`` where ``0 <= i - k < L``,
  else 0, for ``i < L``; ``k > 0`` delays the row (zeros in front, its end cut off),
  ``k < 0`` advances it (its start cut off, zeros at the end of the valid part).

The shift ``k`` of a row is uniform in ``[-m, m]`` with ``m = min(max_shift, L // 2)``:
never more than half the row, so a short utterance is never shifted out of its own
window (pad) nor rolled further than is distinguishable (roll). Rows where
``train_rows_mask`` is 0 come back unchanged.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["roll_valid", "sample_shifts", "shift_with_zeros", "time_shift", "time_shift_pad"]


def _batch(audio, lengths):
    audio = jnp.asarray(audio)
    if audio.ndim != 2:
        raise ValueError(f"audio must be a batch [B, S], got shape {audio.shape}")
    size = audio.shape[1]
    if lengths is None:
        lengths = jnp.full((audio.shape[0],), size, jnp.int32)
    return audio, jnp.clip(jnp.asarray(lengths, jnp.int32), 0, size)


@functools.partial(jax.jit, static_argnames=("max_shift",))
def sample_shifts(key: jax.Array, lengths: jax.Array, max_shift: int) -> jax.Array:
    """Shifts ``int32 [B]``, each uniform in ``[-m, m]``, ``m = min(max_shift, length // 2)``."""
    if max_shift < 0:  # static: checked when traced
        raise ValueError(f"max_shift must be >= 0 samples, got {max_shift}")
    lengths = jnp.asarray(lengths, jnp.int32)
    limit = jnp.minimum(jnp.int32(max_shift), lengths // 2)
    return jax.random.randint(key, lengths.shape, -limit, limit + 1, jnp.int32)


@jax.jit
def roll_valid(audio: jax.Array, lengths: jax.Array | None, shifts: jax.Array) -> jax.Array:
    """Each row's valid part rolled right by ``shifts[b]`` (circularly); padding 0."""
    audio, lengths = _batch(audio, lengths)
    position = jnp.arange(audio.shape[1], dtype=jnp.int32)
    source = (position - jnp.asarray(shifts, jnp.int32)[:, None]) % jnp.maximum(lengths, 1)[:, None]
    rolled = jnp.take_along_axis(audio, source, axis=1)
    return jnp.where(position < lengths[:, None], rolled, jnp.zeros((), audio.dtype))


@jax.jit
def shift_with_zeros(audio: jax.Array, lengths: jax.Array | None, shifts: jax.Array) -> jax.Array:
    """Each row shifted right by ``shifts[b]`` within its valid part, zeros filled in."""
    audio, lengths = _batch(audio, lengths)
    size = audio.shape[1]
    position = jnp.arange(size, dtype=jnp.int32)
    source = position - jnp.asarray(shifts, jnp.int32)[:, None]
    inside = (source >= 0) & (source < lengths[:, None]) & (position < lengths[:, None])
    shifted = jnp.take_along_axis(audio, jnp.clip(source, 0, size - 1), axis=1)
    return jnp.where(inside, shifted, jnp.zeros((), audio.dtype))


@functools.partial(jax.jit, static_argnames=("fn", "max_shift"))
def _apply(fn, key, audio, lengths, max_shift, train_rows_mask):
    audio, lengths = _batch(audio, lengths)
    if max_shift == 0:
        return audio
    shifted = fn(audio, lengths, sample_shifts(key, lengths, max_shift))
    if train_rows_mask is None:
        return shifted
    return jnp.where((jnp.asarray(train_rows_mask) > 0)[:, None], shifted, audio)


def time_shift(
    key: jax.Array,
    audio: jax.Array,
    lengths: jax.Array | None,
    max_shift: int,
    *,
    train_rows_mask: jax.Array | None = None,
) -> jax.Array:
    """Random circular roll of each row's valid samples by up to ``max_shift`` (static) samples."""
    return _apply(roll_valid, key, audio, lengths, int(max_shift), train_rows_mask)


def time_shift_pad(
    key: jax.Array,
    audio: jax.Array,
    lengths: jax.Array | None,
    max_shift: int,
    *,
    train_rows_mask: jax.Array | None = None,
) -> jax.Array:
    """Random shift of each row by up to ``max_shift`` (static) samples, filled with zeros."""
    return _apply(shift_with_zeros, key, audio, lengths, int(max_shift), train_rows_mask)
