"""jaxser.data.feature_corpus: IS09 vectors of the tiny synthetic corpus, its folds and normalisers."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxser.data import feature_corpus as fcm
from jaxser.data import splits
from jaxser.features import opensmile
from tests.conftest import make_config


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("functionals")


@pytest.fixture(scope="module")
def fc(tiny_corpus, cache):
    return fcm.load_feature_corpus(tiny_corpus, "IS09", name="synthetic-tiny", cache_dir=cache, progress=False)


@pytest.fixture(scope="module")
def fold(fc):
    return splits.leave_one_speaker_out(fc.meta, validation=splits.Validation(speakers=1))[0]


def _with_X(fc, X):
    return dataclasses.replace(fc, X=X)


def test_rows_align_with_the_audio_corpus(fc, tiny_corpus, cache):
    meta = tiny_corpus.meta
    assert fc.meta is meta and fc.class_names == tiny_corpus.class_names and fc.feature_set == "IS09"
    assert fc.ids == tuple(meta["id"].tolist()) and len(fc) == 48
    assert fc.X.shape == (48, 384) and fc.X.dtype == np.float32 and np.all(np.isfinite(fc.X))
    np.testing.assert_array_equal(fc.labels, meta["label"])
    np.testing.assert_array_equal(fc.speakers, meta["speaker"])
    assert len(fc.feature_names) == 384
    # two clips, extracted on their own (fresh cache), land on their ids' rows
    wanted = {fc.ids[5], fc.ids[40]}
    clips = [(e["id"].decode(), e["audio"]) for e in tfds.as_numpy(tiny_corpus.dataset) if e["id"].decode() in wanted]
    ids, X, _ = opensmile.extract(clips, "IS09", cache / "fresh", name="two", progress=False)
    np.testing.assert_array_equal(fc.X[fc.rows(ids)], X)
    np.testing.assert_array_equal(fc.rows([fc.ids[40], fc.ids[5]]), [40, 5])  # in the order asked
    with pytest.raises(KeyError, match="not in this IS09 corpus"):
        fc.rows(["no/such/id"])


def test_load_from_a_config_reads_the_same_cache(fc, tfds_dir, cache, monkeypatch):
    def no_opensmile(*args, **kwargs):
        raise AssertionError("cache hit expected")

    monkeypatch.setattr(opensmile.load_opensmile(), "Smile", no_opensmile)
    config = make_config(tfds_dir)
    assert fcm.corpus_name(config) == "synthetic-tiny"
    again = fcm.load_feature_corpus(config, "IS09", cache_dir=cache, progress=False)
    assert again.ids == fc.ids and np.array_equal(again.X, fc.X)
    with pytest.raises(TypeError, match="name="):
        fcm.load_feature_corpus(_audio_corpus(fc), "IS09", cache_dir=cache)


def _audio_corpus(fc):
    from jaxser.train import data

    return data.Corpus(dataset=None, meta=fc.meta, class_names=fc.class_names)


def test_part_of_a_loso_fold_holds_only_its_speakers(fc):
    folds = splits.leave_one_speaker_out(fc.meta, validation=splits.Validation(speakers=1))
    assert len(folds) == 4
    for fold in folds:
        seen = []
        for part in splits.PARTS:
            X, y, ids = fc.part(fold, part)
            assert ids == fold.ids(part) and len(ids) > 0
            r = fc.rows(ids)
            assert set(fc.speakers[r].tolist()) == set(fold.speakers(part))
            np.testing.assert_array_equal(X, fc.X[r])
            np.testing.assert_array_equal(y, fc.meta["label"][r])
            seen += ids
        assert sorted(seen) == sorted(fc.ids)
    with pytest.raises(splits.SplitError, match="unknown part"):
        fc.part(folds[0], "dev")


def test_train_normaliser_uses_the_training_rows_only(fc, fold):
    norm = fcm.fit_normalizer(fc, fold, "train")
    train = fc.X[fc.rows(fold.train_ids)].astype(np.float64)
    std = train.std(axis=0)
    np.testing.assert_allclose(norm.mean, train.mean(axis=0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(norm.scale, np.where(std > 0, std, 1.0), rtol=1e-6)
    z = norm.transform(fc.X[fc.rows(fold.train_ids)])
    varying = std > 1e-3 * np.abs(train.mean(axis=0)) + 1e-12
    np.testing.assert_allclose(z.mean(axis=0)[varying], 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=0)[varying], 1, atol=1e-3)
    # other rows (test, validation) do not move it
    X = fc.X.copy()
    X[fc.rows([*fold.test_ids, *fold.val_ids])] = 1e6
    other = fcm.fit_normalizer(_with_X(fc, X), fold, "train")
    np.testing.assert_array_equal(other.mean, norm.mean)
    np.testing.assert_array_equal(other.scale, norm.scale)


def test_constant_features_get_scale_one_or_are_dropped(fc, fold):
    X = fc.X.copy()
    train = fc.rows(fold.train_ids)
    X[train, 7] = 3.0  # constant on the training rows only
    X[:, 11] = -2.0  # constant everywhere
    fc2 = _with_X(fc, X)
    norm = fcm.fit_normalizer(fc2, fold, "train")
    assert norm.scale[7] == 1.0 and norm.scale[11] == 1.0 and norm.num_features == 384
    z = norm.transform(X[train])
    assert np.all(z[:, 7] == 0) and np.all(z[:, 11] == 0)
    dropped = fcm.fit_normalizer(fc2, fold, "train", drop_constant=True)
    assert not dropped.keep[7] and not dropped.keep[11]
    names = dropped.feature_names(fc.feature_names)
    assert dropped.transform(X).shape == (48, dropped.num_features) == (48, len(names))
    assert fc.feature_names[7] not in names and fc.feature_names[11] not in names


def test_per_speaker_normalisation_gives_each_speaker_zero_mean_unit_std(fc, fold):
    norm = fcm.fit_normalizer(fc, fold, "per_speaker")
    assert sorted(norm.speakers.tolist()) == sorted(set(fc.speakers.tolist()))  # the test speaker's too
    z = norm.transform(fc.X, fc.speakers)
    for speaker in set(fc.speakers.tolist()):
        rows = fc.speakers == speaker
        own = fc.X[rows].astype(np.float64)
        std = own.std(axis=0)
        varying = std > 1e-3 * np.abs(own.mean(axis=0)) + 1e-12
        np.testing.assert_allclose(z[rows].mean(axis=0)[varying], 0, atol=1e-4)
        np.testing.assert_allclose(z[rows].std(axis=0)[varying], 1, atol=1e-3)
    with pytest.raises(ValueError, match="one speaker per row"):
        norm.transform(fc.X)
    with pytest.raises(ValueError, match="no statistics for speakers"):
        norm.transform(fc.X[:2], ["stranger", "stranger"])


def test_none_normaliser_is_the_identity(fc, fold):
    norm = fcm.fit_normalizer(fc, fold, "none")
    np.testing.assert_array_equal(norm.transform(fc.X), fc.X)
    with pytest.raises(ValueError, match="valid: train, per_speaker, none"):
        fcm.fit_normalizer(fc, fold, "global")


@pytest.mark.parametrize("kind", fcm.NORMALIZERS)
def test_normaliser_round_trips_through_npz_and_json(fc, fold, kind, tmp_path):
    norm = fcm.fit_normalizer(fc, fold, kind, drop_constant=True)
    expected = norm.transform(fc.X, fc.speakers)
    arrays = norm.to_arrays()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in arrays.values())
    np.savez(tmp_path / "norm.npz", **arrays)
    with np.load(tmp_path / "norm.npz", allow_pickle=False) as f:
        from_npz = fcm.Normalizer.from_arrays(dict(f))
    from_json = fcm.Normalizer.from_arrays(json.loads(json.dumps({k: v.tolist() for k, v in arrays.items()})))
    for back in (from_npz, from_json):
        assert back.kind == kind
        np.testing.assert_array_equal(back.transform(fc.X, fc.speakers), expected)
