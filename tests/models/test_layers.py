"""The fast LFLB formulation equals the straightforward nn.Conv/BatchNorm/max_pool one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxser.models import layers

# float32 sums in a different order: relative differences ~1e-6; 1e-4 leaves margin.
RTOL = ATOL = 1e-4


def _close(a, b, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


@pytest.mark.parametrize(
    "x_shape,k_shape",
    [
        ((2, 11, 9, 1), (3, 3, 1, 5)),  # direct path (9 taps x 1 channel)
        ((2, 11, 9, 6), (3, 3, 6, 5)),  # lax forward + matmul gradients
        ((3, 37, 1), (3, 1, 4)),  # 1D direct
        ((3, 37, 7), (3, 7, 4)),  # 1D matmul gradients
    ],
)
def test_conv_fast_matches_lax_forward_and_gradients(x_shape, k_shape):
    kx, kk, kc = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, x_shape)
    k = jax.random.normal(kk, k_shape)
    cot = jax.random.normal(kc, (*x_shape[:-1], k_shape[-1]))
    _close(jax.jit(layers.conv_fast)(x, k), layers.conv_reference(x, k))
    loss = lambda f: (lambda x, k: jnp.sum(f(x, k) * cot))  # noqa: E731
    g_fast = jax.jit(jax.grad(loss(layers.conv_fast), argnums=(0, 1)))(x, k)
    g_ref = jax.grad(loss(layers.conv_reference), argnums=(0, 1))(x, k)
    for a, b in zip(g_fast, g_ref):
        _close(a, b)


def test_pooled_lengths():
    n = jnp.array([0, 1, 7, 8, 9])
    np.testing.assert_array_equal(layers.pooled_lengths(n, 4, ceil=True), [0, 1, 2, 2, 3])
    np.testing.assert_array_equal(layers.pooled_lengths(n, 4, ceil=False), [0, 0, 1, 2, 2])


@pytest.mark.parametrize("mask_padding", [False, True])
@pytest.mark.parametrize("pool,x_shape", [((2, 2), (3, 13, 8, 2)), ((4,), (3, 41, 3)), ((2, 2), (3, 13, 8, 1))])
def test_lflb_fast_equals_reference(mask_padding, pool, x_shape):
    x = jax.random.normal(jax.random.key(1), x_shape)
    lengths = jnp.array([x_shape[1], x_shape[1] - 3, 5], jnp.int32)
    blocks = {impl: layers.LFLB(5, pool, mask_padding=mask_padding, impl=impl) for impl in ("fast", "reference")}
    variables = blocks["reference"].init(jax.random.key(2), x, lengths, train=False)
    # non-trivial BatchNorm parameters, with some negative scales (the min-pool branch)
    params = jax.tree.map(lambda v: v, variables["params"])
    params["bn"]["scale"] = jnp.array([1.5, -0.7, 0.3, -2.0, 1.0])
    params["bn"]["bias"] = jnp.array([0.1, -0.2, 0.3, 0.0, 0.5])
    variables = {"params": params, "batch_stats": variables["batch_stats"]}
    variables_fast = blocks["fast"].init(jax.random.key(2), x, lengths, train=False)
    assert jax.tree.structure(variables_fast) == jax.tree.structure(variables)

    outs = {}
    for impl, block in blocks.items():
        def loss(p, x, block=block):
            (y, n), upd = block.apply({"params": p, "batch_stats": variables["batch_stats"]}, x, lengths,
                                      train=True, mutable=["batch_stats"])
            return jnp.sum(jnp.sin(y)), (y, n, upd)

        (_, (y, n, upd)), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(params, x)
        y_eval, _ = block.apply({"params": params, "batch_stats": upd["batch_stats"]}, x, lengths, train=False)
        outs[impl] = (y, n, upd, grads, y_eval)
    (y, n, upd, grads, y_eval), (y_r, n_r, upd_r, grads_r, y_eval_r) = outs["fast"], outs["reference"]
    np.testing.assert_array_equal(n, n_r)
    _close(y, y_r)
    _close(y_eval, y_eval_r)
    jax.tree.map(_close, upd, upd_r)
    jax.tree.map(_close, grads, grads_r)
    assert y.shape[1] == (-(-x_shape[1] // pool[0]) if mask_padding else x_shape[1] // pool[0])


def _first_max_pool_reference(z, pool, ceil):
    """Window max with the gradient to the first max of each window (row-major), by
    reshape + argmax + take_along_axis: the tie rule of ``layers.conv_pool``."""
    spatial = z.shape[1:-1]
    pads = [(0, -n % p if ceil else -(n % p)) for n, p in zip(spatial, pool)]
    z = z[(slice(None),) + tuple(slice(0, n + min(hi, 0)) for n, (_, hi) in zip(spatial, pads))]
    z = jnp.pad(z, [(0, 0)] + [(0, max(hi, 0)) for _, hi in pads] + [(0, 0)], constant_values=-jnp.inf)
    nd = len(pool)
    shape = [z.shape[0]]
    for n, p in zip(z.shape[1:-1], pool):
        shape += [n // p, p]
    w = z.reshape(*shape, z.shape[-1])
    order = [0] + [1 + 2 * i for i in range(nd)] + [2 * nd + 1] + [2 + 2 * i for i in range(nd)]
    w = w.transpose(order).reshape(*w.shape[:1], *(s for s in shape[1::2]), z.shape[-1], -1)
    idx = jnp.argmax(w, axis=-1)[..., None]
    return jnp.take_along_axis(w, idx, axis=-1)[..., 0]


@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize("pool,x_shape,k_shape", [
    ((2, 2), (3, 13, 9, 1), (3, 3, 1, 5)),
    ((4,), (3, 41, 1), (3, 1, 4)),
    ((4,), (2, 42, 2), (3, 2, 3)),
])
@pytest.mark.parametrize("ties", [False, True])
def test_conv_pool_and_moments_match_autodiff(ceil, pool, x_shape, k_shape, ties):
    """The first block's custom gradients equal autodiff of the plain formulation,
    with padding masks, partial windows and (ties=True) an input with silent stretches,
    where whole windows hold equal values."""
    kx, kk, kb, kg = jax.random.split(jax.random.key(3), 4)
    x = jax.random.normal(kx, x_shape)
    if ties:
        x = jnp.round(x) * (jnp.arange(x_shape[1]) % 12 < 6).reshape(1, -1, *(1,) * (x.ndim - 2))
    kernel = jax.random.normal(kk, k_shape)
    bias = jax.random.normal(kb, k_shape[-1:])
    sign = jnp.where(jnp.arange(k_shape[-1]) % 2 == 0, 1.0, -1.0)
    lengths = jnp.array([x_shape[1], x_shape[1] - 5, 7][: x_shape[0]], jnp.int32)
    valid = layers._time_mask(lengths, x)
    w_out = layers.conv_pool(x, kernel, sign, valid, pool, ceil)
    cot = jax.random.normal(kg, w_out.shape)

    def plain(x, kernel, bias):
        z = layers.conv_reference(x, kernel)
        zs = jnp.where(valid, z * sign, -jnp.inf)
        pooled = _first_max_pool_reference(zs, pool, ceil)
        zb = jnp.where(valid, z + bias, 0.0)
        axes = tuple(range(z.ndim - 1))
        return pooled, jnp.sum(zb, axes), jnp.sum(zb * zb, axes)

    def fast(x, kernel, bias):
        s1, s2, _ = layers.conv_moments(x, kernel, bias, valid)
        return layers.conv_pool(x, kernel, sign, valid, pool, ceil), s1, s2

    def loss(f):
        def inner(x, kernel, bias):
            pooled, s1, s2 = f(x, kernel, bias)
            return jnp.sum(jnp.where(jnp.isfinite(pooled), pooled * cot, 0.0)) + jnp.sum(s1 * 0.3) + jnp.sum(s2 * 0.01)
        return inner

    for a, b in zip(jax.jit(fast)(x, kernel, bias), plain(x, kernel, bias)):
        _close(a, b)
    g_fast = jax.jit(jax.grad(loss(fast), argnums=(0, 1, 2)))(x, kernel, bias)
    g_plain = jax.grad(loss(plain), argnums=(0, 1, 2))(x, kernel, bias)
    for a, b in zip(g_fast, g_plain):
        _close(a, b, rtol=1e-4, atol=1e-3)
