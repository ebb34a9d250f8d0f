"""jaxser.augment.shift against NumPy references: circular roll within the valid part,
zero-filled shift, per-row draws, train rows only, compile-once."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxser.augment import AugmentConfig, augment_batch
from jaxser.augment import shift as S


def np_roll_valid(audio: np.ndarray, lengths, shifts) -> np.ndarray:
    out = np.zeros_like(audio)
    for i, (n, k) in enumerate(zip(lengths, shifts)):
        if n:
            out[i, :n] = np.roll(audio[i, :n], k)
    return out


def np_shift_zeros(audio: np.ndarray, lengths, shifts) -> np.ndarray:
    out = np.zeros_like(audio)
    for i, (n, k) in enumerate(zip(lengths, shifts)):
        valid = audio[i, :n]
        if k >= 0:
            out[i, k:n] = valid[: max(n - k, 0)]
        else:
            out[i, : max(n + k, 0)] = valid[-k:]
    return out


def batch(rng, lengths, size):
    audio = np.zeros((len(lengths), size), np.float32)
    for i, n in enumerate(lengths):
        audio[i, :n] = rng.standard_normal(n)
    return audio, np.asarray(lengths, np.int32)


LENGTHS = [100, 73, 100, 1, 0, 50]


def test_roll_and_zero_shift_match_numpy_for_given_shifts():
    rng = np.random.default_rng(0)
    audio, lengths = batch(rng, LENGTHS, 100)
    shifts = np.array([7, -20, 0, 3, 5, -50], np.int32)
    np.testing.assert_array_equal(S.roll_valid(audio, lengths, shifts), np_roll_valid(audio, lengths, shifts))
    np.testing.assert_array_equal(S.shift_with_zeros(audio, lengths, shifts), np_shift_zeros(audio, lengths, shifts))


@pytest.mark.parametrize(
    ("fn", "reference"), [(S.time_shift, np_roll_valid), (S.time_shift_pad, np_shift_zeros)], ids=["roll", "pad"]
)
def test_random_shift_matches_numpy_with_drawn_shifts(fn, reference):
    rng = np.random.default_rng(1)
    audio, lengths = batch(rng, LENGTHS, 100)
    key = jax.random.key(3)
    shifts = np.asarray(S.sample_shifts(key, lengths, 30))
    out = np.asarray(fn(key, audio, lengths, 30))
    np.testing.assert_array_equal(out, reference(audio, lengths, shifts))
    for i, n in enumerate(lengths):
        assert not out[i, n:].any(), "padding stays 0"


def test_sample_shifts_bounds_and_spread():
    lengths = np.array([16000] * 200 + [40, 1, 0], np.int32)
    shifts = np.asarray(S.sample_shifts(jax.random.key(0), lengths, 800))
    assert np.abs(shifts[:200]).max() <= 800 and shifts[:200].min() < -400 and shifts[:200].max() > 400
    assert np.abs(shifts[200]) <= 20 and shifts[201] == 0 and shifts[202] == 0  # at most half the row
    assert len(set(shifts[:200].tolist())) > 150  # per row, not one shift for all


def test_train_rows_mask_leaves_other_rows_unchanged():
    rng = np.random.default_rng(2)
    audio, lengths = batch(rng, [100, 100, 100], 100)
    audio[2, 60:] = 0.5  # not a training row; its content (even past its length) must survive
    lengths[2] = 60
    mask = np.array([1.0, 0.0, 0.0], np.float32)
    key = jax.random.key(1)
    shifts = np.asarray(S.sample_shifts(key, lengths, 40))
    for fn, reference in ((S.time_shift, np_roll_valid), (S.time_shift_pad, np_shift_zeros)):
        out = np.asarray(fn(key, audio, lengths, 40, train_rows_mask=mask))
        np.testing.assert_array_equal(out[1:], audio[1:])
        np.testing.assert_array_equal(out[0], reference(audio, lengths, shifts)[0])
    np.testing.assert_array_equal(S.time_shift(jax.random.key(1), audio, lengths, 0), audio)


def test_shift_compiles_once_and_through_augment_batch():
    rng = np.random.default_rng(3)
    cfg = AugmentConfig(shift_seconds=0.002, sample_rate=16000)  # 32 samples
    traces = []

    @jax.jit
    def step(key, batch):
        traces.append(1)
        return augment_batch(key, batch, cfg)

    for seed in range(2):
        audio, lengths = batch(rng, [100, 80 + seed, 0], 100)
        data = {"audio": audio, "length": lengths, "mask": (lengths > 0).astype(np.float32)}
        out = np.asarray(step(jax.random.key(seed), data)["audio"])
        key = jax.random.fold_in(jax.random.key(seed), 1)  # augment_batch's shift key
        np.testing.assert_array_equal(out, np_roll_valid(audio, lengths, np.asarray(S.sample_shifts(key, lengths, 32))))
    assert len(traces) == 1
