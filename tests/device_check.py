"""Run a check script in a fresh Python process with N XLA host devices.

The device count is fixed when JAX starts, so multi-device checks run as subprocesses:
the script prints one JSON object as its last line of stdout, which is returned here.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys


def run_on_host_devices(script: str | pathlib.Path, devices: int, *args: str, timeout: float = 300) -> dict:
    """``python script *args`` with ``devices`` CPU devices; the JSON of its last stdout line.

    Fails the calling test with the script's stderr tail when it exits non-zero."""
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
