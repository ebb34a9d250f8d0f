"""PNG figures: confusion matrices, training curves, t-SNE of real vs generated vectors.

matplotlib (and scikit-learn, for t-SNE) is imported inside the functions so ``import
jaxser`` stays fast, and the figures are drawn on an explicit Agg canvas (no pyplot):
no global backend switch, no display needed, safe from any thread of a training run.
Files are written to a temp file and renamed, so a killed run never leaves a truncated
PNG; the image size is exactly ``figsize * dpi`` pixels (no tight bounding box).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

SPLITS = ("train", "val", "test")


def _save(fig, path) -> pathlib.Path:
    """Render ``fig`` through Agg to ``path`` atomically (temp file in the same folder + rename)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from jaxser import atomic_file

    FigureCanvasAgg(fig)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file.replacing(path, "wb") as f:
        fig.savefig(f, format="png", dpi=fig.dpi)
    return path


def _placeholder(fig, text: str, path) -> pathlib.Path:
    """``fig`` with nothing but ``text`` in it, saved: a figure with no data still says why."""
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center")
    return _save(fig, path)


def confusion_figsize(num_classes: int) -> tuple[float, float]:
    """Figure size in inches for K classes: grows with K so 11 classes stay readable."""
    side = max(4.5, 0.75 * num_classes + 2.5)
    return (side + 1.0, side)  # extra width for the colour bar


def confusion_matrix_png(
    confusion,
    class_names: Sequence[str],
    path,
    *,
    normalize: bool = True,
    title: str | None = None,
    dpi: int = 100,
) -> pathlib.Path:
    """Plot a ``[K, K]`` confusion matrix (rows = true class) to a PNG; returns the path.

    With ``normalize`` the cells are coloured and labelled by row percentage (the
    class's recall on the diagonal) with the count underneath; rows with no examples
    show "–". Without it, colour and label are counts. Raises ValueError when the
    matrix is not square or does not match ``class_names``.
    """
    from matplotlib.figure import Figure

    c = np.asarray(confusion)
    k = len(class_names)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"confusion must be a square [K, K] matrix, got shape {c.shape}")
    if c.shape[0] != k:
        raise ValueError(f"confusion is {c.shape[0]}x{c.shape[1]} but {k} class names were given: {list(class_names)}")
    if k == 0:
        raise ValueError("confusion has no classes")
    c = c.astype(np.float64)
    rows = c.sum(axis=1, keepdims=True)
    pct = np.divide(100.0 * c, rows, out=np.zeros_like(c), where=rows > 0)
    shown = pct if normalize else c

    fig = Figure(figsize=confusion_figsize(k), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    vmax = 100.0 if normalize else max(float(c.max()), 1.0)
    im = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("% of true class" if normalize else "count")
    fontsize = 10 if k <= 6 else 9 if k <= 9 else 8
    for i in range(k):
        for j in range(k):
            if normalize:
                text = f"{pct[i, j]:.1f}%\n({int(c[i, j])})" if rows[i, 0] > 0 else "–"
            else:
                text = f"{int(c[i, j])}"
            dark = shown[i, j] > 0.6 * vmax
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color="white" if dark else "black")
    ax.set_xticks(range(k), [str(n) for n in class_names], rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), [str(n) for n in class_names])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    n = int(c.sum())
    ax.set_title(title or f"Confusion matrix ({'row %, ' if normalize else ''}n = {n})")
    return _save(fig, path)


def _read_jsonl(path) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                records.append(json.loads(line))
    return records


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return None
    return float(value)


def _series(records: Sequence[Mapping[str, Any]], metric: str, x_key: str) -> dict[str, list[tuple[float, float]]]:
    """Points of one metric, keyed by line label (the split, or the metric's name if none)."""
    prefix, _, rest = metric.partition("_")
    split_metric = prefix in SPLITS and rest
    lines: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        x = _number(r.get(x_key))
        if x is None:
            continue
        split = r.get("split")
        if metric in r:  # flat "val_wa" keys join the "val" line of split-tagged records
            y, label = _number(r[metric]), str(split) if split else prefix if split_metric else metric
        elif split_metric and split == prefix and rest in r:
            y, label = _number(r[rest]), prefix
        else:
            continue
        if y is not None:
            lines.setdefault(label, []).append((x, y))
    return lines


def training_curves_png(
    records: Iterable[Mapping[str, Any]] | str | os.PathLike,
    path,
    *,
    metrics: Sequence[str] = ("loss", "train_accuracy", "val_wa", "val_ua"),
    x: str = "step",
    dpi: int = 100,
) -> pathlib.Path:
    """Plot training curves, one panel per metric that has data; returns the PNG path.

    ``records``: dicts as in the trainer's JSON-lines log, or the path of such a file
    (one JSON object per line). Each record needs the x key (``x``: ``"step"``, or
    ``"epoch"``) and may carry ``"split"`` (``"train"``, ``"val"``, ``"test"``) plus
    numeric metric values, e.g. ``{"step": 100, "epoch": 1.0, "split": "val", "loss":
    0.9, "wa": 0.61, "ua": 0.58}``. A name in ``metrics`` is looked up two ways:

    * as a key of the record: ``"loss"`` draws one line per split found (train and val
      loss on one panel); flat logs with keys like ``"val_wa"`` work too;
    * as ``"<split>_<key>"``: ``"val_wa"`` is ``"wa"`` of records with split ``"val"``,
      ``"train_accuracy"`` is ``"accuracy"`` of train records.

    Metrics with no numeric values, records without the x key and non-numeric values
    (``None``, strings, lists) are skipped; with nothing to plot the PNG says so
    instead of failing, so the trainer can always call this.
    """
    from matplotlib.figure import Figure

    if isinstance(records, (str, os.PathLike)):
        records = _read_jsonl(records)
    records = [r for r in records if isinstance(r, Mapping)]
    panels = [(m, s) for m in metrics if (s := _series(records, m, x))]

    ncols = min(2, max(len(panels), 1))
    nrows = max(1, math.ceil(len(panels) / ncols))
    fig = Figure(figsize=(5.0 * ncols, 3.2 * nrows), dpi=dpi, layout="constrained")
    if not panels:
        return _placeholder(fig, f"no values for {', '.join(metrics)}", path)
    for idx, (metric, lines) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, idx + 1)
        for label, points in lines.items():
            points.sort()
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o" if len(points) < 30 else None, markersize=3, label=label)
        ax.set_title(metric)
        ax.set_xlabel(x)
        ax.grid(True, alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=8)
    return _save(fig, path)


def _subsample_per_class(labels: np.ndarray, max_per_class: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices keeping at most ``max_per_class`` rows of each label."""
    if max_per_class is None:
        return np.arange(len(labels))
    keep = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        keep.append(rng.choice(rows, max_per_class, replace=False) if len(rows) > max_per_class else rows)
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)


def tsne_real_vs_generated(
    real,
    real_labels,
    fake,
    fake_labels,
    class_names: Sequence[str],
    path,
    *,
    title: str = "",
    seed: int = 0,
    max_per_class: int | None = None,
    dpi: int = 100,
) -> np.ndarray:
    """t-SNE of genuine and generated feature vectors together, saved as a PNG.

    As in the t-SNE figure of Yi & Mak (2020, IEEE TNNLS), "darker and lighter colors
    corresponding to synthetic and genuine vectors": one hue per emotion class, genuine
    vectors as light hollow circles, generated ones as dark filled circles. ``real`` [N, D] / ``fake`` [M, D] with integer labels in
    ``[0, len(class_names))``; pass the vectors as the classifier sees them (t-SNE
    distances depend on the feature scale).

    ``max_per_class``: keep at most that many vectors per class, separately for real
    and generated (t-SNE is O(n^2)); the choice is fixed by ``seed``, kept rows stay in
    their original order. The embedding uses scikit-learn's ``TSNE`` (2-D, PCA
    initialisation, ``random_state=seed``, perplexity ``min(30, (n - 1) / 3)``).

    Returns the ``[n, 2]`` embedding: the kept real rows first, then the kept
    generated rows.
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_rgb
    from matplotlib.figure import Figure
    from sklearn.manifold import TSNE

    real = np.asarray(real, dtype=np.float32)
    fake = np.asarray(fake, dtype=np.float32)
    real_labels = np.asarray(real_labels)
    fake_labels = np.asarray(fake_labels)
    k = len(class_names)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake must be [N, D] and [M, D] arrays with the same D, got {real.shape} and {fake.shape}")
    for name, x, y in (("real", real, real_labels), ("fake", fake, fake_labels)):
        if y.shape != (len(x),):
            raise ValueError(f"{name}_labels must have shape ({len(x)},), got {y.shape}")
        if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= k):
            raise ValueError(f"{name}_labels must be integers in [0, {k}) to match class_names {list(class_names)}")
    if max_per_class is not None and max_per_class < 1:
        raise ValueError(f"max_per_class must be >= 1 or None, got {max_per_class}")

    rng = np.random.default_rng(seed)
    keep_real = _subsample_per_class(real_labels, max_per_class, rng)
    keep_fake = _subsample_per_class(fake_labels, max_per_class, rng)
    vectors = np.concatenate([real[keep_real], fake[keep_fake]])
    n = len(vectors)
    if n < 2:
        raise ValueError(f"t-SNE needs at least 2 vectors, got {n}")
    tsne = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3.0), init="pca", random_state=seed)
    embedding = tsne.fit_transform(vectors)
    n_real = len(keep_real)
    kinds = (
        ("real", embedding[:n_real], real_labels[keep_real]),
        ("generated", embedding[n_real:], fake_labels[keep_fake]),
    )

    fig = Figure(figsize=(8.0, 6.0), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    for c, class_name in enumerate(class_names):
        base = np.array(to_rgb(cmap(c % cmap.N)))
        light = tuple(1.0 - 0.55 * (1.0 - base))  # towards white: genuine
        dark = tuple(0.7 * base)  # towards black: synthetic
        for kind, points, labels in kinds:
            sel = points[labels == c]
            if not len(sel):
                continue
            if kind == "real":
                ax.scatter(sel[:, 0], sel[:, 1], s=16, facecolors="none", edgecolors=[light], linewidths=0.9, label=f"{class_name} (real)")
            else:
                ax.scatter(sel[:, 0], sel[:, 1], s=12, color=[dark], alpha=0.85, linewidths=0, label=f"{class_name} (generated)")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title(title or f"t-SNE: real (n = {n_real}) vs generated (n = {n - n_real})")
    if ax.get_legend_handles_labels()[0]:
        fig.legend(loc="outside right upper", fontsize=8, markerscale=1.5)
    _save(fig, path)
    return embedding


def augmentation_curves_png(
    curves: Mapping[str, Mapping[str, Mapping[int, float]]],
    path,
    *,
    metric: str = "WA",
    chosen: Mapping[str, Mapping[str, float]] | None = None,
    title: str = "",
    dpi: int = 100,
) -> pathlib.Path:
    """Test accuracy against the amount of augmented data, one panel per classifier (as
    Fig. 6 of Yi & Mak 2020); returns the PNG path.

    ``curves[classifier][method][m]``: the figure (a fraction) with ``m`` augmented sets
    added to the real training data, e.g. ``{"dnn": {"wadan": {0: 0.80, 1: 0.82}}}``.
    ``chosen[classifier][method]``: the figure at the amount chosen on validation
    speakers, drawn as a dashed level in the method's colour.
    """
    from matplotlib.figure import Figure

    panels = [name for name in curves if curves[name]]
    fig = Figure(figsize=(5.0 * max(len(panels), 1), 3.6), dpi=dpi, layout="constrained")
    if not panels:
        return _placeholder(fig, "no curves", path)
    if title:
        fig.suptitle(title)
    for idx, classifier in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), idx + 1)
        for method, points in sorted(curves[classifier].items()):
            ms = sorted(points, key=int)  # int or JSON's string keys
            (line,) = ax.plot([int(m) for m in ms], [100 * points[m] for m in ms], marker="o", markersize=3,
                              label=method)
            level = (chosen or {}).get(classifier, {}).get(method)
            if level is not None:
                ax.axhline(100 * level, color=line.get_color(), linestyle="--", linewidth=0.8)
        ax.set_title(classifier.upper())
        ax.set_xlabel("augmented sets added (m)")
        ax.set_ylabel(f"test {metric} (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)
