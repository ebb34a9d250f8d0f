"""Two processes (jax.distributed on localhost) save `best` and `latest` checkpoints of
the same step at the same time, as every evaluation of a multi-process training run does.

orbax keys its multi-process barriers by step: without a prefix per manager, the two
managers' saves of one step met at the same barrier and the run failed or hung (a
two-process training run once timed out in `async_write_complete`).
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

CHECK = pathlib.Path(__file__).with_name("checkpoint_processes_check.py")
TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_best_and_latest_saves_of_one_step_in_two_processes(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    coordinator = f"localhost:{_free_port()}"
    procs = [
        subprocess.Popen([sys.executable, str(CHECK), coordinator, str(i), str(tmp_path / "run")],
                         env={**env, "JAX_PLATFORMS": "cpu"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for i in range(2)
    ]
    try:
        outs = [p.communicate(timeout=TIMEOUT) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        tails = "\n".join(f"process {i}:\n{p.communicate()[1][-2000:]}" for i, p in enumerate(procs))
        pytest.fail(f"the two processes did not finish in {TIMEOUT} s (stuck at a barrier?)\n{tails}")
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-4000:]
    kept = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert kept[0] == kept[1] == {"latest": [3, 4], "best": [3, 4]}
    for name in ("latest", "best"):
        assert sorted(p.name for p in (tmp_path / "run" / "checkpoints" / name).iterdir()) == ["3", "4"]
