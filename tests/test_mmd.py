"""jaxser.mmd: the blockwise JAX MMD against an explicit pairwise NumPy reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxser import mmd as mmd_lib


def _kernel_mean(a, b, sigmas):
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)  # explicit pairwise distances
    return sum(np.exp(-d2 / (2.0 * s * s)) for s in sigmas).mean()


def reference_mmd(real, fake, sigmas=mmd_lib.SIGMAS):
    """The paper's biased formula, in float64: mean k(xr, xr') + mean k(xf, xf') - 2 mean k(xr, xf)."""
    x = np.asarray(real, np.float64)
    y = np.asarray(fake, np.float64)
    return _kernel_mean(x, x, sigmas) + _kernel_mean(y, y, sigmas) - 2.0 * _kernel_mean(x, y, sigmas)


def _data(n, m, d, seed=0, shift=0.3, scale=1.2):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) * scale + shift


@pytest.mark.parametrize(
    "n, m, d, block_size",
    [
        (1, 1, 3, mmd_lib.BLOCK_SIZE),
        (9, 9, 4, mmd_lib.BLOCK_SIZE),
        (13, 5, 6, mmd_lib.BLOCK_SIZE),  # N != M
        (13, 5, 6, 4),  # blocks smaller than N, last block shifted back (13 = 3 * 4 + 1)
        (5, 20, 3, 2),  # M > N, several blocks in the fake-fake pass too
    ],
)
def test_matches_pairwise_reference(n, m, d, block_size):
    real, fake = _data(n, m, d, seed=n + m)
    got = mmd_lib.mmd(real, fake, block_size=block_size)
    assert got.shape == () and got.dtype == jnp.float32
    np.testing.assert_allclose(float(got), reference_mmd(real, fake), rtol=1e-5, atol=1e-6)


def test_custom_sigmas_and_block_invariance():
    real, fake = _data(11, 7, 5, seed=3)
    sigmas = (0.5, 2.0)
    want = reference_mmd(real, fake, sigmas)
    for block in (1, 4):
        np.testing.assert_allclose(float(mmd_lib.mmd(real, fake, sigmas, block_size=block)), want, rtol=1e-5, atol=1e-6)


def test_identical_sets_and_symmetry():
    real, fake = _data(12, 8, 4, seed=1)
    assert abs(float(mmd_lib.mmd(fake, fake))) < 1e-5
    np.testing.assert_allclose(float(mmd_lib.mmd(real, fake)), float(mmd_lib.mmd(fake, real)), rtol=1e-5, atol=1e-6)


def test_large_common_offset_keeps_precision():
    """Centring: a common offset of 1000 would wreck the float32 expansion without it."""
    real, fake = _data(12, 8, 5, seed=2)
    np.testing.assert_allclose(float(mmd_lib.mmd(real + 1000.0, fake + 1000.0)), reference_mmd(real, fake), rtol=1e-4, atol=1e-5)


def test_shifted_distribution_scores_higher():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(40, 4))
    same = rng.normal(size=(40, 4))
    shifted = rng.normal(size=(40, 4)) + 1.5
    near, far = float(mmd_lib.mmd(real, same)), float(mmd_lib.mmd(real, shifted))
    assert 0.0 <= near < far
    assert abs(float(mmd_lib.mmd(real, real))) < 1e-5


def test_per_class_matches_reference():
    rng = np.random.default_rng(5)
    real, fake = _data(17, 11, 4, seed=5)
    real_labels = rng.integers(0, 3, 17)
    fake_labels = rng.integers(0, 3, 11)
    real_labels[:2], fake_labels[:2] = 0, 0  # class 0 present in both
    real_labels[-1] = 3  # class 3: real only; class 4: absent
    fake_labels[fake_labels == 2] = 1  # class 2: real only (unless absent from real too)
    out = mmd_lib.mmd_per_class(real, real_labels, fake, fake_labels, num_classes=5, block_size=4)
    present = [c for c in range(5) if (real_labels == c).any() and (fake_labels == c).any()]
    assert out["classes"] == present == [0, 1]
    for c in range(5):
        if c in present:
            want = reference_mmd(real[real_labels == c], fake[fake_labels == c])
            np.testing.assert_allclose(out["per_class"][c], want, rtol=1e-5, atol=1e-6)
        else:
            assert out["per_class"][c] is None
    np.testing.assert_allclose(out["mean"], np.mean([out["per_class"][c] for c in present]))
    np.testing.assert_allclose(out["overall"], reference_mmd(real, fake), rtol=1e-5, atol=1e-6)
    assert out["num_real"] == np.bincount(real_labels, minlength=5).tolist()
    assert out["num_fake"] == np.bincount(fake_labels, minlength=5).tolist()


def test_rejects_bad_input():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="different feature sizes"):
        mmd_lib.mmd(x, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="at least one vector"):
        mmd_lib.mmd(x, np.zeros((0, 4)))
    with pytest.raises(ValueError, match="positive"):
        mmd_lib.mmd(x, x, sigmas=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"lie in \[0, 2\)"):
        mmd_lib.mmd_per_class(x, [0, 1, 2], x, [0, 1, 1], num_classes=2)
    with pytest.raises(ValueError, match="shape"):
        mmd_lib.mmd_per_class(x, [0, 1], x, [0, 1, 1], num_classes=2)


def test_work_space_is_blockwise():
    """Compile only: 20,000 x 20,000 pairs must not materialise the 1.6 GB kernel matrix."""
    n, d = 20_000, 64
    spec = jax.ShapeDtypeStruct((n, d), jnp.float32)
    compiled = mmd_lib._mmd_jit.lower(spec, spec, sigmas=mmd_lib.SIGMAS, block_size=256, dtype=np.dtype(np.float32)).compile()
    analysis = compiled.memory_analysis()
    if analysis is None:
        pytest.skip("backend gives no memory analysis")
    assert analysis.temp_size_in_bytes < 100 * 2**20  # full [N, N] float32: 1,526 MiB
