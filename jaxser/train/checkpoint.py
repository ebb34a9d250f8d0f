"""Orbax checkpoints of a training run: the latest (to resume) and the best (to evaluate).

Layout of a workdir::

    workdir/config.json              the run's config (written once, before training)
    workdir/checkpoints/latest/<step>/  periodic; the newest two kept
    workdir/checkpoints/best/<step>/    best on the validation metric; one kept

Each checkpoint holds the state arrays (params, batch stats, optimiser state, step,
RNG) and a JSON ``meta`` item: the data position (epoch, batch in epoch), the early
stopping record and the validation metric. No pickle anywhere.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp

from jaxser.train.state import TrainState

LATEST, BEST = "latest", "best"


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was expected; the message names the folder."""


def _arrays(state: TrainState) -> dict[str, Any]:
    return {
        "step": state.step,
        "params": state.params,
        "batch_stats": state.batch_stats,
        "opt_state": state.opt_state,
        "rng": state.rng,
    }


class Checkpoints:
    """The two managers of one run directory."""

    def __init__(self, workdir: str | pathlib.Path, *, keep_latest: int = 2, best_mode: str = "max"):
        root = pathlib.Path(workdir).absolute() / "checkpoints"
        self.root = root
        self.latest = ocp.CheckpointManager(
            root / LATEST, options=ocp.CheckpointManagerOptions(max_to_keep=keep_latest, create=True)
        )
        self.best = ocp.CheckpointManager(
            root / BEST,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1, best_fn=lambda metrics: metrics["score"], best_mode=best_mode, create=True
            ),
        )

    def save_latest(self, state: TrainState, meta: dict) -> None:
        step = int(jax.device_get(state.step))
        if step in self.latest.all_steps():
            return
        args = ocp.args.Composite(state=ocp.args.StandardSave(_arrays(state)), meta=ocp.args.JsonSave(meta))
        self.latest.save(step, args=args)

    def save_best(self, state: TrainState, meta: dict, score: float) -> None:
        step = int(jax.device_get(state.step))
        args = ocp.args.Composite(state=ocp.args.StandardSave(_arrays(state)), meta=ocp.args.JsonSave(meta))
        self.best.save(step, args=args, metrics={"score": float(score)}, force=True)

    def wait(self) -> None:
        self.latest.wait_until_finished()
        self.best.wait_until_finished()

    def close(self) -> None:
        self.latest.close()
        self.best.close()


def _manager(directory: pathlib.Path) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(read_only=True, create=False))


def restore(
    directory: str | pathlib.Path, template: TrainState, step: int | None = None
) -> tuple[TrainState, dict]:
    """The state (shaped and placed like ``template``) and meta of the checkpoint in ``directory``.

    ``directory`` is ``checkpoints/latest`` or ``checkpoints/best``; ``step`` defaults to
    the newest.
    """
    directory = pathlib.Path(directory).absolute()
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint folder {directory}; train first (jaxser train --workdir ...)")
    manager = _manager(directory)
    try:
        step = manager.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"{directory} holds no finished checkpoint; train (longer) first")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _arrays(template))
        restored = manager.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()),
        )
    finally:
        manager.close()
    arrays = restored["state"]
    state = template.replace(**arrays)
    return state, dict(restored["meta"])


def latest_step(directory: str | pathlib.Path) -> int | None:
    directory = pathlib.Path(directory).absolute()
    if not directory.is_dir():
        return None
    manager = _manager(directory)
    try:
        return manager.latest_step()
    finally:
        manager.close()
