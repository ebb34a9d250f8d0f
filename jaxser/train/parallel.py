"""Data parallelism: one per-device step, run over a ``data`` mesh axis.

The training and evaluation steps (:mod:`jaxser.train.steps`) are written once, per
device, with explicit collectives over :data:`AXIS`: ``lax.psum`` of per-device sums
(each device differentiates the loss sum of its real rows divided by the global count
of real rows, so the summed gradient is that of the global mean loss; metrics are
summed likewise) and BatchNorm's ``axis_name=AXIS`` (batch statistics averaged over
the devices). :class:`DataParallel` runs such a function over every device of every
process:

* ``mode="shard_map"`` (default): ``jax.jit(jax.shard_map(fn))`` on a
  ``jax.make_mesh`` mesh. Batches become global arrays sharded along ``data``
  (``jax.make_array_from_process_local_data``: each process feeds its own rows),
  state is replicated (``P()``).
* ``mode="pmap"``: the same function under ``jax.pmap(axis_name=AXIS)``, kept as a
  compatibility path: each process's rows are reshaped to
  ``[local devices, rows per device, ...]``, replicated arguments are broadcast
  (``in_axes=None``) and replicated outputs come back once (``out_axes=None``).

Both take the same host batches and state and return the same things, so the trainer
does not know which one runs. Arguments and outputs are declared :data:`SHARDED`
(split along their first axis over devices) or :data:`REPLICATED` (identical on all).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"
SHARDED = PartitionSpec(AXIS)
REPLICATED = PartitionSpec()
MODES = ("shard_map", "pmap")


class BatchSizeError(ValueError):
    """A global batch that does not split evenly over the devices or processes."""


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh named :data:`AXIS` over ``devices`` (all devices of all processes by default)."""
    devices = list(jax.devices() if devices is None else devices)
    return jax.make_mesh((len(devices),), (AXIS,), devices=devices)


def check_batch_size(global_batch_size: int, num_devices: int, process_count: int | None = None) -> int:
    """Rows per device; raises :class:`BatchSizeError` before anything compiles."""
    process_count = jax.process_count() if process_count is None else process_count
    if global_batch_size <= 0 or global_batch_size % num_devices:
        raise BatchSizeError(
            f"global batch size {global_batch_size} does not divide evenly over {num_devices} devices; "
            f"use a multiple of {num_devices} (e.g. {max(1, round(global_batch_size / num_devices)) * num_devices}) "
            "or run on fewer devices"
        )
    if global_batch_size % process_count:
        raise BatchSizeError(
            f"global batch size {global_batch_size} does not divide evenly over {process_count} processes"
        )
    return global_batch_size // num_devices


def _is_sharded(spec) -> bool:
    if spec == SHARDED:
        return True
    if spec == REPLICATED:
        return False
    raise ValueError(f"spec must be parallel.SHARDED or parallel.REPLICATED, got {spec!r}")


class DataParallel:
    """Places data and compiles per-device functions for one mesh and mode."""

    def __init__(self, mesh: Mesh | None = None, mode: str = "shard_map"):
        if mode not in MODES:
            raise ValueError(f"parallel mode {mode!r} is not one of {', '.join(MODES)}")
        self.mesh = make_mesh() if mesh is None else mesh
        self.mode = mode
        self.num_devices = self.mesh.size
        self.local_devices = [d for d in self.mesh.devices.flat if d.process_index == jax.process_index()]

    def check_batch_size(self, global_batch_size: int) -> int:
        return check_batch_size(global_batch_size, self.num_devices)

    # -- placing data --------------------------------------------------------------

    def shard(self, local_batch: Mapping[str, Any]) -> dict[str, Any]:
        """This process's rows of a global batch -> what the compiled step takes.

        shard_map: global ``jax.Array`` s sharded along ``data`` (one per key).
        pmap: arrays reshaped to ``[local devices, rows per device, ...]``.
        """
        out = {}
        n_local = len(self.local_devices)
        for key, value in local_batch.items():
            value = np.asarray(value)
            if value.shape[0] % n_local:
                raise BatchSizeError(
                    f"batch field {key!r} has {value.shape[0]} rows on this process, not divisible by its "
                    f"{n_local} devices; the global batch size must be a multiple of the device count"
                )
            if self.mode == "shard_map":
                sharding = NamedSharding(self.mesh, SHARDED)
                out[key] = jax.make_array_from_process_local_data(sharding, value)
            else:
                out[key] = value.reshape(n_local, value.shape[0] // n_local, *value.shape[1:])
        return out

    def replicate(self, tree: Any) -> Any:
        """State (params, optimizer state, RNG...) placed on every device."""
        if self.mode == "shard_map":
            # Spelled as the step's outputs come back (P(None, None) for a matrix, not the
            # equivalent P()), so the step's input shardings never change and it compiles once.
            return jax.tree.map(self._replicate_leaf, tree)
        return tree  # pmap broadcasts it (in_axes=None)

    def _replicate_leaf(self, x: Any) -> jax.Array:
        sharding = NamedSharding(self.mesh, PartitionSpec(*[None] * np.ndim(x)))
        if jax.process_count() == 1:
            return jax.device_put(x, sharding)
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        # Across processes device_put cannot move an array committed to one local device
        # (e.g. a restored checkpoint): every process supplies its own full copy instead.
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            x = x.addressable_shards[0].data
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    # -- compiling -----------------------------------------------------------------

    def compile(
        self,
        fn: Callable,
        in_specs: Sequence[PartitionSpec],
        out_specs: Any,
        *,
        donate_argnums: Sequence[int] = (),
    ) -> Callable:
        """``fn`` (per device, collectives over :data:`AXIS`) over all devices.

        ``in_specs``: one spec per positional argument; ``out_specs``: a spec or a
        tuple of specs matching ``fn``'s output. Donated arguments are consumed.
        """
        in_specs = tuple(in_specs)
        for spec in jax.tree.leaves((in_specs, out_specs), is_leaf=lambda s: isinstance(s, PartitionSpec)):
            _is_sharded(spec)
        if self.mode == "shard_map":
            # check_vma=False: with it on, JAX's AD already sums the gradient of a
            # replicated input over the axis, so the step's explicit psum would count it
            # N times, and the same function would mean something else under pmap
            # (measured: 4 devices gave 4x the gradient). Off, collectives are as written.
            mapped = jax.shard_map(fn, mesh=self.mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
            return jax.jit(mapped, donate_argnums=tuple(donate_argnums))
        in_axes = tuple(0 if _is_sharded(s) else None for s in in_specs)
        out_axes = jax.tree.map(
            lambda s: 0 if _is_sharded(s) else None, out_specs, is_leaf=lambda s: isinstance(s, PartitionSpec)
        )
        # Broadcast (in_axes=None) arguments cannot be donated under pmap: no donation here.
        # All mesh devices, across processes: each process feeds its local ones.
        devices = list(self.mesh.devices.flat)
        if 0 in in_axes:
            return jax.pmap(fn, axis_name=AXIS, in_axes=in_axes, out_axes=out_axes, devices=devices)
        # pmap needs one mapped argument to know its devices; a step whose inputs are all
        # replicated (data held whole on every device) gets a dummy one, one row per device.
        mapped = jax.pmap(lambda *args: fn(*args[:-1]), axis_name=AXIS, in_axes=(*in_axes, 0), out_axes=out_axes,
                          devices=devices)
        rows = np.zeros((len(self.local_devices),), np.int32)
        return lambda *args: mapped(*args, rows)
