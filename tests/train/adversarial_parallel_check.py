"""Run by test_adversarial.py in a subprocess with 4 forced host devices.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python adversarial_parallel_check.py

Two epochs of an adversarial recipe (tiny networks, 32 rows, global batch 8) on 1 device
and on all 4: every recipe under shard_map, and under pmap the two whose per-device
slicing of global randomness differs most (WADAN's interpolation weights, the AAE's
prior), against the same 1-device run (a compile each is the test's time). Prints JSON
with the largest parameter difference per recipe and mode.
"""

from __future__ import annotations

import functools
import json
import pathlib
import sys

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from jaxser.train import adversarial, parallel  # noqa: E402
from tests.train.test_adversarial import data, tiny_state  # noqa: E402


def two_epochs(dp, recipe):
    X, y = data()
    fn = dp.compile(functools.partial(adversarial.run_epochs, recipe=recipe, batch_size=8, num_epochs=2),
                    (parallel.REPLICATED, parallel.REPLICATED), (parallel.REPLICATED, parallel.REPLICATED))
    state, _ = fn(dp.replicate(tiny_state(recipe)), dp.replicate({"x": X, "y": y}))
    return jax.device_get(state)


PMAP_RECIPES = ("wadan", "aae")


def check() -> dict:
    out = {"shard_map": {}, "pmap": {}}
    for variant in adversarial.VARIANTS:
        recipe = adversarial.Recipe(variant, 3, class_weights=(1.0, 2.0, 1.5), noise_dim=4, latent_dim=4)
        one = two_epochs(parallel.DataParallel(parallel.make_mesh(jax.devices()[:1]), "shard_map"), recipe)
        for mode in ("shard_map", "pmap") if variant in PMAP_RECIPES else ("shard_map",):
            many = two_epochs(parallel.DataParallel(parallel.make_mesh(), mode), recipe)
            diff = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))), one.params(), many.params())
            moved = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))),
                                 tiny_state(recipe).params(), many.params())
            out[mode][variant] = {"params_max_abs_diff": max(jax.tree.leaves(diff)), "moved": max(jax.tree.leaves(moved)),
                                  "step": int(many.step)}
    return {mode: {"devices": jax.device_count(), "recipes": recipes} for mode, recipes in out.items()}


if __name__ == "__main__":
    print(json.dumps(check()))
