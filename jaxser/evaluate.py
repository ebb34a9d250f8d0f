"""Evaluate a training run's checkpoint on its fold's test speakers.

    result = jaxser.evaluate.evaluate_workdir("runs/zhao2d-fold0")      # best checkpoint
    result["wa"], result["ua"], result["per_class_recall"]

Writes ``eval.json`` (WA, UA, per-class recall/precision/F1, confusion, counts, the
checkpoint used, the test and validation speakers), ``predictions.csv`` (one row per
utterance: id, speaker, true and predicted label, class probabilities) and
``confusion.png`` into the workdir. Any system kind: the kind evaluates
(:mod:`jaxser.systems`), this module names and writes the files.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import pathlib
from typing import Any

import numpy as np

from jaxser import config as config_lib
from jaxser import plots, results, systems
from jaxser.train import checkpoint
from jaxser.train import workdir as workdir_lib


def load_config(workdir: str | pathlib.Path):
    path = pathlib.Path(workdir) / "config.json"
    if not path.is_file():
        raise checkpoint.CheckpointError(f"{path} not found: {workdir} is not a jaxser training run directory")
    return config_lib.from_json(path.read_text())


@dataclasses.dataclass
class Evaluated:
    """What a system kind's ``evaluate`` returns: per-utterance scores and where they came from."""

    result: Any  # jaxser.train.supervised.EvalResult: ids, probs [U, K], labels, metrics
    fold: Any  # the jaxser.data.splits.Fold evaluated
    class_names: tuple[str, ...]
    meta: dict  # the corpus metadata (id, speaker, ...), for predictions.csv
    checkpoint: str  # "best" / "latest" (networks) or "fitted" (estimators)
    checkpoint_step: int | None
    score_name: str = "p"  # predictions.csv columns: p_<class> (probabilities) or score_<class>


def official(part: str, which: str) -> bool:
    """Only the test part scored by the selected model is a fold's result (``eval.json``);
    other evaluations get their own files and never count in a cross-validation."""
    return part == "test" and which == checkpoint.BEST


def file_names(part: str, which: str) -> dict[str, str]:
    suffix = "" if official(part, which) else f"-{part}-{which}"
    return {"json": f"eval{suffix}.json", "csv": f"predictions{suffix}.csv", "png": f"confusion{suffix}.png"}


def is_fold_result(path: pathlib.Path) -> bool:
    """``path`` (an ``eval.json``) holds a test evaluation of the selected model. An
    ``eval.json`` that an older jaxser let ``--part val`` or ``--which latest`` overwrite
    does not, and must not be pooled as the fold's test result."""
    if not path.is_file():
        return False
    result = json.loads(path.read_text())
    return result.get("part") == "test" and result.get("checkpoint") in (checkpoint.BEST, "fitted")


def evaluate_workdir(
    workdir: str | pathlib.Path,
    *,
    which: str = checkpoint.BEST,
    part: str = "test",
    corpus=None,
    write: bool = True,
) -> dict:
    """Metrics of the ``which`` ("best" or "latest") checkpoint on the fold's ``part``.

    The test part of the best checkpoint writes ``eval.json`` (the fold's result, which
    ``jaxser cv`` pools); any other part or checkpoint writes ``eval-<part>-<which>.json``
    and never replaces it.
    """
    workdir = pathlib.Path(workdir)
    if which not in (checkpoint.BEST, checkpoint.LATEST):
        raise ValueError(f"which={which!r}: use 'best' or 'latest'")
    config = load_config(workdir)
    evaluated = systems.get(config).evaluate(config, workdir, which=which, part=part, corpus=corpus)
    fold = evaluated.fold
    result = {
        **evaluated.result.metrics,
        "fold": fold.name,
        "part": part,
        "speakers": list(fold.speakers(part)),
        "val_speakers": list(fold.speakers("val")),
        "speaker_independent": fold.speaker_independent,
        "checkpoint": evaluated.checkpoint,
        "checkpoint_step": evaluated.checkpoint_step,
        "config": config.name,
        "corpus": config.data.name,
    }
    if write and results.is_primary_process():
        with workdir_lib.reporting_write_errors(workdir):  # a read-only or full disk: a clear error
            _write(workdir, result, evaluated, file_names(part, which))
    return result


def _write(workdir: pathlib.Path, result: dict, evaluated: Evaluated, names: dict[str, str]) -> None:
    title = f"{result['config']} {result['fold']} ({result['part']}): WA {result['wa']:.3f}, UA {result['ua']:.3f}"
    class_names = evaluated.class_names
    plots.confusion_matrix_png(np.asarray(result["confusion"]), class_names, workdir / names["png"], title=title)
    by_id = dict(zip(evaluated.meta["id"].tolist(), evaluated.meta["speaker"].tolist()))
    rows = io.StringIO()
    out = csv.writer(rows)
    out.writerow(["id", "speaker", "label", "predicted", *[f"{evaluated.score_name}_{name}" for name in class_names]])
    ev = evaluated.result
    predicted = np.argmax(ev.probs, axis=-1)
    for i, example_id in enumerate(ev.ids):
        row = [example_id, by_id.get(example_id, ""), class_names[ev.labels[i]]]
        row += [class_names[predicted[i]], *[f"{p:.6f}" for p in ev.probs[i]]]
        out.writerow(row)
    results.write_atomic(workdir / names["csv"], rows.getvalue())
    # Last: `jaxser cv` takes an eval.json as "this fold is finished".
    results.write_atomic(workdir / names["json"], json.dumps(result, indent=1))
