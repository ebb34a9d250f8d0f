"""Would Winograd F(2x2, 3x3) speed up the CNN-LSTM's block-2 convolution on this CPU?

Times, interleaved, the block-2 forward convolution of the 2D net (``[16, 126, 64, 64]``,
3x3, 64 -> 64, SAME) with ``lax.conv_general_dilated`` and with a straightforward
Winograd F(2x2, 3x3) in einsums, plus the Winograd batched matmul alone (its floor:
2.25x fewer multiplies, but transformed tensors 4x the activation size). Prints JSON
(milliseconds, medians) and the Winograd result's max error against lax.

    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 .venv/bin/python tools/winograd_probe.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import jax
import jax.numpy as jnp
from jax import lax

# F(2x2, 3x3) transforms (Lavin & Gray 2016).
BT = jnp.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], jnp.float32)
G = jnp.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], jnp.float32)
AT = jnp.array([[1, 1, 1, 0], [0, 1, -1, -1]], jnp.float32)


def winograd(x: jax.Array, k: jax.Array) -> jax.Array:
    """SAME 3x3 convolution, NHWC x HWIO, by 4x4 input tiles with stride 2."""
    b, h, w, _ = x.shape
    th, tw = -(-h // 2), -(-w // 2)
    xp = jnp.pad(x, [(0, 0), (1, 2 * th - h + 1), (1, 2 * tw - w + 1), (0, 0)])
    rows = jnp.stack([xp[:, i : i + 2 * th : 2] for i in range(4)], axis=3)
    tiles = jnp.stack([rows[:, :, j : j + 2 * tw : 2] for j in range(4)], axis=4)  # [B, th, tw, 4, 4, C]
    v = jnp.einsum("ai,btwijc,dj->adbtwc", BT, tiles, BT)
    u = jnp.einsum("ai,ijco,dj->adco", G, k, G)
    m = jnp.einsum("adbtwc,adco->adbtwo", v, u)
    y = jnp.einsum("ea,adbtwo,fd->btewfo", AT, m, AT)  # [B, th, 2, tw, 2, O]
    return y.reshape(b, 2 * th, 2 * tw, -1)[:, :h, :w]


def interleaved_ms(cases: dict, rounds: int = 8) -> dict[str, float]:
    """Median milliseconds of each ``name: (jitted fn, args)``, after one warm-up call
    each, over ``rounds`` rounds that run every case in turn (so load changes hit all
    cases alike). Shared with tools/conv_matmul_probe.py."""
    for fn, args in cases.values():
        jax.block_until_ready(fn(*args))
    times = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (fn, args) in cases.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[name].append(time.perf_counter() - start)
    return {name: round(1000 * statistics.median(t), 1) for name, t in times.items()}


def main() -> int:
    x = jax.random.normal(jax.random.key(0), (16, 126, 64, 64))
    k = jax.random.normal(jax.random.key(1), (3, 3, 64, 64)) * 0.1
    tiles = 16 * 63 * 32
    v = jax.random.normal(jax.random.key(2), (16, tiles, 64))
    u = jax.random.normal(jax.random.key(3), (16, 64, 64))
    lax_conv = jax.jit(lambda x, k: lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                                             dimension_numbers=("NHWC", "HWIO", "NHWC")))
    cases = {"lax_conv": (lax_conv, (x, k)), "winograd_einsum": (jax.jit(winograd), (x, k)),
             "winograd_matmul_only": (jax.jit(jnp.matmul), (v, u))}
    error = float(jnp.max(jnp.abs(cases["winograd_einsum"][0](x, k) - lax_conv(x, k))))
    json.dump({"ms_median": interleaved_ms(cases),
               "winograd_max_abs_error": error, "max_abs_output": float(jnp.max(jnp.abs(lax_conv(x, k))))},
              sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
