"""Tests of jaxser.data.splits on generated metadata, plus EmoDB's real file names."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from jaxser.data import splits
from jaxser.data.splits import Fold, SpeakerLeakageError, SplitError, Validation

EMODB_SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")


def make_meta(speakers=EMODB_SPEAKERS, per_speaker=21, num_labels=7, sessions=None, seed=0):
    """Metadata like ``jaxser.data.metadata`` returns: ids, labels, speakers (, sessions).

    Labels are drawn at random per example, so classes are unevenly spread over speakers.
    ``sessions`` maps speaker -> session number.
    """
    rng = np.random.default_rng(seed)
    rows = [(f"corpus/{s}_{i:03d}", int(rng.integers(num_labels)), s) for s in speakers for i in range(per_speaker)]
    order = rng.permutation(len(rows))  # metadata order need not group speakers
    rows = [rows[i] for i in order]
    meta = {
        "id": np.array([r[0] for r in rows]),
        "label": np.array([r[1] for r in rows], dtype=np.int64),
        "speaker": np.array([r[2] for r in rows]),
    }
    if sessions is not None:
        meta["session"] = np.array([sessions[r[2]] for r in rows], dtype=np.int32)
    return meta


def iemocap_meta():
    speakers = [f"Ses0{n}{g}" for n in range(1, 6) for g in "FM"]
    return make_meta(speakers, per_speaker=12, num_labels=4, sessions={s: int(s[4]) for s in speakers})


def speakers_of(meta, ids):
    lookup = dict(zip(meta["id"].tolist(), meta["speaker"].tolist()))
    return {lookup[i] for i in ids}


def assert_disjoint(fold):
    """train, val and test share no id."""
    parts = [set(fold.train_ids), set(fold.val_ids), set(fold.test_ids)]
    assert sum(map(len, parts)) == len(set().union(*parts))


def test_loso_ten_folds_one_speaker_each_no_leakage():
    meta = make_meta()
    folds = splits.leave_one_speaker_out(meta)
    assert [f.name for f in folds] == [f"speaker-{s}" for s in EMODB_SPEAKERS]
    all_ids = collections.Counter(meta["id"].tolist())
    tested = collections.Counter()
    for fold, speaker in zip(folds, EMODB_SPEAKERS):
        assert fold.speaker_independent and fold.val_mode == "none" and fold.val_ids == ()
        assert fold.test_speakers == (speaker,)
        assert speakers_of(meta, fold.test_ids) == {speaker}
        assert speaker not in speakers_of(meta, fold.train_ids)
        assert set(fold.train_speakers) == set(EMODB_SPEAKERS) - {speaker}
        assert collections.Counter(fold.train_ids + fold.test_ids) == all_ids
        tested.update(fold.test_ids)
    assert tested == all_ids  # every example tested exactly once


def test_folds_keep_metadata_order():
    meta = make_meta()
    position = {name: i for i, name in enumerate(meta["id"].tolist())}
    fold = splits.leave_one_speaker_out(meta, validation=Validation(speakers=2))[0]
    for part in splits.PARTS:
        ids = fold.ids(part)
        assert [position[i] for i in ids] == sorted(position[i] for i in ids)


def test_validation_speakers_come_from_training_speakers():
    meta = make_meta()
    plain = splits.leave_one_speaker_out(meta)
    folds = splits.leave_one_speaker_out(meta, validation=Validation(speakers=2), seed=3)
    for before, fold in zip(plain, folds):
        assert fold.val_mode == "speakers" and len(fold.val_speakers) == 2
        val = speakers_of(meta, fold.val_ids)
        assert val == set(fold.val_speakers)
        assert val < set(before.train_speakers)
        assert not val & set(fold.test_speakers) and not val & set(fold.train_speakers)
        assert set(fold.train_ids) | set(fold.val_ids) == set(before.train_ids)
        assert fold.test_ids == before.test_ids
        assert_disjoint(fold)


def test_validation_is_deterministic_by_seed():
    meta = make_meta()
    one = splits.leave_one_speaker_out(meta, validation=Validation(speakers=1), seed=7)
    two = splits.leave_one_speaker_out(meta, validation=Validation(speakers=1), seed=7)
    other = splits.leave_one_speaker_out(meta, validation=Validation(speakers=1), seed=8)
    assert one == two
    assert [f.val_speakers for f in one] != [f.val_speakers for f in other]
    # Folds draw independently: not all folds hold out the same speaker.
    assert len({f.val_speakers for f in one}) > 1


def test_validation_fraction_is_stratified_and_marked_random():
    meta = make_meta(per_speaker=40)
    label = dict(zip(meta["id"].tolist(), meta["label"].tolist()))
    for fold in splits.leave_one_speaker_out(meta, validation=Validation(fraction=0.25)):
        assert fold.val_mode == "random" and fold.speaker_independent
        assert not set(fold.val_speakers) & set(fold.test_speakers)
        assert set(fold.val_speakers) <= set(fold.train_speakers)  # speaker-dependent validation
        training = fold.train_ids + fold.val_ids
        whole = collections.Counter(label[i] for i in training)
        val = collections.Counter(label[i] for i in fold.val_ids)
        assert len(fold.val_ids) == pytest.approx(0.25 * len(training), abs=1)
        for cls, n in whole.items():
            assert abs(val[cls] - 0.25 * n) <= 1, (fold.name, cls)


def test_too_many_validation_speakers_raises():
    with pytest.raises(SplitError, match="leaves no training speaker"):
        splits.leave_one_speaker_out(make_meta(), validation=Validation(speakers=9))


@pytest.mark.parametrize("kwargs", [{}, {"speakers": 1, "fraction": 0.1}, {"fraction": 1.0}, {"speakers": -1}])
def test_validation_spec_must_choose_one_mode(kwargs):
    with pytest.raises(SplitError, match="Validation"):
        Validation(**kwargs)


def test_leave_one_session_out():
    meta = iemocap_meta()
    folds = splits.leave_one_session_out(meta, validation=Validation(speakers=1))
    assert [f.name for f in folds] == [f"session-{n}" for n in range(1, 6)]
    tested = []
    for n, fold in enumerate(folds, 1):
        assert fold.test_speakers == (f"Ses0{n}F", f"Ses0{n}M")
        assert not set(fold.train_speakers + fold.val_speakers) & set(fold.test_speakers)
        assert len(fold.train_speakers) == 7 and len(fold.val_speakers) == 1
        tested += fold.test_ids
    assert sorted(tested) == sorted(meta["id"].tolist())


def test_leave_one_session_out_needs_sessions():
    meta = make_meta()
    with pytest.raises(SplitError, match="session"):
        splits.leave_one_session_out(meta)


def test_session_split_with_a_speaker_in_two_sessions_leaks():
    meta = iemocap_meta()
    meta["speaker"] = np.where(meta["speaker"] == "Ses02F", "Ses01F", meta["speaker"])
    with pytest.raises(SpeakerLeakageError, match="Ses01F"):
        splits.leave_one_session_out(meta)


def test_stratified_kfold_is_speaker_dependent_and_stratified():
    meta = make_meta()
    counts = collections.Counter(meta["label"].tolist())
    label = dict(zip(meta["id"].tolist(), meta["label"].tolist()))
    folds = splits.stratified_kfold(meta, k=5, seed=1)
    assert len(folds) == 5
    tested = []
    for fold in folds:
        assert not fold.speaker_independent
        assert set(fold.test_speakers) & set(fold.train_speakers)  # why it is marked dependent
        fold_counts = collections.Counter(label[i] for i in fold.test_ids)
        for cls, n in counts.items():
            assert abs(fold_counts[cls] - n / 5) < 1, (fold.name, cls)
        tested += fold.test_ids
    assert sorted(tested) == sorted(meta["id"].tolist())
    assert folds == splits.stratified_kfold(meta, k=5, seed=1)
    assert folds != splits.stratified_kfold(meta, k=5, seed=2)


def test_repeated_holdout_is_speaker_dependent_stratified_and_reproducible():
    meta = make_meta()
    counts = collections.Counter(meta["label"].tolist())
    label = dict(zip(meta["id"].tolist(), meta["label"].tolist()))
    folds = splits.repeated_holdout(meta, repeats=10, test_fraction=0.2, seed=3)
    assert [f.name for f in folds] == [f"holdout-{i}of10" for i in range(10)]
    n = len(meta["id"])
    for fold in folds:
        assert_disjoint(fold)
        assert not fold.speaker_independent and fold.val_mode == "none"
        assert len(fold.test_ids) == round(0.2 * n) and len(fold.train_ids) + len(fold.test_ids) == n
        tested = collections.Counter(label[i] for i in fold.test_ids)
        for cls, total in counts.items():  # stratified: each class's share of the test part is about 20 %
            assert abs(tested[cls] - 0.2 * total) <= 1
    assert len({f.test_ids for f in folds}) == 10  # independent repetitions (test sets may overlap)
    again = splits.repeated_holdout(meta, repeats=10, test_fraction=0.2, seed=3)
    assert [f.test_ids for f in again] == [f.test_ids for f in folds]
    with pytest.raises(SplitError, match="test_fraction"):
        splits.repeated_holdout(meta, test_fraction=1.0)


def test_stratified_kfold_validation():
    meta = make_meta()
    with pytest.raises(SplitError, match="fraction"):
        splits.stratified_kfold(meta, k=5, validation=Validation(speakers=1))
    for fold in splits.stratified_kfold(meta, k=5, validation=Validation(fraction=0.2)):
        assert fold.val_mode == "random" and len(fold.val_ids) > 0
        assert_disjoint(fold)


def test_speaker_kfold_groups_whole_speakers():
    meta = make_meta()
    folds = splits.speaker_kfold(meta, k=3, seed=0)
    tested = []
    for fold in folds:
        assert fold.speaker_independent
        assert not set(fold.train_speakers) & set(fold.test_speakers)
        tested += fold.test_speakers
    assert sorted(tested) == sorted(EMODB_SPEAKERS)
    with pytest.raises(SplitError, match="k=11"):
        splits.speaker_kfold(meta, k=11)


def test_fixed_speakers():
    meta = make_meta()
    fold = splits.fixed_speakers(meta, test_speakers=["03", "08"], val_speakers=["09"], train_speakers=["10", "11"])
    assert (fold.train_speakers, fold.val_speakers, fold.test_speakers) == (("10", "11"), ("09",), ("03", "08"))
    assert fold.val_mode == "speakers"
    assert speakers_of(meta, fold.train_ids) == {"10", "11"}
    assert len(fold.test_ids) == 2 * 21
    rest = splits.fixed_speakers(meta, test_speakers=["03"], validation=Validation(speakers=2), seed=0)
    assert len(rest.train_speakers) == 7 and len(rest.val_speakers) == 2
    assert "03" not in rest.train_speakers + rest.val_speakers


def test_fixed_speakers_errors():
    meta = make_meta()
    with pytest.raises(SplitError, match=r"\['99'\] are not in the metadata"):
        splits.fixed_speakers(meta, test_speakers=["03", "99"])
    with pytest.raises(SpeakerLeakageError, match=r"\['03'\].*train and test"):
        splits.fixed_speakers(meta, test_speakers=["03"], train_speakers=["03", "08"])
    with pytest.raises(SpeakerLeakageError, match=r"\['09'\].*val and test"):
        splits.fixed_speakers(meta, test_speakers=["09"], val_speakers=["09"])
    with pytest.raises(SplitError, match="list of speaker ids"):
        splits.fixed_speakers(meta, test_speakers="03")


def ids_of(meta, speaker, part=slice(None)):
    """The ids of one speaker (a slice of them with ``part``), in metadata order."""
    return tuple(meta["id"][meta["speaker"] == speaker][part].tolist())


def hand_fold(meta, train, val, test, **kwargs):
    """A Fold built by hand from id lists, its speaker fields filled in honestly."""
    ids = {"train": tuple(train), "val": tuple(val), "test": tuple(test)}
    fields = dict(
        name="hand",
        speaker_independent=True,
        val_mode="speakers" if val else "none",
        **{f"{p}_ids": ids[p] for p in ids},
        **{f"{p}_speakers": tuple(sorted(speakers_of(meta, ids[p]))) for p in ids},
    )
    fields.update(kwargs)
    return Fold(**fields)


def test_leakage_check_on_hand_built_folds():
    meta = make_meta()
    splits.check_fold(hand_fold(meta, ids_of(meta, "08"), ids_of(meta, "10"), ids_of(meta, "03")), meta)  # clean
    # Speaker 03 split between train and test: no id is shared, the speaker is.
    train = ids_of(meta, "08") + ids_of(meta, "03", slice(0, 10))
    test = ids_of(meta, "03", slice(10, None))
    with pytest.raises(SpeakerLeakageError, match=r"\['03'\] are in both train and test"):
        splits.check_fold(hand_fold(meta, train, (), test), meta)
    # The same fold is valid once it says it is speaker-dependent.
    splits.check_fold(hand_fold(meta, train, (), test, speaker_independent=False), meta)
    with pytest.raises(SpeakerLeakageError, match=r"\['10'\] are in both val and test"):
        val = ids_of(meta, "10", slice(0, 5))
        splits.check_fold(hand_fold(meta, ids_of(meta, "08"), val, ids_of(meta, "03") + ids_of(meta, "10", slice(5, None))), meta)
    with pytest.raises(SpeakerLeakageError, match=r"\['08'\] are in both train and val"):
        splits.check_fold(hand_fold(meta, ids_of(meta, "08", slice(0, 10)), ids_of(meta, "08", slice(10, None)), ids_of(meta, "03")), meta)
    # Random validation shares speakers with train by design.
    splits.check_fold(
        hand_fold(meta, ids_of(meta, "08", slice(0, 10)), ids_of(meta, "08", slice(10, None)), ids_of(meta, "03"), val_mode="random"),
        meta,
    )


def test_check_fold_catches_inconsistent_folds():
    meta = make_meta()
    good = hand_fold(meta, ids_of(meta, "08"), (), ids_of(meta, "03"))
    with pytest.raises(SplitError, match="not in the metadata"):
        splits.check_fold(Fold(**{**vars(good), "test_ids": good.test_ids + ("nope",)}), meta)
    with pytest.raises(SplitError, match="ids are in both train and test"):
        splits.check_fold(Fold(**{**vars(good), "test_ids": good.test_ids + good.train_ids[:1]}), meta)
    with pytest.raises(SplitError, match="test_speakers"):
        splits.check_fold(Fold(**{**vars(good), "test_speakers": ("09",)}), meta)
    with pytest.raises(SplitError, match="train part is empty"):
        splits.check_fold(hand_fold(meta, (), (), ids_of(meta, "03")), meta)
    with pytest.raises(SplitError, match="val_mode"):
        splits.check_fold(Fold(**{**vars(good), "val_mode": "maybe"}), meta)
    dup = dict(meta, id=meta["id"].copy())
    dup["id"][1] = dup["id"][0]
    with pytest.raises(SplitError, match="not unique"):
        splits.leave_one_speaker_out(dup)


def test_select_filters_a_dataset_by_fold_ids():
    from jaxser.data.tf_setup import tensorflow

    tf = tensorflow()
    meta = make_meta()
    fold = splits.leave_one_speaker_out(meta)[2]
    dataset = tf.data.Dataset.from_tensor_slices({"id": meta["id"], "label": meta["label"]})
    picked = [x["id"].decode() for x in splits.select(dataset, fold.test_ids).as_numpy_iterator()]
    assert picked == list(fold.test_ids)
    assert list(splits.select(dataset, []).as_numpy_iterator()) == []
    with pytest.raises(SplitError, match="'id' field"):
        splits.select(tf.data.Dataset.range(3), fold.test_ids)


@pytest.mark.realdata
def test_loso_on_real_emodb_file_names(emodb_dir):
    """EmoDB's speakers come from its file names (``03a01Fa.wav``: speaker 03, emotion F)."""
    files = sorted(emodb_dir.glob("*.wav"))
    assert len(files) == 535
    letters = "WLEAFTN"
    meta = {
        "id": np.array([f"emodb/{f.stem}" for f in files]),
        "speaker": np.array([f.name[:2] for f in files]),
        "label": np.array([letters.index(f.name[5]) for f in files]),
    }
    folds = splits.leave_one_speaker_out(meta, validation=Validation(speakers=1), seed=0)
    assert [f.test_speakers for f in folds] == [(s,) for s in EMODB_SPEAKERS]
    per_speaker = collections.Counter(meta["speaker"].tolist())
    tested = []
    for fold in folds:
        (speaker,) = fold.test_speakers
        assert len(fold.test_ids) == per_speaker[speaker]
        assert len(fold.train_ids) + len(fold.val_ids) == 535 - per_speaker[speaker]
        assert all(i[6:8] == speaker for i in fold.test_ids)
        assert not {i[6:8] for i in fold.train_ids + fold.val_ids} & {speaker}
        tested += fold.test_ids
    assert sorted(tested) == sorted(meta["id"].tolist())
