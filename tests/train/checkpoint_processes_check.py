"""Run by test_checkpoint_processes.py as two jax.distributed processes on localhost:

    python checkpoint_processes_check.py COORDINATOR PROCESS_ID WORKDIR

Both processes save `best` and `latest` at the same steps, as every evaluation of a
training run does, with the saves of one step in flight together; then they finish
and print the steps kept as JSON.
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

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from jaxser.train import checkpoint, parallel  # noqa: E402
from jaxser.train.state import TrainState  # noqa: E402
from tests.train.tiny_model import TinyMel  # noqa: E402

dp = parallel.DataParallel(parallel.make_mesh())
tx = optax.sgd(0.1)
params = {"w": jnp.arange(64.0).reshape(8, 8), "b": jnp.zeros(8)}
state = TrainState(
    step=jnp.array(0), params=params, batch_stats={}, opt_state=tx.init(params),
    rng=jax.random.key_data(jax.random.key(0)), model=TinyMel(num_classes=4), tx=tx,
)
state = dp.replicate(state)
ckpts = checkpoint.Checkpoints(workdir)
try:
    for step in range(1, 5):
        state = state.replace(step=state.step + 1, params=jax.tree.map(lambda p: p + 1.0, state.params))
        meta = {"step": step}
        ckpts.save_best(state, meta, score=float(step))
        ckpts.save_latest(state, meta)
finally:
    ckpts.finish()
print(json.dumps({"latest": ckpts.latest.all_steps(), "best": ckpts.best.all_steps()}))
