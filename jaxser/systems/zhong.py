"""The zhong kind: two networks trained independently on two inputs, hard-example
retraining, SVM fusion (Zhong, Yu & Zhang 2020, IEEE Access 8:222533).

    config.kind = "zhong"
    config.model.name = "zhong2020_independent"   # or "zhong2020_fused", the baseline
    config.model.kwargs.acln = {...}; config.model.kwargs.fcn = {...}   # field overrides
    config.hard_examples.retrain = True          # the paper's HE system

**Inputs.** Waveforms (the ACLN computes its MFCC on the device) and the openSMILE
functionals (IS09, 384) of the cached feature corpus, z-scored on each fold's training
part. Every example carries its corpus ``row`` and its ``functionals`` through the
tf.data pipeline (the kind's batch keys), so the trainer's loop is the supervised one.

**Stages of a fold** (each in ``fold-NN/<stage>/``, resumable):

1. ``train``: :class:`jaxser.train.supervised.Trainer` with a
   :class:`~jaxser.train.state.MultiState` of two networks, ``acln`` and ``fcn`` (or one,
   ``fused``), each with its own optimiser and softmax loss. One jitted, data-parallel
   step updates both; each network is differentiated in its own loss only, so no
   gradient crosses between them. The step also counts, per corpus row and network,
   the epochs an example was trained on and misclassified (``extras["counts"]``,
   checkpointed: a resumed run continues the same counts). At the end the hard index
   of every example and network comes from one jitted ``vmap`` call
   (:func:`jaxser.hard_examples.hard_index`), saved in ``train/hard_examples.npz``.
2. ``retrain`` (``hard_examples.retrain``): from the first stage's final state, each
   network retrains on ITS hard examples only (h_i >= beta) with the HE loss
   -h_i (1 - alpha_y) log p_y (alpha: the class shares of the fold's training part).
   Batches come from the union of the networks' hard sets; each network's loss is the
   mean over the rows that are hard for it (the others pass through its BatchNorm
   statistics but weigh 0 in its loss).
3. ``fuse``: the learned features (ACLN's ALF + FCN's ELF, or the fused network's
   concatenation) of the training part, standardised, classified by a linear SVM
   (scikit-learn), saved as plain arrays in ``fuse/svm.npz``.

Evaluation scores the SVM on the test part (``eval.json``) and records each network's
own softmax (and, for two networks, the mean of their probabilities) under
``"softmax"``: the "without SVM fusion" rows of the comparison.

The paper trains a fixed number of epochs with no validation data, so the kind refuses
validation splits: the last state of each stage is the one used.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import pathlib

import numpy as np

from jaxser import config as config_lib
from jaxser.systems.kind import Kind
from jaxser.systems import stages as stages_lib
from jaxser.systems.stages import Stage, StageContext

# model.name -> the networks of the state, by name
MODES = {"zhong2020_independent": ("acln", "fcn"), "zhong2020_fused": ("fused",)}
# Each network's positional inputs, by batch key.
INPUTS = {"acln": ("audio", "length"), "fcn": ("functionals",), "fused": ("audio", "length", "functionals")}
BATCH_KEYS = ("row", "functionals")
TRAIN, RETRAIN, FUSE = "train", "retrain", "fuse"
HARD_FILE = "hard_examples.npz"
SVM_FILE = "svm.npz"


# -- config -------------------------------------------------------------------------


def _model_kwargs(config) -> dict[str, dict]:
    kwargs = config.model.kwargs.to_dict()
    return {"acln": dict(kwargs.get("acln") or {}), "fcn": dict(kwargs.get("fcn") or {})}


def validate(config) -> None:
    from jaxser import losses
    from jaxser.models import zhong as zm

    def require(ok, message):
        if not ok:
            raise config_lib.ConfigError(message)

    name = config.model.name
    require(name in MODES, f"model.name={name!r} is not a network layout of kind 'zhong'; known: {', '.join(MODES)}")
    for key in config.model.kwargs.keys():
        require(key in ("acln", "fcn"), f"model.kwargs.{key}: kind 'zhong' takes model.kwargs.acln and "
                                        "model.kwargs.fcn (field overrides of each network)")
    for branch, cls in (("acln", zm.ACLN), ("fcn", zm.FCN)):
        fields = {f.name for f in dataclasses.fields(cls)} - set(config_lib.SET_BY_TRAINER) - {"head"}
        for key in _model_kwargs(config)[branch]:
            require(key in fields, f"model.kwargs.{branch}.{key} is not a field of {cls.__name__}; its fields are "
                                   f"{', '.join(sorted(fields))}")
    require(config.features.source == "opensmile",
            "kind='zhong' feeds the FCN openSMILE functionals: set features.source='opensmile' (and "
            f"features.opensmile_set, IS09 in the paper); now {config.features.source!r}")
    s = config.split
    require(not s.val_speakers and not s.val_fraction,
            "kind='zhong' trains a fixed number of epochs without validation data, as the paper does: set "
            "split.val_speakers=0 and split.val_fraction=0")
    a = config.augment
    require(not a.noise_snr_db and not a.shift_seconds and not a.eval_snr_db,
            "kind='zhong' does not augment (the functionals are of the clean audio): leave augment.noise_snr_db, "
            "augment.shift_seconds and augment.eval_snr_db empty")
    require(not config.train.ema_decay, "kind='zhong' keeps no weight averages: set train.ema_decay=0")
    h = config.hard_examples
    require(0.0 <= h.beta < 1.0, f"hard_examples.beta={h.beta} must lie in [0, 1) (Zhong et al. 2020, Eq. 1)")
    require(h.retrain_from_epoch >= 1 and h.retrain_epochs >= 1,
            "hard_examples.retrain_from_epoch and hard_examples.retrain_epochs must be >= 1")
    require(h.loss in losses.CLASSIFICATION,
            f"hard_examples.loss={h.loss!r} must be one of {', '.join(losses.CLASSIFICATION)}")
    require(config.fusion.C > 0 and config.fusion.max_iter >= 1, "fusion.C must be > 0 and fusion.max_iter >= 1")


# -- data ---------------------------------------------------------------------------


@dataclasses.dataclass
class ZhongData:
    """The audio corpus and its functionals (same ids, metadata order)."""

    audio: object  # jaxser.train.data.Corpus
    functionals: object  # jaxser.data.feature_corpus.FeatureCorpus

    @property
    def meta(self):
        return self.audio.meta

    @property
    def class_names(self):
        return self.audio.class_names


def load_data(config) -> ZhongData:
    from jaxser.data import feature_corpus
    from jaxser.train import data

    audio = data.load_corpus(config)
    functionals = feature_corpus.load_feature_corpus(
        audio, config.features.opensmile_set, name=feature_corpus.corpus_name(config),
        cache_dir=config.features.cache_dir or None, progress=config.train.progress,
    )
    return ZhongData(audio, functionals)


def fold_corpus(data: ZhongData, fold, config):
    """The audio corpus whose examples also carry ``row`` (their corpus row) and
    ``functionals`` normalised with statistics of ``fold``'s training part only."""
    from jaxser.data import feature_corpus
    from jaxser.data.tf_setup import tensorflow
    from jaxser.train.data import Corpus

    tf = tensorflow()
    fc = data.functionals
    normalizer = feature_corpus.fit_normalizer(
        fc, fold, config.features.normalize, drop_constant=config.features.drop_constant
    )
    table = tf.constant(normalizer.transform(fc.X, fc.speakers).astype(np.float32))
    rows = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(list(fc.ids)), tf.range(len(fc.ids), dtype=tf.int32)), -1
    )

    def add(example):
        row = rows.lookup(example["id"])
        return {**example, "row": row, "functionals": tf.gather(table, row)}

    return Corpus(data.audio.dataset.map(add), data.audio.meta, data.audio.class_names)


# -- state and steps ----------------------------------------------------------------


def networks(config, num_classes: int, *, bn_axis_name: str | None):
    """``{name: module}`` of the config's layout (:data:`MODES`)."""
    from jaxser.models import zhong as zm

    kw = _model_kwargs(config)
    if config.model.name == "zhong2020_fused":
        items = lambda d: tuple(sorted(d.items()))  # noqa: E731  (hashable module fields)
        return {"fused": zm.FusedACLNFCN(num_classes, bn_axis_name, acln=items(kw["acln"]), fcn=items(kw["fcn"]))}
    return {"acln": zm.ACLN(num_classes, bn_axis_name, **kw["acln"]), "fcn": zm.FCN(num_classes, bn_axis_name, **kw["fcn"])}


def build_state(config, num_classes: int, total_steps: int, corpus):
    """The kind's initial state for ``corpus`` (a :func:`fold_corpus`): see :func:`initial_state`."""
    dim = int(corpus.dataset.element_spec["functionals"].shape[-1])
    return initial_state(config, num_classes, total_steps, num_rows=len(corpus.meta["id"]), functionals_dim=dim)


def initial_state(config, num_classes: int, total_steps: int, *, num_rows: int, functionals_dim: int):
    """A MultiState of the layout's networks (one optimiser each) with zeroed hard-example
    counters for ``num_rows`` corpus rows."""
    import jax.numpy as jnp

    from jaxser import hard_examples
    from jaxser.train import data, state as state_lib
    from jaxser.train.parallel import AXIS

    tx = state_lib.optimizer(config.train, total_steps)
    samples = data.pipeline_config(config).clip_samples
    example = {
        "audio": jnp.zeros((1, samples), jnp.float32),
        "length": jnp.full((1,), samples, jnp.int32),
        "functionals": jnp.zeros((1, functionals_dim), jnp.float32),
    }
    nets = networks(config, num_classes, bn_axis_name=AXIS)
    specs = [
        state_lib.NetSpec(name, model, tx, tuple(example[k] for k in INPUTS[name]), kwargs={"train": False})
        for name, model in nets.items()
    ]
    counts = {name: hard_examples.zero_counts(num_rows) for name in nets}
    return state_lib.create_multi(specs, config.train.seed, extras={"counts": counts})


def train_step(state, batch: dict, noise_bank=None, *, loss, augment=None):
    """One update of every network on the global batch, each in its own loss.

    First stage (``extras["counts"]``): the loss of every real row; the rows' outcomes
    are added to the hard-example counters. Retraining (``extras["hard"]``): each
    network's loss is the mean over the rows hard for it, with ``hardness`` h_i.
    Gradients, statistics and metrics are per-device sums ``psum``-ed over the data axis;
    a non-finite loss or gradient in any network drops the whole update.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    from jaxser import hard_examples
    from jaxser.train import steps
    from jaxser.train.parallel import AXIS

    key = steps.step_key(state)
    mask = batch["mask"]
    retraining = "hard" in state.extras
    counts = dict(state.extras["counts"]) if "counts" in state.extras else None
    grads, stats, finite, metrics = {}, {}, [], {}
    for i, (name, net) in enumerate(state.nets.items()):
        weight, rows = mask, batch
        if retraining:
            weight = mask * state.extras["hard"][name][batch["row"]]
            rows = {**batch, "hardness": state.extras["hardness"][name][batch["row"]]}
        count = lax.psum(jnp.sum(weight), AXIS)
        args = tuple(batch[k] for k in INPUTS[name])

        def loss_fn(params, net=net, args=args, rows=rows, weight=weight, count=count, i=i):
            logits, updates = net.model.apply(
                net.variables(params), *args, train=True, mutable=["batch_stats"],
                rngs={"dropout": jax.random.fold_in(key, i)},
            )
            per_example = loss.per_example(logits, rows)
            return jnp.sum(per_example * weight) / jnp.maximum(count, 1.0), (logits, updates)

        (value, (logits, updates)), g = jax.value_and_grad(loss_fn, has_aux=True)(net.params)
        grads[name] = lax.psum(g, AXIS)
        value = lax.psum(value, AXIS)
        stats[name] = updates.get("batch_stats", net.batch_stats)
        finite.append(jnp.isfinite(value) & steps._all_finite(grads[name]) & steps._all_finite(stats[name]))
        metrics[f"{name}/loss_sum"] = value * count
        metrics[f"{name}/correct"] = lax.psum(jnp.sum((jnp.argmax(logits, -1) == batch["label"]) * weight), AXIS)
        metrics[f"{name}/count"] = count
        if counts is not None:
            counts[name] = hard_examples.update_counts(
                counts[name], batch["row"], logits, batch["label"], mask, axis_name=AXIS
            )
    ok = jnp.all(jnp.stack(finite))
    updated = state.apply_gradients(grads, stats)
    # A network with no row of its own in this batch (retraining: none hard for it) is
    # left as it is; Adam's moments would otherwise move it on a zero gradient.
    updated = updated.replace(nets={
        name: jax.tree.map(lambda new, old, c=metrics[f"{name}/count"]: jnp.where(c > 0, new, old), net, state.nets[name])
        for name, net in updated.nets.items()
    })
    if counts is not None:
        updated = updated.replace_extras(counts=counts)
    new_state = jax.tree.map(lambda new, old: jnp.where(ok, new, old), updated, state.replace(step=updated.step))
    names = list(state.nets)
    for part in ("loss_sum", "correct", "count"):  # all networks pooled: the trainer's loss/accuracy
        metrics[part] = sum(metrics[f"{n}/{part}"] for n in names)
    metrics = {k: jnp.where(ok, v, jnp.zeros_like(v)) for k, v in metrics.items()}
    metrics["nonfinite"] = 1 - ok.astype(jnp.int32)
    return new_state, metrics


def features_step(state, batch: dict, *, num_utterances: int) -> dict:
    """Per-utterance sums (over an utterance's rows) of the learned features (every
    network's, concatenated), of each network's class probabilities and of the label
    one-hots, and the row counts; ``psum``-ed over the data axis."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    from jaxser.train.parallel import AXIS

    weight = batch["mask"]
    utterance = jnp.where(weight > 0, batch["utterance"], num_utterances)  # padding -> dropped segment

    def total(values):
        values = values.astype(jnp.float32) * weight[:, None]
        return jax.ops.segment_sum(values, utterance, num_segments=num_utterances)

    learned = []
    out = {}
    for name, net in state.nets.items():
        logits, features = net.model.apply(net.variables(), *(batch[k] for k in INPUTS[name]), train=False, features=True)
        out[f"probs/{name}"] = total(jax.nn.softmax(logits.astype(jnp.float32), axis=-1))
        learned.append(features)
        num_classes = logits.shape[-1]
    out["features"] = total(jnp.concatenate(learned, axis=-1))
    out["labels"] = total(jax.nn.one_hot(batch["label"], num_classes))
    out["rows"] = jax.ops.segment_sum(weight, utterance, num_segments=num_utterances)
    return lax.psum(out, AXIS)


@dataclasses.dataclass
class Extracted:
    ids: tuple[str, ...]  # corpus order
    features: np.ndarray  # [U, F] mean over each utterance's rows
    probs: dict[str, np.ndarray]  # network -> [U, K]
    labels: np.ndarray  # [U]


def extract(config, corpus, state, ids) -> Extracted:
    """Learned features and softmax outputs of ``state``'s networks for the examples ``ids``
    (every one once, on all devices, any process count)."""
    import jax

    from jaxser.data import pipeline, splits
    from jaxser.train import data
    from jaxser.train.parallel import REPLICATED, SHARDED, DataParallel

    wanted = set(ids)
    ids = tuple(i for i in corpus.meta["id"].tolist() if i in wanted)
    if len(ids) != len(wanted) or not ids:
        raise splits.SplitError(f"{len(wanted) - len(ids)} of the {len(wanted)} ids to extract are not in the corpus")
    dp = DataParallel(mode=config.parallel.mode)
    pc = dataclasses.replace(data.pipeline_config(config), extra_keys=BATCH_KEYS)
    fn = dp.compile(functools.partial(features_step, num_utterances=len(ids)), (REPLICATED, SHARDED), REPLICATED)
    keys = ("audio", "length", "label", "mask", "utterance", *BATCH_KEYS)
    placed = dp.replicate(state)
    totals = None
    for batch in pipeline.eval_dataset(splits.select(corpus.dataset, ids), pc).as_numpy_iterator():
        out = fn(placed, dp.shard({k: batch[k] for k in keys}))
        totals = out if totals is None else jax.tree.map(lambda a, b: a + b, totals, out)
    totals = jax.device_get(totals)
    rows = np.asarray(totals["rows"])[:, None]
    if np.any(rows == 0):
        raise RuntimeError(f"{int(np.sum(rows == 0))} utterances got no rows; this is a bug")
    probs = {k.split("/", 1)[1]: np.asarray(v) / rows for k, v in totals.items() if k.startswith("probs/")}
    return Extracted(ids, np.asarray(totals["features"]) / rows, probs, np.argmax(np.asarray(totals["labels"]), -1))


# -- stages -------------------------------------------------------------------------


def _stage_config(config, *, epochs: int, batch_size: int | None = None):
    c = copy.deepcopy(config)
    c.train.epochs = int(epochs)
    if batch_size:
        c.train.global_batch_size = int(batch_size)
    return c


def _first_stage_config(config):
    h = config.hard_examples
    return _stage_config(config, epochs=h.retrain_from_epoch if h.retrain else config.train.epochs)


def _template(config, corpus, fold, num_classes: int):
    """The first stage's initial state: the shapes a checkpoint of it is restored into."""
    c = _first_stage_config(config)
    steps_per_epoch = max(len(fold.train_ids) // c.train.global_batch_size, 1)
    return build_state(c, num_classes, steps_per_epoch * c.train.epochs, corpus)


def _retrain_extras(h: np.ndarray, hard: np.ndarray, names) -> dict:
    return {
        "hardness": {n: np.asarray(h[i], np.float32) for i, n in enumerate(names)},
        "hard": {n: np.asarray(hard[i], np.float32) for i, n in enumerate(names)},
    }


def _train(ctx: StageContext) -> dict:
    from jaxser.train import supervised

    corpus = fold_corpus(ctx.corpus, ctx.fold, ctx.config)
    trainer = supervised.Trainer(_first_stage_config(ctx.config), ctx.directory, corpus=corpus, fold=ctx.fold)
    state, summary = trainer.fit()
    summary["hard_examples"] = mine(state, ctx.config, ctx.fold, corpus, ctx.directory / HARD_FILE)
    return summary


def mine(state, config, fold, corpus, path: pathlib.Path) -> dict:
    """The hard index of every example and network from the state's counters (one jitted
    ``vmap`` call), saved to ``path``; returns how many training examples are hard."""
    import jax

    from jaxser import hard_examples

    counts = jax.device_get(state.extras["counts"])
    names = list(counts)
    seen = np.stack([np.asarray(counts[n]["seen"]) for n in names])
    missed = np.stack([np.asarray(counts[n]["missed"]) for n in names])
    h = np.asarray(hard_examples.hard_index(seen, missed))
    hard = np.array(hard_examples.hard_mask(h, config.hard_examples.beta))  # writable copy
    ids = np.asarray(corpus.meta["id"]).astype(str)
    train = np.isin(ids, np.asarray(fold.train_ids))
    hard &= train[None, :]
    stages_lib.save_arrays(
        path, dict(networks=np.asarray(names), ids=ids, seen=seen, missed=missed, h=h, hard=hard, train=train)
    )
    labels = np.asarray(corpus.meta["label"]).astype(int)
    summary = {"beta": config.hard_examples.beta, "train_examples": int(train.sum())}
    for i, name in enumerate(names):
        summary[name] = {
            "hard": int(hard[i].sum()),
            "hard_share": float(hard[i].sum() / max(train.sum(), 1)),
            "hard_per_class": {
                c: int(np.sum(hard[i] & (labels == k))) for k, c in enumerate(corpus.class_names)
            },
            "never_missed": int(np.sum(train & (missed[i] == 0))),
            "always_missed": int(np.sum(train & (missed[i] >= seen[i]) & (seen[i] > 0))),
        }
    return summary


def _load_hard(directory: pathlib.Path) -> dict[str, np.ndarray]:
    return stages_lib.load_arrays(directory / HARD_FILE, fix=f"delete {directory} to train the first stage again")


def _retrain_plan(config, fold, num_devices: int, hard_file: dict):
    """(the retraining fold: the union of the networks' hard examples, its batch size)."""
    train = set(fold.train_ids)
    union = set(hard_file["ids"][np.any(hard_file["hard"], axis=0)].tolist()) & train
    hard_ids = tuple(i for i in fold.train_ids if i in union)
    batch = min(config.train.global_batch_size, (len(hard_ids) // num_devices) * num_devices)
    if batch == 0:
        raise RuntimeError(
            f"fold {fold.name}: {len(hard_ids)} hard examples (h >= beta={config.hard_examples.beta}) for "
            f"{num_devices} device(s): nothing to retrain on; lower hard_examples.beta"
        )
    # Every hard example is seen each epoch when the batch divides them; otherwise the
    # remainder (different examples every epoch) is dropped, as in the first stage.
    return dataclasses.replace(fold, train_ids=hard_ids), batch


def _retrain_state(config, corpus, fold, num_classes, directory: pathlib.Path, hard_file: dict):
    from jaxser.train import checkpoint

    template = _template(config, corpus, fold, num_classes)
    first, _ = checkpoint.restore(directory / "checkpoints" / checkpoint.LATEST, template)
    names = list(first.nets)
    return first.replace(step=np.zeros((), np.int32), extras=_retrain_extras(hard_file["h"], hard_file["hard"], names))


def _retrain(ctx: StageContext) -> dict:
    import jax

    from jaxser import losses
    from jaxser.train import steps, supervised

    config = ctx.config
    corpus = fold_corpus(ctx.corpus, ctx.fold, config)
    num_classes = len(corpus.class_names)
    hard_file = _load_hard(ctx.stage_dir(TRAIN))
    fold, batch = _retrain_plan(config, ctx.fold, jax.device_count(), hard_file)
    state = _retrain_state(config, corpus, ctx.fold, num_classes, ctx.stage_dir(TRAIN), hard_file)
    labels = np.asarray(ctx.corpus.functionals.labels)[ctx.corpus.functionals.rows(ctx.fold.train_ids)]
    loss = steps.LossSpec(
        name=config.hard_examples.loss,
        focal_gamma=float(config.loss.focal_gamma),
        class_weights=tuple(float(w) for w in losses.balanced_class_weights(labels, num_classes)),
        class_share=tuple(float(a) for a in losses.share_class_weights(labels, num_classes)),
    )
    stage_config = _stage_config(config, epochs=config.hard_examples.retrain_epochs, batch_size=batch)
    trainer = supervised.Trainer(stage_config, ctx.directory, corpus=corpus, fold=fold, initial_state=state, loss=loss)
    _, summary = trainer.fit()
    summary.update(retrain_examples=len(fold.train_ids), retrain_batch_size=batch, loss=loss.name)
    return summary


def final_state(config, corpus, fold, fold_dir: pathlib.Path):
    """The networks after the last training stage (and that stage's step)."""
    from jaxser.train import checkpoint

    num_classes = len(corpus.class_names)
    if config.hard_examples.retrain:
        hard_file = _load_hard(fold_dir / TRAIN)
        template = _retrain_state_template(config, corpus, fold, num_classes, hard_file)
        return checkpoint.restore(fold_dir / RETRAIN / "checkpoints" / checkpoint.LATEST, template)
    template = _template(config, corpus, fold, num_classes)
    return checkpoint.restore(fold_dir / TRAIN / "checkpoints" / checkpoint.LATEST, template)


def _retrain_state_template(config, corpus, fold, num_classes, hard_file):
    template = _template(config, corpus, fold, num_classes)
    return template.replace(extras=_retrain_extras(hard_file["h"], hard_file["hard"], list(template.nets)))


def _fuse(ctx: StageContext) -> dict:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC
    import warnings

    config = ctx.config
    corpus = fold_corpus(ctx.corpus, ctx.fold, config)
    state, meta = final_state(config, corpus, ctx.fold, ctx.fold_dir)
    got = extract(config, corpus, state, ctx.fold.train_ids)
    scaler = StandardScaler().fit(got.features)
    svm = LinearSVC(C=config.fusion.C, max_iter=config.fusion.max_iter)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        svm.fit(scaler.transform(got.features), got.labels)
    arrays = {
        "mean": scaler.mean_, "scale": scaler.scale_,
        "est_coef_": svm.coef_, "est_intercept_": svm.intercept_, "est_classes_": svm.classes_,
    }
    stages_lib.save_arrays(ctx.directory / SVM_FILE, arrays)
    return {
        "features": int(got.features.shape[1]),
        "train_examples": len(got.ids),
        "svm_train_accuracy": float(np.mean(_svm_scores(arrays, got.features, len(corpus.class_names)).argmax(-1) == got.labels)),
        "softmax_train_accuracy": {n: float(np.mean(p.argmax(-1) == got.labels)) for n, p in got.probs.items()},
        "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
        "state_step": int(meta["step"]),
    }


def _svm_scores(arrays: dict, features: np.ndarray, num_classes: int) -> np.ndarray:
    from jaxser.systems import classic

    return classic.scores(arrays, (features - arrays["mean"]) / arrays["scale"], num_classes)


def _load_svm(workdir: pathlib.Path) -> dict[str, np.ndarray]:
    return stages_lib.load_arrays(
        pathlib.Path(workdir) / FUSE / SVM_FILE, fix=f"train the fold again (jaxser train/cv --workdir {workdir})"
    )


def stages(config) -> tuple[Stage, ...]:
    plan = [Stage(TRAIN, _train)]
    if config.hard_examples.retrain:
        plan.append(Stage(RETRAIN, _retrain))
    plan.append(Stage(FUSE, _fuse))
    return tuple(plan)


def evaluate(config, workdir: pathlib.Path, *, which: str, part: str, corpus=None):
    """The SVM's scores on the fold's ``part``; each network's softmax under ``"softmax"``.
    ``which`` is accepted for the common interface: the kind keeps one final state."""
    import sklearn.metrics

    from jaxser import evaluate as evaluate_lib
    from jaxser import metrics as metrics_lib
    from jaxser.train import data
    from jaxser.train.supervised import EvalResult

    workdir = pathlib.Path(workdir)
    loaded = load_data(config) if corpus is None else corpus
    fold = data.fold(config, loaded.meta)
    fc = fold_corpus(loaded, fold, config)
    state, meta = final_state(config, fc, fold, workdir)
    got = extract(config, fc, state, fold.ids(part))
    names, k = loaded.class_names, len(loaded.class_names)
    scores = _svm_scores(_load_svm(workdir), got.features, k)

    def summary(predicted):
        return metrics_lib.summarize(sklearn.metrics.confusion_matrix(got.labels, predicted, labels=range(k)), names)

    result = summary(np.argmax(scores, -1))
    result["utterances"] = len(got.ids)
    softmax = dict(got.probs)
    if len(softmax) > 1:
        softmax["mean"] = np.mean(list(got.probs.values()), axis=0)
    result["softmax"] = {
        n: {key: s[key] for key in ("wa", "ua", "confusion")} for n, s in ((n, summary(p.argmax(-1))) for n, p in softmax.items())
    }
    return evaluate_lib.Evaluated(
        result=EvalResult(got.ids, np.where(np.isfinite(scores), scores, np.nan), got.labels, result),
        fold=fold,
        class_names=names,
        meta=loaded.meta,
        checkpoint="fitted",
        checkpoint_step=int(meta["step"]),
        score_name="score",
    )


def predictor(workdir, *, which: str = "best", batch_size: int = 16):
    raise NotImplementedError(
        f"{workdir} is a kind='zhong' run (two networks on audio and openSMILE functionals, fused by an SVM); "
        "`jaxser predict` serves kind='supervised' runs only so far. Score a corpus with "
        f"`jaxser evaluate --workdir {workdir}` instead"
    )


KIND = Kind(
    name="zhong",
    description="two networks trained independently on MFCC and openSMILE functionals, hard-example "
    "retraining, a linear SVM on their learned features (Zhong et al. 2020)",
    validate=validate,
    load_data=load_data,
    stages=stages,
    evaluate=evaluate,
    predictor=predictor,
    build_state=build_state,
    train_step=train_step,
    batch_keys=BATCH_KEYS,
    fold_corpus=fold_corpus,
)
