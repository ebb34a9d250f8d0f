"""Maximum mean discrepancy (MMD) between real and generated feature vectors.

Yi & Mak (2020), "Improving speech emotion recognition with adversarial data
augmentation network", IEEE TNNLS, Sec. V-A, measure how close the augmented IS11
vectors are to the genuine ones with the MMD under a mixture of RBF kernels and report
"average MMDs" of ADAN .0057, WADAN .0054 and an adversarial autoencoder (AAE) .0244.
This module computes that number:

    MMD = 1/N^2 sum_{i,i'} k(xr_i, xr_i') + 1/M^2 sum_{j,j'} k(xf_j, xf_j')
          - 2/(N M) sum_{i,j} k(xr_i, xf_j)

    k(x, y) = sum_q exp(-||x - y||^2 / (2 sigma_q^2)),  sigma in SIGMAS = (0.1, 1, 5, 10, 100)

for N real vectors ``xr`` and M generated vectors ``xf`` (the paper writes N for both
sets; here they may differ). It is the biased V-statistic, i.e. strictly the *squared*
MMD (no square root, as in the paper's formula): never negative in exact arithmetic and
0 for identical sets. The kernel is a plain sum over the sigmas (k(x, x) = 5), not a
mean. The sigmas are absolute distances, so the number depends on the feature scale:
pass the vectors the way the classifier sees them (the paper's IS11 vectors are
normalised before training).

The paper does not say whether its "average" is over emotion classes, over the
cross-validation folds, or both. :func:`mmd` gives the whole-set number;
:func:`mmd_per_class` gives one number per class (real and generated vectors of the
same class compared), their mean over the classes present in both sets, and the
whole-set number from the same pass. Averaging over folds is left to the caller.

Computation (jitted, float32 by default): squared distances use the expansion
||x||^2 + ||y||^2 - 2 x.y on data centred by the mean of both sets (distances are
translation invariant; centring keeps the norms small so the subtraction loses little
precision), with matmuls at ``Precision.HIGHEST`` (no TF32/bf16 passes on
accelerators), clamped at 0, and self-distances within a set set to exactly 0. Rows
of the first set go through ``lax.map`` in blocks of ``block_size``, so only
``[block_size, M]`` kernel blocks exist at a time, never ``[N, M]`` or ``[N, M, D]``.
Work space = one centred copy of each set (~167 MiB per 10,000 x 4,368 float32 set)
plus a few ``[block_size, M]`` blocks (~39 MiB each at M = 10,000): XLA's compiled
temp size on CPU for N = M = 10,000, D = 4,368 is ~390 MiB with the default block of
1,024 and ~350 MiB with 256 (a full 10k x 10k kernel matrix alone would be 381 MiB).
Per-class sums come from the same blocks via one-hot matmuls, so all classes
cost one pass.

Example::

    from jaxser import mmd as mmd_lib

    value = float(mmd_lib.mmd(real_feats, generated_feats))      # [N, D], [M, D]
    report = mmd_lib.mmd_per_class(real_feats, real_labels, generated_feats, generated_labels, num_classes=4)
    report["per_class"], report["mean"], report["overall"]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

SIGMAS: tuple[float, ...] = (0.1, 1.0, 5.0, 10.0, 100.0)
BLOCK_SIZE = 1024  # rows per block: a [BLOCK_SIZE, M] float32 block is 40 MB at M = 10,000

_HIGHEST = lax.Precision.HIGHEST


def _check_pair(real, fake) -> None:
    if real.ndim != 2 or fake.ndim != 2:
        raise ValueError(f"real and fake must be [N, D] and [M, D] arrays, got shapes {real.shape} and {fake.shape}")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake have different feature sizes: {real.shape[1]} vs {fake.shape[1]}")
    if real.shape[0] == 0 or fake.shape[0] == 0:
        raise ValueError(f"MMD needs at least one vector in each set, got {real.shape[0]} real and {fake.shape[0]} fake")


def _normalize(sigmas: Sequence[float], block_size: int, dtype) -> tuple[tuple[float, ...], int, np.dtype]:
    sigmas = tuple(float(s) for s in np.atleast_1d(np.asarray(sigmas, dtype=np.float64)))
    if not sigmas or any(not (s > 0 and math.isfinite(s)) for s in sigmas):
        raise ValueError(f"sigmas must be positive and finite, got {sigmas}")
    if int(block_size) < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    return sigmas, int(block_size), np.dtype(dtype)


def _group_sums(x, gx, y, gy, *, num_groups: int, sigmas: tuple[float, ...], block_size: int, same: bool):
    """``S[a, b] = sum_{i: gx_i = a} sum_{j: gy_j = b} k(x_i, y_j)`` as a ``[G, G]`` array.

    ``gx``/``gy`` are one-hot group memberships (``[N, G]``, ``[M, G]``; an all-zero row
    takes part in no sum). ``same``: ``y`` is ``x`` itself, so ``d(x_i, x_i)`` is set to
    exactly 0 rather than to the rounding residue of the expansion.
    """
    n, d = x.shape
    b = min(block_size, n)
    blocks = -(-n // b)
    y_sq = jnp.sum(y * y, axis=1)
    gammas = [1.0 / (2.0 * s * s) for s in sigmas]
    columns = jnp.arange(y.shape[0])

    def block(start):
        # Rows [start, start + b) without padding x (a padded copy would cost another
        # [N, D] buffer): the last block is shifted back to end at row n and its rows
        # before ``start``, already summed by the previous block, get no group.
        first = jnp.minimum(start, n - b)
        rows = first + jnp.arange(b)
        xs = lax.dynamic_slice_in_dim(x, first, b)
        gs = lax.dynamic_slice_in_dim(gx, first, b) * (rows >= start)[:, None].astype(gx.dtype)
        x_sq = jnp.sum(xs * xs, axis=1)
        d2 = x_sq[:, None] + y_sq[None, :] - 2.0 * jnp.matmul(xs, y.T, precision=_HIGHEST)
        # Rounding in ||x||^2 + ||y||^2 - 2 x.y (float32 cancellation between large,
        # nearly equal terms) can leave near-identical pairs slightly below 0; a negative
        # squared distance would give a kernel value above its maximum, so clamp at 0.
        d2 = jnp.maximum(d2, 0.0)
        if same:
            d2 = jnp.where(rows[:, None] == columns[None, :], 0.0, d2)
        k = sum(jnp.exp(-g * d2) for g in gammas)  # [b, M]: the only full-width block
        per_row = jnp.matmul(k, gy, precision=_HIGHEST)  # [b, G]
        return jnp.matmul(gs.T, per_row, precision=_HIGHEST)  # [G, G]

    return jnp.sum(lax.map(block, jnp.arange(blocks) * b), axis=0)


@functools.partial(jax.jit, static_argnames=("num_groups", "sigmas", "block_size", "dtype"))
def _all_sums(real, real_groups, fake, fake_groups, *, num_groups, sigmas, block_size, dtype):
    """The three ``[G, G]`` kernel-sum matrices (real-real, fake-fake, real-fake)."""
    x = real.astype(dtype)
    y = fake.astype(dtype)
    # Centre both sets on their joint mean: distances are unchanged, norms shrink, and
    # the expansion loses far less precision for features with a large common offset.
    mean = (jnp.sum(x, axis=0) + jnp.sum(y, axis=0)) / (x.shape[0] + y.shape[0])
    x = x - mean
    y = y - mean
    gx = jax.nn.one_hot(real_groups, num_groups, dtype=dtype)  # out-of-range ids -> zero rows
    gy = jax.nn.one_hot(fake_groups, num_groups, dtype=dtype)
    common = dict(num_groups=num_groups, sigmas=sigmas, block_size=block_size)
    return (
        _group_sums(x, gx, x, gx, same=True, **common),
        _group_sums(y, gy, y, gy, same=True, **common),
        _group_sums(x, gx, y, gy, same=False, **common),
    )


@functools.partial(jax.jit, static_argnames=("sigmas", "block_size", "dtype"))
def _mmd_jit(real, fake, *, sigmas, block_size, dtype):
    n, m = real.shape[0], fake.shape[0]
    zeros_n = jnp.zeros((n,), jnp.int32)
    zeros_m = jnp.zeros((m,), jnp.int32)
    sxx, syy, sxy = _all_sums(real, zeros_n, fake, zeros_m, num_groups=1, sigmas=sigmas, block_size=block_size, dtype=dtype)
    return sxx[0, 0] / (n * n) + syy[0, 0] / (m * m) - 2.0 * sxy[0, 0] / (n * m)


def mmd(real, fake, sigmas: Sequence[float] = SIGMAS, *, block_size: int = BLOCK_SIZE, dtype=jnp.float32) -> jax.Array:
    """Biased (V-statistic) squared MMD between ``real`` [N, D] and ``fake`` [M, D].

    Mixture-of-RBF kernel ``k(x, y) = sum_q exp(-||x - y||^2 / (2 sigma_q^2))``; see the
    module docstring. Returns a 0-d JAX array of ``dtype`` (float32 by default; float64
    needs ``jax_enable_x64``). ``block_size`` bounds the work space to
    ``[block_size, max(N, M)]`` kernel blocks and does not change the result beyond
    rounding. Compiled once per shape, sigmas, block size and dtype.
    """
    sigmas, block_size, dtype = _normalize(sigmas, block_size, dtype)
    real, fake = jnp.asarray(real), jnp.asarray(fake)
    _check_pair(real, fake)
    return _mmd_jit(real, fake, sigmas=sigmas, block_size=block_size, dtype=dtype)


def _check_labels(labels, n: int, num_classes: int, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be integer class ids, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes}), got range [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int32)


def mmd_per_class(
    real,
    real_labels,
    fake,
    fake_labels,
    num_classes: int,
    sigmas: Sequence[float] = SIGMAS,
    *,
    block_size: int = BLOCK_SIZE,
    dtype=jnp.float32,
) -> dict[str, Any]:
    """MMD per emotion class, its mean over classes, and the whole-set MMD, in one pass.

    Class ``c``'s MMD compares the real vectors labelled ``c`` with the generated vectors
    labelled ``c`` (same formula and kernel as :func:`mmd`). Returns a JSON-ready dict:

    * ``"per_class"``: list of ``num_classes`` floats, ``None`` for a class missing from
      either set;
    * ``"classes"``: the class ids present in both sets;
    * ``"mean"``: mean of the per-class MMDs over those classes (``None`` if none);
    * ``"overall"``: the whole-set MMD (all real vs all generated vectors, labels
      ignored), equal to :func:`mmd` up to rounding;
    * ``"num_real"`` / ``"num_fake"``: vectors per class.

    The paper's "average MMD" may be either the class mean or a mean over folds of one
    of these numbers; it does not say, so both whole-set and per-class figures are given.
    The per-class sums are combined on the host in float64.
    """
    sigmas, block_size, dtype = _normalize(sigmas, block_size, dtype)
    num_classes = int(num_classes)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    real, fake = jnp.asarray(real), jnp.asarray(fake)
    _check_pair(real, fake)
    rl = _check_labels(real_labels, real.shape[0], num_classes, "real_labels")
    fl = _check_labels(fake_labels, fake.shape[0], num_classes, "fake_labels")
    sums = _all_sums(real, jnp.asarray(rl), fake, jnp.asarray(fl), num_groups=num_classes, sigmas=sigmas, block_size=block_size, dtype=dtype)
    sxx, syy, sxy = (np.asarray(s, dtype=np.float64) for s in sums)
    n_c = np.bincount(rl, minlength=num_classes)
    m_c = np.bincount(fl, minlength=num_classes)
    per_class: list[float | None] = []
    for c in range(num_classes):
        n, m = float(n_c[c]), float(m_c[c])
        per_class.append(sxx[c, c] / n**2 + syy[c, c] / m**2 - 2.0 * sxy[c, c] / (n * m) if n and m else None)
    present = [c for c, v in enumerate(per_class) if v is not None]
    n, m = float(len(rl)), float(len(fl))
    overall = sxx.sum() / n**2 + syy.sum() / m**2 - 2.0 * sxy.sum() / (n * m)
    return {
        "per_class": [None if v is None else float(v) for v in per_class],
        "classes": present,
        "mean": float(np.mean([per_class[c] for c in present])) if present else None,
        "overall": float(overall),
        "num_real": [int(v) for v in n_c],
        "num_fake": [int(v) for v in m_c],
    }
