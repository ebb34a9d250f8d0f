"""A supervised run's network: the model its config names, and where its class names are kept.

Shared by the trainer and :mod:`jaxser.predict`; kept out of the trainer's module so
prediction builds the same model without importing the input pipeline (TensorFlow).
"""

from __future__ import annotations

import ml_collections

from jaxser import models

CLASSES_FILE = "classes.json"  # in the workdir: class names, corpus and fold of the run


def build_model(config: ml_collections.ConfigDict, num_classes: int, *, bn_axis_name: str | None):
    return models.build(config.model.name, num_classes, bn_axis_name=bn_axis_name, **config.model.kwargs.to_dict())


__all__ = ["CLASSES_FILE", "build_model"]
