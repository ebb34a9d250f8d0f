"""Two processes (jax.distributed on localhost) save `best` and `latest` checkpoints of
the same step at the same time, as every evaluation of a multi-process training run does,
then resume past a damaged checkpoint, which process 0 alone moves aside.

orbax keys its multi-process barriers by step: without a prefix per manager, the two
managers' saves of one step met at the same barrier and the run failed or hung (a
two-process training run once timed out in `async_write_complete`).
"""

from __future__ import annotations

import pathlib

from tests.train import processes

CHECK = pathlib.Path(__file__).with_name("checkpoint_processes_check.py")
TIMEOUT = 120


def test_two_processes_save_both_managers_at_once_and_resume_past_damage(tmp_path):
    reports = processes.run_pair(CHECK, tmp_path / "run", TIMEOUT)
    assert reports[0] == reports[1]
    assert reports[0] == {
        "saved": {"latest": [3, 4], "best": [3, 4]},
        "resumed_from": 3,  # latest 4 is damaged
        "saved_again": {"latest": [3, 4], "best": [3, 4]},
    }
    checkpoints = tmp_path / "run" / "checkpoints"
    for name in ("latest", "best"):
        assert sorted(p.name for p in (checkpoints / name).iterdir()) == ["3", "4"]
    # Moved aside once (by process 0), not deleted: the damaged latest 4 and the newer best 4.
    assert sorted(p.name for p in (checkpoints / "set_aside").iterdir()) == ["best-4", "latest-4"]
