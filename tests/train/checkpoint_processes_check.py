"""Run by test_checkpoint_processes.py as two jax.distributed processes on localhost:

    python checkpoint_processes_check.py COORDINATOR PROCESS_ID WORKDIR

Both processes save `best` and `latest` at the same steps, as every evaluation of a
training run does, with the saves of one step in flight together, and finish. Then
process 0 truncates the newest `latest` checkpoint, both resume (process 0 moves the
damaged and newer checkpoints aside), and both save the resumed step's successor again.
Prints the steps kept after each phase and the step resumed from, as JSON.
"""

from __future__ import annotations

import json
import pathlib
import sys

import jax

coordinator, process_id, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
jax.config.update("jax_platforms", "cpu")
jax.distributed.initialize(coordinator_address=coordinator, num_processes=2, process_id=process_id)

import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from jaxser.train import checkpoint, parallel  # noqa: E402
from jaxser.train.state import TrainState  # noqa: E402
from tests.reliability import faults  # noqa: E402
from tests.train.tiny_model import TinyMel  # noqa: E402

dp = parallel.DataParallel(parallel.make_mesh())
tx = optax.sgd(0.1)
# Big enough that the biggest array data file is a parameter chunk, not an index node.
params = {"w": jnp.arange(65536.0).reshape(256, 256) / 7.0, "b": jnp.zeros(256)}
state = TrainState(
    step=jnp.array(0), params=params, batch_stats={}, opt_state=tx.init(params),
    rng=jax.random.key_data(jax.random.key(0)), model=TinyMel(num_classes=4), tx=tx,
)
state = dp.replicate(state)


def save_steps(state, steps):
    ckpts = checkpoint.Checkpoints(workdir)
    try:
        for step in steps:
            state = dp.replicate(state.replace(step=jnp.array(step), params=jax.tree.map(lambda p: p + 1.0, state.params)))
            meta = {"step": step}
            ckpts.save_best(state, meta, score=float(step))
            ckpts.save_latest(state, meta)
    finally:
        ckpts.finish()
    return {"latest": ckpts.latest.all_steps(), "best": ckpts.best.all_steps()}


report = {"saved": save_steps(state, range(1, 5))}
if jax.process_index() == 0:
    faults.damage(pathlib.Path(workdir) / "checkpoints" / "latest", "truncated_array_file")
multihost_utils.sync_global_devices("damaged")
resumed, meta = checkpoint.resume(workdir, state)
report["resumed_from"] = meta["step"]
multihost_utils.sync_global_devices("resumed")  # as the trainer does before opening the managers
report["saved_again"] = save_steps(dp.replicate(resumed), [4])
print(json.dumps(report))
