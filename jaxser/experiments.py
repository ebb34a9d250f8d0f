"""Cross-validation: train and evaluate every fold of a config's split, resumably.

    results = jaxser.experiments.run_cv(config, "runs/zhao2d_emodb_loso")

Each fold runs in ``workdir/fold-NN/`` (its own config with ``split.fold = NN``,
checkpoints, logs, ``eval.json``). A fold whose ``eval.json`` exists is done and is
skipped, and an unfinished fold resumes from its latest checkpoint, so a killed run
continues where it stopped. At the end ``results.json``, ``results.md`` and the pooled
confusion matrix are written (:func:`jaxser.results.write_cv_results`): per fold WA/UA
and both aggregates, pooled over all test utterances and mean ± std over folds.
"""

from __future__ import annotations

import copy
import json
import pathlib
import sys
import time

import ml_collections

from jaxser import evaluate as evaluate_lib
from jaxser import results as results_lib
from jaxser.train import data, supervised
from jaxser.train import workdir as workdir_lib


def fold_dir(workdir: pathlib.Path, index: int) -> pathlib.Path:
    return workdir / f"fold-{index:02d}"


def run_cv(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    *,
    folds: list[int] | None = None,
    command: str = "",
    log=print,
) -> dict:
    """Train and evaluate the folds (all by default); returns the results dict."""
    workdir = pathlib.Path(workdir)
    with workdir_lib.locked(workdir):
        return _run_cv(config, workdir, folds, command, log)


def _run_cv(config, workdir: pathlib.Path, folds, command: str, log) -> dict:
    corpus = data.load_corpus(config)
    all_folds = data.folds(config, corpus.meta)
    indices = list(range(len(all_folds))) if folds is None else list(folds)
    fold_results = {}
    for index in indices:
        fold = all_folds[index]
        directory = fold_dir(workdir, index)
        done = directory / "eval.json"
        if not done.is_file():
            fold_config = copy.deepcopy(config)
            fold_config.split.fold = index
            log(f"fold {index + 1}/{len(all_folds)} ({fold.name}): training in {directory}", file=sys.stderr)
            started = time.perf_counter()
            _, summary = supervised.Trainer(fold_config, directory, corpus=corpus, fold=fold).fit()
            summary["wall_seconds"] = time.perf_counter() - started  # training, this run (resumed: since then)
            # Before eval.json, the "fold done" marker: a kill in between re-evaluates the
            # fold (cheap) instead of leaving a finished fold without its summary.
            results_lib.write_atomic(directory / "fold_summary.json", json.dumps(summary, indent=1))
            evaluate_lib.evaluate_workdir(directory, corpus=corpus)
        evaluation = json.loads(done.read_text())
        summary_path = directory / "fold_summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        fold_results[fold.name] = {
            "confusion": evaluation["confusion"],
            "test_speakers": list(fold.test_speakers),
            "checkpoint_step": evaluation["checkpoint_step"],
            "train_steps": summary.get("steps"),
            "wall_seconds": summary.get("wall_seconds"),
        }
        log(f"fold {fold.name}: WA {evaluation['wa']:.4f} UA {evaluation['ua']:.4f}", file=sys.stderr)
    meta = {
        "config": config.name,
        "corpus": config.data.name,
        "split": config.split.kind,
        "protocol": _protocol(config, all_folds),
        "folds_run": len(indices),
        "folds_total": len(all_folds),
        "command": command,
    }
    results_lib.write_cv_results(workdir, fold_results, corpus.class_names, meta=meta)
    return results_lib.load_cv_results(workdir)


def _protocol(config, folds) -> str:
    independent = all(f.speaker_independent for f in folds)
    kind = {"loso": "leave-one-speaker-out", "session": "leave-one-session-out"}.get(config.split.kind, config.split.kind)
    validation = (
        f"{config.split.val_speakers} training speaker(s) held out for validation/early stopping"
        if config.split.val_speakers
        else (f"{config.split.val_fraction:.0%} random training examples for validation" if config.split.val_fraction else "no validation")
    )
    return f"{'speaker-independent' if independent else 'speaker-DEPENDENT'} {kind}; {validation}"
