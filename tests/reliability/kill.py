"""Kill a run with SIGKILL at chosen moments and start it again: a reusable harness.

A moment is a :class:`KillAt`: after the run has logged ``step`` training steps in all
(distinct steps over every ``metrics.jsonl`` under the workdir, so it spans the folds
of a cross-validation), or, with ``during_save``, the first time a checkpoint is being
written after that (orbax's temporary folder exists). Any command that trains into a
workdir (later systems' trainers too) can be driven this way.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import time

ORBAX_TMP = ".orbax-checkpoint-tmp"


@dataclasses.dataclass(frozen=True)
class KillAt:
    step: int
    during_save: bool = False


@dataclasses.dataclass
class Kill:
    at: KillAt
    steps_logged: int
    saving: bool  # a checkpoint was half-written when the signal went
    stderr: str = ""


def _walk(workdir: pathlib.Path):
    # os.walk skips folders that vanish mid-walk (orbax renames its temporary ones);
    # Path.rglob raises FileNotFoundError there.
    return os.walk(workdir)


def steps_logged(workdir: pathlib.Path) -> int:
    """Distinct training steps logged under ``workdir`` (a resumed run logs some again)."""
    seen = set()
    for folder, _, files in _walk(workdir):
        if "metrics.jsonl" not in files:
            continue
        path = os.path.join(folder, "metrics.jsonl")
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line being written
                continue
            if record.get("split") == "train":
                seen.add((path, record["step"]))
    return len(seen)


def saving(workdir: pathlib.Path) -> bool:
    return any(ORBAX_TMP in name for _, dirs, _ in _walk(workdir) for name in dirs)


def run_killed(command: list[str], workdir: pathlib.Path, points: list[KillAt], *, env: dict,
               timeout: float = 600.0, poll: float = 0.002) -> tuple[list[Kill], subprocess.CompletedProcess]:
    """Start ``command`` once per point, SIGKILL it there (a run that ends first is
    left to end and recorded with ``saving=False``), then run it to completion.
    Returns the kills (with each run's stderr) and the last run."""
    kills = []
    for point in points:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        kill = None
        try:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{command} did not reach {point} in {timeout} s")
                reached = steps_logged(workdir) >= point.step
                if reached and (not point.during_save or saving(workdir)):
                    was_saving = saving(workdir)
                    proc.send_signal(signal.SIGKILL)
                    kill = Kill(point, steps_logged(workdir), was_saving)
                    break
                time.sleep(poll)
        finally:
            proc.kill()
            _, err = proc.communicate()
        if kill is None:  # the run ended before the point
            kill = Kill(point, steps_logged(workdir), False)
        kill.stderr = err.decode(errors="replace")
        kills.append(kill)
        if proc.returncode not in (0, -signal.SIGKILL):
            raise AssertionError(f"{command} failed ({proc.returncode}):\n{kill.stderr[-3000:]}")
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if final.returncode != 0:
        raise AssertionError(f"{command} failed after the kills:\n{final.stderr[-3000:]}")
    return kills, final
