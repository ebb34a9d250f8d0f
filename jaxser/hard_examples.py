"""Hard-example mining (Zhong et al. 2020, Sec. III-C): counts on device, the index in one call.

During the first training stage every training example carries two counters in the
training state: ``seen`` (c_i, epochs in which it was trained on) and ``missed`` (m_i,
epochs in which the network misclassified it). A train step adds its rows' outcomes with
:func:`update_counts`; rows are indexed by the example's position in the fold's training
set, so the counts are the same whatever device or batch a row lands on, and a
data-parallel step sums the per-device scatter-adds with ``psum``. The counters are plain
arrays in the checkpointed state: a resumed run continues the same index.

After the stage, :func:`hard_index` turns the counts into the paper's index for the whole
training set in one jitted call, ``jax.vmap`` over examples (and over networks, for counts
stacked ``[networks, N]``)::

    R_i = -log2(1 - m_i / c_i)                                 (2)
    h_i = (R_i - min R) / (max R - min R)                      (1)
    h_i = 1 where m_i = c_i (R_i is infinite there; footnote 1)
    hard  <=>  h_i >= beta

The paper leaves two cases open; what we do:

- min and max run over the finite R_i (the m_i = c_i examples are set to 1 anyway, and an
  infinite max would send every other index to 0);
- when every finite R_i is equal (no spread), the finite ones get h_i = 0: nothing
  distinguishes them, so none is harder than another;
- an example never seen (c_i = 0) gets h_i = 0 and is never hard.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def zero_counts(num_examples: int) -> dict[str, jax.Array]:
    """Fresh counters for ``num_examples`` training examples (int32: exact, and an epoch count
    never comes near 2**31)."""
    return {"seen": jnp.zeros(num_examples, jnp.int32), "missed": jnp.zeros(num_examples, jnp.int32)}


def update_counts(counts, index, logits, labels, mask, axis_name: str | None = None):
    """Add one batch's outcomes: ``seen[index] += 1``, ``missed[index] += (argmax != label)``.

    ``index`` is each row's position in the training set; padding rows (``mask == 0``)
    add nothing. With ``axis_name`` the per-device increments are summed across devices,
    so every replica keeps the same counters. Call once per example per epoch (each
    training example is visited once an epoch), which is what makes ``seen`` an epoch count.
    """
    n = counts["seen"].shape[0]
    valid = mask.astype(jnp.int32)
    wrong = (jnp.argmax(logits, axis=-1) != labels).astype(jnp.int32) * valid
    seen = jnp.zeros(n, jnp.int32).at[index].add(valid, mode="drop")
    missed = jnp.zeros(n, jnp.int32).at[index].add(wrong, mode="drop")
    if axis_name is not None:
        seen, missed = jax.lax.psum((seen, missed), axis_name)
    return {"seen": counts["seen"] + seen, "missed": counts["missed"] + missed}


def _entropy(missed, seen):
    """R_i of one example; +inf when m = c, nan when never seen (both handled by the caller)."""
    ratio = missed.astype(jnp.float32) / seen.astype(jnp.float32)
    return -jnp.log2(1.0 - ratio)


def _normalise(r, always_hard, never_seen):
    finite = ~(always_hard | never_seen)
    lo = jnp.min(jnp.where(finite, r, jnp.inf))
    hi = jnp.max(jnp.where(finite, r, -jnp.inf))
    spread = hi - lo
    h = jnp.where(spread > 0, (r - lo) / jnp.where(spread > 0, spread, 1.0), 0.0)
    h = jnp.where(always_hard, 1.0, h)
    return jnp.where(never_seen, 0.0, h)


@jax.jit
def hard_index(seen, missed):
    """The hard index h in [0, 1] of every example; ``[N]`` counts or ``[networks, N]``."""
    seen, missed = jnp.asarray(seen), jnp.asarray(missed)
    if seen.ndim == 2:
        return jax.vmap(hard_index)(seen, missed)
    r = jax.vmap(_entropy)(missed, seen)  # per example: no Python loop, one fused kernel
    never_seen = seen == 0
    always_hard = (missed >= seen) & ~never_seen
    return _normalise(r, always_hard, never_seen)


def hard_mask(h, beta: float):
    """Which examples are hard: ``h >= beta``, beta in [0, 1) as the paper requires."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must lie in [0, 1) (Zhong et al. 2020, Eq. 1), got {beta}")
    return jnp.asarray(h) >= beta
