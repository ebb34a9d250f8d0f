"""Shared building blocks of the CNN-LSTM family: convolutions, BatchNorm and the LFLB.

The local feature learning block (LFLB) of Zhao et al. (2019) is
``conv (SAME, stride 1) -> BatchNorm -> ELU -> max-pool (kernel = stride)``, in 1D
(``x[B, T, C]``) or 2D (``x[B, T, F, C]``; axis 1 is always time).

Two implementations with identical variables (``conv/kernel``, ``conv/bias``,
``bn/scale``, ``bn/bias``, batch stats ``bn/mean``, ``bn/var``: the layout of
``nn.Conv`` and ``nn.BatchNorm``) and the same results up to float rounding:

* ``impl="reference"``: ``nn.Conv`` + ``nn.BatchNorm`` + ``nn.elu`` + ``nn.max_pool``,
  the straightforward composition, kept as the ground truth for tests.
* ``impl="fast"``: the formulation that trains fastest on XLA:CPU (measured in
  ``tools/bench_cnn_lstm.py``):

  - ELU and the BatchNorm affine map are monotone per channel, so
    ``pool(elu(a*z + b)) == elu(a*pool(z) + b)`` with ``pool = max`` where ``a >= 0`` and
    ``min`` where ``a < 0``. Normalisation, ELU and their backward run on the pooled
    tensor (4x-16x smaller); the full-size conv output is only read by one
    statistics reduction and one max/min reduction, which XLA fuses.
  - Pooling is the max of strided slices with a ``custom_vjp`` whose gradient is an
    elementwise "equals the window max" mask times the upsampled gradient, instead of
    ``reduce_window``, whose ``select_and_scatter`` backward is slow on CPU.
  - Convolutions with few input channels (the first block: 1 channel, 3 or 9 taps) are
    written as shifted multiply-adds that XLA fuses into the consumers, so the largest
    activation of the network (the first conv output) is never written to memory.
  - Other convolutions use ``lax.conv_general_dilated`` forward and a ``custom_vjp``
    whose kernel gradient is one matmul per tap (shifted input^T @ dy, accumulated over
    batch chunks with ``lax.scan``; a full im2col matrix was slower to materialise) and
    whose input gradient is the forward convolution of ``dy`` with the flipped kernel.

Padding (``mask_padding=True``): positions at or past each clip's valid length are
excluded from the BatchNorm statistics and from the pools and are zeroed after the
block, and pools keep a final partial window (ceil mode: valid length
``ceil(L / p)``), so appending zero padding to a clip does not change its outputs. With
``mask_padding=False`` pools drop the partial window (Keras ``padding='valid'``, floor)
and nothing is masked: the paper's behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax import lax

# Keras' defaults (the paper's implementation used Keras).
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3
CONV_KERNEL_INIT = nn.initializers.glorot_uniform()

# Convolutions with at most this many taps x input channels are built from shifted
# multiply-adds (fused by XLA) instead of a convolution op.
DIRECT_CONV_MAX_TAPS = 16


def _dimension_numbers(nd: int):
    return {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}[nd]


def _same_pads(kernel_shape: Sequence[int]) -> list[tuple[int, int]]:
    """XLA/Keras SAME padding for stride 1: the extra element goes to the end."""
    return [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel_shape]


def _shifted_views(x: jax.Array, kernel_shape: Sequence[int]) -> list[jax.Array]:
    """The ``prod(kernel_shape)`` views ``x[:, s + offset]`` of the SAME-padded input,
    in the kernel's row-major tap order; each has the shape of ``x``."""
    spatial = x.shape[1:-1]
    xp = jnp.pad(x, [(0, 0), *_same_pads(kernel_shape), (0, 0)])
    views = []
    for offsets in np.ndindex(*kernel_shape):
        index = (slice(None),) + tuple(slice(o, o + n) for o, n in zip(offsets, spatial)) + (slice(None),)
        views.append(xp[index])
    return views


def im2col(x: jax.Array, kernel_shape: Sequence[int]) -> jax.Array:
    """Patches ``[B, *S, C] -> [B, *S, taps * C]`` (tap-major, channel-minor: the row
    order of ``kernel.reshape(taps * C, O)``) for a SAME, stride-1 convolution."""
    views = _shifted_views(x, kernel_shape)
    return jnp.stack(views, axis=-2).reshape(*x.shape[:-1], len(views) * x.shape[-1])


def conv_reference(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """SAME, stride-1 convolution with ``lax.conv_general_dilated`` (channels last)."""
    nd = x.ndim - 2
    return lax.conv_general_dilated(
        x, kernel, (1,) * nd, "SAME", dimension_numbers=_dimension_numbers(nd), precision=lax.Precision.HIGHEST
    )


def _conv_direct_impl(x: jax.Array, kernel: jax.Array) -> jax.Array:
    kernel_shape = kernel.shape[:-2]
    taps = kernel.reshape(-1, kernel.shape[-2], kernel.shape[-1])
    out = None
    for view, w in zip(_shifted_views(x, kernel_shape), taps):
        for c in range(x.shape[-1]):
            term = view[..., c : c + 1] * w[c]
            out = term if out is None else out + term
    return out


@jax.custom_vjp
def _conv_direct(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """Convolution as a sum of shifted rank-1 products (for few taps x input channels):
    an elementwise expression that XLA fuses into its consumers. Its kernel gradient
    is one small-K matmul ``patches^T @ dy`` (autodiff would materialise every tap
    broadcast to all output channels)."""
    return _conv_direct_impl(x, kernel)


def _conv_direct_fwd(x, kernel):
    return _conv_direct_impl(x, kernel), (x, kernel)


def _conv_direct_bwd(res, dy):
    x, kernel = res
    kernel_shape, (c_in, c_out) = kernel.shape[:-2], kernel.shape[-2:]
    # Few taps: the patches are small, so the kernel gradient is one matmul.
    patches = im2col(x, kernel_shape).reshape(-1, math.prod(kernel_shape) * c_in)
    dk = jnp.matmul(patches.T, dy.reshape(-1, c_out), precision=lax.Precision.HIGHEST)
    return _conv_direct_impl(dy, _flip_kernel(kernel)), dk.reshape(kernel.shape)


def _flip_kernel(kernel: jax.Array) -> jax.Array:
    """The kernel whose SAME convolution of ``dy`` is the input gradient of a stride-1
    SAME convolution: spatially flipped, in/out channels swapped (odd kernels only)."""
    return jnp.flip(kernel, axis=tuple(range(kernel.ndim - 2))).swapaxes(-1, -2)


# Rows (examples x positions) per kernel-gradient chunk: each tap's shifted input
# slice then stays small enough to be reused from cache instead of freshly allocated.
WGRAD_CHUNK_ROWS = 16384
# Full-resolution rows per chunk of the direct block's pooled kernel gradient.
POOL_GRAD_CHUNK_ROWS = 65536


def _kernel_grad(x: jax.Array, dy: jax.Array, kernel_shape: tuple[int, ...]) -> jax.Array:
    """``d conv(x, k) / dk`` contracted with ``dy``: per tap, ``shift(x)^T @ dy`` (one
    matmul per tap), accumulated over batch chunks with ``lax.scan``."""
    batch, c_in, c_out = x.shape[0], x.shape[-1], dy.shape[-1]
    rows = math.prod(x.shape[1:-1])
    chunk = max([d for d in range(1, batch + 1) if batch % d == 0 and d * rows <= WGRAD_CHUNK_ROWS] or [1])

    def taps(xc, dc):
        d = dc.reshape(-1, c_out)
        return jnp.stack([
            jnp.matmul(v.reshape(-1, c_in).T, d, precision=lax.Precision.HIGHEST)
            for v in _shifted_views(xc, kernel_shape)
        ])

    if chunk == batch:
        dk = taps(x, dy)
    else:
        split = lambda a: a.reshape(batch // chunk, chunk, *a.shape[1:])  # noqa: E731
        init = jnp.zeros((math.prod(kernel_shape), c_in, c_out), dy.dtype)
        dk, _ = lax.scan(lambda acc, xd: (acc + taps(*xd), None), init, (split(x), split(dy)))
    return dk.reshape(*kernel_shape, c_in, c_out)


@jax.custom_vjp
def _conv_matmul_grads(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``lax.conv_general_dilated`` forward; backward: the input gradient as a forward
    convolution with the flipped kernel and the kernel gradient as per-tap matmuls
    (XLA:CPU's own convolution gradients are several times slower)."""
    return conv_reference(x, kernel)


def _conv_fwd(x, kernel):
    return conv_reference(x, kernel), (x, kernel)


def _conv_bwd(res, dy):
    x, kernel = res
    return conv_reference(dy, _flip_kernel(kernel)), _kernel_grad(x, dy, kernel.shape[:-2])


_conv_direct.defvjp(_conv_direct_fwd, _conv_direct_bwd)
_conv_matmul_grads.defvjp(_conv_fwd, _conv_bwd)


def conv_fast(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """SAME, stride-1 convolution, channels last, equal to :func:`conv_reference`
    (forward and gradients, up to float rounding); see the module docstring."""
    kernel_shape = kernel.shape[:-2]
    if any(k % 2 == 0 for k in kernel_shape):
        return conv_reference(x, kernel)  # the flipped-kernel input gradient needs odd kernels
    if math.prod(kernel_shape) * x.shape[-1] <= DIRECT_CONV_MAX_TAPS:
        return _conv_direct(x, kernel)
    return _conv_matmul_grads(x, kernel)


# --- Blocks whose convolution is direct (few taps x input channels) ---------------
# The conv output is the largest tensor of the network (131 MB in the 2D net's first
# block, 524 MB in the 1D net's, batch 16). Read by two reductions (BatchNorm moments,
# window max), XLA stores it (CSE merges the two recomputations); autodiff would store
# its gradient too. Here the moments come from the patches' Gram matrix ``P^T P``
# (taps x taps) and the window max has a custom gradient built from pooled-size
# tensors, so only the window max reads the conv, fused.


def conv_moments(x: jax.Array, kernel: jax.Array, bias: jax.Array, valid: jax.Array | None):
    """Per-channel ``(sum z, sum z^2, n)`` of ``z = conv(x, kernel) + bias`` (SAME,
    stride 1) over the ``n`` positions where ``valid`` (bool, broadcastable to
    ``x[..., :1]``) holds, from ``P^T P`` and ``P^T 1`` of the patches ``P``:
    ``sum z = (P^T 1) w + n b``, ``sum z^2 = diag(w^T P^T P w) + 2 b (P^T 1) w + n b^2``.
    Differentiable; ``z`` is never formed."""
    c_out = kernel.shape[-1]
    w = kernel.reshape(-1, c_out)  # [taps * c_in, c_out]: the row order of im2col
    patches = im2col(x, kernel.shape[:-2])
    if valid is not None:
        patches = jnp.where(valid, patches, 0.0)
        n = jnp.sum(jnp.broadcast_to(valid, x.shape[:-1] + (1,)).astype(x.dtype))
    else:
        n = math.prod(x.shape[:-1])
    patches = patches.reshape(-1, w.shape[0])
    hi = lax.Precision.HIGHEST
    gram = jnp.matmul(patches.T, patches, precision=hi)
    pw = jnp.matmul(jnp.sum(patches, axis=0), w, precision=hi)  # sum_p P_p . w
    s1 = pw + n * bias
    s2 = jnp.sum(w * jnp.matmul(gram, w, precision=hi), axis=0) + 2.0 * bias * pw + n * bias * bias
    return s1, s2, n


def _signed_masked_conv(x, kernel, sign, valid, pool, ceil):
    z = _conv_direct_impl(x, kernel) * sign
    if valid is not None:
        z = jnp.where(valid, z, -jnp.inf)
    return _fit_to_pool(z, _pool_layout(z, pool, ceil), -jnp.inf)


@partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def conv_pool(x: jax.Array, kernel: jax.Array, sign: jax.Array, valid: jax.Array | None,
              pool: tuple[int, ...], ceil: bool) -> jax.Array:
    """Window max (kernel = stride ``pool``) of ``sign * conv(x, kernel)`` (no bias),
    with positions where ``valid`` is False reading ``-inf`` and, with ``ceil``, a final
    partial window kept. ``sign`` is per channel and gets no gradient (it is piecewise
    constant); the gradient goes to the first position holding each window's max."""
    return _conv_pool_impl(x, kernel, sign, valid, pool, ceil)


def _conv_pool_impl(x, kernel, sign, valid, pool, ceil):
    return _strided_max(_signed_masked_conv(x, kernel, sign, valid, pool, ceil), pool)


def _conv_pool_fwd(x, kernel, sign, valid, pool, ceil):
    y = _conv_pool_impl(x, kernel, sign, valid, pool, ceil)
    return y, (x, kernel, sign, valid, y)


def _conv_pool_bwd(pool, ceil, res, g):
    x, kernel, sign, valid, y = res
    kernel_shape, c_out = kernel.shape[:-2], kernel.shape[-1]
    rows = kernel.reshape(-1, c_out).shape[0]

    def window_grads(xc, yc, gc, validc):
        """``[prod(pool), B, *S', C]``: the incoming gradient at the window offset that
        holds the max (the first one on ties; none for windows of padding only)."""
        zs = _window_views(_signed_masked_conv(xc, kernel, sign, validc, pool, ceil), pool)
        first = jnp.full(yc.shape, len(zs), jnp.int8)
        for o in reversed(range(len(zs))):
            first = jnp.where(zs[o] == yc, jnp.int8(o), first)
        first = jnp.where(jnp.isfinite(yc), first, jnp.int8(len(zs)))
        return jnp.stack([jnp.where(first == o, gc, 0.0) for o in range(len(zs))])

    def kernel_grad(xc, yc, gc, validc):
        gm = window_grads(xc, yc, gc, validc).reshape(-1, c_out)
        patches = _fit_to_pool(im2col(xc, kernel_shape), _pool_layout(xc, pool, ceil), 0.0)
        p = jnp.stack(_window_views(patches, pool)).reshape(-1, rows)
        return jnp.matmul(p.T, gm, precision=lax.Precision.HIGHEST)

    batch = x.shape[0]
    per_example = math.prod(y.shape[1:-1]) * math.prod(pool)
    chunk = max([d for d in range(1, batch + 1) if batch % d == 0 and d * per_example <= POOL_GRAD_CHUNK_ROWS]
                or [1])
    if chunk == batch:
        dk = kernel_grad(x, y, g, valid)
    else:
        split = lambda a: None if a is None else a.reshape(batch // chunk, chunk, *a.shape[1:])  # noqa: E731
        operands = (x, y, g, None if valid is None else jnp.broadcast_to(valid, (batch, *valid.shape[1:])))
        dk, _ = lax.scan(lambda acc, a: (acc + kernel_grad(*a), None), jnp.zeros((rows, c_out), g.dtype),
                         tuple(split(a) for a in operands))
    dk = (dk * sign).reshape(kernel.shape)
    # Input gradient: the window gradients put back in place, through the flipped
    # kernel (dropped by XLA when x needs none, as for a network's input).
    nd = len(pool)
    dz = jnp.moveaxis(window_grads(x, y, g, valid), 0, -2).reshape(*y.shape[:-1], *pool, c_out)
    order = [0] + [a for i in range(nd) for a in (1 + i, 1 + nd + i)] + [1 + 2 * nd]
    dz = dz.transpose(order).reshape(y.shape[0], *(n * p for n, p in zip(y.shape[1:-1], pool)), c_out)
    dz = _fit_to_pool(dz, [(0, -hi) for _, hi in _pool_layout(x, pool, ceil)], 0.0)
    dx = _conv_direct_impl(dz * sign, _flip_kernel(kernel))
    return dx, dk, None, None


conv_pool.defvjp(_conv_pool_fwd, _conv_pool_bwd)


class Conv(nn.Module):
    """SAME, stride-1 convolution with :func:`conv_fast`; the variables of ``nn.Conv``."""

    features: int
    kernel_size: tuple[int, ...]
    kernel_init: nn.initializers.Initializer = CONV_KERNEL_INIT

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (*self.kernel_size, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return conv_fast(x, kernel) + bias


class ConvParams(nn.Module):
    """The variables of ``nn.Conv`` (``kernel``, ``bias``) for a caller that applies them itself."""

    features: int
    kernel_size: tuple[int, ...]
    kernel_init: nn.initializers.Initializer = CONV_KERNEL_INIT

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        kernel = self.param("kernel", self.kernel_init, (*self.kernel_size, x.shape[-1], self.features))
        return kernel, self.param("bias", nn.initializers.zeros_init(), (self.features,))


def _is_direct(kernel_shape: Sequence[int], c_in: int) -> bool:
    """Whether :func:`conv_fast` builds this convolution from shifted multiply-adds."""
    return all(k % 2 for k in kernel_shape) and math.prod(kernel_shape) * c_in <= DIRECT_CONV_MAX_TAPS


class BatchNormCoefficients(nn.Module):
    """BatchNorm as a per-channel affine map ``x -> a * x + b``, returned as ``(a, b)``.

    The variables, statistics and update rule are those of ``nn.BatchNorm`` (biased
    batch variance ``E[x^2] - E[x]^2``, statistics averaged over ``axis_name``,
    running averages updated only when ``train`` and not initialising); returning the
    coefficients lets the caller apply them after pooling.
    """

    momentum: float = BN_MOMENTUM
    epsilon: float = BN_EPSILON
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array | None, *, train: bool, mask: jax.Array | None = None,
                 moments: tuple[jax.Array, jax.Array] | None = None, features: int | None = None):
        """``moments``: the batch's per-channel ``(E[x], E[x^2])`` when the caller
        computed them; then ``x`` may be None and ``features`` gives the channel count."""
        features = x.shape[-1] if x is not None else features
        scale = self.param("scale", nn.initializers.ones_init(), (features,))
        bias = self.param("bias", nn.initializers.zeros_init(), (features,))
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((features,), jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((features,), jnp.float32))
        if train:
            if moments is None:
                axes = tuple(range(x.ndim - 1))
                mean = jnp.mean(x, axes, where=mask)
                mean2 = jnp.mean(x * x, axes, where=mask)
            else:
                mean, mean2 = moments
            if self.axis_name is not None and not self.is_initializing():
                mean, mean2 = lax.pmean((mean, mean2), self.axis_name)
            var = jnp.maximum(0.0, mean2 - mean * mean)
            if not self.is_initializing():
                ra_mean.value = self.momentum * ra_mean.value + (1.0 - self.momentum) * mean
                ra_var.value = self.momentum * ra_var.value + (1.0 - self.momentum) * var
        else:
            mean, var = ra_mean.value, ra_var.value
        a = scale * lax.rsqrt(var + self.epsilon)
        return a, bias - mean * a


def pooled_lengths(lengths: jax.Array, pool: int, *, ceil: bool) -> jax.Array:
    """Valid length after a pool of size = stride ``pool`` (ceil or floor mode)."""
    return (lengths + pool - 1) // pool if ceil else lengths // pool


def _pool_layout(x: jax.Array, pool: tuple[int, ...], ceil: bool):
    """Spatial pads (ceil) or crops (floor) that make every axis a multiple of ``pool``."""
    spatial = x.shape[1:-1]
    if ceil:
        return [(0, -n % p) for n, p in zip(spatial, pool)]
    return [(0, -(n % p)) for n, p in zip(spatial, pool)]


def _fit_to_pool(a: jax.Array, pads, fill) -> jax.Array:
    if all(hi == 0 for _, hi in pads):
        return a
    crop = tuple(slice(0, n + hi) if hi < 0 else slice(None) for n, (_, hi) in zip(a.shape[1:-1], pads))
    a = a[(slice(None),) + crop]
    grow = [(0, max(hi, 0)) for _, hi in pads]
    return jnp.pad(a, [(0, 0), *grow, (0, 0)], constant_values=fill) if any(hi for _, hi in grow) else a


def _window_views(a: jax.Array, pool: tuple[int, ...]) -> list[jax.Array]:
    """The ``prod(pool)`` strided views (one per window offset, row-major) of ``a``,
    whose spatial sizes are multiples of ``pool``."""
    out_shape = [n // p for n, p in zip(a.shape[1:-1], pool)]
    views = []
    for offsets in np.ndindex(*pool):
        start = (0, *offsets, 0)
        limit = (a.shape[0], *(o + (m - 1) * p + 1 for o, m, p in zip(offsets, out_shape, pool)), a.shape[-1])
        views.append(lax.slice(a, start, limit, (1, *pool, 1)))
    return views


def _strided_max(x: jax.Array, pool: tuple[int, ...]) -> jax.Array:
    """Window max (kernel = stride, spatial sizes divisible by ``pool``) as the
    elementwise maximum of the ``prod(pool)`` strided views: one fused loop on XLA:CPU."""
    views = _window_views(x, pool)
    out = views[0]
    for view in views[1:]:
        out = jnp.maximum(out, view)
    return out


def _upsample(y: jax.Array, pool: tuple[int, ...]) -> jax.Array:
    """Repeat every element of ``y[B, *S, C]`` over its ``pool`` window (broadcast +
    reshape: fused into the consumer)."""
    shape, bshape = [y.shape[0]], [y.shape[0]]
    for n, p in zip(y.shape[1:-1], pool):
        shape += [n, 1]
        bshape += [n, p]
    out = jnp.broadcast_to(y.reshape(*shape, y.shape[-1]), (*bshape, y.shape[-1]))
    return out.reshape(y.shape[0], *(n * p for n, p in zip(y.shape[1:-1], pool)), y.shape[-1])


@partial(jax.custom_vjp, nondiff_argnums=(1,))
def _window_max(x: jax.Array, pool: tuple[int, ...]) -> jax.Array:
    return _strided_max(x, pool)


def _window_max_fwd(x, pool):
    y = _strided_max(x, pool)
    return y, (x, y)


def _window_max_bwd(pool, res, g):
    # The gradient goes to every element equal to its window's max (ties, which have
    # measure zero for real activations, each receive it in full).
    x, y = res
    return (jnp.where(x == _upsample(y, pool), _upsample(g, pool), 0.0),)


_window_max.defvjp(_window_max_fwd, _window_max_bwd)


def _pool_max(x: jax.Array, pool: Sequence[int], *, ceil: bool, fill: float) -> jax.Array:
    """Max-pool (kernel = stride) over axes 1..len(pool) of ``x[B, *S, C]``. ``ceil``:
    pad the end with ``fill`` to keep a partial window; otherwise drop it (VALID).
    ``reduce_window``'s gradient (``select_and_scatter``) and a reshape + max are much
    slower on XLA:CPU than this strided-slice max with a mask-and-broadcast gradient."""
    pool = tuple(pool)
    return _window_max(_fit_to_pool(x, _pool_layout(x, pool, ceil), fill), pool)


def _time_mask(lengths: jax.Array, x: jax.Array) -> jax.Array:
    """Bool mask broadcastable to ``x[B, T, ...]``: True where time index < length."""
    mask = jnp.arange(x.shape[1]) < lengths[:, None]
    return mask.reshape(mask.shape + (1,) * (x.ndim - 2))


class LFLB(nn.Module):
    """Local feature learning block: conv -> BatchNorm -> ELU -> max-pool.

    ``x``: ``[B, T, C]`` (1D, ``len(pool) == 1``) or ``[B, T, F, C]`` (2D); ``lengths``:
    int ``[B]`` valid steps along T. Returns ``(y, pooled lengths)``.
    """

    features: int
    pool: tuple[int, ...]
    kernel_size: int = 3
    mask_padding: bool = True
    bn_axis_name: str | None = None
    bn_momentum: float = BN_MOMENTUM
    bn_epsilon: float = BN_EPSILON
    impl: str = "fast"

    @nn.compact
    def __call__(self, x: jax.Array, lengths: jax.Array, *, train: bool):
        nd = len(self.pool)
        if x.ndim != nd + 2:
            raise ValueError(f"LFLB with pool {self.pool} expects a rank-{nd + 2} input, got shape {x.shape}")
        if self.impl not in ("fast", "reference"):
            raise ValueError(f"impl={self.impl!r} must be 'fast' or 'reference'")
        kernel_size = (self.kernel_size,) * nd
        mask = _time_mask(lengths, x) if self.mask_padding else None
        out_lengths = pooled_lengths(lengths, self.pool[0], ceil=self.mask_padding)
        bn_kwargs = dict(momentum=self.bn_momentum, epsilon=self.bn_epsilon, axis_name=self.bn_axis_name, name="bn")

        if self.impl == "reference":
            z = nn.Conv(self.features, kernel_size, padding="SAME", kernel_init=CONV_KERNEL_INIT, name="conv")(x)
            h = nn.BatchNorm(use_running_average=not train, **bn_kwargs)(z, mask=mask)
            h = nn.elu(h)
            if self.mask_padding:
                h = jnp.where(mask, h, -jnp.inf)
                h = jnp.pad(h, [(0, 0)] + [(0, -n % p) for n, p in zip(h.shape[1:-1], self.pool)] + [(0, 0)],
                            constant_values=-jnp.inf)
            y = nn.max_pool(h, self.pool, strides=self.pool, padding="VALID")
        elif _is_direct(kernel_size, x.shape[-1]):
            # Few taps x input channels (a network's first block): the full-size conv
            # output is never stored, forward or backward (conv_moments, conv_pool).
            kernel, bias = ConvParams(self.features, kernel_size, name="conv")(x)
            moments = None
            if train:
                s1, s2, count = conv_moments(x, kernel, bias, mask)
                moments = (s1 / count, s2 / count)
            a, b = BatchNormCoefficients(**bn_kwargs)(None, train=train, moments=moments, features=self.features)
            sign = jnp.where(a >= 0, 1.0, -1.0)
            pooled = conv_pool(x, kernel, sign, mask, self.pool, self.mask_padding)
            if self.mask_padding:  # all-padding windows hold -inf
                pooled = jnp.where(_time_mask(out_lengths, pooled), pooled, 0.0)
            y = nn.elu(a * (pooled * sign + bias) + b)
        else:
            z = Conv(self.features, kernel_size, name="conv")(x)
            a, b = BatchNormCoefficients(**bn_kwargs)(z, train=train, mask=mask)
            # pool(elu(a*z + b)) == elu(a*sel + b), sel = window max of z where a >= 0
            # and window min where a < 0: one max-pool of sign(a) * z.
            sign = jnp.where(a >= 0, 1.0, -1.0)
            zs = z * sign
            if self.mask_padding:
                zs = jnp.where(mask, zs, -jnp.inf)
            pooled = _pool_max(zs, self.pool, ceil=self.mask_padding, fill=-jnp.inf)
            if self.mask_padding:  # all-padding windows hold -inf: replace before the affine map
                pooled = jnp.where(_time_mask(out_lengths, pooled), pooled, 0.0)
            pooled = pooled * sign
            y = nn.elu(a * pooled + b)
        if self.mask_padding:
            y = jnp.where(_time_mask(out_lengths, y), y, 0.0)
        return y, out_lengths


__all__ = [
    "BN_EPSILON",
    "BN_MOMENTUM",
    "BatchNormCoefficients",
    "Conv",
    "LFLB",
    "conv_fast",
    "conv_reference",
    "im2col",
    "pooled_lengths",
]
