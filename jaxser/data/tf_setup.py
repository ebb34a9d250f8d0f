"""Import TensorFlow for input pipelines only: never let it claim an accelerator.

TensorFlow grabs all GPU memory on import of a GPU build; jaxser's pipelines run on
the host and JAX owns the devices, so every jaxser module imports TF through here.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tensorflow():
    """Return the ``tensorflow`` module with GPUs and TPUs hidden from it."""
    import tensorflow as tf

    for kind in ("GPU", "TPU"):
        try:
            tf.config.set_visible_devices([], kind)
        except (RuntimeError, ValueError):
            # RuntimeError: devices already initialised (then TF has been set up
            # before, by us or the user); ValueError: no such device type.
            pass
    return tf
