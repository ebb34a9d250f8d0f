"""The adan kind: classifiers of openSMILE vectors trained on real plus augmented data
(Yi & Mak 2020, IEEE TNNLS 33(1): ADAN, WADAN and the augmentation baselines).

    config.kind = "adan"
    config.augmenter.method = "wadan"    # adan, wadan, gan (one per class), cgan, aae; duplicate, noise, smote; none
    config.classifier.name = "dnn"       # or "svm": the fold's result (both are always trained)

**Inputs.** The IS11 functionals (4,368) of the cached openSMILE corpus; features
constant over the fold's training part dropped, the rest z-scored with its statistics.

**Stages of a fold** (each in ``fold-NN/<stage>/``, resumable):

1. ``augment``: the augmenter, trained on the fold's TRAINING speakers only (an
   adversarial recipe: :mod:`jaxser.train.adversarial`, checkpointed in
   ``augment/checkpoints``; the baselines need no training). It writes the normaliser
   (``augment/normalizer.npz``), the MMD between one generated set and the training
   vectors, and a t-SNE picture of real against generated vectors (``augment/tsne.png``).
2. ``classify``: for every amount m = 0..``augmenter.sets`` of augmented sets (each the
   size and label distribution of the training part, generated again from the saved
   augmenter and the set's seed), a DNN and a linear SVM trained on the training
   vectors plus the first m sets; each saved as plain arrays (``classify/models.npz``)
   and scored on the validation speakers (``classify/validation.json``).

Evaluation scores every saved classifier on the test part. The fold's result is the
config's classifier at the amount with the best validation UA (``classifier.amount=-1``;
the paper instead read the best amount off the test results, Fig. 6) or at a fixed
amount; the whole curve (both classifiers, every amount) goes to ``eval.json`` as other
outputs, which ``jaxser cv`` pools into ``results.json``/``results.md``.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from jaxser import config as config_lib
from jaxser.systems import stages as stages_lib
from jaxser.systems.kind import Kind
from jaxser.systems.stages import Stage, StageContext

ADVERSARIAL = ("adan", "wadan", "gan", "cgan", "aae")
BASELINES = ("duplicate", "noise", "smote")
METHODS = (*ADVERSARIAL, *BASELINES, "none")
CLASSIFIERS = ("dnn", "svm")
AUGMENT, CLASSIFY = "augment", "classify"
NORM_FILE, MODELS_FILE, VALIDATION_FILE = "normalizer.npz", "models.npz", "validation.json"


def validate(config) -> None:
    from jaxser.train import adversarial

    def require(ok, message):
        if not ok:
            raise config_lib.ConfigError(message)

    a, c = config.augmenter, config.classifier
    require(config.features.source == "opensmile",
            "kind='adan' classifies openSMILE functionals: set features.source='opensmile' (IS11 in the paper)")
    require(a.method in METHODS, f"augmenter.method={a.method!r} must be one of {', '.join(METHODS)}")
    require(a.sets >= 0 and (a.sets >= 1 or a.method == "none"), "augmenter.sets must be >= 1 (0 with method 'none')")
    require(a.reconstruction in adversarial.RECONSTRUCTIONS,
            f"augmenter.reconstruction must be one of {', '.join(adversarial.RECONSTRUCTIONS)}")
    require(a.epochs >= 1 and a.batch_size >= 1 and a.d_steps >= 1, "augmenter.epochs, batch_size and d_steps must be >= 1")
    require(a.penalty_power > 1 and a.penalty_weight > 0,
            "augmenter.penalty_power must be > 1 and penalty_weight > 0 (Wu et al. 2018: a divergence only then)")
    from jaxser.models.adan import ACTIVATIONS

    require(a.activation in ACTIVATIONS and a.latent_activation in ("linear", "tanh"),
            f"augmenter.activation must be one of {', '.join(ACTIVATIONS)} and augmenter.latent_activation "
            "'linear' or 'tanh'")
    require(c.name in CLASSIFIERS, f"classifier.name={c.name!r} must be one of {', '.join(CLASSIFIERS)}")
    require(c.amount == -1 or 0 <= c.amount <= a.sets,
            f"classifier.amount={c.amount}: -1 (chosen on the validation speakers) or 0..augmenter.sets={a.sets}")
    require(c.amount != -1 or config.split.val_speakers >= 1,
            "classifier.amount=-1 chooses the amount of augmented data on validation speakers: set "
            "split.val_speakers >= 1, or fix the amount (classifier.amount=m)")
    require(c.seeds >= 1 and c.epochs >= 1, "classifier.seeds and classifier.epochs must be >= 1")
    require(not config.split.val_fraction, "kind='adan' validates on whole speakers (split.val_speakers), not val_fraction")


def load_data(config):
    from jaxser.systems import classic

    return classic.load_data(config)


# -- the augmenter --------------------------------------------------------------------


def recipe(config, num_classes: int, y_train: np.ndarray):
    from jaxser.train import adversarial

    a = config.augmenter
    weights = ()
    if a.class_weighted:  # n_max / n_k (Sec. IV-D)
        counts = np.bincount(np.asarray(y_train), minlength=num_classes).astype(np.float64)
        weights = tuple(float(w) for w in np.where(counts > 0, counts.max() / np.maximum(counts, 1), 0.0))
    return adversarial.Recipe(
        a.method, num_classes, alpha=a.alpha, d_steps=a.d_steps, penalty_weight=a.penalty_weight,
        penalty_power=a.penalty_power, reconstruction=a.reconstruction, class_weights=weights,
        noise_dim=a.noise_dim, latent_dim=a.latent_dim,
    )


def _initial_state(config, rec, feature_dim: int):
    from jaxser.train import adversarial

    a = config.augmenter
    rates = {"C": a.lr_C, "D": a.lr_D, "E": a.lr_E, "G": a.lr_G, "R": a.lr_R}
    return adversarial.initial_state(
        rec, feature_dim=feature_dim, seed=a.seed, learning_rates=rates, adam_b1=a.adam_b1, adam_eps=a.adam_eps,
        autoencoder_hidden=tuple(a.autoencoder_hidden), hidden=tuple(a.hidden), activation=a.activation,
        latent_activation=a.latent_activation,
    )


class Augmenter:
    """A fold's fitted augmenter: makes augmented set ``i`` (same on every call).

    ``states``: the trained networks, ``{None: state}``, or ``{class: state}`` for the
    unconditional GAN, trained once per class (its samples carry no label otherwise)."""

    def __init__(self, config, X: np.ndarray, y: np.ndarray, num_classes: int, states=None):
        self.config, self.X, self.y, self.num_classes, self.states = config, X, y, num_classes, states or {}
        self.recipe = recipe(config, num_classes, y) if config.augmenter.method in ADVERSARIAL else None

    def make_set(self, i: int) -> np.ndarray:
        from jaxser.augment import feature_sets
        from jaxser.train import adversarial

        a = self.config.augmenter
        seed = 1000 * a.seed + i + 1
        if self.recipe is None:
            return feature_sets.make(a.method, self.X, self.y, sets=1, seed=seed, noise_std=a.noise_std,
                                     smote_k=a.smote_k)[0][0]
        if None in self.states:
            return adversarial.generate(self.recipe, self.states[None], self.y, seed=seed)
        made = np.zeros_like(self.X)
        for c, state in self.states.items():
            made[self.y == c] = adversarial.generate(self.recipe, state, self.y[self.y == c], seed=seed)
        return made


def _models(config, y: np.ndarray) -> dict:
    """``{key: rows}`` of the augmenter's separately trained models: one (key None) on
    every row, or one per class present for the GAN."""
    if config.augmenter.method == "gan":
        return {int(c): y == c for c in np.unique(y)}
    return {None: np.ones(len(y), bool)}


def _model_dir(directory: pathlib.Path, key) -> pathlib.Path:
    return directory if key is None else directory / f"class-{key}"


def _normalized(config, fc, fold, directory: pathlib.Path | None = None):
    from jaxser.data import feature_corpus

    normalizer = feature_corpus.fit_normalizer(fc, fold, config.features.normalize, drop_constant=config.features.drop_constant)
    if directory is not None:
        stages_lib.save_arrays(directory / NORM_FILE, normalizer.to_arrays())
    return normalizer


def _part(fc, fold, part, normalizer):
    X, y, ids = fc.part(fold, part)
    return normalizer.transform(X, fc.speakers[fc.rows(ids)]), y, ids


def _augment(ctx: StageContext) -> dict:
    from jaxser import mmd, plots
    from jaxser.train import adversarial

    config, fc, fold = ctx.config, ctx.corpus, ctx.fold
    normalizer = _normalized(config, fc, fold, ctx.directory)
    X, y, ids = _part(fc, fold, "train", normalizer)
    k = len(fc.class_names)
    summary = {"method": config.augmenter.method, "train_examples": len(ids), "features": int(X.shape[1]),
               "train_speakers": list(fold.train_speakers)}
    if config.augmenter.method == "none":
        return summary
    states = {}
    if config.augmenter.method in ADVERSARIAL:
        a = config.augmenter
        rec = recipe(config, k, y)
        for key, rows in _models(config, y).items():
            directory = _model_dir(ctx.directory, key)
            trainer = adversarial.Trainer(
                rec, _initial_state(config, rec, X.shape[1]), X[rows], y[rows], directory, epochs=a.epochs,
                batch_size=a.batch_size, epochs_per_call=a.epochs_per_call,
                checkpoint_every_epochs=a.checkpoint_every_epochs, mode=config.parallel.mode,
                progress=config.train.progress,
            )
            states[key], train_summary = trainer.fit()
            summary["training" if key is None else f"training_class_{key}"] = train_summary
            # One panel per network's loss over the epochs (the paper's Fig. 3).
            plots.training_curves_png(directory / "metrics.jsonl", directory / "losses.png",
                                      metrics=adversarial.ORDER[a.method], x="epoch")
    made = Augmenter(config, X, y, k, states).make_set(0)
    summary["mmd_set0"] = float(mmd.mmd(X, made))
    summary["mmd_set0_per_class_mean"] = float(mmd.mmd_per_class(X, y, made, y, k)["mean"])
    plots.tsne_real_vs_generated(X, y, made, y, fc.class_names, ctx.directory / "tsne.png",
                                 title=f"{config.augmenter.method}: real (light) vs generated (dark), fold {fold.name}")
    return summary


def _load_normalizer(directory: pathlib.Path):
    from jaxser.data.feature_corpus import Normalizer

    fix = f"delete {directory} to fit the fold's augmenter again"
    return Normalizer.from_arrays(stages_lib.load_arrays(directory / NORM_FILE, fix=fix))


def _augmenter(config, fc, fold, fold_dir: pathlib.Path):
    """The fold's fitted augmenter and normaliser, from the augment stage's folder."""
    from jaxser.train import checkpoint

    directory = fold_dir / AUGMENT
    normalizer = _load_normalizer(directory)
    X, y, _ = _part(fc, fold, "train", normalizer)
    k = len(fc.class_names)
    states = {}
    if config.augmenter.method in ADVERSARIAL:
        rec = recipe(config, k, y)
        for key in _models(config, y):
            states[key], _ = checkpoint.restore(_model_dir(directory, key) / "checkpoints" / checkpoint.LATEST,
                                                _initial_state(config, rec, X.shape[1]))
    return Augmenter(config, X, y, k, states), normalizer


# -- the classifiers ------------------------------------------------------------------


def _fit_classifiers(config, X, y, k) -> dict[str, np.ndarray]:
    from jaxser import linear_svm
    from jaxser.train import vectors

    c = config.classifier
    weights = None
    if c.class_weighted:
        counts = np.bincount(y, minlength=k).astype(np.float64)
        weights = np.where(counts > 0, counts.max() / np.maximum(counts, 1), 0.0)
    params = vectors.train_mlp(X, y, num_classes=k, hidden=tuple(c.hidden), epochs=c.epochs, batch_size=c.batch_size,
                               learning_rate=c.learning_rate, l2=c.l2, seeds=tuple(range(c.seeds)), class_weights=weights)
    # LinearSVC's objective solved on the device (jaxser.linear_svm): liblinear took 60-260 s
    # per fit at 4,873 x 4,368 here, the device solver ~10x less, same solution.
    coef, intercept, _ = linear_svm.fit(X, y, num_classes=k, C=c.svm_C,
                                        class_weight="balanced" if c.class_weighted else None, max_iter=c.svm_max_iter)
    arrays = {f"dnn/{name}": value for name, value in vectors.flatten(params).items()}
    arrays.update({"svm/coef_": coef, "svm/intercept_": intercept, "svm/classes_": np.arange(k)})
    return arrays


def _scores(config, arrays: dict, X: np.ndarray, k: int) -> dict[str, np.ndarray]:
    from jaxser.systems import classic
    from jaxser.train import vectors

    params = vectors.unflatten({n[len("dnn/"):]: v for n, v in arrays.items() if n.startswith("dnn/")})
    svm = {f"est_{n[len('svm/'):]}": v for n, v in arrays.items() if n.startswith("svm/")}
    return {"dnn": vectors.predict(params, X, num_classes=k, hidden=tuple(config.classifier.hidden)),
            "svm": classic.scores(svm, X, k)}


def _amounts(config) -> range:
    return range(0, config.augmenter.sets + 1)


def _classify(ctx: StageContext) -> dict:
    from jaxser import metrics as metrics_lib
    import sklearn.metrics

    config, fc, fold = ctx.config, ctx.corpus, ctx.fold
    augmenter, normalizer = _augmenter(config, fc, fold, ctx.fold_dir)
    k = len(fc.class_names)
    val = _part(fc, fold, "val", normalizer) if fold.val_ids else None
    saved, curve, X_train, y_train = {}, {}, [augmenter.X], [augmenter.y]
    for m in _amounts(config):
        if m:
            X_train.append(augmenter.make_set(m - 1))
            y_train.append(augmenter.y)
        arrays = _fit_classifiers(config, np.concatenate(X_train), np.concatenate(y_train), k)
        saved.update({f"m{m}/{n}": v for n, v in arrays.items()})
        if val is not None:
            for name, s in _scores(config, arrays, val[0], k).items():
                confusion = sklearn.metrics.confusion_matrix(val[1], np.argmax(s, -1), labels=range(k))
                got = metrics_lib.summarize(confusion, fc.class_names)
                curve.setdefault(name, {})[m] = {"wa": got["wa"], "ua": got["ua"]}
    stages_lib.save_arrays(ctx.directory / MODELS_FILE, saved)
    record = {"validation_speakers": list(fold.val_speakers), "curve": curve}
    (ctx.directory / VALIDATION_FILE).write_text(json.dumps(record, indent=1))
    return {"amounts": len(_amounts(config)), "train_examples": int(sum(len(x) for x in X_train)),
            "chosen": {name: _choose(config, curve.get(name)) for name in CLASSIFIERS}}


def _choose(config, curve: dict | None) -> int:
    """The amount of augmented sets: the config's, or :func:`best_amount` of the validation curve."""
    if config.classifier.amount >= 0 or not curve:
        return max(config.classifier.amount, 0) if config.classifier.amount >= 0 else config.augmenter.sets
    return best_amount(curve)


def best_amount(curve: dict) -> int:
    """The best amount m of a curve ``{m: {"ua": ..., "wa": ...}}`` (m an int or its string):
    highest UA, then WA (rounded to 6 digits, so float noise breaks no tie), then the
    smaller m. The validation choice of each fold, and ``tools/augmentation_table.py``'s
    test peak."""
    best = max(curve.items(), key=lambda item: (round(item[1]["ua"], 6), round(item[1]["wa"], 6), -int(item[0])))
    return int(best[0])


def stages(config) -> tuple[Stage, ...]:
    return (Stage(AUGMENT, _augment), Stage(CLASSIFY, _classify))


def evaluate(config, workdir: pathlib.Path, *, which: str, part: str, corpus=None):
    """The config's classifier at the chosen amount on ``part``; every classifier and
    amount under ``other_outputs`` (``dnn/sets=03``...)."""
    import sklearn.metrics

    from jaxser import evaluate as evaluate_lib
    from jaxser import metrics as metrics_lib
    from jaxser.train import data
    from jaxser.train.supervised import EvalResult

    workdir = pathlib.Path(workdir)
    fc = load_data(config) if corpus is None else corpus
    fold = data.fold(config, fc.meta)
    normalizer = _load_normalizer(workdir / AUGMENT)
    X, y, ids = _part(fc, fold, part, normalizer)
    k = len(fc.class_names)
    classify = workdir / CLASSIFY
    saved = stages_lib.load_arrays(classify / MODELS_FILE, fix=f"delete {classify} to train the fold's classifiers again")
    record = json.loads((classify / VALIDATION_FILE).read_text())
    chosen = _choose(config, record["curve"].get(config.classifier.name))
    others, main = {}, None
    for m in _amounts(config):
        arrays = {n[len(f"m{m}/"):]: v for n, v in saved.items() if n.startswith(f"m{m}/")}
        for name, s in _scores(config, arrays, X, k).items():
            confusion = sklearn.metrics.confusion_matrix(y, np.argmax(s, -1), labels=range(k))
            others[f"{name}/sets={m:02d}"] = {"confusion": confusion.tolist()}
            if name == config.classifier.name and m == chosen:
                main = s
    summary = metrics_lib.summarize(sklearn.metrics.confusion_matrix(y, np.argmax(main, -1), labels=range(k)), fc.class_names)
    summary.update(utterances=len(ids), augmented_sets=chosen, other_outputs=others,
                   validation_speakers=record["validation_speakers"])
    return evaluate_lib.Evaluated(
        result=EvalResult(tuple(ids), np.where(np.isfinite(main), main, np.nan), y, summary),
        fold=fold, class_names=fc.class_names, meta=fc.meta, checkpoint="fitted", checkpoint_step=None,
        score_name="p" if config.classifier.name == "dnn" else "score",
    )


def predictor(workdir, *, which: str = "best", batch_size: int = 16):
    raise NotImplementedError(
        f"{workdir} is a kind='adan' run (openSMILE vectors, augmentation, DNN/SVM); `jaxser predict` serves "
        f"kind='supervised' runs only so far. Score a corpus with `jaxser evaluate --workdir {workdir}` instead"
    )


KIND = Kind(
    name="adan",
    description="classifiers of openSMILE vectors trained on real plus augmented data: ADAN/WADAN, GAN "
    "baselines, duplication, noise, SMOTE (Yi & Mak 2020)",
    validate=validate,
    load_data=load_data,
    stages=stages,
    evaluate=evaluate,
    predictor=predictor,
)
