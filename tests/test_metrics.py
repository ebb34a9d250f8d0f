"""jaxser.metrics: WA/UA and per-class figures of confusion matrices, checked against sklearn and by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from jaxser import metrics

NAMES4 = ["ang", "hap", "neu", "sad"]


def _sklearn(y_true, y_pred, k):
    """sklearn's numbers for the same examples, NaN (0/0) mapped to None as summarize does."""
    labels = list(range(k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=np.nan)
        ua = skm.balanced_accuracy_score(y_true, y_pred)
    none = lambda a: [None if math.isnan(v) else float(v) for v in a]  # noqa: E731
    return {
        "wa": skm.accuracy_score(y_true, y_pred),
        "ua": ua,
        "recall": none(r),
        "precision": none(p),
        "f1": none(f),
    }


def _assert_close_or_none(got: dict, want: list, names):
    assert list(got) == list(names)
    for g, w in zip(got.values(), want):
        if w is None:
            assert g is None
        else:
            assert g == pytest.approx(w, abs=1e-12)


def _confusion(y_true, y_pred, k):
    """The host's confusion matrix, built as the trainer and the classic system build it."""
    return skm.confusion_matrix(y_true, y_pred, labels=range(k))


def test_known_by_hand():
    conf = np.array([[2, 1, 0, 0], [0, 1, 1, 0], [1, 0, 3, 0], [0, 0, 0, 1]])
    s = metrics.summarize(conf, NAMES4)
    assert s["wa"] == pytest.approx(7 / 10)
    assert s["ua"] == pytest.approx((2 / 3 + 1 / 2 + 3 / 4 + 1) / 4)  # 35/48
    assert s["per_class_recall"] == pytest.approx({"ang": 2 / 3, "hap": 1 / 2, "neu": 3 / 4, "sad": 1.0})
    assert s["per_class_precision"] == pytest.approx({"ang": 2 / 3, "hap": 1 / 2, "neu": 3 / 4, "sad": 1.0})
    assert s["per_class_f1"]["ang"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert s["counts"] == {"ang": 3, "hap": 2, "neu": 4, "sad": 1}
    assert s["total"] == 10 and s["class_names"] == NAMES4 and s["ua_classes"] == NAMES4
    assert s["confusion"] == conf.tolist()


@pytest.mark.parametrize("k,n,seed", [(2, 50, 0), (4, 200, 1), (7, 333, 2), (11, 500, 3), (5, 7, 4)])
def test_random_predictions_match_sklearn(k, n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    # Skewed predictions so some classes are rare or never predicted.
    preds = np.where(rng.random(n) < 0.5, labels, rng.integers(0, max(1, k - 2), n))
    conf = _confusion(labels, preds, k)
    want = _sklearn(labels, preds, k)
    names = [f"c{i}" for i in range(k)]
    s = metrics.summarize(conf, names)
    assert s["wa"] == pytest.approx(want["wa"], abs=1e-12)
    assert s["ua"] == pytest.approx(want["ua"], abs=1e-12)
    _assert_close_or_none(s["per_class_recall"], want["recall"], names)
    _assert_close_or_none(s["per_class_precision"], want["precision"], names)
    _assert_close_or_none(s["per_class_f1"], want["f1"], names)
    assert s["total"] == n


def test_class_without_test_examples_is_left_out_of_ua():
    y_true = np.array([0, 0, 1, 1, 3])
    y_pred = np.array([0, 1, 1, 2, 0])  # class 2 predicted but never true; class 3 never predicted
    s = metrics.summarize(_confusion(y_true, y_pred, 4), NAMES4)
    want = _sklearn(y_true, y_pred, 4)
    assert s["ua"] == pytest.approx(want["ua"]) == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    assert s["ua_classes"] == ["ang", "hap", "sad"]
    assert s["per_class_recall"]["neu"] is None and s["counts"]["neu"] == 0
    assert s["per_class_precision"]["sad"] is None  # never predicted
    assert s["per_class_precision"]["neu"] == 0.0 and s["per_class_f1"]["neu"] == 0.0
    _assert_close_or_none(s["per_class_f1"], want["f1"], NAMES4)


def test_edge_cases():
    perfect = metrics.summarize(np.diag([3, 1, 2]), ["a", "b", "c"])
    assert perfect["wa"] == perfect["ua"] == 1.0
    one = metrics.summarize([[0, 0], [4, 0]], ["a", "b"])  # one class present, always wrong
    assert one["wa"] == one["ua"] == 0.0 and one["ua_classes"] == ["b"]
    assert one["per_class_f1"] == {"a": 0.0, "b": 0.0}
    absent = metrics.summarize([[2, 0, 0], [0, 0, 0], [0, 0, 1]], ["a", "b", "c"])
    assert absent["per_class_f1"]["b"] is None and absent["per_class_precision"]["b"] is None
    with pytest.raises(ValueError, match="empty"):
        metrics.summarize(np.zeros((3, 3), int), ["a", "b", "c"])
    with pytest.raises(ValueError, match="3 class names"):
        metrics.summarize(np.eye(4, dtype=int), ["a", "b", "c"])
    with pytest.raises(ValueError, match="square"):
        metrics.summarize(np.ones((2, 3), int), ["a", "b"])
    with pytest.raises(ValueError, match="non-negative whole"):
        metrics.summarize([[1, -1], [0, 2]], ["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        metrics.summarize(np.eye(2, dtype=int), ["a", "a"])


def test_pooled_and_fold_mean_by_hand():
    folds = {
        "f1": [[3, 1], [0, 2]],  # WA 5/6, UA (3/4 + 1)/2 = 7/8
        "f2": [[2, 0], [2, 2]],  # WA 2/3, UA (1 + 1/2)/2 = 3/4
        "f3": np.array([[1, 0], [0, 0]]),  # WA 1, UA 1 over class a only
    }
    out = metrics.pooled_and_fold_mean(folds, ["a", "b"])
    assert list(out["folds"]) == ["f1", "f2", "f3"]
    assert out["folds"]["f3"]["ua_classes"] == ["a"]
    pooled = out["pooled"]
    assert pooled["confusion"] == [[6, 1], [2, 4]] and pooled["total"] == 13
    assert pooled["wa"] == pytest.approx(10 / 13)
    assert pooled["ua"] == pytest.approx((6 / 7 + 4 / 6) / 2)
    mean = out["fold_mean"]
    assert mean["wa"] == pytest.approx(5 / 6) and mean["wa_std"] == pytest.approx(math.sqrt(1 / 54))
    assert mean["ua"] == pytest.approx(7 / 8) and mean["ua_std"] == pytest.approx(math.sqrt(1 / 96))
    assert mean["n_folds"] == 3 and mean["std_ddof"] == 0
    with pytest.raises(ValueError, match="no folds"):
        metrics.pooled_and_fold_mean({}, ["a", "b"])
    with pytest.raises(ValueError, match="fold 'bad'"):
        metrics.pooled_and_fold_mean({"bad": np.zeros((2, 2), int)}, ["a", "b"])
