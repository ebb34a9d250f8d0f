"""Corpora by name: ``load`` a split as a ``tf.data.Dataset``, get its ``builder``, or its ``metadata``.

    from jaxser.data import load, builder, metadata

    ds = load("emodb", manual_dir="../shared/data/emodb", data_dir="/tmp/tfds")
    names = builder("emodb").info.features["label"].names
    meta = metadata("emodb", data_dir="/tmp/tfds")   # id, label, speaker, gender, ... no audio

The first call builds the corpus into ``data_dir`` from the audio in ``manual_dir``;
later calls read what was built and need no ``manual_dir``. ``data_dir=None`` is the
folder the ``jaxser`` command and the trainer use too (``$JAXSER_TFDS_DIR``, else
``~/.cache/jaxser/tensorflow_datasets``: :func:`jaxser.data.locations.default_data_dir`),
so a corpus is built once. Nothing here goes to the network except
``crema_d``, whose TFDS builder downloads the corpus itself.
"""

from __future__ import annotations

import pathlib
from typing import Any

import filelock
import numpy as np

from jaxser.data import locations
from jaxser.data.tf_setup import tensorflow

tf = tensorflow()  # before TFDS imports TensorFlow: keep TF off the accelerators

import tensorflow_datasets as tfds  # noqa: E402

from jaxser.data.builders import casia, common, emodb, iemocap, ravdess, synthetic, tfds_catalog  # noqa: E402

# The one table of corpora: name -> TFDS builder class.
BUILDERS: dict[str, type[tfds.core.DatasetBuilder]] = {
    "emodb": emodb.Emodb,
    "casia": casia.Casia,
    "iemocap": iemocap.Iemocap,
    "ravdess": ravdess.Ravdess,
    "crema_d": tfds_catalog.CremaD,
    "savee": tfds_catalog.Savee,
    "synthetic": synthetic.Synthetic,
}

ManualDirError = common.ManualDirError


class UnknownCorpusError(ValueError):
    """A corpus name that is not in :data:`BUILDERS`."""


class NotPreparedError(FileNotFoundError):
    """The corpus has not been built into ``data_dir`` and building was not asked for."""


def builder(
    name: str,
    data_dir: str | pathlib.Path | None = None,
    *,
    config: str | None = None,
    manual_dir: str | pathlib.Path | None = None,
    download_and_prepare: bool = False,
) -> tfds.core.DatasetBuilder:
    """The TFDS builder of corpus ``name`` (``config``: e.g. IEMOCAP's ``"4class"``) in
    ``data_dir`` (None: :func:`jaxser.data.locations.default_data_dir`).

    With ``download_and_prepare=True`` the corpus is also built into ``data_dir`` from
    ``manual_dir`` unless it is there already.
    """
    try:
        cls = BUILDERS[name]
    except KeyError:
        raise UnknownCorpusError(f"unknown corpus {name!r}; valid names: {', '.join(sorted(BUILDERS))}") from None
    configs = [c.name for c in cls.BUILDER_CONFIGS]
    if config is not None and config not in configs:
        # TFDS' own message lists no names here; say which exist.
        raise ValueError(
            f"{name} has no config {config!r}; "
            + (f"valid configs: {', '.join(configs)}" if configs else "it has no configs (pass config=None)")
        )
    root = locations.data_dir(data_dir)
    corpus = cls(data_dir=str(root), config=config)
    if download_and_prepare and not corpus.is_prepared():
        # Two processes building one corpus into one data dir (two runs started together
        # on a fresh machine) would both build it, and the second one's final rename
        # fails. One builds under the lock; the other waits, then reads what it built.
        root.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(root / f".{name}.lock"):
            corpus = cls(data_dir=str(root), config=config)  # reads a build finished meanwhile
            _prepare(corpus, name, manual_dir)
    return corpus


def load(
    name: str,
    split: str = "train",
    manual_dir: str | pathlib.Path | None = None,
    data_dir: str | pathlib.Path | None = None,
    *,
    download_and_prepare: bool = True,
    config: str | None = None,
    **as_dataset_kwargs: Any,
) -> tf.data.Dataset:
    """One split of corpus ``name`` as a ``tf.data.Dataset`` of example dicts.

    ``split`` takes TFDS' split syntax (``"train[:80%]"``, ``"train+test"``). Extra
    keyword arguments go to ``DatasetBuilder.as_dataset`` (``shuffle_files``,
    ``decoders``, ``read_config``...). Files are read in a fixed order unless
    ``shuffle_files=True``.
    """
    corpus = builder(name, data_dir, config=config, manual_dir=manual_dir, download_and_prepare=download_and_prepare)
    if not corpus.is_prepared():
        raise NotPreparedError(
            f"{name} is not built in {corpus.data_dir}; call with download_and_prepare=True"
            + (" and manual_dir=<folder with the corpus>" if corpus.MANUAL_DOWNLOAD_INSTRUCTIONS else "")
        )
    return corpus.as_dataset(split=split, **as_dataset_kwargs)


def metadata(
    name_or_dataset: str | tf.data.Dataset,
    split: str = "train",
    manual_dir: str | pathlib.Path | None = None,
    data_dir: str | pathlib.Path | None = None,
    *,
    download_and_prepare: bool = True,
    config: str | None = None,
) -> dict[str, np.ndarray]:
    """Every field but the audio, one numpy array per field, in the dataset's order.

    Given a name, the split is read without decoding its audio (the records are still
    read from disk, but no waveform tensors are built). Given a dataset of example
    dicts, its audio is dropped (but was already decoded, unless it was loaded with
    ``decoders={"audio": tfds.decode.SkipDecoding()}``).
    Text fields (``id``, ``speaker``) come back as ``str`` arrays; class labels
    (``label``, ``gender``) as int64 indices: names are in
    ``builder(name).info.features[field].names``.
    """
    if isinstance(name_or_dataset, tf.data.Dataset):
        dataset = name_or_dataset
    else:
        dataset = load(
            name_or_dataset,
            split,
            manual_dir,
            data_dir,
            download_and_prepare=download_and_prepare,
            config=config,
            decoders={"audio": tfds.decode.SkipDecoding()},
        )
    if not isinstance(dataset.element_spec, dict):
        raise TypeError(
            f"metadata() needs a dataset of example dicts, got elements {dataset.element_spec}; "
            "load it without as_supervised=True and without batching"
        )
    keys = [key for key in dataset.element_spec if key != "audio"]
    dataset = dataset.map(lambda example: {key: example[key] for key in keys})
    columns: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    for batch in tfds.as_numpy(dataset.batch(4096)):
        for key in keys:
            columns[key].append(batch[key])
    out = {}
    for key in keys:
        spec = dataset.element_spec[key]
        if columns[key]:
            values = np.concatenate(columns[key])
        else:
            values = np.zeros((0, *spec.shape), spec.dtype.as_numpy_dtype if spec.dtype != tf.string else object)
        if spec.dtype == tf.string:
            values = np.asarray([v.decode("utf-8") for v in values], dtype=str)
        out[key] = values
    return out


def _prepare(corpus: tfds.core.DatasetBuilder, name: str, manual_dir) -> None:
    """Build ``corpus`` unless it is built, failing early on a manual_dir that is not there."""
    if corpus.is_prepared():
        return
    if manual_dir is not None and corpus.MANUAL_DOWNLOAD_INSTRUCTIONS and not pathlib.Path(manual_dir).is_dir():
        raise ManualDirError(
            f"{name}: manual_dir {manual_dir} does not exist or is not a folder.\n"
            f"{corpus.MANUAL_DOWNLOAD_INSTRUCTIONS}"
        )
    corpus.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=None if manual_dir is None else str(manual_dir),
            try_download_gcs=False,  # no prepared copy of our corpora on GCS; and often no network
        )
    )
