"""Fault injection for reliability tests: damaged checkpoints, full and read-only disks.

Written for any system that checkpoints with orbax into ``workdir/checkpoints/<kind>/<step>/``
(the supervised trainer today; GAN loops and enhancement models later), so each can be
put through the same faults:

* checkpoint damage (:data:`CHECKPOINT_FAULTS`): a step folder with its biggest array
  data file truncated or one bit of it flipped, an array data file removed, or a JSON
  item (the run's ``meta``) removed, as a crash during a copy, a full disk or bit rot
  leave them;
* a full disk: :func:`file_size_limit` in a child process (:func:`run_python`): a
  kernel-enforced ``RLIMIT_FSIZE``, so writes past the limit fail with ``EFBIG`` as they
  fail with ``ENOSPC`` on a full disk, also for root; or :func:`no_space` on one file
  (a link to ``/dev/full``: a real ``ENOSPC``, in the test's own process);
* a read-only folder: :func:`read_only` (``chmod a-w``) in a child process started with
  ``run_python(..., drop_root_file_access=True)``, which takes away root's capability
  to override file permissions, so the kernel refuses the writes for root as well.

The process-wide faults are applied to a child process only, never to pytest's own
process, and every test checks afterwards (:func:`snapshot`) that the files written
before the fault are unchanged, byte for byte.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import pathlib
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator

REPO = pathlib.Path(__file__).resolve().parents[2]

# -- checkpoint folders -------------------------------------------------------------


def steps(directory: str | pathlib.Path) -> list[int]:
    """The finished checkpoint steps in an orbax manager folder, oldest first."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit())


def step_dir(directory: str | pathlib.Path, step: int | None = None) -> pathlib.Path:
    """The folder of checkpoint ``step`` (the newest one by default)."""
    found = steps(directory)
    if not found:
        raise FileNotFoundError(f"no checkpoint in {directory}")
    return pathlib.Path(directory) / str(found[-1] if step is None else step)


def array_files(step_folder: str | pathlib.Path) -> list[pathlib.Path]:
    """The array data files of a checkpoint or one of its items (tensorstore/OCDBT
    chunks), biggest first."""
    step_folder = pathlib.Path(step_folder)
    files = [p for p in step_folder.rglob("*") if p.is_file() and p.parent.name == "d" and "ocdbt" in p.parent.parent.name]
    if not files:  # another layout (no OCDBT): every data file below an item
        files = [p for p in step_folder.rglob("*") if p.is_file() and p.parent.name == "d"]
    if not files:
        raise FileNotFoundError(f"{step_folder} holds no array data files")
    return sorted(files, key=lambda p: (-p.stat().st_size, str(p)))


def truncate(path: str | pathlib.Path, keep: float = 1 / 3) -> pathlib.Path:
    """Cut a file to ``keep`` of its size (a copy or write that stopped half-way)."""
    path = pathlib.Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def truncate_array_file(step_folder: str | pathlib.Path) -> pathlib.Path:
    """Fault (a): the checkpoint's biggest array data file truncated to a third."""
    return truncate(array_files(step_folder)[0])


def _raw_arrays(step_folder: pathlib.Path, item: str) -> list | None:
    """The item's arrays as orbax reads them without a template; None if it cannot."""
    import jax
    import numpy as np
    import orbax.checkpoint as ocp

    try:
        with ocp.StandardCheckpointer() as reader:
            return [np.asarray(x) for x in jax.tree.leaves(reader.restore(step_folder / item))]
    except Exception:  # noqa: BLE001 - any failure means "the storage layer noticed"
        return None


def flip_bit_in_array_file(step_folder: str | pathlib.Path, item: str = "state") -> pathlib.Path:
    """Fault (a): one bit flipped in an array data file where the storage layer does not
    notice (bit rot, a bad copy): orbax reads the file without error, one value changed.

    Where such a bit lies depends on the file's layout (compressed chunks, index nodes,
    bytes no longer referenced), so positions are tried from the middle of the biggest
    file outwards, each checked by reading the arrays back."""
    import numpy as np

    step_folder = pathlib.Path(step_folder)
    before = _raw_arrays(step_folder, item)
    if before is None:
        raise RuntimeError(f"{step_folder / item} does not restore even before the fault")
    victim = array_files(step_folder / item)[0]
    original = victim.read_bytes()
    for at in (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.1, 0.9):
        data = bytearray(original)
        data[int(len(data) * at)] ^= 0x10
        victim.write_bytes(bytes(data))
        after = _raw_arrays(step_folder, item)
        if after is not None and any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True)):
            return victim
    victim.write_bytes(original)
    raise RuntimeError(f"no bit of {victim} changes a value without the storage layer noticing")


def remove_array_file(step_folder: str | pathlib.Path) -> pathlib.Path:
    """Fault (b): the checkpoint's biggest array data file removed."""
    victim = array_files(step_folder)[0]
    victim.unlink()
    return victim


def remove_json_item(step_folder: str | pathlib.Path, item: str = "meta") -> pathlib.Path:
    """Fault (b): a JSON item of the checkpoint (the trainer's ``meta``: data position,
    early-stopping record, class names) removed."""
    victim = pathlib.Path(step_folder) / item / "metadata"
    if not victim.is_file():
        raise FileNotFoundError(f"{victim}: no JSON item {item!r} in this checkpoint")
    victim.unlink()
    return victim


def remove_tree_metadata(step_folder: str | pathlib.Path, item: str = "state") -> pathlib.Path:
    """Fault (b): the array tree's ``_METADATA`` (what the arrays are) removed."""
    victim = pathlib.Path(step_folder) / item / "_METADATA"
    victim.unlink()
    return victim


# name -> fault(step folder) -> the damaged path; the faults each system must survive.
CHECKPOINT_FAULTS: dict[str, Callable[[pathlib.Path], pathlib.Path]] = {
    "truncated_array_file": truncate_array_file,
    "flipped_bit_in_array_file": flip_bit_in_array_file,
    "removed_array_file": remove_array_file,
    "removed_meta_file": remove_json_item,
    "removed_tree_metadata": remove_tree_metadata,
}


def damage(directory: str | pathlib.Path, fault: str | Callable = "truncated_array_file", step: int | None = None):
    """Apply ``fault`` (a name of :data:`CHECKPOINT_FAULTS` or a function) to one step
    (the newest by default); returns the damaged path."""
    function = CHECKPOINT_FAULTS[fault] if isinstance(fault, str) else fault
    return function(step_dir(directory, step))


def damage_all(directory: str | pathlib.Path, fault: str | Callable = "truncated_array_file") -> list[pathlib.Path]:
    """Apply ``fault`` to every checkpoint in ``directory``."""
    return [damage(directory, fault, step) for step in steps(directory)]


def snapshot(directory: str | pathlib.Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file below ``directory``, to prove that a
    failed run left what was there before bit-identical."""
    directory = pathlib.Path(directory)
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# -- read-only folders --------------------------------------------------------------


@contextlib.contextmanager
def read_only(path: str | pathlib.Path) -> Iterator[pathlib.Path]:
    """``chmod a-w`` on ``path`` and everything below it, restored on exit.

    Enough for a normal user. Root ignores permissions: run the writing step with
    :func:`run_python` and ``drop_root_file_access=True``.
    """
    path = pathlib.Path(path)
    modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")] if not p.is_symlink()}
    try:
        for p, mode in modes.items():
            os.chmod(p, stat.S_IMODE(mode) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        yield path
    finally:
        for p, mode in modes.items():
            if p.exists():
                os.chmod(p, stat.S_IMODE(mode))


# -- a full disk ----------------------------------------------------------------------


def no_space(path: str | pathlib.Path) -> pathlib.Path:
    """Make writes to the file ``path`` fail with a real ENOSPC from the kernel: replace it
    by a link to ``/dev/full`` (Linux). For a file the code under test appends to (a log);
    the old content is kept beside it as ``<name>.before-no-space``."""
    path = pathlib.Path(path)
    if not pathlib.Path("/dev/full").exists():
        raise OSError("no /dev/full on this system")
    if path.exists():
        path.rename(path.with_name(path.name + ".before-no-space"))
    path.symlink_to("/dev/full")
    return path


# Capabilities that let root write where permissions say no (linux/capability.h).
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER = 1, 2, 3
_CAPABILITY_VERSION_3 = 0x20080522


def drop_root_file_access() -> None:
    """In this process, give up root's right to ignore file permissions.

    Clears CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER from the effective and
    permitted sets (``capset``): root then reads and writes files as their owner, so
    ``chmod a-w`` binds it. A no-op for other users. Only for child processes.
    """
    if os.geteuid() != 0:
        return

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    header, data = Header(_CAPABILITY_VERSION_3, 0), (Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    mask = ~((1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH) | (1 << _CAP_FOWNER)) & 0xFFFFFFFF
    data[0].effective &= mask
    data[0].permitted &= mask
    data[0].inheritable &= mask
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """In this process, fail every write that grows a file past ``limit`` bytes (EFBIG),
    as a full disk fails writes (ENOSPC); lifted on exit. Only for child processes: it
    binds every file the process writes.

    A kernel-enforced ``RLIMIT_FSIZE`` (soft limit, so it can be lifted again), with
    SIGXFSZ ignored so the writer gets the error instead of being killed. Works for root.
    """
    import resource
    import signal

    old_limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limits)
        signal.signal(signal.SIGXFSZ, old_handler)


# -- child processes ----------------------------------------------------------------


def _script(code: str, drop_root_file_access: bool) -> str:
    prelude = ["import sys", f"sys.path.insert(0, {str(REPO)!r})", "from tests.reliability import faults"]
    if drop_root_file_access:
        prelude.append("faults.drop_root_file_access()")
    return "\n".join(prelude) + "\n" + textwrap.dedent(code)


def _env(env: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "JAXSER_COMPILE_CACHE": "", **(env or {})}


def run_python(
    code: str, *, drop_root_file_access: bool = False, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python process (the repository on its path, ``faults``
    imported) and return the finished process (text output). ``drop_root_file_access``
    applies :func:`drop_root_file_access` first, before ``code`` imports anything.
    A child that does not finish within ``timeout`` (a hang) fails the test."""
    return subprocess.run(
        [sys.executable, "-c", _script(code, drop_root_file_access)],
        cwd=REPO, env=_env(env), capture_output=True, text=True, timeout=timeout,
    )


def start_python(code: str, *, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Like :func:`run_python`, but running on: stdin, stdout and stderr are pipes."""
    return subprocess.Popen(
        [sys.executable, "-c", _script(code, False)], cwd=REPO, env=_env(env), text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
