"""Run by test_parallel.py in a subprocess with N forced host devices.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python parallel_check.py MODE

One train step of TinyMel on a fixed global batch of 8, on 1 device and on all
devices; prints JSON with the largest parameter / batch-stat / metric differences.
"""

from __future__ import annotations

import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from jaxser import config as config_lib  # noqa: E402
from jaxser.train import parallel, state as state_lib, steps  # noqa: E402
from tests.train.tiny_model import TinyMel  # noqa: E402


def one_step(dp, batch):
    model = TinyMel(num_classes=4, bn_axis_name=parallel.AXIS)
    # Plain SGD: the parameter change is lr * gradient, so differences measure the
    # gradients' (Adam's first step, lr * sign(g), would turn round-off on near-zero
    # gradients into differences of 2 lr).
    train = config_lib.base_config().train
    train.optimizer, train.learning_rate, train.momentum = "sgd", 0.1, 0.0
    tx = state_lib.optimizer(train, 10)
    state = state_lib.create(model, tx, 0, jnp.zeros((1, 8000)), jnp.full((1,), 8000))
    fn = dp.compile(steps.train_step, (parallel.REPLICATED, parallel.SHARDED), (parallel.REPLICATED, parallel.REPLICATED))
    new, metrics = fn(dp.replicate(state), dp.shard(batch))
    return jax.device_get((new.params, new.batch_stats, metrics))


def main(mode: str) -> None:
    rng = np.random.default_rng(0)
    batch = {
        "audio": (0.1 * rng.standard_normal((8, 8000))).astype(np.float32),
        "length": rng.integers(4000, 8001, 8).astype(np.int32),
        "label": rng.integers(0, 4, 8).astype(np.int32),
        "mask": np.ones(8, np.float32),
    }
    one = one_step(parallel.DataParallel(parallel.make_mesh(jax.devices()[:1]), mode), batch)
    many = one_step(parallel.DataParallel(parallel.make_mesh(), mode), batch)
    diff = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))), one, many)
    params, stats, metrics = diff
    result = {
        "devices": jax.device_count(),
        "params_max_abs_diff": max(jax.tree.leaves(params)),
        "batch_stats_max_abs_diff": max(jax.tree.leaves(stats)),
        "metrics_max_abs_diff": max(jax.tree.leaves(metrics)),
        "loss": float(one[2]["loss_sum"] / one[2]["count"]),
    }
    try:
        parallel.DataParallel(parallel.make_mesh(), mode).check_batch_size(6)
        result["batch_6_error"] = None
    except parallel.BatchSizeError as err:
        result["batch_6_error"] = str(err)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
