"""Files written whole or not at all: a temp file beside the target, renamed over it.

    from jaxser.atomic_file import replacing

    with replacing(path, "wb") as f:
        np.savez(f, ...)

A killed process leaves the old file or the new one, never half of one (results, PNGs,
feature caches are read back by later runs). The temp file gets the umask's permissions,
like any file the user writes (``mkstemp``'s would be 0600).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import uuid
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], mode: str = "w", *, encoding: str | None = None) -> Iterator[IO]:
    """Open a new temp file beside ``path`` (``mode`` ``"w"`` or ``"wb"``); when the block
    ends without an error, flush it to disk and rename it over ``path``; else remove it."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, mode.replace("w", "x"), encoding=encoding if mode == "w" else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
