"""Cross-validation folds over corpus metadata, with a speaker-leakage check.

Every constructor takes the corpus metadata (``jaxser.data.metadata(...)``: a mapping
of equal-length numpy arrays with at least ``id``, ``label`` and ``speaker``; ``session``
for leave-one-session-out) and returns :class:`Fold` s: which example ids train,
validate and test. Folds hold ids, not positions, so they stay valid whatever order a
dataset is read in; :func:`select` turns an id set into a ``tf.data`` filter.

Protocols:

* :func:`leave_one_speaker_out` (EmoDB's standard 10 folds) and
  :func:`leave_one_session_out` (IEMOCAP's 5 folds, two speakers per session);
* :func:`speaker_kfold`: k folds of whole speakers, stratified by label as far as
  speakers allow (corpora with too many speakers for one fold each);
* :func:`stratified_kfold`: examples at random, label-stratified. Speakers then appear
  in train and test, so its folds are marked ``speaker_independent=False``;
* :func:`repeated_holdout`: repeated random label-stratified train/test splits
  ("random 80/20, ten times"), speaker-dependent as well;
* :func:`fixed_speakers`: train/validation/test speaker lists, e.g. from a config.

A :class:`Validation` carves validation data out of each fold's training part only:
whole training speakers (speaker-independent), or a stratified random fraction of the
training examples (then ``val_mode == "random"``: validation shares speakers with
training, never with test). Randomness comes from ``seed`` and the fold's index, so the
same call always returns the same folds. Every constructor runs :func:`check_fold` on
what it returns; :class:`SpeakerLeakageError` names the offending speakers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn import model_selection

PARTS = ("train", "val", "test")
VAL_MODES = ("none", "speakers", "random")


class SplitError(ValueError):
    """Metadata or a fold that cannot make a valid split (the message says why and what to change)."""


class SpeakerLeakageError(SplitError):
    """A speaker-independent fold has a speaker in test and also in train or validation."""


@dataclasses.dataclass(frozen=True)
class Validation:
    """How to take validation data from a fold's training part.

    Set exactly one: ``speakers``, the number of whole training speakers to hold out
    (speaker-independent validation), or ``fraction``, the share of training examples
    to hold out at random, stratified by label (speaker-dependent validation).
    """

    speakers: int = 0
    fraction: float = 0.0

    def __post_init__(self):
        if self.speakers < 0 or not 0.0 <= self.fraction < 1.0:
            raise SplitError(f"Validation needs speakers >= 0 and 0 <= fraction < 1, got {self}")
        if (self.speakers > 0) == (self.fraction > 0):
            raise SplitError(
                f"Validation: set exactly one of speakers (whole speakers held out) or fraction "
                f"(random examples held out), got {self}"
            )


@dataclasses.dataclass(frozen=True)
class Fold:
    """One train/validation/test partition of a corpus, by example id.

    Ids keep the metadata's order. ``*_speakers`` are the sorted speakers of each part.
    ``speaker_independent``: no test speaker is in train or validation (checked).
    ``val_mode``: ``"none"`` (no validation), ``"speakers"`` (whole speakers held out of
    training) or ``"random"`` (random training examples: shares speakers with train).
    """

    name: str
    train_ids: tuple[str, ...]
    val_ids: tuple[str, ...]
    test_ids: tuple[str, ...]
    speaker_independent: bool
    train_speakers: tuple[str, ...]
    val_speakers: tuple[str, ...]
    test_speakers: tuple[str, ...]
    val_mode: str = "none"

    def ids(self, part: str) -> tuple[str, ...]:
        """The ids of ``part``, one of ``"train"``, ``"val"``, ``"test"``."""
        if part not in PARTS:
            raise SplitError(f"fold {self.name}: unknown part {part!r}; valid parts: {', '.join(PARTS)}")
        return getattr(self, f"{part}_ids")

    def speakers(self, part: str) -> tuple[str, ...]:
        """The speakers of ``part``, one of ``"train"``, ``"val"``, ``"test"``."""
        self.ids(part)  # validates the name
        return getattr(self, f"{part}_speakers")


@dataclasses.dataclass(frozen=True)
class _Columns:
    """Metadata arrays, validated: ids unique strings, one row per example."""

    ids: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    sessions: np.ndarray | None
    by_id: dict[str, int]


def _columns(meta: Mapping[str, Any], *, need_session: bool = False) -> _Columns:
    required = ("id", "label", "speaker") + (("session",) if need_session else ())
    missing = [key for key in required if key not in meta]
    if missing:
        hint = " (leave-one-session-out needs corpora with sessions, e.g. IEMOCAP)" if "session" in missing else ""
        raise SplitError(f"metadata lacks {missing}{hint}; it has {sorted(meta)}. Pass jaxser.data.metadata(...).")
    ids = np.asarray(meta["id"]).astype(str)
    labels = np.asarray(meta["label"])
    speakers = np.asarray(meta["speaker"]).astype(str)
    sessions = np.asarray(meta["session"]) if "session" in meta else None
    lengths = {key: len(np.asarray(meta[key])) for key in required}
    if len(set(lengths.values())) != 1:
        raise SplitError(f"metadata arrays differ in length: {lengths}")
    if len(ids) == 0:
        raise SplitError("metadata is empty: no examples to split")
    by_id = {name: i for i, name in enumerate(ids.tolist())}
    if len(by_id) != len(ids):
        values, counts = np.unique(ids, return_counts=True)
        raise SplitError(f"metadata ids are not unique, e.g. {values[counts > 1][:5].tolist()}")
    return _Columns(ids, labels, speakers, sessions, by_id)


# Random streams derived from the user's seed, one per purpose, so they never coincide.
_ASSIGN, _VALIDATE = 0, 1


def _derived_seed(seed: int, purpose: int, fold_index: int = 0) -> int:
    """An independent 32-bit seed (what sklearn takes) for (seed, purpose, fold)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SplitError(f"seed must be a non-negative int, got {seed!r}")
    return int(np.random.SeedSequence([int(seed), purpose, fold_index]).generate_state(1)[0])


def _carve_validation(cols, train, validation, seed, fold_index, *, speaker_independent):
    """Split training positions into (train, val, val_mode) as ``validation`` asks."""
    if validation is None:
        return train, train[:0], "none"
    random_state = _derived_seed(seed, _VALIDATE, fold_index)
    if validation.speakers:
        if not speaker_independent:
            raise SplitError(
                "speaker-dependent folds have every speaker in test, so no speaker can be held out "
                "for validation; use Validation(fraction=...)"
            )
        groups = cols.speakers[train]
        available = len(np.unique(groups))
        if validation.speakers >= available:
            raise SplitError(
                f"Validation(speakers={validation.speakers}) leaves no training speaker: the fold's "
                f"training part has {available} speakers; hold out fewer"
            )
        splitter = model_selection.GroupShuffleSplit(n_splits=1, test_size=validation.speakers, random_state=random_state)
        keep, held = next(splitter.split(train, groups=groups))
        mode = "speakers"
    else:
        splitter = model_selection.StratifiedShuffleSplit(n_splits=1, test_size=validation.fraction, random_state=random_state)
        try:
            keep, held = next(splitter.split(train, cols.labels[train]))
        except ValueError as err:  # e.g. a class with one training example, or a fraction below one per class
            raise SplitError(f"Validation(fraction={validation.fraction}) cannot stratify this fold's training part: {err}") from None
        mode = "random"
    return np.sort(train[keep]), np.sort(train[held]), mode


def _speakers_of(cols: _Columns, positions: np.ndarray) -> tuple[str, ...]:
    return tuple(sorted(set(cols.speakers[positions].tolist())))


def _make_fold(name, cols, train, test, *, validation, seed, fold_index, speaker_independent) -> Fold:
    train, val, mode = _carve_validation(cols, np.sort(train), validation, seed, fold_index, speaker_independent=speaker_independent)
    return _checked_fold(name, cols, train, val, np.sort(test), speaker_independent=speaker_independent, val_mode=mode)


def _checked_fold(name, cols, train, val, test, *, speaker_independent, val_mode) -> Fold:
    """A Fold from row indices into ``cols``, after the partition and leakage check."""
    fold = Fold(
        name=name,
        train_ids=tuple(cols.ids[train].tolist()),
        val_ids=tuple(cols.ids[val].tolist()),
        test_ids=tuple(cols.ids[test].tolist()),
        speaker_independent=speaker_independent,
        train_speakers=_speakers_of(cols, train),
        val_speakers=_speakers_of(cols, val),
        test_speakers=_speakers_of(cols, test),
        val_mode=val_mode,
    )
    _check(fold, cols)
    return fold


def check_fold(fold: Fold, meta: Mapping[str, Any]) -> None:
    """Raise unless ``fold`` is a valid partition of the examples in ``meta``.

    Checks: every id is in ``meta``; train, val and test share no id; train and test are
    not empty; ``val_mode`` is known; for a speaker-independent fold, no test speaker is
    in train or val (:class:`SpeakerLeakageError`, naming them), and with ``val_mode ==
    "speakers"`` no validation speaker is in train; the ``*_speakers`` fields match the
    speakers of the ids (speakers are looked up in ``meta``, not trusted from the fold).
    """
    _check(fold, _columns(meta))


def _check(fold: Fold, cols: _Columns) -> None:
    where = f"fold {fold.name!r}"
    if fold.val_mode not in VAL_MODES:
        raise SplitError(f"{where}: val_mode {fold.val_mode!r} is not one of {VAL_MODES}")
    positions = {}
    for part in PARTS:
        ids = fold.ids(part)
        unknown = [i for i in ids if i not in cols.by_id]
        if unknown:
            raise SplitError(f"{where}: {len(unknown)} {part} ids are not in the metadata, e.g. {unknown[:5]}")
        positions[part] = np.asarray([cols.by_id[i] for i in ids], dtype=np.int64)
        if len(set(ids)) != len(ids):
            raise SplitError(f"{where}: {part} ids repeat")
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = set(fold.ids(a)) & set(fold.ids(b))
        if shared:
            raise SplitError(f"{where}: {len(shared)} ids are in both {a} and {b}, e.g. {sorted(shared)[:5]}")
    for part in ("train", "test"):
        if not fold.ids(part):
            raise SplitError(f"{where}: the {part} part is empty")
    speakers = {part: set(cols.speakers[positions[part]].tolist()) for part in PARTS}
    if fold.speaker_independent:
        pairs = [("train", "test"), ("val", "test")] + ([("train", "val")] if fold.val_mode == "speakers" else [])
        for a, b in pairs:
            leaked = speakers[a] & speakers[b]
            if leaked:
                raise SpeakerLeakageError(
                    f"{where} is marked speaker-independent but speakers {sorted(leaked)} are in both "
                    f"{a} and {b}; remove them from one side, or mark the fold speaker_independent=False"
                )
    for part in PARTS:
        if tuple(sorted(speakers[part])) != fold.speakers(part):
            raise SplitError(
                f"{where}: {part}_speakers {list(fold.speakers(part))} do not match the speakers of its "
                f"{part} ids {sorted(speakers[part])}"
            )


def _leave_one_group_out(cols: _Columns, groups: np.ndarray, label: str, validation, seed) -> list[Fold]:
    values = np.unique(groups)
    if len(values) < 2:
        raise SplitError(f"leave-one-{label}-out needs at least 2 {label}s, the metadata has {values.tolist()}")
    folds = []
    # LeaveOneGroupOut yields the groups in np.unique (sorted) order.
    for index, (train, test) in enumerate(model_selection.LeaveOneGroupOut().split(cols.ids, groups=groups)):
        name = f"{label}-{values[index]}"
        folds.append(_make_fold(name, cols, train, test, validation=validation, seed=seed, fold_index=index, speaker_independent=True))
    return folds


def leave_one_speaker_out(meta: Mapping[str, Any], *, validation: Validation | None = None, seed: int = 0) -> list[Fold]:
    """One fold per speaker (sorted), testing on that speaker and training on the others.

    Fold names are ``speaker-<id>``. ``validation`` (optional) is taken from each
    fold's training speakers; ``seed`` only matters with ``validation``.
    """
    cols = _columns(meta)
    return _leave_one_group_out(cols, cols.speakers, "speaker", validation, seed)


def leave_one_session_out(meta: Mapping[str, Any], *, validation: Validation | None = None, seed: int = 0) -> list[Fold]:
    """One fold per recording session (IEMOCAP: 1-5), named ``session-<n>``.

    Needs a ``session`` array in ``meta``. Speaker-independent as long as no speaker
    spans two sessions (true of IEMOCAP, whose speakers are ``Ses01F``...); the check
    raises :class:`SpeakerLeakageError` otherwise.
    """
    cols = _columns(meta, need_session=True)
    return _leave_one_group_out(cols, cols.sessions, "session", validation, seed)


def speaker_kfold(meta: Mapping[str, Any], k: int = 5, *, validation: Validation | None = None, seed: int = 0) -> list[Fold]:
    """``k`` speaker-independent folds of whole speakers, label-stratified where speakers allow.

    Uses sklearn's ``StratifiedGroupKFold`` (shuffled with ``seed``). Folds are named
    ``speakers-<i>of<k>``.
    """
    cols = _columns(meta)
    speakers = np.unique(cols.speakers)
    if not 2 <= k <= len(speakers):
        raise SplitError(f"speaker_kfold: k={k} must be between 2 and the number of speakers ({len(speakers)})")
    splitter = model_selection.StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=_derived_seed(seed, _ASSIGN))
    return [
        _make_fold(f"speakers-{i}of{k}", cols, train, test, validation=validation, seed=seed, fold_index=i, speaker_independent=True)
        for i, (train, test) in enumerate(splitter.split(cols.ids, cols.labels, groups=cols.speakers))
    ]


def stratified_kfold(meta: Mapping[str, Any], k: int = 5, *, validation: Validation | None = None, seed: int = 0) -> list[Fold]:
    """``k`` label-stratified folds of examples at random: SPEAKER-DEPENDENT.

    Every speaker is usually in train and test (``speaker_independent=False``), which
    inflates accuracy compared with the speaker-independent protocols; use it only to
    reproduce papers that did. ``validation`` may only be ``Validation(fraction=...)``.
    Folds are named ``random-<i>of<k>``.
    """
    cols = _columns(meta)
    if k < 2:
        raise SplitError(f"stratified_kfold: k={k} must be at least 2")
    splitter = model_selection.StratifiedKFold(n_splits=k, shuffle=True, random_state=_derived_seed(seed, _ASSIGN))
    try:
        splits = list(splitter.split(cols.ids, cols.labels))
    except ValueError as err:  # fewer examples than k
        raise SplitError(f"stratified_kfold(k={k}): {err}") from None
    return [
        _make_fold(f"random-{i}of{k}", cols, train, test, validation=validation, seed=seed, fold_index=i, speaker_independent=False)
        for i, (train, test) in enumerate(splits)
    ]


def repeated_holdout(
    meta: Mapping[str, Any], repeats: int = 10, test_fraction: float = 0.2, *,
    validation: Validation | None = None, seed: int = 0,
) -> list[Fold]:
    """``repeats`` independent random train/test splits, each holding out ``test_fraction``
    of the examples, label-stratified: SPEAKER-DEPENDENT.

    The protocol of papers that report "random 80/20, ten times" (Zhong et al. 2020 on
    EmoDB and CASIA): every speaker is in train and test, and test sets of different
    repetitions overlap, so the mean over repetitions is not a cross-validation over
    disjoint folds. Uses sklearn's ``StratifiedShuffleSplit``. Folds are named
    ``holdout-<i>of<repeats>``.
    """
    cols = _columns(meta)
    if repeats < 1:
        raise SplitError(f"repeated_holdout: repeats={repeats} must be at least 1")
    if not 0.0 < test_fraction < 1.0:
        raise SplitError(f"repeated_holdout: test_fraction={test_fraction} must lie in (0, 1)")
    splitter = model_selection.StratifiedShuffleSplit(
        n_splits=repeats, test_size=test_fraction, random_state=_derived_seed(seed, _ASSIGN)
    )
    try:
        splits = list(splitter.split(cols.ids, cols.labels))
    except ValueError as err:  # e.g. a class with a single example
        raise SplitError(f"repeated_holdout(test_fraction={test_fraction}): {err}") from None
    return [
        _make_fold(f"holdout-{i}of{repeats}", cols, train, test, validation=validation, seed=seed, fold_index=i,
                   speaker_independent=False)
        for i, (train, test) in enumerate(splits)
    ]


def fixed_speakers(
    meta: Mapping[str, Any],
    test_speakers: Sequence[str],
    train_speakers: Sequence[str] | None = None,
    val_speakers: Sequence[str] | None = None,
    *,
    validation: Validation | None = None,
    seed: int = 0,
    name: str = "fixed",
) -> Fold:
    """One speaker-independent fold from speaker lists (e.g. a paper's published split).

    ``train_speakers=None`` means every speaker not in test or val. Speakers in no list
    are left out. Give either ``val_speakers`` or ``validation``, not both. Unknown
    speakers, and a speaker in two lists, raise.
    """
    cols = _columns(meta)
    if val_speakers is not None and validation is not None:
        raise SplitError("fixed_speakers: give val_speakers or validation, not both")
    known = set(cols.speakers.tolist())
    lists = {"test_speakers": test_speakers, "train_speakers": train_speakers, "val_speakers": val_speakers}
    for arg, speakers in lists.items():
        if isinstance(speakers, str):
            raise SplitError(f"fixed_speakers: {arg} must be a list of speaker ids, got the string {speakers!r}")
        unknown = sorted(set(speakers or ()) - known)
        if unknown:
            raise SplitError(f"fixed_speakers: {arg} {unknown} are not in the metadata; known speakers: {sorted(known)}")
    test_set, val_set = set(test_speakers), set(val_speakers or ())
    train_set = set(train_speakers) if train_speakers is not None else known - test_set - val_set
    named = {"train": train_set, "val": val_set, "test": test_set}
    for a, b in (("train", "test"), ("val", "test"), ("train", "val")):
        if named[a] & named[b]:
            raise SpeakerLeakageError(
                f"fixed_speakers: speakers {sorted(named[a] & named[b])} are in both {a} and {b}; "
                "give each speaker one list"
            )
    train = np.flatnonzero(np.isin(cols.speakers, sorted(train_set)))
    test = np.flatnonzero(np.isin(cols.speakers, sorted(test_set)))
    if val_speakers is None:
        return _make_fold(name, cols, train, test, validation=validation, seed=seed, fold_index=0, speaker_independent=True)
    val = np.flatnonzero(np.isin(cols.speakers, sorted(val_set)))
    mode = "speakers" if len(val) else "none"
    return _checked_fold(name, cols, train, val, test, speaker_independent=True, val_mode=mode)


def id_filter(ids: Iterable[str]) -> Callable[[Mapping[str, Any]], Any]:
    """A ``tf.data`` predicate: True for examples whose ``id`` is in ``ids``.

    The ids go into a ``tf.lookup.StaticHashTable`` once, so filtering costs one hash
    lookup per example whatever the number of ids.
    """
    from jaxser.data.tf_setup import tensorflow

    tf = tensorflow()
    unique = sorted(set(ids))
    if not unique:  # TF cannot build an empty table; nothing matches (e.g. a fold without validation)
        return lambda example: tf.constant(False)
    keys = tf.constant(unique, dtype=tf.string)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, tf.ones_like(keys, dtype=tf.int32)), default_value=0
    )

    def predicate(example):
        return table.lookup(example["id"]) > 0

    return predicate


def select(dataset, ids: Iterable[str]):
    """The examples of ``dataset`` (dicts with an ``id``) whose id is in ``ids``, in dataset order.

    ``select(load("emodb"), fold.test_ids)``. The result has unknown cardinality; the
    fold says how many examples it holds (``len(fold.test_ids)``).
    """
    if not isinstance(dataset.element_spec, Mapping) or "id" not in dataset.element_spec:
        raise SplitError(f"select needs a dataset of example dicts with an 'id' field, got elements {dataset.element_spec}")
    return dataset.filter(id_filter(ids))
