"""Run by test_adversarial.py's kill test: a tiny WADAN run in a workdir (resuming when
it holds checkpoints); prints the final state's digest as JSON.

    python adversarial_kill_run.py WORKDIR
"""

from __future__ import annotations

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from jaxser.train import adversarial, replicas  # noqa: E402
from tests.train.test_adversarial import data, recipe, tiny_state  # noqa: E402

if __name__ == "__main__":
    rec = recipe("wadan", d_steps=2)
    X, y = data(64)
    state, _ = adversarial.Trainer(rec, tiny_state(rec), X, y, sys.argv[1], epochs=12, batch_size=8,
                                   epochs_per_call=1, checkpoint_every_epochs=2).fit()
    print(json.dumps({"digest": replicas.digest(state.arrays()), "step": int(state.step)}))
