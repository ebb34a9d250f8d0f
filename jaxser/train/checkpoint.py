"""Orbax checkpoints of a training run: the latest (to resume) and the best (to evaluate).

Layout of a workdir::

    workdir/config.json              the run's config (written once, before training)
    workdir/checkpoints/latest/<step>/  periodic; the newest two kept
    workdir/checkpoints/best/<step>/    best on the validation metric; the best two kept
    workdir/checkpoints/set_aside/      damaged or superseded checkpoints moved out of the way

Each checkpoint holds the state arrays (params, batch stats, optimiser state, step,
RNG) and a JSON ``meta`` item: the data position (epoch, batch in epoch), the early
stopping record, the validation metric and a SHA-256 of the arrays. No pickle anywhere.

The arrays are the state's ``arrays()`` dict: for a TrainState ``{step, params,
batch_stats, opt_state, rng}`` (the layout since the first release), for a MultiState
``{step, rng, nets: {name: {params, batch_stats, opt_state}}, extras}``; ``with_arrays``
puts restored ones back into a template state. ``meta`` also holds a SHA-256 of each
network's parameters and statistics, so :func:`load_network` (one network of another
run, frozen: a front end) checks the part it reads.

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
from collections.abc import Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxser.train import replicas, workdir as workdir_lib
from jaxser.train.state import Checkpointable, NetState

LATEST, BEST = "latest", "best"
STATE_SHA256 = "state_sha256"  # meta key: replicas.digest of the saved arrays
# meta key: {"params": sha, "batch_stats": sha} (one network) or {"nets/<name>/params": ...}:
# replicas.digest of each network's parameters and statistics, so load_network, which
# reads one network and not the rest, can check what it read.
PART_SHA256 = "part_sha256"
NETWORK_PARTS = ("params", "batch_stats")
SET_ASIDE = "set_aside"
KEEP_LATEST, KEEP_BEST = 2, 2
log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was expected; the message names the folder."""


def _network_trees(arrays: dict) -> dict[str, tuple[str, dict]]:
    """``{name: (key prefix, tree holding params and batch_stats)}`` of a checkpoint's
    arrays: one network (name "") for a TrainState, ``nets`` for a MultiState."""
    if "nets" in arrays:
        return {name: (f"nets/{name}/", net) for name, net in arrays["nets"].items()}
    return {"": ("", arrays)}


def _part_digests(arrays: dict) -> dict[str, str]:
    return {
        prefix + part: replicas.digest(tree[part])
        for prefix, tree in _network_trees(arrays).values()
        for part in NETWORK_PARTS
        if part in tree
    }


def _save_args(state: Checkpointable, meta: dict) -> ocp.args.Composite:
    arrays = state.arrays()
    meta = {**meta, STATE_SHA256: replicas.digest(arrays), PART_SHA256: _part_digests(arrays)}
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

    def save_latest(self, state: Checkpointable, meta: dict) -> None:
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

    def save_best(self, state: Checkpointable, meta: dict, score: float) -> None:
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
    directory: str | pathlib.Path,
    template: Checkpointable | Callable[[dict], Checkpointable],
    step: int | None = None,
    *,
    damaged: list | None = None,
) -> tuple[Checkpointable, dict]:
    """The state (shaped and placed like ``template``) and meta of the checkpoint in ``directory``.

    ``directory`` is ``checkpoints/latest`` or ``checkpoints/best``. With ``step=None``
    the newest checkpoint that restores is used: a damaged one (truncated or missing
    files, e.g. a save killed half-way by a full disk) is skipped with a warning naming
    it and what was wrong, and the previous one is tried. If none restores, a
    :class:`CheckpointError` lists each failure: never a silent fresh start. The steps
    skipped are appended to ``damaged`` when a list is given. Reads only: a folder on a
    read-only disk restores. Any state with ``arrays()``/``with_arrays()`` (TrainState,
    MultiState) restores.

    ``template`` may also be a function of the shapes the checkpoint's own metadata
    records (:func:`saved_shapes`, read for each checkpoint tried) returning the state to
    restore into: for a caller with no state at hand, such as prediction, which would
    otherwise trace its model just to learn the shapes. Either way the whole state is
    read and checked against the SHA-256 saved with it.
    """
    shaped_by = template if callable(template) else None

    def attempt(manager, directory, candidate):
        _check_json_files(directory / str(candidate))
        like = shaped_by(saved_shapes(directory / str(candidate))) if shaped_by else template
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like.arrays())
        args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
        restored = manager.restore(candidate, args=args)
        _check_restored(restored, abstract)
        state = like.with_arrays(restored["state"])
        _check_digest(state.arrays(), restored["meta"])
        return state, dict(restored["meta"])

    return _newest_good(directory, step, damaged, attempt)


def saved_shapes(step_dir: str | pathlib.Path) -> dict:
    """The arrays of the checkpoint in ``step_dir`` as ``jax.ShapeDtypeStruct`` leaves,
    from its metadata (no array is read): the tree :func:`restore` gives a template
    function. Dicts as saved; a tuple or NamedTuple of the state (optax's states) comes
    back as a list or dict, so only the dict parts (``params``...) keep their structure.
    """
    state_dir = pathlib.Path(step_dir) / "state"
    if not (state_dir / "_METADATA").is_file():
        raise CheckpointError(f"its array metadata is missing or corrupt: no file {state_dir / '_METADATA'}")
    handler = ocp.PyTreeCheckpointHandler()
    try:
        tree = handler.metadata(state_dir).tree
    finally:
        handler.close()
    if not isinstance(tree, dict):
        raise CheckpointError(f"its array metadata is missing or corrupt: {state_dir / '_METADATA'} holds no tree of arrays")
    return jax.tree.map(lambda m: jax.ShapeDtypeStruct(tuple(m.shape), np.dtype(m.dtype)), tree)


class _Refused(CheckpointError):
    """Not damage but a request that no checkpoint of the folder can meet (a network it
    lacks, other shapes): raised at once instead of trying older checkpoints."""


def _newest_good(directory, step, damaged, attempt):
    """``attempt(manager, directory, step)`` on the newest checkpoint (or ``step``) of
    ``directory``, then on the previous ones while they are damaged; see :func:`restore`."""
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
        for candidate in steps:
            try:
                return attempt(manager, directory, candidate)
            except _Refused:
                raise
            except Exception as err:  # orbax/tensorstore raise many types for damaged files
                reason = describe_damage(err)
                failures.append(f"step {candidate}: {reason}")
                if damaged is not None:
                    damaged.append(candidate)
                log.warning("checkpoint %s/%s is damaged (%s); trying the previous one", directory, candidate, reason)
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


def load_network(
    run_workdir: str | pathlib.Path,
    name: str,
    template_net: NetState,
    *,
    which: str = BEST,
    source_name: str | None = None,
    step: int | None = None,
) -> NetState:
    """One network of another run, frozen: ``template_net`` with that run's parameters
    and BatchNorm statistics, marked frozen (no optimiser state; see NetState.freeze).

    ``run_workdir`` is a run's workdir; its ``checkpoints/<which>`` checkpoint is read
    (the newest that restores, or ``step``; damaged ones are skipped with a warning, as
    in :func:`restore`). From a TrainState run its ``params``/``batch_stats`` are taken;
    from a MultiState run its network ``source_name`` (default ``name``). Only that
    network's arrays are read, and checked against the SHA-256 saved for them
    (checkpoints written before those were saved are read unchecked). A network the run
    lacks, or arrays of other shapes than ``template_net``'s, raise
    :class:`CheckpointError` naming the folder and the fix.
    """
    directory = pathlib.Path(run_workdir).absolute() / "checkpoints" / which
    wanted = {part: getattr(template_net, part) for part in NETWORK_PARTS}

    def attempt(manager, directory, candidate):
        step_dir = directory / str(candidate)
        _check_json_files(step_dir)
        meta = json.loads((step_dir / "meta" / "metadata").read_text())
        handler = ocp.PyTreeCheckpointHandler()
        try:
            saved = handler.metadata(step_dir / "state").tree
            prefix, saved_net = _source_network(saved, name, source_name, directory)
            _check_network_shapes(saved_net, wanted, directory, prefix or "the run's network")
            abstract_net = jax.tree.map(ocp.utils.to_shape_dtype_struct, wanted)
            abstract = _under(prefix, abstract_net)
            args = ocp.args.PyTreeRestore(
                abstract, restore_args=ocp.checkpoint_utils.construct_restore_args(abstract), partial_restore=True
            )
            restored = handler.restore(step_dir / "state", args=args)
        finally:
            handler.close()
        net = _pick(prefix, restored)
        got = jax.tree.map(lambda x: (x.shape, x.dtype), net)
        if got != jax.tree.map(lambda x: (x.shape, x.dtype), abstract_net):
            raise CheckpointError("its arrays do not match the network (a file is truncated or corrupt?)")
        saved_digests = meta.get(PART_SHA256) or {}
        for part in NETWORK_PARTS:
            digest = saved_digests.get(prefix + part)
            if digest is not None and replicas.digest(net[part]) != digest:
                raise CheckpointError(
                    f"its {prefix}{part} do not match the SHA-256 saved with them (a changed byte: bit rot or a bad copy)"
                )
        return template_net.replace(**net).freeze()

    return _newest_good(directory, step, None, attempt)


def _under(prefix: str, tree: dict) -> dict:
    for key in reversed([k for k in prefix.split("/") if k]):
        tree = {key: tree}
    return tree


def _pick(prefix: str, tree: dict) -> dict:
    for key in (k for k in prefix.split("/") if k):
        tree = tree[key]
    return {part: tree[part] for part in NETWORK_PARTS}


def _source_network(saved: dict, name: str, source_name: str | None, directory: pathlib.Path) -> tuple[str, dict]:
    """The key prefix and saved metadata tree of the network to load."""
    if not isinstance(saved, dict) or not (("nets" in saved) or ("params" in saved)):
        raise _Refused(f"the checkpoints in {directory} hold neither one network (params) nor named ones (nets); "
                       "give the workdir of a jaxser training run")
    if "params" in saved:
        if source_name is not None:
            raise _Refused(f"the run in {directory.parent.parent} trained one network, not named ones: "
                           f"load it without source_name={source_name!r}")
        return "", saved
    source = source_name or name
    nets = saved["nets"]
    if source not in nets:
        raise _Refused(f"no network {source!r} in the checkpoints in {directory}; it holds {sorted(nets)}. "
                       "Pass source_name= with the name that run gave it")
    return f"nets/{source}/", nets[source]


def _check_network_shapes(saved_net: dict, wanted: dict, directory: pathlib.Path, what: str) -> None:
    def table(tree):
        return {
            jax.tree_util.keystr(path): (tuple(leaf.shape), str(np.dtype(leaf.dtype)))
            for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
        }

    saved = table({part: saved_net.get(part, {}) for part in NETWORK_PARTS})
    want = table(wanted)
    if saved == want:
        return
    lines = [f"{key}: missing from the checkpoint" for key in want if key not in saved]
    lines += [f"{key}: in the checkpoint, not in the network" for key in saved if key not in want]
    lines += [f"{key}: checkpoint {saved[key][0]} {saved[key][1]}, network {want[key][0]} {want[key][1]}"
              for key in want if key in saved and saved[key] != want[key]]
    shown = "\n  ".join(lines[:8]) + (f"\n  ... and {len(lines) - 8} more" if len(lines) > 8 else "")
    raise _Refused(
        f"{what} in {directory} does not match the network to load it into:\n  {shown}\n"
        f"Build the network with the model settings of that run (its config is {directory.parent.parent / 'config.json'}), "
        "or load another run"
    )


def resume(workdir: str | pathlib.Path, template: Checkpointable) -> tuple[Checkpointable, dict] | None:
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
    elif "tree structures do not match" in text:
        kind = "its arrays do not match the state to restore into (another config, model or set of networks?)"
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


def _check_digest(arrays: dict, meta: dict) -> None:
    """A changed byte in an array file (bit rot, a bad copy) restores without error from
    the storage layer; the SHA-256 saved in meta catches it. Checkpoints written before
    the checksum existed have none and are not checked."""
    saved = meta.get(STATE_SHA256)
    if saved is not None and replicas.digest(arrays) != saved:
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
