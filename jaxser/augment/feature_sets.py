"""Augmented sets of feature vectors made without a network: the baselines of Yi & Mak
(2020), Sec. V-B (duplication, additive noise, SMOTE).

    sets = feature_sets.make("smote", X, y, sets=10, seed=0)   # [(X_1, y), ..., (X_10, y)]

Each set has the size and label distribution of the training part ``(X, y)`` (the
paper's "augmented sets"), rows in the order of ``y``:

* ``duplicate``: the training vectors themselves;
* ``noise``: each vector plus Gaussian noise of standard deviation ``noise_std`` (in the
  units of the z-scored features; the paper gives no value);
* ``smote``: per class, SMOTE interpolations between a vector and one of its
  ``smote_k`` nearest neighbours of the same class (imbalanced-learn), as many as the
  class has vectors. A class with fewer than 2 vectors is duplicated instead.

Sets are drawn from ``seed`` and their index, so set 3 is the same whether 3 or 10 sets
are made.
"""

from __future__ import annotations

import numpy as np

METHODS = ("duplicate", "noise", "smote")


def make(method: str, X: np.ndarray, y: np.ndarray, *, sets: int, seed: int, noise_std: float = 0.1,
         smote_k: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    if method not in METHODS:
        raise ValueError(f"augmentation {method!r} is not one of {', '.join(METHODS)}")
    X, y = np.asarray(X, np.float32), np.asarray(y)
    return [(_one(method, X, y, np.random.default_rng([seed, i]), noise_std, smote_k, seed + i), y.copy())
            for i in range(sets)]


def _one(method, X, y, rng, noise_std, smote_k, seed):
    if method == "duplicate":
        return X.copy()
    if method == "noise":
        return (X + noise_std * rng.standard_normal(X.shape)).astype(np.float32)
    return _smote(X, y, smote_k, seed)


def _smote(X, y, k, seed):
    from imblearn.over_sampling import SMOTE

    out = X.copy()
    classes, counts = np.unique(y, return_counts=True)
    usable = classes[counts >= 2]
    if len(usable) == 0:
        return out
    rows = np.isin(y, usable)
    fewest = int(counts[counts >= 2].min())
    # Ask SMOTE for twice each class: the synthetic rows come after the originals, class by
    # class in the order of `usable`.
    target = {int(c): int(2 * n) for c, n in zip(classes, counts) if c in usable}
    Xs, ys = SMOTE(sampling_strategy=target, k_neighbors=min(k, fewest - 1), random_state=seed).fit_resample(X[rows], y[rows])
    synthetic_X, synthetic_y = Xs[rows.sum():], ys[rows.sum():]
    for c in usable:
        out[y == c] = synthetic_X[synthetic_y == c]
    return out.astype(np.float32)
