"""Cross-validation: train and evaluate every fold of a config's split, resumably.

    results = jaxser.experiments.run_cv(config, "runs/zhao2d_emodb_loso")

Each fold runs in ``workdir/fold-NN/`` (its own config with ``split.fold = NN``): the
system kind's stages (:mod:`jaxser.systems.stages`: one ``train`` stage for a network,
``fit`` for an estimator, more for later systems), then the test evaluation
(``eval.json``). A fold whose ``eval.json`` holds the test evaluation of the selected
model is done and skipped; a finished stage is never run again and an unfinished one
resumes from its checkpoints, so a killed run continues where it stopped. At the end ``results.json``, ``results.md`` and the pooled
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

from jaxser import config as config_lib
from jaxser import evaluate as evaluate_lib
from jaxser import results as results_lib
from jaxser import systems
from jaxser.systems import stages
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
    kind = systems.get(config)
    corpus = kind.load_data(config)
    all_folds = data.folds(config, corpus.meta)
    indices = list(range(len(all_folds))) if folds is None else list(folds)
    fold_results, other_outputs = {}, {}
    for index in indices:
        fold = all_folds[index]
        directory = fold_dir(workdir, index)
        done = directory / "eval.json"
        if not evaluate_lib.is_fold_result(done):
            fold_config = copy.deepcopy(config)
            fold_config.split.fold = index
            log(f"fold {index + 1}/{len(all_folds)} ({fold.name}): training in {directory}", file=sys.stderr)
            started = time.perf_counter()
            summary = train_fold(fold_config, directory, corpus=corpus, fold=fold, log=log)
            summary["wall_seconds"] = time.perf_counter() - started  # this run (resumed: since then)
            # Before eval.json, the "fold done" marker: a kill in between re-evaluates the
            # fold (cheap) instead of leaving a finished fold without its summary.
            if results_lib.is_primary_process():
                results_lib.write_atomic(directory / "fold_summary.json", json.dumps(summary, indent=1))
            evaluate_lib.evaluate_workdir(directory, corpus=corpus)
        evaluation = json.loads(done.read_text())
        summary_path = directory / "fold_summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        fold_results[fold.name] = {
            "confusion": evaluation["confusion"],
            "test_speakers": list(fold.test_speakers),
            "val_speakers": list(fold.val_speakers),
            "checkpoint_step": evaluation["checkpoint_step"],
            "train_steps": summary.get("steps"),
            "wall_seconds": summary.get("wall_seconds"),
        }
        for name, other in evaluation.get("softmax", {}).items():  # e.g. each network's own softmax
            other_outputs.setdefault(f"softmax/{name}", {})[fold.name] = other["confusion"]
        for name, other in evaluation.get("other_outputs", {}).items():  # e.g. each amount of augmented data
            other_outputs.setdefault(name, {})[fold.name] = other["confusion"]
        log(f"fold {fold.name}: WA {evaluation['wa']:.4f} UA {evaluation['ua']:.4f}", file=sys.stderr)
    meta = {
        "config": config.name,
        "kind": config.kind,
        "corpus": config.data.name,
        "split": config.split.kind,
        "protocol": _protocol(config, all_folds),
        "folds_run": len(indices),
        "folds_total": len(all_folds),
        "command": command,
    }
    complete = {name: folds for name, folds in other_outputs.items() if len(folds) == len(fold_results)}
    results_lib.write_cv_results(workdir, fold_results, corpus.class_names, meta=meta, other_outputs=complete)
    return results_lib.load_cv_results(workdir)


def train_fold(config: ml_collections.ConfigDict, workdir, *, corpus=None, fold=None, log=print) -> dict:
    """Run the stages of the config's fold (``split.fold``) in ``workdir``; the fold's summary.

    What ``jaxser train`` runs, and ``jaxser cv`` for each fold: any system kind. Each
    stage resumes where it stopped; evaluate afterwards with
    :func:`jaxser.evaluate.evaluate_workdir`.
    """
    workdir = pathlib.Path(workdir)
    kind = systems.get(config)
    if kind.train_step is not None:  # a device kind: the batch must split over the devices, checked before any data loads
        import jax

        config_lib.validate(config, num_devices=jax.device_count())
    corpus = kind.load_data(config) if corpus is None else corpus
    fold = data.fold(config, corpus.meta) if fold is None else fold
    plan = kind.stages(config)
    ctx = stages.StageContext(config, workdir, corpus, fold)
    if any(stage.in_fold_dir for stage in plan):
        # That stage owns the fold folder (the supervised trainer locks it, then writes
        # config.json): locking it here as well would refuse the trainer.
        return _fold_summary(stages.run_stages(plan, ctx, log=log))
    # The folder is this run's from its first write on: a second run is refused untouched.
    with workdir_lib.reporting_write_errors(workdir), workdir_lib.locked(workdir):
        supervised.write_config(config, workdir)  # what evaluate rebuilds the fold from
        return _fold_summary(stages.run_stages(plan, ctx, log=log))


def _fold_summary(summaries: dict[str, dict]) -> dict:
    """One stage: its summary as it is (the layout before stages); several: by stage."""
    if len(summaries) == 1:
        return dict(next(iter(summaries.values())))
    return {"stages": summaries}


def _protocol(config, folds) -> str:
    independent = all(f.speaker_independent for f in folds)
    s = config.split
    kind = {"loso": "leave-one-speaker-out", "session": "leave-one-session-out"}.get(s.kind, s.kind)
    if s.kind == "repeated_holdout":
        kind = f"random {1 - s.test_fraction:.0%}/{s.test_fraction:.0%} split repeated {s.k} times (test sets overlap)"
    validation = (
        f"{config.split.val_speakers} training speaker(s) held out for validation/early stopping"
        if config.split.val_speakers
        else (f"{config.split.val_fraction:.0%} random training examples for validation" if config.split.val_fraction else "no validation")
    )
    return f"{'speaker-independent' if independent else 'speaker-DEPENDENT'} {kind}; {validation}"
