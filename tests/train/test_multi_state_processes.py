"""Two processes (jax.distributed on localhost) checkpoint a state of several named
networks (MultiState) as they checkpoint a TrainState (test_checkpoint_processes.py):
`best` and `latest` of the same step at once, a resume past a damaged checkpoint that
process 0 alone moves aside, a bit-identical resumed state, and one network loaded
from the run on both processes."""

from __future__ import annotations

import pathlib

from tests.train import processes

CHECK = pathlib.Path(__file__).with_name("multi_state_processes_check.py")
TIMEOUT = 180


def test_two_processes_save_resume_and_load_a_multi_state(tmp_path):
    reports = processes.run_pair(CHECK, tmp_path / "run", TIMEOUT)
    assert reports[0] == reports[1]
    assert reports[0] == {
        "saved": {"latest": [3, 4], "best": [3, 4]},
        "resumed_from": 3,  # latest 4 is damaged
        "resumed_identical": True,
        "replicas_agree": True,
        "saved_again": {"latest": [3, 4], "best": [3, 4]},
        "loaded_critic": {"frozen": True, "identical": True},
    }
    checkpoints = tmp_path / "run" / "checkpoints"
    for name in ("latest", "best"):
        assert sorted(p.name for p in (checkpoints / name).iterdir()) == ["3", "4"]
    assert sorted(p.name for p in (checkpoints / "set_aside").iterdir()) == ["best-4", "latest-4"]
