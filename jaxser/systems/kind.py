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
    build_state: Callable | None = None
    train_step: Callable | None = None
    eval_step: Callable | None = None
    predict_step: Callable | None = None
