"""Cross-validation result files: ``results.json``, ``results.md`` and a pooled confusion PNG.

``results.json`` is the record a run leaves behind (tables, BUILD_NOTES and the
comparison with a paper read it back with :func:`load_cv_results`); ``results.md`` is
the same numbers as a table for people. Both aggregates are written, because papers
report either: **pooled** (WA/UA of the summed confusion over all test folds) and
**fold mean ± std** (population std, ddof=0, of the per-fold WA/UA). Every file is
written to a temp file and renamed, and ``results.json`` is written last, so a killed
run leaves either the previous complete results or the new ones, never half a file.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxser import atomic_file, metrics, plots

FORMAT_VERSION = 1
JSON_NAME = "results.json"
MD_NAME = "results.md"
PNG_NAME = "confusion_pooled.png"
_SUMMARY_KEYS = ("total", "wa", "ua", "ua_classes", "counts", "per_class_recall",
                 "per_class_precision", "per_class_f1", "confusion")


def jsonable(value: Any) -> Any:
    """``json.dumps`` default: NumPy/JAX scalars and arrays, paths, dates, sets."""
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__array__"):
        return np.asarray(value).tolist()
    if isinstance(value, (pathlib.PurePath, datetime.date)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable: {value!r}")


def is_primary_process() -> bool:
    """Whether this process writes a run's files: process 0 of a multi-host run, or a
    process that never imported JAX (an estimator-only system runs in one process)."""
    jax = sys.modules.get("jax")
    return jax is None or jax.process_index() == 0


def write_atomic(path: pathlib.Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it over: never half a file."""
    with atomic_file.replacing(path, "w", encoding="utf-8") as f:
        f.write(text)


def _pct(x: float) -> str:
    return f"{100.0 * x:.2f}"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _markdown(doc: dict[str, Any]) -> str:
    meta, folds, agg = doc["meta"], doc["folds"], doc["aggregate"]
    pooled, mean = agg["pooled"], agg["fold_mean"]
    title = meta.get("config") or meta.get("name") or "cross-validation"
    out = [f"# Results: {_cell(title)}", ""]
    for key, value in meta.items():
        shown = f"`{value}`" if key == "command" else _cell(value)
        out.append(f"- {_cell(key)}: {shown}")
    out += [f"- classes: {', '.join(doc['class_names'])}", ""]
    out += ["| Fold | Test speakers | Validation speakers | n | WA (%) | UA (%) |", "|---|---|---|---:|---:|---:|"]
    joined = lambda values: ", ".join(str(s) for s in values or []) or "–"  # noqa: E731
    for name, f in folds.items():
        out.append(
            f"| {_cell(name)} | {_cell(joined(f.get('test_speakers')))} | {_cell(joined(f.get('val_speakers')))} | "
            f"{f['total']} | {_pct(f['wa'])} | {_pct(f['ua'])} |"
        )
    out.append(f"| **Pooled** | all folds | | {pooled['total']} | {_pct(pooled['wa'])} | {_pct(pooled['ua'])} |")
    out.append(
        f"| **Mean ± std** | {mean['n_folds']} folds | | {pooled['total']} | "
        f"{_pct(mean['wa'])} ± {_pct(mean['wa_std'])} | {_pct(mean['ua'])} ± {_pct(mean['ua_std'])} |"
    )
    out += [
        "",
        "WA (weighted accuracy): the share of test utterances classified correctly, so each "
        "class counts by its size. UA (unweighted accuracy): the mean of the per-class "
        "recalls over the classes present in the test set, so each class counts equally. "
        "Pooled: WA/UA of the confusion matrix summed over all test folds. Mean ± std: "
        "unweighted mean over folds with the population std (ddof=0). Validation speakers: "
        "the training speakers held out for model selection (never a test speaker).",
        "",
        "Pooled per class:",
        "",
        "| Class | n | Recall (%) | Precision (%) | F1 (%) |",
        "|---|---:|---:|---:|---:|",
    ]
    fmt = lambda v: "–" if v is None else _pct(v)  # noqa: E731
    for c in doc["class_names"]:
        out.append(
            f"| {_cell(c)} | {pooled['counts'][c]} | {fmt(pooled['per_class_recall'][c])} | "
            f"{fmt(pooled['per_class_precision'][c])} | {fmt(pooled['per_class_f1'][c])} |"
        )
    other = agg.get("other_outputs")
    if other:
        out += ["", "Other outputs of the same runs (not the folds' result):", "",
                "| Output | Pooled WA (%) | Pooled UA (%) | Mean WA ± std | Mean UA ± std |", "|---|---:|---:|---:|---:|"]
        for name, o in other.items():
            p, m = o["pooled"], o["fold_mean"]
            out.append(f"| {_cell(name)} | {_pct(p['wa'])} | {_pct(p['ua'])} | {_pct(m['wa'])} ± {_pct(m['wa_std'])} | "
                       f"{_pct(m['ua'])} ± {_pct(m['ua_std'])} |")
    if doc.get("confusion_png"):
        out += ["", f"![Pooled confusion matrix]({doc['confusion_png']})"]
    return "\n".join(out) + "\n"


def _other(outputs, class_names) -> dict[str, Any]:
    if not outputs:
        return {}
    table = {}
    for name, confusions in outputs.items():
        agg = metrics.pooled_and_fold_mean(dict(confusions), class_names)
        pooled, mean = agg["pooled"], agg["fold_mean"]
        table[name] = {
            "pooled": {"wa": pooled["wa"], "ua": pooled["ua"], "total": pooled["total"]},
            "fold_mean": {k: mean[k] for k in ("wa", "wa_std", "ua", "ua_std", "n_folds")},
        }
    return {"other_outputs": table}


def write_cv_results(
    workdir,
    fold_results: Mapping[str, Mapping[str, Any]],
    class_names: Sequence[str],
    *,
    meta: Mapping[str, Any],
    other_outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[pathlib.Path, pathlib.Path]:
    """Write ``results.json``, ``results.md`` and ``confusion_pooled.png`` into ``workdir``.

    Args:
      workdir: the cross-validation run's folder (created if missing).
      fold_results: ``{fold name: {"confusion": [K, K] counts, "test_speakers": [...],
        ...}}`` in the order the table should list them. ``confusion`` is required; every
        other key (test speakers, steps, wall time, checkpoint...) is kept in the fold's
        JSON entry and must be JSON-serialisable (NumPy values are converted).
      class_names: the K class names, in label-index order.
      meta: run description kept verbatim under ``"meta"`` and listed atop the Markdown,
        e.g. ``config``, ``split``, ``command``, ``protocol`` ("speaker-independent
        LOSO"), which aggregate the paper reports, start/end times. ``written_at``
        (UTC, ISO 8601) is added unless given.

    Returns:
      ``(json_path, md_path)``. The JSON holds ``folds`` (each: the extra keys plus
      :func:`jaxser.metrics.summarize`'s numbers), ``aggregate`` (``pooled`` and
      ``fold_mean``, see :func:`jaxser.metrics.pooled_and_fold_mean`), ``class_names``,
      ``meta``, ``format_version`` and ``confusion_png``.

    ``other_outputs``: ``{output name: {fold name: confusion}}`` of other outputs of the
    same runs that are not the folds' result (each network's own softmax beside the SVM
    that fuses them); their pooled and fold-mean WA/UA go to ``aggregate["other_outputs"]``
    and a table of the Markdown.
    """
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if not fold_results:
        raise ValueError("no fold results to write")
    missing = [name for name, r in fold_results.items() if "confusion" not in r]
    if missing:
        raise ValueError(f"fold results without a 'confusion' matrix: {missing}")
    agg = metrics.pooled_and_fold_mean({n: r["confusion"] for n, r in fold_results.items()}, class_names)
    folds = {}
    for name, result in fold_results.items():
        summary = agg["folds"][str(name)]
        entry = {k: v for k, v in result.items() if k not in _SUMMARY_KEYS}
        entry.update({k: summary[k] for k in _SUMMARY_KEYS})
        folds[str(name)] = entry
    meta = dict(meta)
    meta.setdefault("written_at", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    doc = {
        "format_version": FORMAT_VERSION,
        "class_names": [str(c) for c in class_names],
        "meta": meta,
        "folds": folds,
        "aggregate": {"pooled": agg["pooled"], "fold_mean": agg["fold_mean"], **_other(other_outputs, class_names)},
        "confusion_png": PNG_NAME,
    }
    # Serialise first: a non-JSON value fails before any file is touched.
    text = json.dumps(doc, indent=2, allow_nan=False, default=jsonable) + "\n"
    doc = json.loads(text)
    title = f"Pooled confusion, {meta.get('config') or 'cross-validation'} (n = {agg['pooled']['total']})"
    plots.confusion_matrix_png(agg["pooled"]["confusion"], doc["class_names"], workdir / PNG_NAME, title=title)
    md_path, json_path = workdir / MD_NAME, workdir / JSON_NAME
    write_atomic(md_path, _markdown(doc))
    write_atomic(json_path, text)  # last: its presence means the run's results are complete
    return json_path, md_path


def load_cv_results(workdir) -> dict[str, Any]:
    """Read ``results.json`` from ``workdir`` (or a path to the file itself)."""
    path = pathlib.Path(workdir)
    if path.is_dir():
        path = path / JSON_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no cross-validation results; run `jaxser cv` to write them")
    doc = json.loads(path.read_text(encoding="utf-8"))
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: results format_version {version!r}, this jaxser reads {FORMAT_VERSION}")
    return doc
