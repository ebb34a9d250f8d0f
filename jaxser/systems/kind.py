"""The interface every system kind implements (see :mod:`jaxser.systems`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    description: str
    validate: Callable[[Any], None]
    load_data: Callable[[Any], Any]
    stages: Callable[[Any], tuple]
    evaluate: Callable[..., dict]
    predictor: Callable[..., Any]
    # build_state(config, num_classes, total_steps, corpus) -> the initial (unreplicated) state
    build_state: Callable | None = None
    train_step: Callable | None = None
    eval_step: Callable | None = None
    predict_step: Callable | None = None
    # Example fields the train step needs beyond audio/length/label/mask (the pipeline
    # keeps them: PipelineConfig.extra_keys), e.g. a row index and a feature vector.
    batch_keys: tuple[str, ...] = ()
    # fold_corpus(loaded, fold, config) -> what the trainer reads for one fold, when that
    # is not ``load_data``'s corpus itself (e.g. with features normalised on the fold).
    fold_corpus: Callable | None = None
