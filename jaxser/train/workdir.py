"""One run per workdir at a time: an advisory lock held for the run's lifetime.

``fcntl.flock`` on ``workdir/.lock``: the kernel drops it when the process ends, however
it ends, so a killed run never leaves a stale lock, and a second run pointed at the same
workdir refuses at once instead of interleaving checkpoints with the first. Only
process 0 of a multi-host run takes it (the others do not write the workdir).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import socket

import jax

LOCK_NAME = ".lock"


class WorkdirLockedError(RuntimeError):
    """Another process is running in this workdir."""


@contextlib.contextmanager
def locked(workdir: str | pathlib.Path):
    workdir = pathlib.Path(workdir)
    if jax.process_index() != 0:
        yield
        return
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(workdir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise WorkdirLockedError(f"cannot use {workdir}: {err.strerror} ({err.filename}); pick a writable --workdir") from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise WorkdirLockedError(
                f"{workdir} is in use by {holder}; wait for that run to end or use another --workdir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
