"""One run per workdir at a time: an advisory lock held for the run's lifetime.

``fcntl.flock`` on ``workdir/.lock``: the kernel drops it when the process ends, however
it ends, so a killed run never leaves a stale lock, and a second run pointed at the same
workdir refuses at once instead of interleaving checkpoints with the first. Only
process 0 of a multi-host run takes it (the others do not write the workdir).

A disk that is full or read-only: :func:`reporting_write_errors` turns the failed
write (an ``OSError``, or orbax/tensorstore's error carrying the OS error code) into a
:class:`WorkdirWriteError` naming the workdir, the file and the cause, and the caller
adds which checkpoints are kept. ``jaxser`` prints it without a traceback (exit 2).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pathlib
import re
import socket
from collections.abc import Callable

import jax

LOCK_NAME = ".lock"


class WorkdirLockedError(RuntimeError):
    """Another process is running in this workdir."""


class WorkdirWriteError(RuntimeError):
    """The workdir cannot be written (disk full, quota, read-only); the message says which
    file, why, and which checkpoints are kept."""


NO_SPACE = {errno.ENOSPC: "ENOSPC", errno.EDQUOT: "EDQUOT", errno.EFBIG: "EFBIG"}
NOT_WRITABLE = {errno.EROFS: "EROFS", errno.EACCES: "EACCES", errno.EPERM: "EPERM"}
# How tensorstore (orbax's array writer) and Python spell the OS errors in messages.
_CODE = re.compile(r"os_error_code='?(\d+)|\[Errno (\d+)\]")
_PATH = re.compile(r'(?:local file|Failed writing:|Error writing) "([^"]+)"')


def write_failure(err: BaseException) -> tuple[int, str | None] | None:
    """``(errno, path or None)`` if ``err`` (or an error it was raised from) is a write
    refused for lack of space or permission, else None."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in NO_SPACE | NOT_WRITABLE:
            return err.errno, err.filename
        text = str(err)
        match = _CODE.search(text)
        if match:
            code = int(match.group(1) or match.group(2))
            if code in NO_SPACE | NOT_WRITABLE:
                paths = _PATH.findall(text)
                return code, paths[-1] if paths else None
        err = err.__cause__ or err.__context__
    return None


def write_error(workdir: str | pathlib.Path, err: BaseException, note: str = "") -> WorkdirWriteError | None:
    """The :class:`WorkdirWriteError` for ``err`` if it is a refused write, else None."""
    failure = write_failure(err)
    if failure is None:
        return None
    code, path = failure
    workdir = pathlib.Path(workdir).absolute()
    inside = path is None or pathlib.Path(path).absolute().is_relative_to(workdir)
    if not inside and code in NOT_WRITABLE:
        return None  # a permission error elsewhere (reading data?): not about the workdir
    if code in NO_SPACE:
        cause = f"no space left ({os.strerror(code)}, {NO_SPACE[code]}: the disk is full, or a quota or file size limit is reached)"
        fix = "Free space (or use a --workdir on another disk) and run the command again"
    else:
        cause = f"the folder is read-only or not writable ({os.strerror(code)}, {NOT_WRITABLE[code]})"
        fix = "Make it writable (or use another --workdir) and run the command again"
    where = f" while writing {path}" if path and inside else ""
    head = f"cannot write to {workdir}" if inside else f"cannot write {path} (the workdir is {workdir})"
    message = f"{head}: {cause}{where}. {fix}."
    return WorkdirWriteError(message + (f" {note}" if note else ""))


@contextlib.contextmanager
def reporting_write_errors(workdir: str | pathlib.Path, note: Callable[[], str] | None = None):
    """Raise a refused write inside the block as :class:`WorkdirWriteError` (other errors
    pass unchanged); ``note()`` adds to the message, e.g. the checkpoints kept."""
    try:
        yield
    except WorkdirWriteError:
        raise
    except Exception as err:
        if write_error(workdir, err) is None:
            raise
        try:
            extra = note() if note is not None else ""
        except Exception:  # noqa: BLE001 - the note is a courtesy; the error must get out
            extra = ""
        raise write_error(workdir, err, extra) from err


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
        refused = write_error(workdir, err)
        if refused is not None:
            raise refused from err
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
