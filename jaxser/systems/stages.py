"""Stages within a fold: each fitted on that fold's training part only, each resumable.

    summaries = run_stages(kind.stages(config), StageContext(config, fold_dir, corpus, fold))

A system's fold is a short sequence of stages (fit a normaliser and an SVM; or train an
augmenter, generate, train the classifier, fuse). Each stage works in its own folder,
``fold-NN/<stage>/`` (the supervised trainer's one stage keeps the fold folder itself,
the layout runs had before stages existed), and finishes by writing ``stage.json``
there: a finished stage is never run again, an unfinished one is started again and
resumes from whatever it checkpointed. Later stages read earlier ones' outputs from
their folders (``ctx.stage_dir(name)``) and summaries (``ctx.summaries``).

What a stage may fit on: the fold's ``train`` part (and select on ``val``, read through
``ctx.fold.ids(part)``); the fold's test speakers reach only the kind's ``evaluate``. The tests of each kind
spy on what its estimators and trainers were given and check that no test speaker's
example is among it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from jaxser import results as results_lib

MARKER = "stage.json"


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of a fold. ``run(ctx)`` does the work in ``ctx.directory`` and returns a
    JSON-able summary. ``in_fold_dir``: the fold folder itself is the stage folder, and
    the stage keeps no marker because it resumes by itself (the supervised trainer: its
    checkpoints say where it stands, and a finished run returns at once; a marker would
    stop a resumed run with more ``train.epochs`` from training on)."""

    name: str
    run: Callable[[StageContext], dict]
    in_fold_dir: bool = False


@dataclasses.dataclass
class StageContext:
    config: Any
    fold_dir: pathlib.Path
    corpus: Any  # what the kind's load_data returned
    fold: Any  # jaxser.data.splits.Fold
    directory: pathlib.Path | None = None  # this stage's folder (set by run_stages)
    summaries: dict = dataclasses.field(default_factory=dict)  # earlier stages' summaries, by name

    def stage_dir(self, name: str) -> pathlib.Path:
        """The folder of the (earlier) stage ``name``, to read its outputs."""
        return self.fold_dir / name


def run_stages(stages: tuple[Stage, ...], ctx: StageContext, *, log=print) -> dict[str, dict]:
    """Run the unfinished stages in order; returns every stage's summary by name."""
    for stage in stages:
        directory = ctx.fold_dir if stage.in_fold_dir else ctx.fold_dir / stage.name
        done = directory / MARKER
        if not stage.in_fold_dir and done.is_file():
            ctx.summaries[stage.name] = json.loads(done.read_text())["summary"]
            continue
        directory.mkdir(parents=True, exist_ok=True)
        if len(stages) > 1:
            log(f"  stage {stage.name} in {directory}", file=sys.stderr)
        started = time.perf_counter()
        summary = stage.run(dataclasses.replace(ctx, directory=directory))
        record = {
            "stage": stage.name,
            "summary": summary,
            "seconds": time.perf_counter() - started,
            "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        text = json.dumps(record, indent=1, default=results_lib.jsonable)
        if results_lib.is_primary_process() and not stage.in_fold_dir:
            results_lib.write_atomic(done, text)
        ctx.summaries[stage.name] = json.loads(text)["summary"]
    return dict(ctx.summaries)



def save_arrays(path: pathlib.Path, arrays: dict) -> None:
    """A stage's fitted arrays as one ``.npz`` (plain arrays, no pickle), written atomically."""
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_arrays(path: pathlib.Path, *, fix: str) -> dict[str, np.ndarray]:
    """The arrays :func:`save_arrays` wrote; a missing or damaged file is a
    :class:`~jaxser.train.checkpoint.CheckpointError` ending with ``fix``."""
    from jaxser.train.checkpoint import CheckpointError

    if not path.is_file():
        raise CheckpointError(f"{path} not found: {fix}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{path} is damaged ({type(err).__name__}: {err}); {fix}") from None
