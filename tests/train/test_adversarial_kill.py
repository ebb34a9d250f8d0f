"""A killed adversarial run resumes exactly (slow; apart from test_adversarial.py so the
two files run on different test workers)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

KILL_RUN = pathlib.Path(__file__).with_name("adversarial_kill_run.py")


@pytest.mark.slow
def test_a_killed_adversarial_run_resumes_to_the_unbroken_runs_parameters(tmp_path):
    from tests.reliability.kill import KillAt, run_killed

    env = dict(os.environ, JAX_PLATFORMS="cpu")
    straight = subprocess.run([sys.executable, str(KILL_RUN), str(tmp_path / "a")], env=env, capture_output=True,
                              text=True, timeout=600, check=True)
    # metrics.jsonl has one record per epoch: killed while a checkpoint is being written
    # after epoch 5 (mid-run and mid-save at once; one kill keeps the suite short).
    kills, final = run_killed([sys.executable, str(KILL_RUN), str(tmp_path / "b")], tmp_path / "b",
                              [KillAt(5, during_save=True)], env=env)
    assert any(k.steps_logged < 12 for k in kills)
    expected = json.loads(straight.stdout.strip().splitlines()[-1])
    got = json.loads(final.stdout.strip().splitlines()[-1])
    assert got == expected and expected["step"] == 12 * 8
