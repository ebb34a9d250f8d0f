"""Are the replicated copies of the training state still the same on every process?

Data parallelism keeps one copy of the parameters, statistics and optimiser state per
device and relies on every update being identical everywhere. A diverged replica (a
process fed different data shapes, a non-deterministic op, a bad host) does not fail
by itself: it silently trains a different model on each host and checkpoints one of
them. The trainer compares a digest of each process's copy at the end of a run.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jax
import numpy as np


class ReplicaMismatchError(RuntimeError):
    """The processes of a multi-host run hold different copies of replicated state."""


def local_copy(x: Any) -> np.ndarray:
    """This process's copy of a replicated array (its first addressable shard)."""
    if isinstance(x, jax.Array):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        if not x.is_fully_addressable:
            x = x.addressable_shards[0].data
    return np.asarray(x)


def digest(tree: Any) -> str:
    """SHA-256 over the dtype, shape and bytes of every leaf's local copy."""
    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        a = np.ascontiguousarray(local_copy(leaf))
        h.update(f"{jax.tree_util.keystr(path)}|{a.dtype}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def check_identical(tree: Any, what: str = "training state") -> str:
    """The digest of ``tree``; raises :class:`ReplicaMismatchError` when processes differ."""
    mine = digest(tree)
    if jax.process_count() == 1:
        return mine
    from jax.experimental import multihost_utils

    gathered = np.asarray(multihost_utils.process_allgather(np.frombuffer(bytes.fromhex(mine), np.uint8)))
    digests = [bytes(row).hex() for row in gathered.reshape(jax.process_count(), -1)]
    if len(set(digests)) > 1:
        listing = ", ".join(f"process {i}: {d[:12]}" for i, d in enumerate(digests))
        raise ReplicaMismatchError(
            f"the {what} differs across processes ({listing}); the run is not data-parallel any more. "
            "Check that every process runs the same jaxser version, config and data"
        )
    return mine


__all__ = ["ReplicaMismatchError", "check_identical", "digest", "local_copy"]
