"""Back XLA:CPU's per-step buffers with transparent huge pages (glibc's ``hugetlb`` tunable).

XLA:CPU allocates an executable's temporaries (hundreds of MB for a CNN-LSTM train
step) on every execution; glibc serves those sizes with a fresh ``mmap`` and unmaps
them on free, so every step page-faults its whole working set in again, 4 KB at a
time: 322 MB and about a third of a 2D CNN-LSTM step on the 2-vCPU VM of
BUILD_NOTES.md. With ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (glibc >= 2.35) malloc
asks for transparent huge pages on those mappings, so the same memory arrives in 2 MB
faults: the step ran 1.3-1.4x faster there, and Keras, measured the same way, did not
change. (Keeping freed memory instead, with ``mallopt``, was tried: it removed the faults
only on some steps, because glibc falls back to ``mmap`` for blocks a thread's arena
cannot hold.)

glibc reads the tunable once, at process start, so the ``jaxser`` command re-executes
itself with it set when it is missing, on Linux/glibc >= 2.35 with transparent huge
pages not disabled. ``JAXSER_HOST_MEMORY=system`` turns this off; from your own script,
start Python with the variable set instead.
"""

from __future__ import annotations

import ctypes
import os
import sys

ENV = "JAXSER_HOST_MEMORY"
TUNABLE = "glibc.malloc.hugetlb=1"
THP_SETTING = "/sys/kernel/mm/transparent_hugepage/enabled"


def _glibc_version() -> tuple[int, ...] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        get = ctypes.CDLL(None).gnu_get_libc_version
    except (OSError, AttributeError):  # not glibc (musl)
        return None
    get.restype = ctypes.c_char_p
    try:
        return tuple(int(p) for p in get().decode().split(".")[:2])
    except ValueError:
        return None


def _thp_enabled(path: str = THP_SETTING) -> bool:
    try:
        with open(path) as f:
            return "[never]" not in f.read()
    except OSError:
        return False


def hugepage_environ(environ: dict[str, str] | os._Environ) -> dict[str, str] | None:
    """``environ`` with the hugetlb tunable added, or None when it is already there, is
    turned off (``JAXSER_HOST_MEMORY=system``), or would have no effect here."""
    mode = environ.get(ENV, "hugepages")
    if mode not in ("hugepages", "system"):
        raise ValueError(f"{ENV}={mode!r}: expected 'hugepages' or 'system'")
    tunables = environ.get("GLIBC_TUNABLES", "")
    if mode == "system" or "glibc.malloc.hugetlb=" in tunables:
        return None
    version = _glibc_version()
    if version is None or version < (2, 35) or not _thp_enabled():
        return None
    return {**environ, "GLIBC_TUNABLES": f"{tunables}:{TUNABLE}" if tunables else TUNABLE}


def reexec_with_hugepages() -> None:
    """Replace this process by the same command with the tunable set (no-op when
    :func:`hugepage_environ` says so). Call first thing, before any work is done."""
    env = hugepage_environ(os.environ)
    if env is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, env)


__all__ = ["ENV", "hugepage_environ", "reexec_with_hugepages"]
