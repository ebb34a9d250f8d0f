"""Additive noise at a chosen SNR, on the device: pure ``jax.numpy``, batch-first.

Every function takes a padded batch ``audio [B, S]`` with ``lengths [B]`` (valid samples;
the rest is padding) and keeps shapes static, so it runs inside the jitted train or
eval step, under ``vmap``, ``shard_map`` and ``pmap``, and compiles once.

SNR definition (what :func:`mix_at_snr` sets and the tests measure)::

    SNR = 10 log10( active_power(speech) / mean(noise_scaled ** 2 over the valid samples) )

*Active speech power* (:func:`active_power`) is a simple energy VAD in the spirit of
ITU-T P.56: the valid part of each utterance is cut into non-overlapping frames of
``frame`` samples (default 320 = 20 ms at 16 kHz; the last frame may be partial and
counts only its valid samples); a frame is *active* when its mean power is within
``threshold_db`` (default 40 dB) of the utterance's loudest frame; the active power is
the summed energy of the active frames over their sample count. Unlike P.56 there is
no envelope smoothing, hangover or noise-floor estimate: the threshold is relative to
the peak frame, which needs no state and is exact to reproduce. On clean, trimmed
speech (EmoDB) it gives 0-1 dB more than the plain mean power; pauses in long
recordings are what it keeps out of the speech level.

Noise comes from a *bank* on the device: all noise tracks concatenated into one
float32 array with each track's start and length (:class:`jaxser.data.noise.NoiseBank`,
from ``NoiseCorpus.bank()``); any ``(audio, starts, lengths)`` tuple or a bare 1-D
array (one track) works. Pass the bank to the jitted function as an ARGUMENT (put it
on the device once); closed over, it would be baked into the program as a constant.

Randomness: :func:`add_noise` (training) draws a noise type (uniform over tracks, not
over samples), an offset and an SNR per row from one key. For evaluation,
:func:`eval_noise_key` derives one key per utterance from a stable hash of its id and
:func:`add_noise_deterministic` uses it, so an utterance's noisy audio is the same in
any batch, at any position, with any batch size or padded length: every model is
tested on the same noisy audio.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "DEFAULT_FRAME",
    "DEFAULT_THRESHOLD_DB",
    "active_power",
    "add_noise",
    "add_noise_deterministic",
    "eval_noise_key",
    "mean_power",
    "mix_at_snr",
    "noise_segments",
    "snr_gain",
    "track_segments",
    "utterance_seeds",
]

DEFAULT_FRAME = 320  # 20 ms at 16 kHz
DEFAULT_THRESHOLD_DB = 40.0  # a frame is active within this many dB of the loudest frame


def _valid(lengths: jax.Array, size: int) -> jax.Array:
    return jnp.arange(size) < lengths[:, None]


def _lengths(audio: jax.Array, lengths) -> jax.Array:
    batch, size = audio.shape
    if lengths is None:
        return jnp.full((batch,), size, jnp.int32)
    return jnp.clip(jnp.asarray(lengths, jnp.int32), 0, size)


def _check_batch(audio) -> jax.Array:
    audio = jnp.asarray(audio)
    if audio.ndim != 2:
        raise ValueError(f"audio must be a batch [B, S], got shape {audio.shape}; add a leading axis for one clip")
    return audio.astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("frame", "threshold_db"))
def active_power(
    audio: jax.Array,
    lengths: jax.Array | None = None,
    *,
    frame: int = DEFAULT_FRAME,
    threshold_db: float = DEFAULT_THRESHOLD_DB,
) -> jax.Array:
    """Mean power of the active speech of each row: float32 ``[B]``.

    Args:
      audio: ``[B, S]`` waveforms, zero-padded.
      lengths: ``[B]`` valid samples per row (None: all ``S``).
      frame: VAD frame length in samples (static); 320 is 20 ms at 16 kHz.
      threshold_db: frames whose mean power is at least ``peak / 10**(threshold_db/10)``
        count as active, ``peak`` being the row's loudest frame (see the module doc).

    A row with no valid samples, or only zeros, has power 0.
    """
    if frame < 1:
        raise ValueError(f"frame must be >= 1 sample, got {frame}")
    audio = _check_batch(audio)
    batch, size = audio.shape
    lengths = _lengths(audio, lengths)
    n_frames = -(-size // frame)
    squares = jnp.where(_valid(lengths, size), audio * audio, 0.0)
    squares = jnp.pad(squares, ((0, 0), (0, n_frames * frame - size))).reshape(batch, n_frames, frame)
    energy = squares.sum(-1)  # [B, F]
    count = jnp.clip(lengths[:, None] - jnp.arange(n_frames) * frame, 0, frame)  # valid samples per frame
    power = energy / jnp.maximum(count, 1)
    peak = jnp.max(jnp.where(count > 0, power, 0.0), axis=-1, keepdims=True)
    active = (count > 0) & (power >= peak * 10.0 ** (-threshold_db / 10.0))
    total = jnp.sum(jnp.where(active, energy, 0.0), -1)
    samples = jnp.sum(jnp.where(active, count, 0), -1)
    return total / jnp.maximum(samples, 1)


@jax.jit
def mean_power(audio: jax.Array, lengths: jax.Array | None = None) -> jax.Array:
    """Mean of ``audio ** 2`` over each row's valid samples: float32 ``[B]`` (0 when empty)."""
    audio = _check_batch(audio)
    lengths = _lengths(audio, lengths)
    total = jnp.sum(jnp.where(_valid(lengths, audio.shape[1]), audio * audio, 0.0), -1)
    return total / jnp.maximum(lengths, 1)


@functools.partial(jax.jit, static_argnames=("frame", "threshold_db"))
def snr_gain(
    speech: jax.Array,
    lengths: jax.Array | None,
    noise: jax.Array,
    snr_db,
    *,
    frame: int = DEFAULT_FRAME,
    threshold_db: float = DEFAULT_THRESHOLD_DB,
) -> jax.Array:
    """The factor ``g [B]`` for which ``speech + g * noise`` is at ``snr_db``.

    ``g = sqrt(P_active(speech) / (P(noise) * 10**(snr_db / 10)))``, noise power over the
    row's valid samples. 0 where the noise or the speech is silent there (nothing to
    scale to), so the result is always finite.
    """
    speech = _check_batch(speech)
    noise = _check_batch(noise)
    if noise.shape != speech.shape:
        raise ValueError(f"noise {noise.shape} must have the shape of speech {speech.shape}")
    lengths = _lengths(speech, lengths)
    p_speech = active_power(speech, lengths, frame=frame, threshold_db=threshold_db)
    p_noise = mean_power(noise, lengths)
    snr = jnp.broadcast_to(jnp.asarray(snr_db, jnp.float32), p_speech.shape)
    target = p_speech * 10.0 ** (-snr / 10.0)
    ok = (p_noise > 0) & (target > 0)
    return jnp.where(ok, jnp.sqrt(jnp.where(ok, target, 1.0) / jnp.where(ok, p_noise, 1.0)), 0.0)


@functools.partial(jax.jit, static_argnames=("frame", "threshold_db"))
def mix_at_snr(
    speech: jax.Array,
    lengths: jax.Array | None,
    noise: jax.Array,
    snr_db,
    *,
    frame: int = DEFAULT_FRAME,
    threshold_db: float = DEFAULT_THRESHOLD_DB,
) -> jax.Array:
    """``speech + g * noise`` with ``g`` from :func:`snr_gain`; padding stays 0.

    Args:
      speech: ``[B, S]`` zero-padded waveforms.
      lengths: ``[B]`` valid samples (None: all).
      noise: ``[B, S]`` noise, one segment per row (only its first ``lengths`` samples
        are used and measured).
      snr_db: scalar or ``[B]``, in dB (active speech power over noise power).

    The mixture is not clipped: it may exceed [-1, 1] at low SNR, which the float
    features downstream do not mind (clipping would change the SNR).
    """
    speech = _check_batch(speech)
    lengths = _lengths(speech, lengths)
    gain = snr_gain(speech, lengths, noise, snr_db, frame=frame, threshold_db=threshold_db)
    mixed = speech + gain[:, None] * jnp.asarray(noise, jnp.float32)
    return jnp.where(_valid(lengths, speech.shape[1]), mixed, 0.0)


# --- noise from a bank -----------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("size",))
def noise_segments(bank: jax.Array, starts: jax.Array, size: int, tracks: jax.Array | None = None) -> jax.Array:
    """``[B, size]`` slices of a noise bank, one ``lax.dynamic_slice`` per row (vmapped).

    Args:
      bank: a 1-D bank ``[N]`` (tracks concatenated), or ``[T, L]`` (one track per row).
      starts: ``[B]`` first sample of each slice (within the track for a 2-D bank).
      size: slice length (static).
      tracks: ``[B]`` track of each row; required for a 2-D bank.

    As ``lax.dynamic_slice`` does, a start too close to the end is moved back so the
    slice fits. Slices never wrap; :func:`track_segments` does.
    """
    bank = jnp.asarray(bank)
    starts = jnp.asarray(starts, jnp.int32)
    if bank.ndim == 1:
        if size > bank.shape[0]:
            raise ValueError(f"size {size} is longer than the bank ({bank.shape[0]} samples)")
        return jax.vmap(lambda s: lax.dynamic_slice(bank, (s,), (size,)))(starts)
    if bank.ndim == 2:
        if tracks is None:
            raise ValueError("a 2-D bank [T, L] needs tracks [B]")
        if size > bank.shape[1]:
            raise ValueError(f"size {size} is longer than the bank's tracks ({bank.shape[1]} samples)")
        tracks = jnp.asarray(tracks, jnp.int32)
        return jax.vmap(lambda t, s: lax.dynamic_slice(bank, (t, s), (1, size))[0])(tracks, starts)
    raise ValueError(f"bank must be [N] or [T, L], got shape {bank.shape}")


@functools.partial(jax.jit, static_argnames=("size",))
def track_segments(
    audio: jax.Array,
    track_starts: jax.Array,
    track_lengths: jax.Array,
    tracks: jax.Array,
    offsets: jax.Array,
    size: int,
) -> jax.Array:
    """``[B, size]`` segments of a concatenated bank, each read within its own track.

    Row ``b`` holds track ``tracks[b]`` from sample ``offsets[b]`` on, wrapping around to
    the track's start where it runs past its end (one gather, no Python loop).
    """
    tracks = jnp.asarray(tracks, jnp.int32)
    first = jnp.asarray(track_starts, jnp.int32)[tracks]
    length = jnp.maximum(jnp.asarray(track_lengths, jnp.int32)[tracks], 1)
    within = (jnp.asarray(offsets, jnp.int32)[:, None] + jnp.arange(size, dtype=jnp.int32)) % length[:, None]
    return jnp.asarray(audio)[first[:, None] + within]


def _as_bank(bank: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
    if isinstance(bank, tuple) and len(bank) == 3:
        audio, starts, lengths = bank
        return jnp.asarray(audio, jnp.float32), jnp.asarray(starts, jnp.int32), jnp.asarray(lengths, jnp.int32)
    audio = jnp.asarray(bank, jnp.float32)
    if audio.ndim != 1:
        raise ValueError(f"a noise bank is (audio, starts, lengths) or a 1-D array, got shape {audio.shape}")
    return audio, jnp.zeros((1,), jnp.int32), jnp.full((1,), audio.shape[0], jnp.int32)


def _snr_spec(snr_db, snr_range) -> tuple[str, Any]:
    if (snr_db is None) == (snr_range is None):
        raise ValueError("give exactly one of snr_db (values to choose from) and snr_range (low, high)")
    if snr_range is not None:
        low, high = (float(v) for v in snr_range)
        if not (np.isfinite(low) and np.isfinite(high) and low <= high):
            raise ValueError(f"snr_range must be finite (low, high) with low <= high, got {snr_range!r}")
        return "range", (low, high)
    values = tuple(float(v) for v in np.atleast_1d(np.asarray(snr_db, np.float64)))
    if not values or not all(np.isfinite(values)):
        raise ValueError(f"snr_db must be one or more finite values in dB, got {snr_db!r}")
    return "choice", values


def _draw_row(key, length, track_lengths, snr_spec, prob):
    """One row's (track, offset, snr, apply) from its own key.

    One ``random.bits`` call gives the four draws (integers by modulo: the bias is below
    ``track_length / 2**32``, i.e. < 1e-3 for a 10-minute track); the four separate
    ``randint``/``uniform`` calls would compile several times more threefry code.
    """
    bits = jax.random.bits(key, (4,), jnp.uint32)
    track = (bits[0] % jnp.uint32(track_lengths.shape[0])).astype(jnp.int32)
    # The offset keeps the row's valid part inside the track when it is long enough:
    # no wrap-around click, and the draw does not depend on the padded length.
    room = (jnp.maximum(track_lengths[track] - length, 0) + 1).astype(jnp.uint32)
    offset = (bits[1] % room).astype(jnp.int32)
    kind, values = snr_spec
    if kind == "range":
        unit = (bits[2] >> 8).astype(jnp.float32) * (1.0 / (1 << 24))  # uniform in [0, 1)
        snr = values[0] + (values[1] - values[0]) * unit
    else:
        snr = jnp.asarray(values, jnp.float32)[(bits[2] % jnp.uint32(len(values))).astype(jnp.int32)]
    if prob >= 1.0:
        apply = jnp.asarray(True)
    else:
        apply = (bits[3] >> 8).astype(jnp.float32) * (1.0 / (1 << 24)) < prob
    return track, offset, snr, apply


@functools.partial(jax.jit, static_argnames=("per_row", "snr_spec", "prob", "frame", "threshold_db"))
def _add_noise_rows(keys, audio, lengths, bank, rows_mask, *, per_row, snr_spec, prob, frame, threshold_db):
    """The noise of :func:`add_noise` (one key, split per row) and of
    :func:`add_noise_deterministic` (``per_row``: ``keys [B]``, one per row)."""
    audio = _check_batch(audio)
    batch, size = audio.shape
    lengths = _lengths(audio, lengths)
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob must be in [0, 1], got {prob}")
    if not per_row:
        keys = jax.random.split(keys, batch)
    bank_audio, track_starts, track_lengths = _as_bank(bank)
    draw = jax.vmap(lambda key, length: _draw_row(key, length, track_lengths, snr_spec, prob))
    tracks, offsets, snr, apply = draw(keys, lengths)
    noise = track_segments(bank_audio, track_starts, track_lengths, tracks, offsets, size)
    mixed = mix_at_snr(audio, lengths, noise, snr, frame=frame, threshold_db=threshold_db)
    if rows_mask is not None:
        apply = apply & (jnp.asarray(rows_mask) > 0)
    return jnp.where(apply[:, None], mixed, audio)


def add_noise(
    key: jax.Array,
    audio: jax.Array,
    lengths: jax.Array | None,
    bank: Any,
    snr_db: float | Sequence[float] | None = None,
    *,
    snr_range: tuple[float, float] | None = None,
    prob: float = 1.0,
    train_rows_mask: jax.Array | None = None,
    frame: int = DEFAULT_FRAME,
    threshold_db: float = DEFAULT_THRESHOLD_DB,
) -> jax.Array:
    """Training augmentation: each row mixed with a random noise segment at a random SNR.

    Args:
      key: PRNG key (typed or raw); one per step and per device.
      audio, lengths: the padded batch ``[B, S]`` and its valid lengths ``[B]``.
      bank: ``(audio [N], starts [T], lengths [T])`` (``NoiseCorpus.bank()``) or a 1-D array.
      snr_db: the SNRs to choose from, uniformly (one value: a fixed SNR); or
      snr_range: ``(low, high)`` dB, drawn uniformly.
      prob: the chance that a row gets noise at all.
      train_rows_mask: ``[B]``; rows where it is 0 (padding) come back unchanged.

    Per row: a track uniformly (every noise type equally likely, whatever its length),
    an offset that keeps the row's valid samples inside the track (wrapping only when the
    track is shorter than the row), the SNR, and whether to apply. Rows left out come
    back bit-identical.
    """
    spec = _snr_spec(snr_db, snr_range)
    return _add_noise_rows(
        key, audio, lengths, bank, train_rows_mask,
        per_row=False, snr_spec=spec, prob=float(prob), frame=frame, threshold_db=threshold_db,
    )


# --- deterministic (evaluation) noise ------------------------------------------------


def utterance_seeds(utterance_ids: Sequence[str | bytes]) -> np.ndarray:
    """A stable uint32 per id (BLAKE2b of its UTF-8 bytes; host side, not Python's hash)."""
    if isinstance(utterance_ids, (str, bytes)):
        raise TypeError("utterance_ids must be a sequence of ids, not one string")
    seeds = []
    for uid in utterance_ids:
        if isinstance(uid, np.ndarray) and uid.ndim == 0:
            uid = uid.item()
        data = uid if isinstance(uid, bytes) else str(uid).encode("utf-8", "surrogateescape")
        seeds.append(int.from_bytes(hashlib.blake2b(data, digest_size=4).digest(), "little"))
    return np.asarray(seeds, np.uint32)


def eval_noise_key(utterance_ids, seed: int | jax.Array = 0) -> jax.Array:
    """Per-row keys ``[B]`` for :func:`add_noise_deterministic`, one per utterance.

    Args:
      utterance_ids: id strings (hashed on the host with :func:`utterance_seeds`) or
        their uint32 seeds (an array, which may be traced: seeds can travel with the
        batch into the jitted step).
      seed: the evaluation's noise seed (an int or a PRNG key); the same for every model
        that is to see the same noisy audio.

    Each key is ``fold_in(key(seed), hash(id))``: it depends on the id alone, never on
    the batch or the row's position in it.
    """
    base = jax.random.key(seed) if isinstance(seed, (int, np.integer)) else seed
    if isinstance(utterance_ids, (list, tuple)) or (
        isinstance(utterance_ids, np.ndarray) and utterance_ids.dtype.kind in "USO"
    ):
        seeds = utterance_seeds(list(utterance_ids))
    else:
        seeds = utterance_ids
    return _fold_in_rows(base, jnp.asarray(seeds).astype(jnp.uint32))


@jax.jit
def _fold_in_rows(base: jax.Array, seeds: jax.Array) -> jax.Array:
    return jax.vmap(lambda s: jax.random.fold_in(base, s))(seeds)


def add_noise_deterministic(
    row_keys: jax.Array,
    audio: jax.Array,
    lengths: jax.Array | None,
    bank: Any,
    snr_db: float | Sequence[float] | None = None,
    *,
    snr_range: tuple[float, float] | None = None,
    rows_mask: jax.Array | None = None,
    frame: int = DEFAULT_FRAME,
    threshold_db: float = DEFAULT_THRESHOLD_DB,
) -> jax.Array:
    """Evaluation noise: row ``b`` uses only ``row_keys[b]`` (from :func:`eval_noise_key`).

    Noise type, offset and SNR are drawn per row from its own key (vmapped), so an
    utterance gets the same noisy audio in any batch, at any position, with any batch
    size or padded length. Every row gets noise (no ``prob``); rows where ``rows_mask``
    is 0 come back unchanged. For a fixed test condition pass one SNR, e.g. ``snr_db=5``.
    """
    spec = _snr_spec(snr_db, snr_range)
    row_keys = jnp.asarray(row_keys) if not isinstance(row_keys, jax.Array) else row_keys
    if row_keys.shape[:1] != np.shape(audio)[:1] or (
        not jax.dtypes.issubdtype(row_keys.dtype, jax.dtypes.prng_key) and row_keys.ndim != 2
    ):
        raise ValueError(f"row_keys must hold one key per row of audio, got shape {row_keys.shape}")
    return _add_noise_rows(
        row_keys, audio, lengths, bank, rows_mask,
        per_row=True, snr_spec=spec, prob=1.0, frame=frame, threshold_db=threshold_db,
    )
