"""Orbax checkpoints of a training run: the latest (to resume) and the best (to evaluate).

Layout of a workdir::

    workdir/config.json              the run's config (written once, before training)
    workdir/checkpoints/latest/<step>/  periodic; the newest two kept
    workdir/checkpoints/best/<step>/    best on the validation metric; the best two kept
    workdir/checkpoints/set_aside/      damaged or superseded checkpoints moved out of the way

Each checkpoint holds the state arrays (params, batch stats, optimiser state, step,
RNG) and a JSON ``meta`` item: the data position (epoch, batch in epoch), the early
stopping record, the validation metric and a SHA-256 of the arrays. No pickle anywhere.

Damage (a truncated or missing file, e.g. from a full disk or a killed copy; a changed
byte from bit rot, which the storage layer reads without complaint, fails the SHA-256):
:func:`restore` skips a damaged checkpoint with a warning naming it and what is wrong,
and uses the previous one of the same folder; when none restores it raises
:class:`CheckpointError` naming the folder and the fix, never returning a fresh state.

Why ``best`` keeps two: a ``best`` checkpoint is only written when the validation
score strictly improves, so its newest checkpoint is the best one and the one before
it the runner-up. Keeping both costs one checkpoint of disk and gives evaluation and
prediction a fallback of the same kind (a validation-selected state) when the newest
is damaged. There is deliberately no silent fallback from ``best`` to ``latest``:
that would evaluate another model than the one selected; the error says how to ask
for it (``--which latest``).

Writing: saves run asynchronously, but a failed save always surfaces: at the next save
or at :meth:`Checkpoints.finish`, as :class:`~jaxser.train.workdir.WorkdirWriteError`
when the disk is full or read-only (naming the folder and the checkpoints kept). A
failed save never removes an earlier checkpoint: orbax writes into a temporary folder
and deletes old checkpoints only after the new one is complete.
"""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp

from jaxser.train import replicas, workdir as workdir_lib
from jaxser.train.state import TrainState

LATEST, BEST = "latest", "best"
STATE_SHA256 = "state_sha256"  # meta key: replicas.digest of the saved arrays
SET_ASIDE = "set_aside"
KEEP_LATEST, KEEP_BEST = 2, 2
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


def _save_args(state: TrainState, meta: dict) -> ocp.args.Composite:
    arrays = _arrays(state)
    meta = {**meta, STATE_SHA256: replicas.digest(arrays)}
    return ocp.args.Composite(state=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta))


class Checkpoints:
    """The two managers of one run directory (for writing: the training run). Open
    them after :func:`resume`, which sets aside what orbax could not open."""

    def __init__(self, workdir: str | pathlib.Path, *, keep_latest: int = KEEP_LATEST, best_mode: str = "max"):
        root = pathlib.Path(workdir).absolute() / "checkpoints"
        self.root = root
        self.workdir = root.parent
        # Directories created in save() itself: with orbax's asynchronous creation a
        # folder that cannot be created leaves its writer threads waiting for a signal
        # that never comes, and the process hangs at exit instead of reporting.
        # Each manager names its own multi-process barriers: orbax keys them by step
        # alone, so `latest` and `best` saving the same step at once (every evaluation
        # does) would share one barrier across processes and time out.
        def options(name, **kwargs):
            return ocp.CheckpointManagerOptions(
                create=True,
                async_options=ocp.AsyncOptions(create_directories_asynchronously=False),
                multiprocessing_options=ocp.options.MultiprocessingOptions(barrier_sync_key_prefix=f"jaxser_{name}"),
                **kwargs,
            )

        with workdir_lib.reporting_write_errors(self.workdir):
            self.latest = ocp.CheckpointManager(root / LATEST, options=options(LATEST, max_to_keep=keep_latest))
            self._latest_steps = set(self.latest.all_steps())
            self.best = ocp.CheckpointManager(
                root / BEST,
                options=options(
                    BEST, max_to_keep=KEEP_BEST, best_fn=lambda metrics: metrics["score"], best_mode=best_mode
                ),
            )

    def save_latest(self, state: TrainState, meta: dict) -> None:
        step = int(jax.device_get(state.step))
        # Decided from what this run saved, not from the folder: with asynchronous saves
        # the processes of a multi-host run can see the folder differently, and one that
        # skips a save leaves the others waiting in its collectives (a two-process run
        # once hung in its final, duplicate save of the last step).
        if step in self._latest_steps:
            return
        self._latest_steps.add(step)
        args = _save_args(state, meta)
        with self._reporting():
            self.latest.save(step, args=args)

    def save_best(self, state: TrainState, meta: dict, score: float) -> None:
        step = int(jax.device_get(state.step))
        args = _save_args(state, meta)
        with self._reporting():
            self.best.save(step, args=args, metrics={"score": float(score)}, force=True)

    def kept(self) -> str:
        return kept(self.workdir)

    def _reporting(self):
        return workdir_lib.reporting_write_errors(self.workdir, note=self.kept)

    def wait(self) -> None:
        """Block until the saves in flight are written; raises if one failed."""
        with self._reporting():
            self.latest.wait_until_finished()
            self.best.wait_until_finished()

    def close(self) -> None:
        self.latest.close()
        self.best.close()

    def finish(self) -> None:
        """Wait for both managers and close them, whatever happens; then raise the first
        failure (a save that failed in the background is never swallowed)."""
        errors = []
        for manager in (self.latest, self.best):
            for call in (manager.wait_until_finished, manager.close):
                try:
                    call()
                except Exception as err:  # noqa: BLE001 - re-raised below
                    errors.append(err)
        if errors:
            with self._reporting():
                raise errors[0]


def kept(workdir: str | pathlib.Path) -> str:
    """Which finished checkpoints the workdir holds (for error messages)."""
    root = pathlib.Path(workdir).absolute() / "checkpoints"
    parts = []
    for name in (LATEST, BEST):
        steps = _step_folders(root / name)
        parts.append(f"{name} at step{'s' if len(steps) > 1 else ''} {', '.join(map(str, steps))}" if steps else f"no {name}")
    return f"Training again resumes from the newest good one. Checkpoints kept in {root}: {'; '.join(parts)}."


def _step_folders(directory: pathlib.Path) -> list[int]:
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit())


def set_aside(directory: str | pathlib.Path, step: int, why: str) -> pathlib.Path:
    """Move checkpoint ``step`` out of ``directory`` into ``checkpoints/set_aside/`` (kept,
    not deleted), so the run can write that step again; warns with the new place."""
    directory = pathlib.Path(directory).absolute()
    target_root = directory.parent / SET_ASIDE
    target_root.mkdir(exist_ok=True)
    target, n = target_root / f"{directory.name}-{step}", 1
    while target.exists():
        target, n = target_root / f"{directory.name}-{step}.{n}", n + 1
    (directory / str(step)).rename(target)
    log.warning("moved checkpoint %s/%d (%s) to %s; delete it when you no longer need it", directory, step, why, target)
    return target


def _set_aside_unreadable_metrics(directory: pathlib.Path) -> None:
    """orbax reads every `best` checkpoint's metrics when it opens the folder, and a
    truncated one makes that fail on every start: move such checkpoints aside first."""
    for step in _step_folders(directory):
        path = directory / str(step) / "metrics" / "metrics"
        try:
            if path.is_file():
                json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError) as err:
            set_aside(directory, step, f"its metrics file is unreadable: {type(err).__name__}: {err}")


def _manager(directory: pathlib.Path) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(read_only=True, create=False))


def restore(
    directory: str | pathlib.Path, template: TrainState, step: int | None = None, *, damaged: list | None = None
) -> tuple[TrainState, dict]:
    """The state (shaped and placed like ``template``) and meta of the checkpoint in ``directory``.

    ``directory`` is ``checkpoints/latest`` or ``checkpoints/best``. With ``step=None``
    the newest checkpoint that restores is used: a damaged one (truncated or missing
    files, e.g. a save killed half-way by a full disk) is skipped with a warning naming
    it and what was wrong, and the previous one is tried. If none restores, a
    :class:`CheckpointError` lists each failure: never a silent fresh start. The steps
    skipped are appended to ``damaged`` when a list is given. Reads only: a folder on a
    read-only disk restores.
    """
    directory = pathlib.Path(directory).absolute()
    if not directory.is_dir():
        hint = " (or use the latest checkpoint: --which latest)" if directory.name == BEST else ""
        raise CheckpointError(f"no checkpoint folder {directory}; train first (jaxser train --workdir ...){hint}")
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
                _check_json_files(directory / str(candidate))
                restored = manager.restore(candidate, args=args)
                _check_restored(restored, abstract)
                state = template.replace(**restored["state"])
                _check_digest(state, restored["meta"])
            except Exception as err:  # orbax/tensorstore raise many types for damaged files
                reason = describe_damage(err)
                failures.append(f"step {candidate}: {reason}")
                if damaged is not None:
                    damaged.append(candidate)
                log.warning("checkpoint %s/%s is damaged (%s); trying the previous one", directory, candidate, reason)
                continue
            return state, dict(restored["meta"])
    finally:
        manager.close()
    if directory.name == BEST:
        fix = (f"Restore {directory} from a backup, or evaluate/predict with the latest checkpoint instead "
               "(--which latest; it is not the one selected on validation).")
    else:
        fix = f"Restore {directory} from a backup, or move {directory.parent} away to train this run again from the start."
    error = CheckpointError(f"no checkpoint in {directory} could be restored:\n  " + "\n  ".join(failures) + "\n" + fix)
    error.failures = failures
    raise error


def resume(workdir: str | pathlib.Path, template: TrainState) -> tuple[TrainState, dict] | None:
    """The state and meta a training run resumes from; None when the workdir holds no
    checkpoint at all.

    The newest good `latest` checkpoint; when every `latest` one is damaged (or there is
    none) the newest good `best` one (same contents: state, RNG, data position), with a
    warning. Then the damaged checkpoints met, and any checkpoint newer than the step
    resumed from, are moved to ``checkpoints/set_aside/`` (kept, not deleted): the
    resumed run writes those steps again, and orbax would neither overwrite a step nor
    stop treating a damaged one as the newest. When checkpoints exist but none restores:
    :class:`CheckpointError` listing every failure, with the fix.
    """
    root = pathlib.Path(workdir).absolute() / "checkpoints"
    latest, best = root / LATEST, root / BEST
    primary = jax.process_index() == 0
    if primary:
        _set_aside_unreadable_metrics(best)
    found = {directory: _step_folders(directory) for directory in (latest, best)}
    if not any(found.values()):
        return None
    failures, damaged = [], {latest: [], best: []}
    for directory in (latest, best):
        if not found[directory]:
            continue
        try:
            state, meta = restore(directory, template, damaged=damaged[directory])
        except CheckpointError as err:
            failures += [f"{directory.name} {line}" for line in getattr(err, "failures", [str(err)])]
            continue
        step = int(meta["step"])
        if directory == best:
            why = "every latest checkpoint is damaged" if found[latest] else f"{latest} holds no checkpoint"
            log.warning("%s; resuming from the best checkpoint (step %d)", why, step)
        if primary:
            for folder in (latest, best):
                for other in _step_folders(folder):
                    if other in damaged[folder]:
                        set_aside(folder, other, "damaged")
                    elif other > step:
                        set_aside(folder, other, f"newer than step {step}, where the run resumes")
        return state, meta
    raise CheckpointError(
        f"no checkpoint of {root.parent} could be restored, so the run cannot resume:\n  " + "\n  ".join(failures)
        + f"\nRestore {root} from a backup, or move it away to train this run again from the start."
    )


_TRUNCATED = ("OUT_OF_RANGE", "DATA_LOSS", "Truncated", "truncated", "Unterminated", "JSONDecodeError", "Expecting")
_MISSING = ("NOT_FOUND", "not found", "No such file", "does not exist", "FileNotFoundError")


def describe_damage(err: BaseException) -> str:
    """What is wrong with a checkpoint, in words, from orbax/tensorstore's error chain
    (whose innermost error names the file and how it failed)."""
    if isinstance(err, CheckpointError):
        return str(err)
    chain, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        chain.append(err)
        err = err.__cause__ or err.__context__
    text = " ".join(f"{type(e).__name__}: {e}" for e in chain)
    if any(key in text for key in _MISSING):
        kind = "a file is missing"
    elif any(key in text for key in _TRUNCATED):
        kind = "a file is truncated or corrupt"
    elif "pytree structure" in text or "Expected" in text:
        kind = "its array metadata is missing or corrupt"
    else:
        kind = "unreadable"
    firsts = [(e, str(e).split(" [tensorstore_spec")[0].splitlines()[0] if str(e) else "") for e in chain]
    naming_a_file = [(e, line) for e, line in firsts if "/" in line]  # the innermost names the file
    detail, line = naming_a_file[-1] if naming_a_file else firsts[0]
    return f"{kind}: {type(detail).__name__}: {line}"[:400]


def _check_json_files(step_dir: pathlib.Path) -> None:
    """Name a truncated JSON file of a checkpoint (orbax's own error does not)."""
    for path in sorted([*step_dir.glob("*/metadata"), *step_dir.glob("*/_METADATA")]):
        try:
            json.loads(path.read_bytes())
        except ValueError as err:
            raise CheckpointError(
                f"a file is truncated or corrupt: {path.relative_to(step_dir.parent)} ({type(err).__name__}: {err})"
            ) from None


def _check_restored(restored, abstract) -> None:
    if "meta" not in restored or not isinstance(restored["meta"], dict) or "step" not in restored["meta"]:
        raise CheckpointError("its meta item is missing or unreadable")
    got = jax.tree.map(lambda x: (x.shape, x.dtype), restored["state"])
    want = jax.tree.map(lambda x: (x.shape, x.dtype), abstract)
    if got != want:
        raise CheckpointError("its arrays do not match the model (another config or model version?)")


def _check_digest(state: TrainState, meta: dict) -> None:
    """A changed byte in an array file (bit rot, a bad copy) restores without error from
    the storage layer; the SHA-256 saved in meta catches it. Checkpoints written before
    the checksum existed have none and are not checked."""
    saved = meta.get(STATE_SHA256)
    if saved is not None and replicas.digest(_arrays(state)) != saved:
        raise CheckpointError(
            "its arrays do not match the SHA-256 saved with them (a changed byte: bit rot or a bad copy)"
        )


def latest_step(directory: str | pathlib.Path) -> int | None:
    directory = pathlib.Path(directory).absolute()
    if not directory.is_dir():
        return None
    manager = _manager(directory)
    try:
        return manager.latest_step()
    finally:
        manager.close()
