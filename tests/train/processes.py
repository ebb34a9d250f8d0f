"""Helpers for tests that start jax.distributed processes on localhost."""

from __future__ import annotations

import os
import socket


def free_port() -> int:
    """A port on localhost that nothing listens on now (for the coordinator)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def cpu_env(**extra: str) -> dict[str, str]:
    """This environment for a child process on the CPU, without the parent's XLA_FLAGS
    (a forced host device count would change each process's devices)."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return {**env, "JAX_PLATFORMS": "cpu", **extra}
