"""Import TensorFlow for input pipelines only: never let it claim an accelerator.

TensorFlow grabs all GPU memory on import of a GPU build; jaxser's pipelines run on
the host and JAX owns the devices, so every jaxser module imports TF through here.

With ``TF_CPP_MIN_LOG_LEVEL=3`` (what the command line sets unless ``--verbose``), the
C++ lines TF writes while it is imported are held back too: TF 2.21 prints its oneDNN
notice through absl before absl's logging is set up, past the level, on some CPUs
(AMD Zen 3 here). If the import fails, they are written out with the error.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def held_stderr():
    """Send file descriptor 2 (C libraries' stderr, and Python's) to a temporary file for
    the block; drop it if the block succeeds, write it to stderr if it raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    try:
        with tempfile.TemporaryFile() as held:
            os.dup2(held.fileno(), 2)
            try:
                yield
            except BaseException:
                failed = True
                raise
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                if failed:
                    held.seek(0)
                    os.write(2, held.read())
    finally:
        os.close(saved)


def tensorflow():
    """Return the ``tensorflow`` module with GPUs and TPUs hidden from it."""
    quiet = "tensorflow" not in sys.modules and os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "3"
    with held_stderr() if quiet else contextlib.nullcontext():
        import tensorflow as tf

    for kind in ("GPU", "TPU"):
        try:
            tf.config.set_visible_devices([], kind)
        except (RuntimeError, ValueError):
            # RuntimeError: devices already initialised (then TF has been set up
            # before, by us or the user); ValueError: no such device type.
            pass
    return tf
