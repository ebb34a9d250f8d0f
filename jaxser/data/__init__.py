"""Corpora, splits and input pipelines.

``load``, ``builder`` and ``metadata`` (from :mod:`jaxser.data.corpora`) are imported
on first use, so ``import jaxser.data`` does not import TensorFlow.
"""

from __future__ import annotations

import importlib

__all__ = ["builder", "load", "metadata"]


def __getattr__(name):
    if name in __all__:
        return getattr(importlib.import_module("jaxser.data.corpora"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
