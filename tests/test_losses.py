"""jaxser.losses against plain NumPy references written out here.

The data-parallel centre update runs in a subprocess (this file run as a script)
because the number of host devices is fixed when JAX starts.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxser import losses

B, K, D = 12, 5, 3


def _data(seed=0, b=B, k=K):
    rng = np.random.default_rng(seed)
    logits = (3.0 * rng.standard_normal((b, k))).astype(np.float32)
    labels = rng.integers(0, k, b).astype(np.int32)
    return logits, labels


def _np_log_p(logits, labels):
    x = logits.astype(np.float64)
    z = x - x.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return np.array([logp[i, labels[i]] for i in range(len(labels))])


def _close(actual, expected, atol=1e-5):
    actual = np.asarray(actual)
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=atol)


def test_cross_entropy_and_weighted():
    logits, labels = _data()
    ce = -_np_log_p(logits, labels)
    _close(losses.cross_entropy(logits, labels), ce)
    w = np.linspace(0.5, 2.0, K).astype(np.float32)
    _close(losses.weighted_cross_entropy(logits, labels, w), [w[y] * c for y, c in zip(labels, ce)])
    _close(losses.weighted_cross_entropy(logits, labels, np.ones(K)), ce)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal(gamma):
    logits, labels = _data(1)
    logp = _np_log_p(logits, labels)
    expected = -((1 - np.exp(logp)) ** gamma) * logp
    _close(losses.focal(logits, labels, gamma=gamma), expected)
    alpha = np.arange(1, K + 1, dtype=np.float32) / K
    _close(losses.focal(logits, labels, gamma=gamma, alpha=alpha), alpha[labels] * expected)
    _close(losses.focal(logits, labels, gamma=gamma, alpha=0.25), 0.25 * expected)


def test_focal_gamma_zero_is_cross_entropy_and_gradients_stay_finite():
    logits, labels = _data(2)
    _close(losses.focal(logits, labels, gamma=0.0), losses.cross_entropy(logits, labels))
    sure = np.array([[200.0, 0.0, 0.0]], np.float32)  # p_y == 1 in float32
    for gamma in (0.0, 0.5, 2.0):
        grad = jax.grad(lambda x, g=gamma: losses.focal(x, jnp.array([0]), gamma=g).sum())(sure)
        assert np.all(np.isfinite(grad)), (gamma, grad)


def test_hard_example():
    logits, labels = _data(3)
    rng = np.random.default_rng(3)
    hardness = rng.uniform(0, 1, B).astype(np.float32)
    share = losses.share_class_weights(labels, K)
    logp = _np_log_p(logits, labels)
    expected = [-hardness[i] * (1 - share[labels[i]]) * logp[i] for i in range(B)]
    _close(losses.hard_example(logits, labels, hardness, share), expected)
    _close(losses.hard_example(logits, labels, np.ones(B), np.zeros(K)), -logp)


def test_class_weight_helpers_match_sklearn():
    from sklearn.utils.class_weight import compute_class_weight  # here: keeps the device subprocess light

    labels = np.array([0, 0, 0, 1, 2, 2, 3, 0, 2, 3])
    ours = losses.balanced_class_weights(labels, 4)
    _close(ours, compute_class_weight("balanced", classes=np.arange(4), y=labels), atol=1e-6)
    assert np.mean(ours[labels]) == pytest.approx(1.0)
    # class 2 absent: weight 0, the others as sklearn computes them over the present classes
    gap = np.array([0, 0, 1, 3, 3, 4])
    ours = losses.balanced_class_weights(gap, 5)
    assert ours[2] == 0
    _close(ours[[0, 1, 3, 4]], compute_class_weight("balanced", classes=np.array([0, 1, 3, 4]), y=gap), atol=1e-6)
    share = losses.share_class_weights(gap, 5)
    _close(share, np.array([2, 1, 0, 2, 1]) / 6, atol=1e-7)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        losses.balanced_class_weights([0, 5], 5)


def _np_update_centers(centers, features, labels, mask, alpha):
    new = centers.astype(np.float64).copy()
    for j in range(len(centers)):
        rows = [i for i in range(len(labels)) if labels[i] == j and mask[i] > 0]
        delta = sum((centers[j] - features[i] for i in rows), np.zeros(centers.shape[1]))
        new[j] = centers[j] - alpha * delta / (1 + len(rows))
    return new


def _center_data(seed=4, b=B):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((b, D)).astype(np.float32)
    centers = rng.standard_normal((K, D)).astype(np.float32)
    labels = rng.integers(0, K - 1, b).astype(np.int32)  # class K-1 never occurs
    mask = np.ones(b, np.float32)
    mask[[1, 5]] = 0.0
    labels[5] = -1  # padding rows may carry any label
    return features, centers, labels, mask


def test_center_loss_value_and_gradients():
    features, centers, labels, _ = _center_data()
    labels = np.abs(labels)
    expected = [0.5 * np.sum((features[i] - centers[labels[i]]) ** 2) for i in range(B)]
    _close(losses.center_loss(features, labels, centers), expected)
    g_f, g_c = jax.grad(lambda f, c: losses.center_loss(f, labels, c).sum(), argnums=(0, 1))(features, centers)
    _close(g_f, features - centers[labels])
    assert not np.any(np.asarray(g_c))


def test_update_centers_matches_the_rule():
    features, centers, labels, mask = _center_data()
    new = jax.jit(losses.update_centers)(centers, features, labels, mask, 0.5)
    _close(new, _np_update_centers(centers, features, labels, mask, 0.5))
    np.testing.assert_array_equal(np.asarray(new)[K - 1], centers[K - 1])  # absent class unchanged
    moved = features.copy()
    moved[1] += 100.0  # row 1 is masked (with a real label): its features must not matter
    _close(losses.update_centers(centers, moved, labels, mask, 0.5), new)


def test_regression_losses_ignore_masked_frames():
    rng = np.random.default_rng(5)
    pred = rng.standard_normal((3, 6, 4)).astype(np.float32)
    target = rng.standard_normal((3, 6, 4)).astype(np.float32)
    _close(losses.mse(pred, target), ((pred - target) ** 2).reshape(3, -1).mean(-1))
    _close(losses.mae(pred, target), np.abs(pred - target).reshape(3, -1).mean(-1))
    lengths = [6, 2, 0]
    mask = (np.arange(6)[None] < np.array(lengths)[:, None]).astype(np.float32)
    garbage = target.copy()
    garbage[mask == 0] = 1e6
    expected = [((pred[i, :n] - target[i, :n]) ** 2).mean() if n else 0.0 for i, n in enumerate(lengths)]
    _close(losses.mse(pred, garbage, mask), expected)
    expected = [np.abs(pred[i, :n] - target[i, :n]).mean() if n else 0.0 for i, n in enumerate(lengths)]
    _close(losses.mae(pred, garbage, mask), expected)
    frames_only = [np.mean((pred[i, :n, 0] - target[i, :n, 0]) ** 2) if n else 0.0 for i, n in enumerate(lengths)]
    _close(losses.mse(pred[..., 0], garbage[..., 0], mask), frames_only)  # [B,T] values


def test_dispatcher():
    logits, labels = _data(6)
    assert set(losses.LOSS_NAMES) == {"cross_entropy", "weighted_cross_entropy", "focal", "hard_example", "mse", "mae"}
    _close(losses.per_example_loss("cross_entropy", logits, labels), losses.cross_entropy(logits, labels))
    _close(
        losses.per_example_loss("focal", logits, labels, focal_gamma=1.0),
        losses.focal(logits, labels, gamma=1.0),
    )
    with pytest.raises(ValueError, match=r"needs class_weights.*loss\.class_weights='balanced'"):
        losses.per_example_loss("weighted_cross_entropy", logits, labels)
    with pytest.raises(ValueError, match=r"needs hardness.*batch field 'hardness'"):
        losses.per_example_loss("hard_example", logits, labels, class_share=np.zeros(K))
    with pytest.raises(ValueError, match=r"needs class_share.*share_class_weights"):
        losses.per_example_loss("hard_example", logits, labels, hardness=np.ones(B))
    with pytest.raises(ValueError, match="regression loss"):
        losses.per_example_loss("mse", logits, labels)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        losses.per_example_loss("hinge", logits, labels)
    share = np.zeros(K)

    def total(x):
        return losses.per_example_loss("hard_example", x, labels, hardness=np.ones(B), class_share=share).sum()

    assert np.all(np.isfinite(jax.grad(total)(logits)))


def test_update_centers_on_two_devices_equals_one():
    from tests.device_check import run_on_host_devices  # not at the top: this file also runs as the check script
    result = run_on_host_devices(__file__, 2, timeout=120)
    assert result["devices"] == 2
    assert result["max_abs_diff"] <= 1e-6, result


def _two_device_check() -> None:
    """Centre update sharded over 2 devices (psum) vs on the whole batch at once."""
    from jax.sharding import NamedSharding, PartitionSpec as P

    features, centers, labels, mask = _center_data(seed=7, b=8)
    one = jax.jit(losses.update_centers)(centers, features, labels, mask, 0.5)
    mesh = jax.make_mesh((2,), ("data",), devices=jax.devices()[:2])
    specs = (P(), P("data"), P("data"), P("data"))
    step = jax.shard_map(
        lambda c, f, y, m: losses.update_centers(c, f, y, m, 0.5, axis_name="data"),
        mesh=mesh,
        in_specs=specs,
        out_specs=P(),
        check_vma=False,
    )
    args = [jax.device_put(x, NamedSharding(mesh, s)) for x, s in zip((centers, features, labels, mask), specs)]
    many = jax.jit(step)(*args)
    diff = float(np.max(np.abs(np.asarray(one) - np.asarray(many))))
    print(json.dumps({"devices": jax.device_count(), "max_abs_diff": diff}))


if __name__ == "__main__":
    _two_device_check()
