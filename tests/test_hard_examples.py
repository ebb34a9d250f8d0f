"""The hard index against a plain per-example NumPy reference, and the on-device counters.

The two-device check runs in a subprocess (this file run as a script) with two host devices."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxser import hard_examples


def reference(seen, missed):
    """Zhong et al. 2020, Eqs. 1-2, example by example, with the module's stated edge rules."""
    n = len(seen)
    r = np.full(n, np.nan)
    for i in range(n):
        if seen[i] > 0 and missed[i] < seen[i]:
            r[i] = -np.log2(1.0 - missed[i] / seen[i])
    finite = ~np.isnan(r)
    h = np.zeros(n)
    if finite.any():
        lo, hi = r[finite].min(), r[finite].max()
        for i in range(n):
            if finite[i] and hi > lo:
                h[i] = (r[i] - lo) / (hi - lo)
    for i in range(n):
        if seen[i] > 0 and missed[i] >= seen[i]:
            h[i] = 1.0
    return h


@pytest.mark.parametrize("seed", range(5))
def test_matches_reference_on_random_counts(seed):
    rng = np.random.default_rng(seed)
    seen = rng.integers(0, 40, size=500)
    missed = np.minimum(rng.integers(0, 40, size=500), seen)
    got = np.asarray(hard_examples.hard_index(seen, missed))
    np.testing.assert_allclose(got, reference(seen, missed), rtol=1e-5, atol=1e-6)
    assert ((got >= 0) & (got <= 1)).all()


def test_edge_cases():
    # m = c: always wrong -> 1; never wrong -> 0 (the minimum); never seen -> 0
    h = np.asarray(hard_examples.hard_index(np.array([10, 10, 10, 0]), np.array([10, 0, 5, 0])))
    np.testing.assert_allclose(h, [1.0, 0.0, 1.0, 0.0])  # with one finite spread 0..1: 5/10 is the max
    # all finite R equal: no spread, nothing is harder than another
    h = np.asarray(hard_examples.hard_index(np.full(6, 8), np.full(6, 3)))
    np.testing.assert_array_equal(h, np.zeros(6))
    # all m = c
    h = np.asarray(hard_examples.hard_index(np.full(3, 4), np.full(3, 4)))
    np.testing.assert_array_equal(h, np.ones(3))
    np.testing.assert_allclose(hard_examples.hard_index(np.array([10, 10, 10]), np.array([0, 5, 0])), [0, 1, 0])


def test_vmapped_over_networks_equals_each_network():
    rng = np.random.default_rng(7)
    seen = rng.integers(1, 30, size=(2, 200))
    missed = np.minimum(rng.integers(0, 30, size=(2, 200)), seen)
    both = np.asarray(hard_examples.hard_index(seen, missed))
    for k in range(2):
        np.testing.assert_allclose(both[k], reference(seen[k], missed[k]), rtol=1e-5, atol=1e-6)


def test_hard_mask_and_beta_range():
    h = jnp.array([0.0, 0.3, 0.5, 1.0])
    np.testing.assert_array_equal(hard_examples.hard_mask(h, 0.5), [False, False, True, True])
    with pytest.raises(ValueError, match="beta"):
        hard_examples.hard_mask(h, 1.0)


def test_update_counts_indexes_by_example_and_ignores_padding():
    counts = hard_examples.zero_counts(5)
    logits = jnp.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    labels = jnp.array([0, 0, 1, 1])  # right, wrong, wrong, right
    index = jnp.array([4, 1, 0, 3])
    mask = jnp.array([1.0, 1.0, 1.0, 0.0])  # the last row is padding
    counts = hard_examples.update_counts(counts, index, logits, labels, mask)
    np.testing.assert_array_equal(counts["seen"], [1, 1, 0, 0, 1])
    np.testing.assert_array_equal(counts["missed"], [1, 1, 0, 0, 0])


def test_update_counts_on_two_devices_equal_one():
    """Per-device scatter-adds summed with psum (shard_map and pmap) equal the whole batch's."""
    from tests.device_check import run_on_host_devices  # not at the top: this file also runs as the check script
    result = run_on_host_devices(__file__, 2, timeout=120)
    assert result == {"devices": 2, "shard_map": True, "pmap": True}


def _two_device_check() -> None:
    from jax.sharding import NamedSharding, PartitionSpec as P

    rng = np.random.default_rng(3)
    rows, n = 8, 12  # 12 training examples, a batch of 8 of them
    logits = jnp.asarray(rng.normal(size=(rows, 3)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 3, rows))
    index = jnp.asarray(rng.permutation(n)[:rows])
    mask = jnp.asarray([1.0] * 7 + [0.0])
    start = hard_examples.update_counts(hard_examples.zero_counts(n), jnp.arange(n), jnp.zeros((n, 3)), jnp.zeros(n, int), jnp.ones(n))
    whole = hard_examples.update_counts(start, index, logits, labels, mask)

    mesh = jax.make_mesh((2,), ("data",), devices=jax.devices()[:2])
    specs = (P(), P("data"), P("data"), P("data"), P("data"))
    step = jax.shard_map(
        functools.partial(hard_examples.update_counts, axis_name="data"), mesh=mesh, in_specs=specs, out_specs=P()
    )
    args = [jax.device_put(x, NamedSharding(mesh, s)) for x, s in zip((start, index, logits, labels, mask), specs)]
    sharded = jax.jit(step)(*args)

    per_device = lambda x: x.reshape(2, -1, *x.shape[1:])  # noqa: E731
    pmapped = jax.pmap(
        functools.partial(hard_examples.update_counts, axis_name="data"), axis_name="data", in_axes=(None, 0, 0, 0, 0)
    )(start, *map(per_device, (index, logits, labels, mask)))
    same = lambda got: all(np.array_equal(np.asarray(got[k]), np.asarray(whole[k])) for k in whole)  # noqa: E731
    print(json.dumps({"devices": jax.device_count(), "shard_map": same(sharded),
                      "pmap": same(jax.tree.map(lambda x: x[0], pmapped)) and same(jax.tree.map(lambda x: x[1], pmapped))}))


if __name__ == "__main__":
    _two_device_check()
