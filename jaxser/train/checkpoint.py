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

import logging
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp

from jaxser.train.state import TrainState

LATEST, BEST = "latest", "best"
log = logging.getLogger(__name__)


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

    ``directory`` is ``checkpoints/latest`` or ``checkpoints/best``. With ``step=None``
    the newest checkpoint that restores is used: a damaged one (truncated or missing
    files, e.g. a save killed half-way by a full disk) is skipped with a warning naming
    it and what was wrong, and the previous one is tried. If none restores, a
    :class:`CheckpointError` lists each failure: never a silent fresh start.
    """
    directory = pathlib.Path(directory).absolute()
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint folder {directory}; train first (jaxser train --workdir ...)")
    manager = _manager(directory)
    failures = []
    try:
        steps = sorted(manager.all_steps(), reverse=True) if step is None else [step]
        if not steps:
            raise CheckpointError(f"{directory} holds no finished checkpoint; train (longer) first")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _arrays(template))
        args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
        for candidate in steps:
            try:
                restored = manager.restore(candidate, args=args)
                _check_restored(restored, abstract)
            except Exception as err:  # orbax/tensorstore raise many types for damaged files
                reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]
                failures.append(f"step {candidate}: {reason}")
                log.warning("checkpoint %s/%s is damaged (%s); trying the previous one", directory, candidate, reason)
                continue
            state = template.replace(**restored["state"])
            return state, dict(restored["meta"])
    finally:
        manager.close()
    raise CheckpointError(
        f"no checkpoint in {directory} could be restored:\n  " + "\n  ".join(failures)
        + "\nMove the folder away to start this run over, or restore it from a backup."
    )


def _check_restored(restored, abstract) -> None:
    if "meta" not in restored or not isinstance(restored["meta"], dict) or "step" not in restored["meta"]:
        raise CheckpointError("its meta item is missing or unreadable")
    got = jax.tree.map(lambda x: (x.shape, x.dtype), restored["state"])
    want = jax.tree.map(lambda x: (x.shape, x.dtype), abstract)
    if got != want:
        raise CheckpointError("its arrays do not match the model (another config or model version?)")


def latest_step(directory: str | pathlib.Path) -> int | None:
    directory = pathlib.Path(directory).absolute()
    if not directory.is_dir():
        return None
    manager = _manager(directory)
    try:
        return manager.latest_step()
    finally:
        manager.close()
