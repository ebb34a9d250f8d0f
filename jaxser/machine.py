"""What machine a run or benchmark ran on: CPU (model, family, vector extensions),
core count, platform, JAX and its devices, and the XLA/allocator settings.

Recorded by `jaxser bench`, the benchmark scripts in tools/ and every training run
(`train_summary.json`): XLA:CPU compiles for the CPU it finds, so the same code and
config round differently on another CPU generation, and early stopping can then pick
another step. Cloud VMs of one name change CPU between sessions ("AMD EPYC" was a
Zen 5 one day and a Zen 4 the next), so the model name alone does not say which.
"""

from __future__ import annotations

import os
import platform

import jax
import jaxlib

# Extensions that change which kernels XLA and oneDNN pick.
_VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_tile")


def cpu(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """The first CPU's model name, family/model/stepping and vector extensions (from
    /proc/cpuinfo on Linux; the processor string elsewhere)."""
    fields: dict[str, str] = {}
    try:
        with open(cpuinfo) as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())
    return {
        "cpu": fields.get("model name") or platform.processor() or "unknown",
        "cpu_family_model_stepping": "/".join(fields.get(k, "?") for k in ("cpu family", "model", "stepping")),
        "cpu_vector_extensions": [f for f in _VECTOR_FLAGS if f in flags],
    }


def describe() -> dict:
    """The machine and software, as one JSON-ready dict."""
    return {
        **cpu(),
        "cpu_count": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "process_count": jax.process_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),  # see jaxser/host_memory.py
    }
