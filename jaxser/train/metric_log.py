"""Metric logs of a run: JSON lines (for scripts and plots) and TensorBoard summaries.

Only process 0 writes. Each record is one line of ``workdir/metrics.jsonl``::

    {"step": 120, "epoch": 3.0, "split": "train", "loss": 1.2, "accuracy": 0.51, "time": ...}
    {"step": 120, "epoch": 3.0, "split": "val", "loss": 1.3, "wa": 0.48, "ua": 0.45, ...}
"""

from __future__ import annotations

import json
import math
import pathlib
import time

import jax


class MetricWriter:
    def __init__(self, workdir: str | pathlib.Path, *, tensorboard: bool = True):
        self.enabled = jax.process_index() == 0
        self.path = pathlib.Path(workdir) / "metrics.jsonl"
        self._tb = None
        if self.enabled and tensorboard:
            from jaxser.data.tf_setup import tensorflow

            tf = tensorflow()
            self._tb = tf.summary.create_file_writer(str(pathlib.Path(workdir) / "tensorboard"))

    def write(self, step: int, split: str, values: dict, **extra) -> None:
        if not self.enabled:
            return
        record = {"step": int(step), "split": split, **extra, **{k: _plain(v) for k, v in values.items()}}
        record["time"] = time.time()
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            with self._tb.as_default(step=int(step)):
                import tensorflow as tf  # already imported (hidden from GPUs) by tf_setup

                for key, value in values.items():
                    if isinstance(value, (int, float)) and math.isfinite(float(value)):
                        tf.summary.scalar(f"{split}/{key}", float(value))
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _plain(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def read(workdir: str | pathlib.Path) -> list[dict]:
    """All records of ``workdir/metrics.jsonl`` (an empty list if there are none)."""
    path = pathlib.Path(workdir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
