"""Helpers for tests that start jax.distributed processes on localhost."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest


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


def run_pair(check: pathlib.Path, workdir: pathlib.Path, timeout: float) -> list[dict]:
    """Run ``check COORDINATOR PROCESS_ID WORKDIR`` as two jax.distributed processes and
    return each one's report (its last stdout line, JSON); fails the test, with both
    processes' stderr, when one fails or they do not finish in ``timeout`` seconds."""
    coordinator = f"localhost:{free_port()}"
    procs = [
        subprocess.Popen([sys.executable, str(check), coordinator, str(i), str(workdir)],
                         env=cpu_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    try:
        outs = [p.communicate(timeout=timeout) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        tails = "\n".join(f"process {i}:\n{p.communicate()[1][-2000:]}" for i, p in enumerate(procs))
        pytest.fail(f"the two processes did not finish in {timeout} s (stuck at a barrier?)\n{tails}")
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-4000:]
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
