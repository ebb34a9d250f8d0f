"""jaxser.plots: valid PNGs of the documented size, clear errors, tolerant curve input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from jaxser import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, size_inches=None, dpi=100):
    import matplotlib.image

    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    if size_inches is not None:
        w, h = size_inches
        assert image.shape[:2] == (round(h * dpi), round(w * dpi))
    assert not list(path.parent.glob(".*.tmp"))  # the temp file was renamed, not left over
    return image


@pytest.mark.parametrize("k", [4, 11])
def test_confusion_png(tmp_path, k):
    rng = np.random.default_rng(k)
    conf = rng.integers(0, 20, (k, k)) + np.diag(rng.integers(10, 60, k))
    conf[1] = 0  # a class without test examples
    names = [f"emotion_{i}" for i in range(k)]
    out = plots.confusion_matrix_png(conf, names, tmp_path / "sub" / "cm.png", title="test")
    assert out == tmp_path / "sub" / "cm.png"
    _assert_png(out, plots.confusion_figsize(k))
    raw = plots.confusion_matrix_png(conf, names, tmp_path / "raw.png", normalize=False, dpi=60)
    _assert_png(raw, plots.confusion_figsize(k), dpi=60)


def test_confusion_png_rejects_mismatch(tmp_path):
    with pytest.raises(ValueError, match="4x4 but 3 class names"):
        plots.confusion_matrix_png(np.eye(4), ["a", "b", "c"], tmp_path / "cm.png")
    with pytest.raises(ValueError, match="square"):
        plots.confusion_matrix_png(np.ones((2, 3)), ["a", "b"], tmp_path / "cm.png")
    assert not list(tmp_path.iterdir())


RECORDS = [
    {"step": 0, "epoch": 0.0, "split": "train", "loss": 2.0, "accuracy": 0.2},
    {"step": 100, "epoch": 1.0, "split": "train", "loss": 1.2, "accuracy": 0.5},
    {"step": 100, "epoch": 1.0, "split": "val", "loss": 1.4, "wa": 0.45, "ua": 0.40},
    {"step": 200, "epoch": 2.0, "split": "train", "loss": 0.8, "accuracy": None},
    {"step": 200, "epoch": 2.0, "split": "val", "loss": 1.1, "wa": 0.55, "ua": 0.52},
    {"epoch": 2.5, "split": "train", "loss": 0.7},  # no step: skipped on a step axis
    {"step": 300, "val_wa": 0.6},  # flat key from another writer
]


def test_series_resolves_documented_names():
    assert plots._series(RECORDS, "loss", "step") == {
        "train": [(0.0, 2.0), (100.0, 1.2), (200.0, 0.8)],
        "val": [(100.0, 1.4), (200.0, 1.1)],
    }
    assert plots._series(RECORDS, "train_accuracy", "step") == {"train": [(0.0, 0.2), (100.0, 0.5)]}
    assert plots._series(RECORDS, "val_wa", "step") == {"val": [(100.0, 0.45), (200.0, 0.55), (300.0, 0.6)]}
    assert plots._series([{"step": 1, "lr": 0.1}], "lr", "step") == {"lr": [(1.0, 0.1)]}
    assert plots._series(RECORDS, "val_f1", "step") == {}
    assert plots._series(RECORDS, "loss", "epoch")["train"][-1] == (2.5, 0.7)


def test_training_curves_png(tmp_path):
    out = plots.training_curves_png(RECORDS, tmp_path / "curves.png", metrics=("loss", "train_accuracy", "val_wa", "val_ua", "lr"))
    _assert_png(out, (10.0, 6.4))  # four panels present ("lr" skipped): 2 x 2 grid
    log = tmp_path / "metrics.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n\n")
    _assert_png(plots.training_curves_png(log, tmp_path / "from_file.png", metrics=("loss",), x="epoch"), (5.0, 3.2))
    _assert_png(plots.training_curves_png([], tmp_path / "empty.png"))


def test_augmentation_curves_png(tmp_path):
    curves = {"dnn": {"wadan": {0: 0.70, 1: 0.74, 2: 0.76}, "smote": {0: 0.70, 1: 0.71, 2: 0.69}},
              "svm": {"wadan": {0: 0.68, 1: 0.70, 2: 0.71}}}
    out = plots.augmentation_curves_png(curves, tmp_path / "curves.png", chosen={"dnn": {"wadan": 0.75}}, title="t")
    _assert_png(out, (10.0, 3.6))  # one panel per classifier
    _assert_png(plots.augmentation_curves_png({}, tmp_path / "empty.png"), (5.0, 3.6))


def test_import_does_not_load_matplotlib():
    code = "import sys, jaxser.plots, jaxser.results; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tsne_real_vs_generated(tmp_path):
    import sklearn.manifold  # noqa: F401  (loads OpenMP first, so the limit below applies to it)
    from threadpoolctl import threadpool_limits

    # One OpenMP thread: sklearn's Barnes-Hut loop syncs threads every iteration, which
    # on an oversubscribed test machine (xdist workers, 2 cores) takes ~25 s instead of 0.3 s.
    with threadpool_limits(1):
        _check_tsne(tmp_path)


def _check_tsne(tmp_path):
    rng = np.random.default_rng(0)
    real_labels = np.repeat(np.arange(3), [14, 13, 13])
    fake_labels = rng.permutation(real_labels)
    centres = rng.normal(size=(3, 6)) * 4
    real = centres[real_labels] + rng.normal(size=(40, 6))
    fake = centres[fake_labels] + 0.8 * rng.normal(size=(40, 6))
    names = ["angry", "happy", "sad"]
    out = tmp_path / "sub" / "tsne.png"
    emb = plots.tsne_real_vs_generated(real, real_labels, fake, fake_labels, names, out, title="test")
    assert emb.shape == (80, 2) and np.isfinite(emb).all()
    _assert_png(out, (8.0, 6.0))
    small = plots.tsne_real_vs_generated(real, real_labels, fake, fake_labels, names, tmp_path / "small.png", max_per_class=4, seed=1)
    assert small.shape == (3 * 2 * 4, 2)  # 4 per class and kind
    _assert_png(tmp_path / "small.png", (8.0, 6.0))
    with pytest.raises(ValueError, match=r"integers in \[0, 3\)"):
        plots.tsne_real_vs_generated(real, real_labels + 1, fake, fake_labels, names, tmp_path / "bad.png")
