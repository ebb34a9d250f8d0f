"""How fast could the 2D CNN-LSTM's block-2 convolution be on this CPU, and in bf16?

Times, interleaved, the block-2 forward convolution (``[16, 126, 64, 64]``, 3x3,
64 -> 64, SAME: 9.5 GFLOP) as:

* ``lax_conv_f32``: ``lax.conv_general_dilated`` (what the model runs);
* ``lax_conv_bf16``: the same on bf16 inputs, float32 accumulation;
* ``rows_matmul_f32``: one matmul of the column-shifted input ``[.., 3C]`` with the three
  kernel rows side by side ``[3C, 3O]``, then a shifted sum of the three row outputs;
* ``matmul_f32`` / ``matmul_bf16``: a plain matmul with the same FLOPs
  (``[16*126*64, 576] @ [576, 64]``), the rate the CPU's GEMM reaches.

Prints JSON: milliseconds (medians), GFLOP/s, and max errors against ``lax_conv_f32``
(relative to its largest output for bf16).

    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 .venv/bin/python tools/conv_matmul_probe.py
"""

from __future__ import annotations

import json
import sys

import jax
import jax.numpy as jnp
from jax import lax
from winograd_probe import interleaved_ms  # tools/ is on sys.path when run as a script

DN = ("NHWC", "HWIO", "NHWC")
SHAPE, KERNEL = (16, 126, 64, 64), (3, 3, 64, 64)


def conv(x, k):
    return lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=DN, preferred_element_type=jnp.float32)


def rows_matmul(x, k):
    """SAME 3x3 conv as one matmul with N = 3 * O, then a shifted sum over kernel rows."""
    _, h, w, c = x.shape
    o = k.shape[-1]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = jnp.concatenate([xp[:, :, j : j + w] for j in range(3)], axis=-1)  # [B, H+2, W, 3C]
    kk = jnp.concatenate([k[i].reshape(3 * c, o) for i in range(3)], axis=-1)  # [3C, 3O]
    y = jnp.einsum("bhwc,co->bhwo", cols, kk)
    return y[:, :h, :, :o] + y[:, 1 : h + 1, :, o : 2 * o] + y[:, 2 : h + 2, :, 2 * o :]


def matmul(a, b):
    return jnp.matmul(a, b, preferred_element_type=jnp.float32)


def main() -> int:
    x = jax.random.normal(jax.random.key(0), SHAPE)
    k = jax.random.normal(jax.random.key(1), KERNEL) * 0.1
    a = jax.random.normal(jax.random.key(2), (SHAPE[0] * SHAPE[1] * SHAPE[2], 9 * SHAPE[3]))
    b = jax.random.normal(jax.random.key(3), (9 * SHAPE[3], KERNEL[3]))
    bf16 = jnp.bfloat16
    cases = {
        "lax_conv_f32": (jax.jit(conv), (x, k)),
        "lax_conv_bf16": (jax.jit(conv), (x.astype(bf16), k.astype(bf16))),
        "rows_matmul_f32": (jax.jit(rows_matmul), (x, k)),
        "matmul_f32": (jax.jit(matmul), (a, b)),
        "matmul_bf16": (jax.jit(matmul), (a.astype(bf16), b.astype(bf16))),
    }
    reference = cases["lax_conv_f32"][0](x, k)
    scale = float(jnp.max(jnp.abs(reference)))
    errors = {
        "rows_matmul_f32_max_abs": float(jnp.max(jnp.abs(cases["rows_matmul_f32"][0](x, k) - reference))),
        "lax_conv_bf16_max_rel": float(jnp.max(jnp.abs(cases["lax_conv_bf16"][0](*cases["lax_conv_bf16"][1]) - reference)))
        / scale,
    }
    gflop = 2 * a.shape[0] * a.shape[1] * b.shape[1] / 1e9
    ms = interleaved_ms(cases)
    json.dump({"gflop": round(gflop, 2), "ms_median": ms, "gflop_per_s": {n: round(gflop / (t / 1000)) for n, t in ms.items()},
               "errors": errors, "jax": jax.__version__}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
