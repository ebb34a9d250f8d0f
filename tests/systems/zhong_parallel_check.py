"""Run by test_zhong_kind.py in a subprocess with 2 forced host devices.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 python zhong_parallel_check.py

For shard_map and pmap (one process: one JAX start-up for both), two train steps of the zhong kind's independent networks (tiny ACLN + FCN) on fixed
global batches of 8, on 1 device (once) and on both; prints JSON with the largest parameter
difference and whether the hard-example counters agree.
"""

from __future__ import annotations

import functools
import json
import pathlib
import sys

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from jaxser.systems import zhong  # noqa: E402
from jaxser.train import parallel, steps  # noqa: E402
from tests.systems.test_zhong_kind import DIM, ROWS, batch, make_config  # noqa: E402


def two_steps(dp):
    config = make_config()
    # Dropout draws its masks per device (the step key folds in the device index), so
    # one device and two differ by design with it on: off, the step must agree.
    config.model.kwargs.fcn = {"hidden": (16, 8), "dropout_rate": 0.0}
    state = zhong.initial_state(config, 4, 10, num_rows=ROWS, functionals_dim=DIM)
    fn = dp.compile(functools.partial(zhong.train_step, loss=steps.LossSpec()),
                    (parallel.REPLICATED, parallel.SHARDED), (parallel.REPLICATED, parallel.REPLICATED))
    state = dp.replicate(state)
    for seed in (0, 1):
        state, _ = fn(state, dp.shard(batch(seed)))
    return jax.device_get(state)


def check() -> dict:
    """Both modes against one 1-device run (an ACLN compile each is the test's time)."""
    one = two_steps(parallel.DataParallel(parallel.make_mesh(jax.devices()[:1]), "shard_map"))
    out = {}
    for mode in ("shard_map", "pmap"):
        many = two_steps(parallel.DataParallel(parallel.make_mesh(), mode))
        diff = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))), one.params(), many.params())
        counts = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), one.extras["counts"], many.extras["counts"])
        out[mode] = {
            "devices": jax.device_count(),
            "params_max_abs_diff": max(jax.tree.leaves(diff)),
            "counts_equal": all(jax.tree.leaves(counts)),
        }
    return out


if __name__ == "__main__":
    print(json.dumps(check()))
