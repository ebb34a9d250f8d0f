"""Classification metrics on the host: WA, UA and per-class figures from a confusion matrix.

The evaluation step (:func:`jaxser.train.steps.eval_step`) returns, per utterance, sums
of class probabilities and label one-hots (``lax.psum`` over devices, added up over
batches); the host averages them, takes the argmax and builds the ``[K, K]`` confusion
matrix (``sklearn.metrics.confusion_matrix``). The classic system builds it from its
SVM scores the same way. Everything reported is derived from that matrix
(:func:`summarize`), so every number comes from the same counts.

Definitions (rows = true class, columns = predicted class):

* **WA** (weighted accuracy) = trace / total, i.e. plain accuracy
  (``sklearn.metrics.accuracy_score``).
* **UA** (unweighted accuracy) = mean per-class recall over the classes that have test
  examples (``sklearn.metrics.balanced_accuracy_score``). A class with no test examples
  has no recall (``None``) and is left out of UA and of ``ua_classes``. In
  leave-one-speaker-out folds this happens when a speaker never produced some emotion.
* Per-class precision is ``None`` when the class was never predicted, and F1
  (``2tp / (2tp + fp + fn)``) is ``None`` only when the class is absent from both truth
  and predictions; this is sklearn's ``zero_division=np.nan``, written as ``None`` so the
  dict is strict JSON.

The figures are NumPy divisions on the matrix rather than sklearn calls because
sklearn takes label arrays, while cross-validation pools folds by adding their
matrices (:func:`pooled_and_fold_mean`); the tests check every number against sklearn
on the equivalent label arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

STD_DDOF = 0  # fold-mean std is the population std: the folds are all the folds, not a sample


def _ratio(num: np.ndarray, den: np.ndarray) -> list[float | None]:
    return [float(n) / float(d) if d > 0 else None for n, d in zip(num, den)]


def _as_confusion(confusion, class_names: Sequence[str]) -> np.ndarray:
    c = np.asarray(confusion)
    k = len(class_names)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"confusion must be a square [K, K] matrix, got shape {c.shape}")
    if c.shape[0] != k:
        raise ValueError(
            f"confusion is {c.shape[0]}x{c.shape[1]} but {k} class names were given: {list(class_names)}"
        )
    if len(set(class_names)) != k:
        raise ValueError(f"class names must be unique, got {list(class_names)}")
    if not (np.issubdtype(c.dtype, np.integer) or np.issubdtype(c.dtype, np.floating)):
        raise ValueError(f"confusion must hold counts, got dtype {c.dtype}")
    if not np.all(np.isfinite(c)) or np.any(c < 0) or np.any(c != np.round(c)):
        raise ValueError("confusion must hold non-negative whole counts")
    return c.astype(np.int64)


def summarize(confusion, class_names: Sequence[str]) -> dict[str, Any]:
    """WA, UA, per-class recall/precision/F1 and counts of one confusion matrix (host, NumPy).

    Returns a JSON-ready dict (plain floats/ints/lists; ``None`` where a ratio is 0/0):
    ``wa``, ``ua``, ``ua_classes`` (the classes UA averages: those with test examples),
    ``per_class_recall``, ``per_class_precision``, ``per_class_f1`` and ``counts``
    (true examples per class) keyed by class name, ``confusion`` (list of lists, rows =
    true), ``total`` and ``class_names``.

    Raises ValueError for a malformed confusion or an empty one (total 0): evaluating
    nothing is a bug upstream, not a score.
    """
    names = [str(n) for n in class_names]
    c = _as_confusion(confusion, names)
    total = int(c.sum())
    if total == 0:
        raise ValueError("confusion is empty (0 examples): nothing was evaluated")
    tp = np.diag(c)
    support = c.sum(axis=1)  # true examples per class
    predicted = c.sum(axis=0)
    recall = _ratio(tp, support)
    precision = _ratio(tp, predicted)
    f1 = _ratio(2 * tp, support + predicted)  # 2tp / (2tp + fp + fn)
    present = [i for i in range(len(names)) if support[i] > 0]
    return {
        "wa": float(tp.sum()) / total,
        "ua": float(np.mean([recall[i] for i in present])),
        "ua_classes": [names[i] for i in present],
        "per_class_recall": dict(zip(names, recall)),
        "per_class_precision": dict(zip(names, precision)),
        "per_class_f1": dict(zip(names, f1)),
        "confusion": c.tolist(),
        "counts": {n: int(s) for n, s in zip(names, support)},
        "total": total,
        "class_names": names,
    }


def pooled_and_fold_mean(fold_confusions: Mapping[str, Any], class_names: Sequence[str]) -> dict[str, Any]:
    """Both cross-validation aggregates, since papers report one or the other.

    Returns:
      ``pooled``: :func:`summarize` of the summed confusion (every test example once,
        so large folds weigh more);
      ``fold_mean``: ``{"wa", "wa_std", "ua", "ua_std", "n_folds", "std_ddof": 0}``, the
        unweighted mean and population std (ddof=0) of the folds' WA and UA (each
        fold's UA over the classes present in that fold);
      ``folds``: ``{fold name: summarize(confusion)}`` in the mapping's order.
    """
    if not fold_confusions:
        raise ValueError("no folds given")
    folds: dict[str, Any] = {}
    for name, conf in fold_confusions.items():
        try:
            folds[str(name)] = summarize(conf, class_names)
        except ValueError as e:
            raise ValueError(f"fold {name!r}: {e}") from None
    pooled = summarize(sum(np.asarray(f["confusion"], np.int64) for f in folds.values()), class_names)
    wa = np.array([f["wa"] for f in folds.values()])
    ua = np.array([f["ua"] for f in folds.values()])
    fold_mean = {
        "wa": float(wa.mean()),
        "wa_std": float(wa.std(ddof=STD_DDOF)),
        "ua": float(ua.mean()),
        "ua_std": float(ua.std(ddof=STD_DDOF)),
        "n_folds": len(folds),
        "std_ddof": STD_DDOF,
    }
    return {"pooled": pooled, "fold_mean": fold_mean, "folds": folds}
