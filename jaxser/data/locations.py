"""Where corpora are built: one default TFDS ``data_dir`` for the CLI, the trainer and :mod:`jaxser.data`.

``$JAXSER_TFDS_DIR``, else ``~/.cache/jaxser/tensorflow_datasets``; an explicit data
dir (``data_dir=``, ``--data-dir``, ``data.data_dir``) always wins. Kept free of
TensorFlow so the CLI and config checks can read it without importing TF.
"""

from __future__ import annotations

import os
import pathlib

ENV = "JAXSER_TFDS_DIR"
DEFAULT = "~/.cache/jaxser/tensorflow_datasets"


def default_data_dir() -> pathlib.Path:
    """The folder corpora are built into when no data dir is given (read at each call)."""
    return pathlib.Path(os.environ.get(ENV) or DEFAULT).expanduser()


def data_dir(explicit: str | os.PathLike[str] | None) -> pathlib.Path:
    """``explicit`` when given (not None or empty), else :func:`default_data_dir`."""
    return pathlib.Path(explicit).expanduser() if explicit else default_data_dir()


__all__ = ["DEFAULT", "ENV", "data_dir", "default_data_dir"]
