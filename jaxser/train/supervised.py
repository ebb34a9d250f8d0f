"""The one supervised trainer: any classifier of :mod:`jaxser.models` on any corpus fold.

    state, summary = Trainer(config, workdir).fit()

Waveform batches come from the tf.data pipeline of the config's fold; features, the
model, the loss and the update run on the device inside one jitted, data-parallel step
(:mod:`jaxser.train.steps` under :class:`~jaxser.train.parallel.DataParallel`). Every
``eval_every_epochs`` the validation speakers (never the test fold) are evaluated;
the best state on ``early_stopping_metric`` is checkpointed and training stops after
``early_stopping_patience`` evaluations without improvement. For slow starters:
evaluations before ``min_epochs`` never count toward patience; ``val_smoothing``
selects and stops on an exponential moving average of the metric (kept in the
record); ``ema_decay`` evaluates an average of the weights (:mod:`jaxser.train.ema`).
A killed run started
again with the same workdir resumes from its latest checkpoint exactly: state, RNG and
data position (epoch, batch) are restored and the pipeline is deterministic.
"""

from __future__ import annotations

import logging
import dataclasses
import functools
import json
import pathlib
import sys
import time
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import sklearn.metrics

from jaxser import config as config_lib
from jaxser import machine
from jaxser import metrics as metrics_lib
from jaxser import augment as augment_lib
from jaxser import losses, systems
from jaxser.data import pipeline, splits
from jaxser.train import checkpoint, data, metric_log, replicas, state as state_lib, steps
from jaxser.train import ema as ema_lib, workdir as workdir_lib
from jaxser.train.network import CLASSES_FILE, build_model  # noqa: F401  (re-exported)
from jaxser.train.parallel import REPLICATED, SHARDED, DataParallel

log = logging.getLogger(__name__)

TRAIN_KEYS = ("audio", "length", "label", "mask")
EVAL_KEYS = ("audio", "length", "label", "mask", "utterance")
RESUMABLE_CHANGES = ("epochs", "progress", "log_every_steps", "checkpoint_every_steps")


class NonFiniteError(FloatingPointError):
    """The loss or gradients turned NaN/Inf; no such update reached the state or a checkpoint."""


class WorkdirError(RuntimeError):
    """A workdir that holds a different run; the message says what to do."""


def write_config(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> None:
    """Save the config beside the checkpoints; refuse a workdir of a different run."""
    path = workdir / "config.json"
    text = config_lib.to_json(config)
    if path.is_file():
        # Through from_json: a field added to jaxser since the run started reads as its
        # default, which is what the run used; only real changes refuse the workdir.
        old = json.loads(config_lib.to_json(config_lib.from_json(path.read_text())))
        new = json.loads(text)
        for run in (old, new):  # may change between a run and its resumption
            for key in RESUMABLE_CHANGES:
                run.get("train", {}).pop(key, None)
        if old != new:
            raise WorkdirError(
                f"{workdir} holds a run with a different config ({path}); use a new --workdir, or delete it "
                "to start over (only train.epochs may change when resuming)"
            )
    if jax.process_index() == 0:
        workdir.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@dataclasses.dataclass
class EvalResult:
    """One evaluation: per-utterance probabilities and labels, and the metrics dict."""

    ids: tuple[str, ...]  # the utterances, in corpus order (the order of the rows below)
    probs: np.ndarray  # [U, K] mean class probabilities per utterance
    labels: np.ndarray  # [U]
    metrics: dict  # metrics.summarize(...) plus "loss" and "utterances"


class Trainer:
    """``initial_state`` and ``loss`` are for system kinds whose stages continue from an
    earlier stage (a retraining stage starts from the first stage's state, with its own
    loss); by default the kind builds the state and the config names the loss."""

    def __init__(
        self,
        config: ml_collections.ConfigDict,
        workdir: str | pathlib.Path,
        *,
        corpus=None,
        fold=None,
        initial_state=None,
        loss: steps.LossSpec | None = None,
    ):
        config_lib.validate(config, num_devices=jax.device_count())  # before anything loads or compiles
        self.config = config
        self.workdir = pathlib.Path(workdir)
        self.kind = systems.get(config)  # its per-device functions: build_state, train_step, eval_step
        # A corpus given is the one to train on; else the kind's, made ready for the fold.
        loaded = self.kind.load_data(config) if corpus is None else corpus
        self.fold = data.fold(config, loaded.meta) if fold is None else fold
        if corpus is None and self.kind.fold_corpus is not None:
            loaded = self.kind.fold_corpus(loaded, self.fold, config)
        self.corpus = loaded
        self.class_names = self.corpus.class_names
        self.num_classes = len(self.class_names)
        self.train_keys = TRAIN_KEYS + tuple(self.kind.batch_keys)
        self.dp = DataParallel(mode=config.parallel.mode)
        self.dp.check_batch_size(config.train.global_batch_size)
        self.pipeline_config = dataclasses.replace(data.pipeline_config(config), extra_keys=tuple(self.kind.batch_keys))
        self.steps_per_epoch = len(self.fold.train_ids) // config.train.global_batch_size
        if self.steps_per_epoch == 0:
            raise pipeline.PipelineError(
                f"fold {self.fold.name} has {len(self.fold.train_ids)} training examples, fewer than "
                f"train.global_batch_size={config.train.global_batch_size}; lower the batch size"
            )
        self.total_steps = self.steps_per_epoch * config.train.epochs
        if initial_state is None:
            initial_state = self.kind.build_state(config, self.num_classes, self.total_steps, self.corpus)
        self.initial_state = initial_state
        self._loss = loss
        self.augment = augment_lib.AugmentConfig.of_experiment(config)
        self.eval_snr_db = tuple(float(v) for v in config.augment.eval_snr_db)
        self.train_noise, self.test_noise = self._noise_banks()
        step = functools.partial(self.kind.train_step, loss=self.loss_spec(), augment=self.augment)
        self.train_fn = self.dp.compile(
            step, (REPLICATED, SHARDED, REPLICATED), (REPLICATED, REPLICATED), donate_argnums=(0,)
        )
        self._eval_fns = {}

    def _noise_banks(self):
        """(training bank, evaluation bank) of disjoint noise types, replicated on the
        devices; None where nothing needs noise. An unused bank is never loaded."""
        cfg = self.config.augment
        if not (self.augment.noise_enabled or self.eval_snr_db):
            return None, None
        from jaxser.data import noise

        corpus = noise.NoiseCorpus.load(cfg.noise_dir or None, sample_rate=self.config.data.sample_rate)
        train, test = corpus.split(tuple(cfg.test_noise_types))
        place = lambda part: self.dp.replicate(part.bank())  # noqa: E731
        return (place(train) if self.augment.noise_enabled else None), (place(test) if self.eval_snr_db else None)

    def loss_spec(self) -> steps.LossSpec:
        """The config's loss (or the one given), with class tables from this fold's training labels only."""
        if self._loss is not None:
            return self._loss
        cfg = self.config.loss
        train = set(self.fold.train_ids)
        labels = np.asarray([l for i, l in zip(self.corpus.meta["id"].tolist(), self.corpus.meta["label"].tolist()) if i in train])
        weights = None
        if cfg.class_weights == "balanced":
            weights = tuple(float(w) for w in losses.balanced_class_weights(labels, self.num_classes))
        return steps.LossSpec(name=cfg.name, focal_gamma=float(cfg.focal_gamma), class_weights=weights)

    # -- evaluation ----------------------------------------------------------------

    def _eval_fn(self, num_utterances: int):
        if num_utterances not in self._eval_fns:
            fn = functools.partial(self.kind.eval_step, num_utterances=num_utterances, eval_snr_db=self.eval_snr_db)
            self._eval_fns[num_utterances] = self.dp.compile(fn, (REPLICATED, SHARDED, REPLICATED), REPLICATED)
        return self._eval_fns[num_utterances]

    def evaluate(self, state, ids: Iterable[str]) -> EvalResult:
        """Evaluate ``state`` on the examples ``ids`` (every one exactly once, any process count);
        a state with weight averages (``train.ema_decay``) is evaluated with the averages."""
        state = ema_lib.for_eval(state)
        wanted = set(ids)
        ids = tuple(i for i in self.corpus.meta["id"].tolist() if i in wanted)  # the dataset's order
        if len(ids) != len(wanted):
            raise splits.SplitError(f"{len(wanted) - len(ids)} of the ids to evaluate are not in the corpus")
        if not ids:
            raise splits.SplitError("nothing to evaluate: the id list is empty")
        dataset = pipeline.eval_dataset(splits.select(self.corpus.dataset, ids), self.pipeline_config)
        fn = self._eval_fn(len(ids))
        state = self.dp.replicate(state)
        totals = None
        for batch in dataset.as_numpy_iterator():
            rows = {k: batch[k] for k in EVAL_KEYS}
            if self.eval_snr_db:  # each utterance's noise is drawn from its id, on the device
                rows["seed"] = augment_lib.utterance_seeds([i.decode() if isinstance(i, bytes) else str(i) for i in batch["id"]])
            out = fn(state, self.dp.shard(rows), self.test_noise)
            totals = out if totals is None else jax.tree.map(jnp.add, totals, out)
        totals = jax.device_get(totals)
        rows = np.asarray(totals["rows"])
        if np.any(rows == 0):
            raise RuntimeError(f"{int(np.sum(rows == 0))} utterances got no evaluation rows; this is a bug")
        probs = np.asarray(totals["probs"]) / rows[:, None]
        labels = np.argmax(np.asarray(totals["labels"]), axis=-1)
        predictions = np.argmax(probs, axis=-1)
        confusion = sklearn.metrics.confusion_matrix(labels, predictions, labels=range(self.num_classes))
        summary = metrics_lib.summarize(confusion, self.class_names)
        true_prob = np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)
        summary["loss"] = float(-np.mean(np.log(true_prob)))
        summary["utterances"] = len(ids)
        return EvalResult(ids, probs, labels, summary)

    # -- training ------------------------------------------------------------------

    def _train_batches(self, start_epoch: int, skip: int):
        dataset = pipeline.train_dataset(
            splits.select(self.corpus.dataset, self.fold.train_ids), self.pipeline_config, start_epoch=start_epoch
        )
        return dataset.skip(skip).as_numpy_iterator()

    def _score(self, result: EvalResult) -> float:
        metric = self.config.train.early_stopping_metric
        return -result.metrics["loss"] if metric == "loss" else result.metrics[metric]

    def fit(self) -> tuple[state_lib.TrainState, dict]:
        """Train (or resume) to the end or early stop; holds the workdir's lock meanwhile."""
        with workdir_lib.reporting_write_errors(self.workdir, note=lambda: checkpoint.kept(self.workdir)):
            with workdir_lib.locked(self.workdir):
                return self._fit()

    def _resume_point(self) -> tuple[state_lib.TrainState, dict] | None:
        """The state to resume from: the newest good `latest` checkpoint, else the `best`
        one (same contents: state, RNG, data position), else None for a fresh run; see
        :func:`checkpoint.resume`. Never a silent fresh start over an earlier run: a
        workdir whose run finished (its results are there) but whose checkpoints are gone
        is refused; one killed before its first checkpoint starts over with a warning
        (its files are kept: metrics.jsonl is appended to)."""
        found = checkpoint.resume(self.workdir, self.initial_state)
        if found is None and jax.process_index() == 0:
            results = [name for name in ("train_summary.json", "eval.json") if (self.workdir / name).is_file()]
            if results:
                raise WorkdirError(
                    f"{self.workdir} holds a finished run ({', '.join(results)}) but no checkpoint in "
                    f"{self.workdir / 'checkpoints'}: training again would overwrite its results. Use a new "
                    "--workdir, or delete the old run's files to train it again from the start"
                )
            if (self.workdir / "metrics.jsonl").is_file():
                log.warning("%s holds no checkpoint of its earlier run (stopped before the first one); training "
                            "from step 0 (the earlier records stay in metrics.jsonl)", self.workdir)
        return found

    def _fit(self) -> tuple[state_lib.TrainState, dict]:
        cfg = self.config.train
        self.workdir.mkdir(parents=True, exist_ok=True)
        write_config(self.config, self.workdir)
        if jax.process_index() == 0:
            classes = {"class_names": list(self.class_names), "corpus": self.config.data.name, "fold": self.fold.name}
            (self.workdir / CLASSES_FILE).write_text(json.dumps(classes, indent=1))
        meta = self._resume_point()  # first: it may move damaged checkpoints aside
        if jax.process_count() > 1:  # process 0 has moved them before any process opens the folder
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("jaxser: checkpoints ready to open")
        ckpts = checkpoint.Checkpoints(self.workdir)
        writer = metric_log.MetricWriter(self.workdir)
        state, record = self.initial_state, {"best_score": None, "best_step": None, "bad_evals": 0, "stopped": False}
        if meta is not None:
            state, meta = meta
            if meta["steps_per_epoch"] != self.steps_per_epoch:
                raise WorkdirError(f"{self.workdir}: the checkpoint was written with another batch size or fold")
            record = meta["record"]
        start = int(jax.device_get(state.step))
        has_val = bool(self.fold.val_ids)
        eval_every = cfg.eval_every_epochs * self.steps_per_epoch
        state = self.dp.replicate(state)
        progress = _progress(self.total_steps, start, enabled=cfg.progress and jax.process_index() == 0)
        batches = self._train_batches(start // self.steps_per_epoch, start % self.steps_per_epoch)
        sums, t0, step, steps_since_log = None, time.perf_counter(), start, 0
        started = time.perf_counter()
        try:
            while step < self.total_steps and not record["stopped"]:
                batch = next(batches)
                state, out = self.train_fn(state, self.dp.shard({k: batch[k] for k in self.train_keys}), self.train_noise)
                sums = out if sums is None else jax.tree.map(jnp.add, sums, out)
                step += 1
                steps_since_log += 1
                progress.update(1)
                due_eval = has_val and step % eval_every == 0
                # Every evaluation also saves `latest`, so a run killed after a `best` save
                # resumes from there instead of starting over.
                due_save = step % cfg.checkpoint_every_steps == 0 or step == self.total_steps or due_eval
                if step % cfg.log_every_steps == 0 or due_eval or due_save:
                    sums = jax.device_get(sums)
                    record["nonfinite_steps"] = record.get("nonfinite_steps", 0) + int(sums["nonfinite"])
                    if sums["nonfinite"] and cfg.on_nonfinite == "stop":
                        ckpts.wait()  # saves in flight land before we name them
                        raise NonFiniteError(
                            f"{self.workdir}: non-finite loss or gradients at {int(sums['nonfinite'])} step(s) up to "
                            f"step {step}; those updates were dropped. Last good checkpoints: latest at step "
                            f"{ckpts.latest.latest_step()}, best at step {ckpts.best.latest_step()} (in {ckpts.root}). "
                            "Lower train.learning_rate, set train.grad_clip_norm, or set train.on_nonfinite=skip"
                        )
                    values = _train_values(sums)
                    values["steps_per_s"] = steps_since_log / max(time.perf_counter() - t0, 1e-9)
                    values["nonfinite_steps"] = int(sums["nonfinite"])
                    writer.write(step, "train", values, epoch=step / self.steps_per_epoch)
                    progress.set_postfix(loss=f"{values['loss']:.3f}", acc=f"{values['accuracy']:.2f}")
                    sums, t0, steps_since_log = None, time.perf_counter(), 0
                if due_eval:
                    record = self._validate(state, step, record, ckpts, writer)
                if due_save or record["stopped"]:
                    ckpts.save_latest(state, self._meta(step, record))
            # No validation speakers: the last state is the one to evaluate. A finished run
            # started again trains nothing and has saved it already (saving a step twice fails).
            if not has_val and (step > start or ckpts.best.latest_step() is None):
                ckpts.save_best(state, self._meta(step, record), score=0.0)
            ckpts.save_latest(state, self._meta(step, record))
        finally:  # also on errors: finish saves in flight (raising if one failed), flush logs
            progress.close()
            try:
                writer.close()
            finally:
                ckpts.finish()
        digest = replicas.check_identical(state)  # every process holds the same state
        summary = {
            "fold": self.fold.name,
            "steps": step,
            "epochs": step / self.steps_per_epoch,
            "train_seconds_this_run": time.perf_counter() - started,
            "early_stopped": record["stopped"],
            "best_step": record["best_step"],
            "best_val_score": record["best_score"],
            "early_stopping_metric": cfg.early_stopping_metric,
            "nonfinite_steps_skipped": record.get("nonfinite_steps", 0),
            "processes": jax.process_count(),
            "devices": self.dp.num_devices,
            "state_digest": digest,
            "machine": machine.describe(),  # another CPU rounds differently (see jaxser/machine.py)
        }
        if jax.process_index() == 0:
            (self.workdir / "train_summary.json").write_text(json.dumps(summary, indent=1))
        return state, summary

    def _meta(self, step: int, record: dict) -> dict:
        return {
            "step": step,
            "epoch": step // self.steps_per_epoch,
            "batch_in_epoch": step % self.steps_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "record": record,
            "fold": self.fold.name,
            "class_names": list(self.class_names),
        }

    def _validate(self, state, step, record, ckpts, writer) -> dict:
        cfg = self.config.train
        result = self.evaluate(state, self.fold.val_ids)
        m = result.metrics
        values = {"loss": m["loss"], "wa": m["wa"], "ua": m["ua"]}
        score = self._score(result)
        record = dict(record)
        if cfg.val_smoothing:  # select and stop on an EMA of the score, kept in the record (exact resume)
            values["score"] = score
            previous = record.get("smoothed_score")
            score = score if previous is None else cfg.val_smoothing * previous + (1.0 - cfg.val_smoothing) * score
            record["smoothed_score"] = values["smoothed_score"] = score
        writer.write(step, "val", values, epoch=step / self.steps_per_epoch)
        if record["best_score"] is None or score > record["best_score"]:
            record.update(best_score=score, best_step=step, bad_evals=0)
            ckpts.save_best(state, self._meta(step, record), score)
        elif step >= cfg.min_epochs * self.steps_per_epoch:  # before min_epochs: never counts toward patience
            record["bad_evals"] += 1
            patience = cfg.early_stopping_patience
            if patience and record["bad_evals"] >= patience:
                record["stopped"] = True
        return record


def _train_values(sums: dict) -> dict:
    """Mean loss and accuracy since the last log, from a step's summed metrics: ``loss_sum``,
    ``correct`` and ``count``, and the same under a ``<network>/`` prefix for each network
    of a several-network step (logged as ``<network>/loss``, ``<network>/accuracy``)."""
    values = {}
    for key in sums:
        if key.endswith("loss_sum"):
            prefix = key[: -len("loss_sum")]
            count = max(float(sums[prefix + "count"]), 1.0)
            values[prefix + "loss"] = float(sums[key]) / count
            values[prefix + "accuracy"] = float(sums[prefix + "correct"]) / count
    return values


def _progress(total: int, initial: int, *, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, file=sys.stderr, unit="step", dynamic_ncols=True)
