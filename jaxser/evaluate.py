"""Evaluate a training run's checkpoint on its fold's test speakers.

    result = jaxser.evaluate.evaluate_workdir("runs/zhao2d-fold0")      # best checkpoint
    result["wa"], result["ua"], result["per_class_recall"]

Writes ``eval.json`` (WA, UA, per-class recall/precision/F1, confusion, counts, the
checkpoint used), ``predictions.csv`` (one row per utterance: id, speaker, true and
predicted label, class probabilities) and ``confusion.png`` into the workdir.
"""

from __future__ import annotations

import csv
import io
import json
import pathlib

import jax
import numpy as np

from jaxser import config as config_lib
from jaxser import plots, results
from jaxser.train import checkpoint, supervised
from jaxser.train import workdir as workdir_lib


def load_config(workdir: str | pathlib.Path):
    path = pathlib.Path(workdir) / "config.json"
    if not path.is_file():
        raise checkpoint.CheckpointError(f"{path} not found: {workdir} is not a jaxser training run directory")
    return config_lib.from_json(path.read_text())


def evaluate_workdir(
    workdir: str | pathlib.Path,
    *,
    which: str = checkpoint.BEST,
    part: str = "test",
    corpus=None,
    write: bool = True,
) -> dict:
    """Metrics of the ``which`` ("best" or "latest") checkpoint on the fold's ``part``."""
    workdir = pathlib.Path(workdir)
    if which not in (checkpoint.BEST, checkpoint.LATEST):
        raise ValueError(f"which={which!r}: use 'best' or 'latest'")
    config = load_config(workdir)
    trainer = supervised.Trainer(config, workdir, corpus=corpus)
    state, meta = checkpoint.restore(workdir / "checkpoints" / which, trainer.initial_state)
    evaluation = trainer.evaluate(state, trainer.fold.ids(part))
    result = {
        **evaluation.metrics,
        "fold": trainer.fold.name,
        "part": part,
        "speakers": list(trainer.fold.speakers(part)),
        "speaker_independent": trainer.fold.speaker_independent,
        "checkpoint": which,
        "checkpoint_step": int(meta["step"]),
        "config": config.name,
        "corpus": config.data.name,
    }
    if write and jax.process_index() == 0:
        with workdir_lib.reporting_write_errors(workdir):  # a read-only or full disk: a clear error
            _write(workdir, result, evaluation, trainer)
    return result


def _write(workdir: pathlib.Path, result: dict, evaluation, trainer) -> None:
    title = f"{result['config']} {result['fold']} ({result['part']}): WA {result['wa']:.3f}, UA {result['ua']:.3f}"
    plots.confusion_matrix_png(np.asarray(result["confusion"]), trainer.class_names, workdir / "confusion.png", title=title)
    by_id = dict(zip(trainer.corpus.meta["id"].tolist(), trainer.corpus.meta["speaker"].tolist()))
    rows = io.StringIO()
    out = csv.writer(rows)
    out.writerow(["id", "speaker", "label", "predicted", *[f"p_{name}" for name in trainer.class_names]])
    predicted = np.argmax(evaluation.probs, axis=-1)
    for i, example_id in enumerate(evaluation.ids):
        row = [example_id, by_id.get(example_id, ""), trainer.class_names[evaluation.labels[i]]]
        row += [trainer.class_names[predicted[i]], *[f"{p:.6f}" for p in evaluation.probs[i]]]
        out.writerow(row)
    results.write_atomic(workdir / "predictions.csv", rows.getvalue())
    # Last: `jaxser cv` takes an eval.json as "this fold is finished".
    results.write_atomic(workdir / "eval.json", json.dumps(result, indent=1))
