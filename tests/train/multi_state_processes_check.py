"""Run by test_multi_state_processes.py as two jax.distributed processes on localhost:

    python multi_state_processes_check.py COORDINATOR PROCESS_ID WORKDIR

The pattern of checkpoint_processes_check.py for a state of several named networks
(MultiState: a big generator with adam, a critic with sgd, a frozen front end, class
centres): both processes save `best` and `latest` at the same steps with the saves of
one step in flight together; process 0 truncates the newest `latest`; both resume
(process 0 moves the damaged and newer checkpoints aside), check that they resumed
the state saved at that step bit for bit, save again, and load the critic from the run
as a frozen network. Prints what each phase found, as JSON.
"""

from __future__ import annotations

import json
import pathlib
import sys

import jax

coordinator, process_id, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
jax.config.update("jax_platforms", "cpu")
jax.distributed.initialize(coordinator_address=coordinator, num_processes=2, process_id=process_id)

import flax.linen as nn  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from jaxser.train import checkpoint, parallel, replicas  # noqa: E402
from jaxser.train.state import NetSpec, create_multi  # noqa: E402
from tests.reliability import faults  # noqa: E402


class Head(nn.Module):
    out: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.out)(x)


dp = parallel.DataParallel(parallel.make_mesh())
# The generator is big enough that the biggest array data file is a parameter chunk.
x = jnp.zeros((1, 256))
state = create_multi(
    [
        NetSpec("generator", Head(256), optax.adam(1e-3), (x,)),
        NetSpec("critic", Head(1), optax.sgd(0.1), (x,)),
        NetSpec("frontend", Head(4), None, (x,), frozen=True),
    ],
    seed=0,
    extras={"centres": jnp.zeros((4, 8))},
)


def at_step(state, step):
    """The state of step ``step``: every trainable network and the centres moved."""
    for name in ("generator", "critic"):
        net = state.net(name)
        state = state.replace_net(name, net.replace(params=jax.tree.map(lambda p: p + step, net.params)))
    return state.replace(step=jnp.array(step, jnp.int32), extras={"centres": state.extras["centres"] + step})


saved_digests = {}


def save_steps(state, steps):
    ckpts = checkpoint.Checkpoints(workdir)
    try:
        for step in steps:
            state = dp.replicate(at_step(state, step))
            saved_digests[step] = replicas.digest(state.arrays())
            meta = {"step": step}
            ckpts.save_best(state, meta, score=float(step))
            ckpts.save_latest(state, meta)
    finally:
        ckpts.finish()
    return {"latest": ckpts.latest.all_steps(), "best": ckpts.best.all_steps()}


template = dp.replicate(state)
report = {"saved": save_steps(template, range(1, 5))}
if jax.process_index() == 0:
    faults.damage(pathlib.Path(workdir) / "checkpoints" / "latest", "truncated_array_file")
multihost_utils.sync_global_devices("damaged")
resumed, meta = checkpoint.resume(workdir, template)
report["resumed_from"] = meta["step"]
report["resumed_identical"] = replicas.digest(resumed.arrays()) == saved_digests[meta["step"]]
# check_identical raises when the processes differ and returns this process's digest;
# gather every process's digest independently as well, so agreement is really compared.
agreed = replicas.check_identical(resumed.arrays(), "resumed state")
everyone = multihost_utils.process_allgather(np.frombuffer(bytes.fromhex(agreed), np.uint8))
report["replicas_agree"] = agreed == saved_digests[meta["step"]] and all(
    bytes(row).hex() == agreed for row in np.asarray(everyone).reshape(jax.process_count(), -1)
)
multihost_utils.sync_global_devices("resumed")  # as the trainer does before opening the managers
report["saved_again"] = save_steps(template, [4])
critic = checkpoint.load_network(workdir, "judge", template.net("critic"), source_name="critic")
report["loaded_critic"] = {
    "frozen": critic.frozen,
    "identical": replicas.digest(critic.params) == replicas.digest(at_step(state, 4).net("critic").params),
}
print(json.dumps(report))
