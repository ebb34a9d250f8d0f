"""Corpora of feature vectors (openSMILE functionals), with the audio corpus' ids and splits.

    from jaxser.data import feature_corpus, splits

    fc = feature_corpus.load_feature_corpus(config, "IS09")       # or (corpus, "IS09", name="emodb")
    fold = splits.leave_one_speaker_out(fc.meta)[0]                # any split constructor, unchanged
    X_train, y_train, _ = fc.part(fold, "train")
    norm = feature_corpus.fit_normalizer(fc, fold, "train")        # statistics of the training rows only
    X_test, y_test, _ = fc.part(fold, "test")
    X_test = norm.transform(X_test, fc.speakers[fc.rows(fold.test_ids)])

A :class:`FeatureCorpus` has one row per example of the audio corpus, in the order of
its metadata (``meta["id"]``), and the very metadata dict the audio corpus has, so a
fold made for one is a fold of the other. Features come from
:func:`jaxser.features.opensmile.extract`, cached on disk by audio contents.

Normalisation is fitted per fold (:func:`fit_normalizer`), never on the whole corpus:

* ``"train"`` (the default): z-score with the mean and standard deviation of the fold's
  training rows; a feature constant over them gets scale 1, or is dropped with
  ``drop_constant=True``.
* ``"per_speaker"``: every speaker's rows z-scored with that speaker's own statistics,
  **the test speaker's included**. It uses no labels, but it does use the test
  speaker's audio (all of its feature vectors) before predicting: a transductive
  option some papers take, never the default; say so when you report it.
* ``"none"``: features as openSMILE gives them.

A :class:`Normalizer` is plain arrays (:meth:`Normalizer.to_arrays`, JSON-able with
``.tolist()``) so a fitted one can be saved next to a model without pickle.

``python -m jaxser.data.feature_corpus --dataset emodb --feature-set IS09`` fills the cache
for a corpus and prints the timing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from jaxser.data import splits
from jaxser.features import opensmile

NORMALIZERS = ("train", "per_speaker", "none")


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureCorpus:
    """Feature vectors of a corpus, row ``i`` is example ``ids[i]`` (= ``meta["id"][i]``)."""

    ids: tuple[str, ...]
    X: np.ndarray  # [N, D] float32
    labels: np.ndarray  # [N] int64, indices into class_names
    speakers: np.ndarray  # [N] str
    meta: dict[str, np.ndarray]  # the audio corpus' metadata: id, label, speaker, gender, ...
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    feature_set: str
    _by_id: dict[str, int] = dataclasses.field(init=False, repr=False)

    def __post_init__(self):
        n = len(self.ids)
        if self.X.ndim != 2 or self.X.shape != (n, len(self.feature_names)):
            raise ValueError(f"X has shape {self.X.shape}, expected ({n}, {len(self.feature_names)})")
        if len(self.labels) != n or len(self.speakers) != n:
            raise ValueError(f"{n} ids but {len(self.labels)} labels and {len(self.speakers)} speakers")
        by_id = {k: i for i, k in enumerate(self.ids)}
        if len(by_id) != n:
            raise ValueError("FeatureCorpus ids are not unique")
        object.__setattr__(self, "_by_id", by_id)

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """Row indices of ``ids``, in the order given."""
        ids = list(ids)
        try:
            return np.asarray([self._by_id[k] for k in ids], dtype=np.int64)
        except KeyError:
            unknown = [k for k in ids if k not in self._by_id]
            raise KeyError(f"{len(unknown)} id(s) not in this {self.feature_set} corpus, e.g. {unknown[:5]}") from None

    def part(self, fold: splits.Fold, part: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """``(X, y, ids)`` of ``fold``'s ``"train"``, ``"val"`` or ``"test"`` part, in the fold's id order."""
        ids = fold.ids(part)
        r = self.rows(ids)
        return self.X[r], self.labels[r], tuple(ids)


def from_corpus(
    corpus,
    feature_set: str,
    *,
    name: str,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> FeatureCorpus:
    """The :class:`FeatureCorpus` of an audio corpus (:class:`jaxser.train.data.Corpus`).

    Reads ``corpus.dataset`` once (its ``id`` and int16 ``audio``), extracts (or reads
    from the cache named ``name``) the functionals, and orders the rows as ``corpus.meta``.
    """
    import tensorflow_datasets as tfds

    dataset = corpus.dataset.map(lambda e: {"id": e["id"], "audio": e["audio"]})
    clips = ((e["id"], e["audio"]) for e in tfds.as_numpy(dataset))
    meta = corpus.meta
    ids, X, names = opensmile.extract(
        clips, feature_set, cache_dir, name=name, progress=progress, total=len(meta["id"])
    )
    order = [str(k) for k in np.asarray(meta["id"]).tolist()]
    position = {k: i for i, k in enumerate(ids)}
    missing = [k for k in order if k not in position]
    extra = sorted(set(position) - set(order))
    if missing or extra:
        raise ValueError(
            f"{name}: the dataset and its metadata hold different examples "
            f"(no audio for {missing[:5]}, no metadata for {extra[:5]})"
        )
    X = X[[position[k] for k in order]]
    return FeatureCorpus(
        ids=tuple(order),
        X=X,
        labels=np.asarray(meta["label"]).astype(np.int64),
        speakers=np.asarray(meta["speaker"]).astype(str),
        meta=meta,
        class_names=tuple(corpus.class_names),
        feature_names=tuple(names),
        feature_set=feature_set,
    )


def corpus_name(config) -> str:
    """The cache name of a config's corpus: ``data.name``, plus ``-<data.config>`` if set."""
    return config.data.name + (f"-{config.data.config}" if config.data.config else "")


def load_feature_corpus(
    config_or_corpus,
    feature_set: str,
    *,
    name: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> FeatureCorpus:
    """The :class:`FeatureCorpus` of a config's corpus (``jaxser.train.data.load_corpus``)
    or of an audio corpus already loaded (then ``name`` is required: the cache's name)."""
    from jaxser.train import data

    if isinstance(config_or_corpus, data.Corpus):
        if name is None:
            raise TypeError("load_feature_corpus(corpus, ...): pass name= (the corpus name the cache is kept under)")
        corpus = config_or_corpus
    else:
        corpus = data.load_corpus(config_or_corpus)
        name = name or corpus_name(config_or_corpus)
    return from_corpus(corpus, feature_set, name=name, cache_dir=cache_dir, progress=progress)


# -- normalisation --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class Normalizer:
    """A fitted feature normalisation: ``(x - mean) / scale`` on the kept features.

    ``kind`` "train": ``mean``/``scale`` are ``[D]``. ``kind`` "per_speaker": they are
    ``[S, D]``, one row per name in ``speakers``. ``kind`` "none": identity (empty
    statistics). ``keep``: bool ``[D]``, the features :meth:`transform` returns.
    """

    kind: str
    keep: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    speakers: np.ndarray  # per_speaker: the speaker of each statistics row; else empty

    @property
    def num_features(self) -> int:
        """Features after :meth:`transform`."""
        return int(self.keep.sum())

    def feature_names(self, names: Sequence[str]) -> tuple[str, ...]:
        """The names of the features :meth:`transform` keeps."""
        return tuple(n for n, k in zip(names, self.keep.tolist()) if k)

    def transform(self, X: np.ndarray, speakers: Sequence[str] | np.ndarray | None = None) -> np.ndarray:
        """Normalised float32 ``X[:, keep]``; ``speakers`` (one per row) for "per_speaker"."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.keep):
            raise ValueError(f"Normalizer fitted on {len(self.keep)} features, got X of shape {X.shape}")
        if self.kind == "none":
            return X[:, self.keep].astype(np.float32)
        if self.kind == "train":
            return ((X - self.mean) / self.scale)[:, self.keep].astype(np.float32)
        if speakers is None or len(speakers) != len(X):
            raise ValueError("per_speaker normalisation needs one speaker per row (speakers=...)")
        index = {s: i for i, s in enumerate(self.speakers.tolist())}
        speakers = np.asarray(speakers).astype(str)
        unknown = sorted(set(speakers.tolist()) - set(index))
        if unknown:
            raise ValueError(f"per_speaker normaliser has no statistics for speakers {unknown[:5]}; fit it with their rows")
        s = np.asarray([index[k] for k in speakers.tolist()], dtype=np.int64)
        return ((X - self.mean[s]) / self.scale[s])[:, self.keep].astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no objects): ``np.savez``-able; ``{k: v.tolist()}`` is JSON-able."""
        return {
            "kind": np.asarray(self.kind),
            "keep": self.keep.copy(),
            "mean": self.mean.copy(),
            "scale": self.scale.copy(),
            "speakers": self.speakers.copy(),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> Normalizer:
        """The inverse of :meth:`to_arrays`; also takes the lists of its JSON form."""
        kind = str(np.asarray(arrays["kind"]))
        if kind not in NORMALIZERS:
            raise ValueError(f"unknown normaliser kind {kind!r}; valid: {', '.join(NORMALIZERS)}")
        keep = np.asarray(arrays["keep"], dtype=bool).reshape(-1)
        d = len(keep)
        shape = {"none": (0,), "train": (d,), "per_speaker": (-1, d)}[kind]
        mean = np.asarray(arrays["mean"], dtype=np.float64).reshape(shape)
        scale = np.asarray(arrays["scale"], dtype=np.float64).reshape(shape)
        speakers = np.asarray(arrays["speakers"], dtype=str).reshape(-1)
        if mean.shape != scale.shape or (kind == "per_speaker" and len(speakers) != len(mean)):
            raise ValueError(f"normaliser arrays disagree: mean {mean.shape}, scale {scale.shape}, {len(speakers)} speakers")
        return cls(kind, keep, mean, scale, speakers)

    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        kind: str = "train",
        *,
        speakers: Sequence[str] | np.ndarray | None = None,
        drop_constant: bool = False,
    ) -> Normalizer:
        """A :class:`Normalizer` fitted on the rows ``X`` (with their ``speakers`` for "per_speaker").

        "train": z-score statistics of ``X`` (sklearn's ``StandardScaler``; zero variance ->
        scale 1). "per_speaker": the same, per speaker. ``drop_constant``: drop features that
        take one value in every row of ``X``.
        """
        from sklearn.preprocessing import StandardScaler

        if kind not in NORMALIZERS:
            raise ValueError(f"unknown normaliser kind {kind!r}; valid: {', '.join(NORMALIZERS)}")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"fit a normaliser on a non-empty [N, D] array, got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("features hold NaN or inf (clips too short for openSMILE?); drop those rows first")
        d = X.shape[1]
        keep = ~np.all(X == X[0], axis=0) if drop_constant and kind != "none" else np.ones(d, dtype=bool)
        empty = np.zeros((0,), np.float64)
        if kind == "none":
            return cls(kind, keep, empty, empty, np.zeros((0,), str))
        if kind == "train":
            scaler = StandardScaler().fit(X)
            return cls(kind, keep, scaler.mean_.astype(np.float64), scaler.scale_.astype(np.float64), np.zeros((0,), str))
        if speakers is None or len(speakers) != len(X):
            raise ValueError("per_speaker normalisation needs one speaker per row (speakers=...)")
        speakers = np.asarray(speakers).astype(str)
        names = np.unique(speakers)
        means, scales = [], []
        for name in names.tolist():
            scaler = StandardScaler().fit(X[speakers == name])
            means.append(scaler.mean_)
            scales.append(scaler.scale_)
        return cls(kind, keep, np.stack(means), np.stack(scales), names)


def fit_normalizer(fc: FeatureCorpus, fold: splits.Fold, kind: str = "train", *, drop_constant: bool = False) -> Normalizer:
    """The normaliser of ``fold``: "train" from its training rows only; "per_speaker"
    from every row of its speakers (train, val and test: unlabelled test-speaker audio)."""
    if kind == "per_speaker":
        r = fc.rows([*fold.train_ids, *fold.val_ids, *fold.test_ids])
        return Normalizer.fit(fc.X[r], kind, speakers=fc.speakers[r], drop_constant=drop_constant)
    return Normalizer.fit(fc.X[fc.rows(fold.train_ids)], kind, drop_constant=drop_constant)


def main(argv: Sequence[str] | None = None) -> None:
    """Fill the feature cache of a corpus and print how long it took."""
    import argparse
    import time

    from jaxser import config as config_lib

    parser = argparse.ArgumentParser(prog="python -m jaxser.data.feature_corpus", description=main.__doc__)
    parser.add_argument("--dataset", required=True, help="a corpus name of jaxser.data.BUILDERS")
    parser.add_argument("--dataset-config", default="", help="the builder config, e.g. IEMOCAP's 4class")
    parser.add_argument("--feature-set", default="IS09", choices=sorted(opensmile.FEATURE_SETS))
    parser.add_argument("--manual-dir", default="", help="the corpus audio (default $JAXSER_DATA/<dataset>)")
    parser.add_argument("--data-dir", default="", help="where the TFDS corpus is built")
    parser.add_argument(
        "--cache-dir", default=None, help="the feature cache (default $JAXSER_FEATURE_CACHE or ~/.cache/jaxser/functionals)"
    )
    args = parser.parse_args(argv)
    c = config_lib.base_config()
    c.data.name, c.data.config = args.dataset, args.dataset_config
    c.data.manual_dir, c.data.data_dir = args.manual_dir, args.data_dir
    from jaxser.train import data

    corpus = data.load_corpus(c)
    start = time.perf_counter()
    fc = from_corpus(corpus, args.feature_set, name=corpus_name(c), cache_dir=args.cache_dir)
    seconds = time.perf_counter() - start
    path = opensmile.cache_path(corpus_name(c), args.feature_set, args.cache_dir)
    print(f"{corpus_name(c)} {args.feature_set}: {fc.X.shape[0]} x {fc.X.shape[1]} in {seconds:.1f} s -> {path}")


if __name__ == "__main__":
    main()
