"""From a config to a corpus, its folds and the pipelines of one fold.

Kept apart from the training loop so evaluation, prediction and the cross-validation
runner build exactly the same data as training did. Importing this module imports
neither TensorFlow nor scikit-learn (prediction needs only :func:`pipeline_config`);
loading a corpus or splitting it does.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import TYPE_CHECKING

import ml_collections
import numpy as np

from jaxser.data import locations
from jaxser.data.pipeline_config import PipelineConfig

if TYPE_CHECKING:
    from jaxser.data import splits


@dataclasses.dataclass
class Corpus:
    dataset: object  # tf.data.Dataset of example dicts, corpus order
    meta: dict[str, np.ndarray]
    class_names: tuple[str, ...]


def data_dir(config: ml_collections.ConfigDict) -> pathlib.Path:
    """Where the config's corpus is built: ``data.data_dir``, else :func:`jaxser.data.locations.default_data_dir`."""
    return locations.data_dir(config.data.data_dir)


def manual_dir(config: ml_collections.ConfigDict) -> pathlib.Path | None:
    if config.data.manual_dir:
        return pathlib.Path(config.data.manual_dir)
    root = os.environ.get("JAXSER_DATA")
    return pathlib.Path(root) / config.data.name if root else None


def load_corpus(config: ml_collections.ConfigDict) -> Corpus:
    """The whole corpus (built on first use), its metadata and class names."""
    from jaxser.data import corpora  # late: TensorFlow

    kwargs = dict(
        manual_dir=manual_dir(config), data_dir=data_dir(config), config=config.data.config or None
    )
    try:
        dataset = corpora.load(config.data.name, "train", **kwargs)
    except corpora.ManualDirError as err:
        name = config.data.name
        raise corpora.ManualDirError(
            f"{err}\nIn a config: set data.manual_dir (--config.data.manual_dir=<folder>), or JAXSER_DATA to the "
            f"folder holding {name}/ (now {'unset' if 'JAXSER_DATA' not in os.environ else os.environ['JAXSER_DATA']})."
        ) from None
    meta = corpora.metadata(config.data.name, "train", **kwargs)
    builder = corpora.builder(config.data.name, data_dir(config), config=config.data.config or None)
    return Corpus(dataset, meta, tuple(builder.info.features["label"].names))


def folds(config: ml_collections.ConfigDict, meta) -> list[splits.Fold]:
    """Every fold of the config's split, in order."""
    from jaxser.data import splits  # late: scikit-learn

    s = config.split
    validation = None
    if s.val_speakers:
        validation = splits.Validation(speakers=s.val_speakers)
    elif s.val_fraction:
        validation = splits.Validation(fraction=s.val_fraction)
    if s.kind == "loso":
        return splits.leave_one_speaker_out(meta, validation=validation, seed=s.seed)
    if s.kind == "session":
        return splits.leave_one_session_out(meta, validation=validation, seed=s.seed)
    if s.kind == "speaker_kfold":
        return splits.speaker_kfold(meta, s.k, validation=validation, seed=s.seed)
    if s.kind == "stratified_kfold":
        return splits.stratified_kfold(meta, s.k, validation=validation, seed=s.seed)
    if s.kind == "repeated_holdout":
        return splits.repeated_holdout(meta, s.k, s.test_fraction, validation=validation, seed=s.seed)
    return [
        splits.fixed_speakers(
            meta,
            list(s.test_speakers),
            list(s.train_speakers) or None,
            list(s.fixed_val_speakers) or None,
            validation=None if s.fixed_val_speakers else validation,
            seed=s.seed,
        )
    ]


def fold(config: ml_collections.ConfigDict, meta, index: int | None = None) -> splits.Fold:
    from jaxser.data import splits  # late: scikit-learn

    all_folds = folds(config, meta)
    index = config.split.fold if index is None else index
    if not 0 <= index < len(all_folds):
        raise splits.SplitError(
            f"split.fold={index} but {config.split.kind} gives {len(all_folds)} folds (0..{len(all_folds) - 1})"
        )
    return all_folds[index]


def pipeline_config(config: ml_collections.ConfigDict) -> PipelineConfig:
    """The config's pipeline options: its training clips and evaluation windows."""
    d = config.data
    return PipelineConfig(
        batch_size=config.train.global_batch_size,
        clip_seconds=d.clip_seconds,
        sample_rate=d.sample_rate,
        shuffle_buffer=d.shuffle_buffer,
        seed=config.train.seed,
        eval_mode=d.eval_mode,
        eval_seconds=d.eval_seconds or d.clip_seconds,
        chunk_seconds=d.chunk_seconds or d.clip_seconds,
        hop_seconds=d.hop_seconds or (d.chunk_seconds or d.clip_seconds) / 2,
        cache=d.cache,
    )
