"""Tiny supervised runs to put through the faults of :mod:`tests.reliability.faults`.

A run of the tiny model on the tiny synthetic corpus (3 steps an epoch, an evaluation
and a checkpoint every epoch) takes a few seconds. Another system (a GAN loop, an
enhancement model) gets the same tests by providing the same three things: a trained
workdir, a config file for ``jaxser train``, and the commands to run in a child.
"""

from __future__ import annotations

import itertools
import json
import pathlib
import shutil

import jax
import numpy as np

from jaxser import models
from jaxser.train import checkpoint, supervised
from tests.conftest import make_config
from tests.train.tiny_model import TinyMel

TRAIN = {"epochs": 3, "checkpoint_every_steps": 3}
_SCORES = itertools.count()  # shared: every evaluation of any run beats all earlier ones


def register_tiny_model() -> None:
    models.MODELS["tiny"] = TinyMel


def train(workdir: pathlib.Path, tfds_dir, corpus, *, rising_scores: bool = False, **overrides):
    """Train the tiny run in ``workdir``; with ``rising_scores`` every evaluation is a new
    best (also after resuming), so ``best`` holds the same steps as ``latest`` (3, 6, 9 ->
    the last two kept)."""
    register_tiny_model()
    trainer = supervised.Trainer(make_config(tfds_dir, **{**TRAIN, **overrides}), workdir, corpus=corpus)
    if rising_scores:
        trainer._score = lambda result: float(next(_SCORES))
    return trainer.fit()


def copy(run: pathlib.Path, to: pathlib.Path) -> pathlib.Path:
    shutil.copytree(run, to)
    return to


def config_file(path: pathlib.Path, tfds_dir) -> pathlib.Path:
    """A config file for ``jaxser train`` giving the config :func:`train` used."""
    path.write_text(
        "from tests.reliability.runs import register_tiny_model, TRAIN\n"
        "from tests.conftest import make_config\n\n\n"
        "def get_config(arg=None):\n"
        "    register_tiny_model()\n"
        f"    return make_config({str(tfds_dir)!r}, **TRAIN)\n"
    )
    return path


def template(workdir: pathlib.Path, corpus):
    """A state shaped like the run's, to restore its checkpoints into."""
    register_tiny_model()
    from jaxser import evaluate

    return supervised.Trainer(evaluate.load_config(workdir), workdir, corpus=corpus).initial_state


def arrays(workdir: pathlib.Path, corpus) -> dict[str, list[np.ndarray]]:
    """Every checkpoint's arrays, ``{"latest/9": [...], ...}``, to compare bit for bit."""
    like = template(workdir, corpus)
    out = {}
    for kind in (checkpoint.LATEST, checkpoint.BEST):
        directory = workdir / "checkpoints" / kind
        for step in sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit()):
            state, _ = checkpoint.restore(directory, like, step=step)
            out[f"{kind}/{step}"] = [np.asarray(x) for x in jax.tree.leaves(state)]
    return out


def same_arrays(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        len(a[k]) == len(b[k]) and all(np.array_equal(x, y) for x, y in zip(a[k], b[k])) for k in a
    )


CLI_CHILD = """
import json, sys
from tests.reliability.runs import register_tiny_model
register_tiny_model()
from jaxser import cli

def jaxser(*argv):
    print("=== jaxser " + " ".join(map(str, argv)), file=sys.stderr, flush=True)
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit:
        code = exit.code
    print("=== exit " + str(code), file=sys.stderr, flush=True)
    CODES.append(code)
    return code

CODES = []
"""
CLI_CHILD_END = '\nprint("EXIT CODES " + json.dumps(CODES))\n'


def child_codes(stdout: str) -> list[int]:
    """The exit codes a :data:`CLI_CHILD` script printed (it printed none if it crashed)."""
    lines = [line for line in stdout.splitlines() if line.startswith("EXIT CODES ")]
    return json.loads(lines[-1][len("EXIT CODES "):]) if lines else []


def sections(stderr: str) -> list[str]:
    """The stderr of each ``jaxser`` command of a :data:`CLI_CHILD` script."""
    return stderr.split("=== jaxser ")[1:]
