"""The sklearn kind: a scikit-learn estimator on feature vectors (openSMILE functionals).

The classic SER baseline, and the fusion/augmentation classifiers of later systems:

    config.kind = "sklearn"
    config.features.source = "opensmile"; config.features.opensmile_set = "IS11"
    config.model.name = "linear_svm"; config.model.kwargs.C = 1e-3

Per fold, one stage, ``fit`` (in ``fold-NN/fit/``): the normaliser
(:class:`~jaxser.data.feature_corpus.Normalizer`, fitted on the fold's training rows, or
per speaker when ``features.normalize="per_speaker"``) and the estimator, fitted on the
training part only. Both are saved as plain arrays in ``fit/model.npz`` (no pickle): the
normaliser's statistics and the estimator's learned attributes (``coef_``,
``intercept_``, ``classes_``). Evaluation applies them to the test part and writes the
same ``eval.json``/``predictions.csv`` as a network's (scores instead of probabilities).
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np

from jaxser import config as config_lib
from jaxser.systems.kind import Kind
from jaxser.systems import stages as stages_lib
from jaxser.systems.stages import Stage, StageContext

MODEL_FILE = "model.npz"
FIT_STAGE = "fit"


def _linear_svm():
    from sklearn.svm import LinearSVC

    return LinearSVC


def _logistic_regression():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression


# model.name -> (estimator class, its learned attributes, all linear: scores = X coef_^T + intercept_).
ESTIMATORS = {
    "linear_svm": (_linear_svm, ("coef_", "intercept_", "classes_")),
    "logistic_regression": (_logistic_regression, ("coef_", "intercept_", "classes_")),
}


def validate(config) -> None:
    name = config.model.name
    if name not in ESTIMATORS:
        raise config_lib.ConfigError(
            f"model.name={name!r} is not an estimator of kind 'sklearn'; known: {', '.join(sorted(ESTIMATORS))}"
        )
    known = ESTIMATORS[name][0]()().get_params()
    for key in config.model.kwargs.keys():
        if key not in known:
            raise config_lib.ConfigError(
                f"model.kwargs.{key} is not a parameter of {name} ({ESTIMATORS[name][0]().__name__}); "
                f"its parameters are {', '.join(sorted(known))}"
            )
    if config.features.source != "opensmile":
        raise config_lib.ConfigError(
            f"kind='sklearn' fits feature vectors: set features.source='opensmile' (now {config.features.source!r})"
        )


def load_data(config):
    """The config's corpus as openSMILE functionals (extracted once, cached by audio contents)."""
    from jaxser.data import feature_corpus

    return feature_corpus.load_feature_corpus(
        config,
        config.features.opensmile_set,
        cache_dir=config.features.cache_dir or None,
        progress=config.train.progress,
    )


def estimator(config):
    cls = ESTIMATORS[config.model.name][0]()
    return cls(**config.model.kwargs.to_dict())


def _fit(ctx: StageContext) -> dict:
    from jaxser.data import feature_corpus
    from sklearn.exceptions import ConvergenceWarning

    config, fc, fold = ctx.config, ctx.corpus, ctx.fold
    normalizer = feature_corpus.fit_normalizer(
        fc, fold, config.features.normalize, drop_constant=config.features.drop_constant
    )
    X, y, ids = fc.part(fold, "train")
    X = normalizer.transform(X, fc.speakers[fc.rows(ids)])
    model = estimator(config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    arrays = {f"norm_{k}": v for k, v in normalizer.to_arrays().items()}
    arrays.update({f"est_{k}": np.asarray(getattr(model, k)) for k in ESTIMATORS[config.model.name][1]})
    stages_lib.save_arrays(ctx.directory / MODEL_FILE, arrays)
    train_accuracy = float(np.mean(_predict(arrays, X) == y))
    return {
        "estimator": config.model.name,
        "params": config.model.kwargs.to_dict(),
        "feature_set": fc.feature_set,
        "normalize": config.features.normalize,
        "features_used": normalizer.num_features,
        "train_examples": len(ids),
        "train_speakers": list(fold.train_speakers),
        "train_accuracy": train_accuracy,
        "converged": converged,
        "n_iter": np.asarray(getattr(model, "n_iter_", -1)).max().item(),
    }


def load_fitted(workdir: pathlib.Path) -> dict[str, np.ndarray]:
    path = pathlib.Path(workdir) / FIT_STAGE / MODEL_FILE
    return stages_lib.load_arrays(path, fix=f"fit the fold again (jaxser train/cv --workdir {workdir})")


def _normalizer(arrays):
    from jaxser.data.feature_corpus import Normalizer

    return Normalizer.from_arrays({k[len("norm_"):]: v for k, v in arrays.items() if k.startswith("norm_")})


def scores(arrays: dict[str, np.ndarray], X: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Decision scores ``[N, K]`` of a fitted linear estimator on normalised ``X``; a class
    the training part lacked scores -inf (it cannot be predicted)."""
    coef, intercept, classes = arrays["est_coef_"], arrays["est_intercept_"], arrays["est_classes_"]
    raw = X @ coef.T + intercept
    if coef.shape[0] == 1:  # binary: one score, positive = classes[1]
        raw = np.concatenate([-raw, raw], axis=1)
    k = int(classes.max()) + 1 if num_classes is None else num_classes
    out = np.full((len(X), k), -np.inf)
    out[:, classes.astype(int)] = raw
    return out


def _predict(arrays, X) -> np.ndarray:
    return np.argmax(scores(arrays, X), axis=-1)


def stages(config) -> tuple[Stage, ...]:
    return (Stage(FIT_STAGE, _fit),)


def evaluate(config, workdir: pathlib.Path, *, which: str, part: str, corpus=None):
    import sklearn.metrics

    from jaxser import evaluate as evaluate_lib
    from jaxser import metrics as metrics_lib
    from jaxser.data import splits
    from jaxser.train import data
    from jaxser.train.supervised import EvalResult

    fc = load_data(config) if corpus is None else corpus
    fold = data.fold(config, fc.meta)
    arrays = load_fitted(workdir)
    X, y, ids = fc.part(fold, part)
    if not ids:
        raise splits.SplitError(f"fold {fold.name} has no {part} examples to evaluate")
    X = _normalizer(arrays).transform(X, fc.speakers[fc.rows(ids)])
    k = len(fc.class_names)
    s = scores(arrays, X, k)
    predicted = np.argmax(s, axis=-1)
    confusion = sklearn.metrics.confusion_matrix(y, predicted, labels=range(k))
    summary = metrics_lib.summarize(confusion, fc.class_names)
    summary["utterances"] = len(ids)
    return evaluate_lib.Evaluated(
        result=EvalResult(tuple(ids), np.where(np.isfinite(s), s, np.nan), y, summary),
        fold=fold,
        class_names=fc.class_names,
        meta=fc.meta,
        checkpoint="fitted",
        checkpoint_step=None,
        score_name="score",
    )


def predictor(workdir, *, which: str = "best", batch_size: int = 16):
    """Not built yet: prediction on new audio serves network runs only (BUILD_NOTES.md)."""
    raise NotImplementedError(predict_refusal(workdir))


def predict_refusal(workdir) -> str:
    return (f"{workdir} is a kind='sklearn' run (openSMILE features + an estimator); `jaxser predict` and "
            "Predictor serve network runs (kind='supervised') only so far. Score a corpus with "
            f"`jaxser evaluate --workdir {workdir}` instead")


KIND = Kind(
    name="sklearn",
    description="a scikit-learn estimator fitted on feature vectors (openSMILE functionals)",
    validate=validate,
    load_data=load_data,
    stages=stages,
    evaluate=evaluate,
    predictor=predictor,
)

