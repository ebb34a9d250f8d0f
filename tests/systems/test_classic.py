"""The sklearn kind end to end: openSMILE IS09 + linear SVM under LOSO on the tiny corpus.

Also the leakage check for its stages: the normaliser and the SVM never see a row of
the fold's test speaker (per-speaker normalisation, the documented exception, sees the
test speaker's unlabelled features; the SVM still never does).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from jaxser import config as config_lib
from jaxser import evaluate, experiments
from jaxser.data import feature_corpus
from jaxser.systems import classic
from jaxser.train import data


def classic_config(tfds_dir, cache_dir, **features):
    c = config_lib.base_config()
    c.name = "test_classic"
    c.kind = "sklearn"
    c.data.name, c.data.config, c.data.data_dir = "synthetic", "tiny", str(tfds_dir)
    c.features.source, c.features.opensmile_set, c.features.cache_dir = "opensmile", "IS09", str(cache_dir)
    for key, value in features.items():
        c.features[key] = value
    c.split.kind, c.split.val_speakers = "loso", 0
    c.model.name = "linear_svm"
    c.model.kwargs.C = 1e-2
    c.model.kwargs.class_weight = "balanced"
    c.train.progress = False
    config_lib.validate(c)
    return c


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("functionals")


@pytest.fixture(scope="module")
def features(tfds_dir, tiny_corpus, cache_dir):
    return classic.load_data(classic_config(tfds_dir, cache_dir))


def test_cv_fits_every_fold_and_matches_a_plain_sklearn_pipeline(tmp_path, tfds_dir, cache_dir, features, monkeypatch):
    config = classic_config(tfds_dir, cache_dir)
    results = experiments.run_cv(config, tmp_path, log=lambda *a, **k: None)
    assert results["aggregate"]["pooled"]["total"] == 48 and len(results["folds"]) == 4
    assert results["meta"]["kind"] == "sklearn" and "speaker-independent" in results["meta"]["protocol"]
    for index, fold in enumerate(data.folds(config, features.meta)):
        directory = tmp_path / f"fold-{index:02d}"
        summary = json.loads((directory / "fit" / "stage.json").read_text())["summary"]
        assert summary["train_speakers"] == list(fold.train_speakers) and 370 < summary["features_used"] <= 384
        result = json.loads((directory / "eval.json").read_text())
        assert result["checkpoint"] == "fitted" and result["speakers"] == list(fold.test_speakers)
        # The reference: StandardScaler + LinearSVC on the same rows.
        X, y, _ = features.part(fold, "train")
        reference = make_pipeline(StandardScaler(), LinearSVC(C=1e-2, class_weight="balanced")).fit(X, y)
        X_test, y_test, ids = features.part(fold, "test")
        predicted = reference.predict(X_test)
        rows = list(csv.DictReader((directory / "predictions.csv").open()))
        assert [r["id"] for r in rows] == list(ids)
        assert [features.class_names.index(r["predicted"]) for r in rows] == predicted.tolist()
        assert "score_" + features.class_names[0] in rows[0]
    # Nothing is fitted again on a rerun; the tables are the same.
    monkeypatch.setattr(classic, "_fit", lambda ctx: pytest.fail("a finished fold was fitted again"))
    assert experiments.run_cv(config, tmp_path, log=lambda *a, **k: None)["aggregate"] == results["aggregate"]


def _spy(monkeypatch):
    seen = {"normalizer": [], "svm": []}
    fit_norm, fit_svm = feature_corpus.Normalizer.fit.__func__, LinearSVC.fit

    def normalizer_fit(cls, X, *args, **kwargs):
        seen["normalizer"].append(np.asarray(X))
        return fit_norm(cls, X, *args, **kwargs)

    def svm_fit(self, X, y, *args, **kwargs):
        seen["svm"].append(np.asarray(X))
        return fit_svm(self, X, y, *args, **kwargs)

    monkeypatch.setattr(feature_corpus.Normalizer, "fit", classmethod(normalizer_fit))
    monkeypatch.setattr(LinearSVC, "fit", svm_fit)
    return seen


def _speakers_of(rows, features, normalized=None):
    """The speakers whose feature rows are among ``rows`` (exact match, or after ``normalized``)."""
    table = features.X if normalized is None else normalized
    found = set()
    for row in rows:
        hits = np.flatnonzero(np.all(np.isclose(table, row[None, :], rtol=0, atol=1e-6), axis=1))
        found |= set(features.speakers[hits].tolist())
    return found


@pytest.mark.parametrize("normalize", ["train", "per_speaker"])
def test_no_test_speaker_reaches_the_fit_stage(tmp_path, tfds_dir, cache_dir, features, monkeypatch, normalize):
    config = classic_config(tfds_dir, cache_dir, normalize=normalize)
    for index, fold in enumerate(data.folds(config, features.meta)):
        seen = _spy(monkeypatch)
        fold_config = config_lib.from_json(config_lib.to_json(config))
        fold_config.split.fold = index
        experiments.train_fold(fold_config, tmp_path / f"{normalize}-{index}", corpus=features, fold=fold)
        test_speaker = set(fold.test_speakers)
        normalizer_rows = np.concatenate(seen["normalizer"])
        if normalize == "train":
            assert _speakers_of(normalizer_rows, features) == set(fold.train_speakers)
        else:  # the documented exception: unlabelled statistics of every speaker, the test one's too
            assert _speakers_of(normalizer_rows, features) == set(fold.train_speakers) | test_speaker
        # The SVM sees normalised rows: map them back through the fold's own normaliser.
        norm = feature_corpus.Normalizer.from_arrays(
            {k[5:]: v for k, v in classic.load_fitted(tmp_path / f"{normalize}-{index}").items() if k.startswith("norm_")}
        )
        everything = norm.transform(features.X, features.speakers)
        (svm_rows,) = seen["svm"]
        assert _speakers_of(svm_rows, features, everything) == set(fold.train_speakers)
        monkeypatch.undo()


def test_evaluate_other_parts_and_the_cli_train_command(tmp_path, tfds_dir, cache_dir, features, capsys):
    from jaxser import cli

    config_path = tmp_path / "classic.py"
    config_path.write_text(
        "from tests.systems.test_classic import classic_config\n\n"
        f"def get_config(arg=None):\n    return classic_config({str(tfds_dir)!r}, {str(cache_dir)!r})\n"
    )
    workdir = tmp_path / "run"
    assert cli.main(["train", "--config", str(config_path), "--workdir", str(workdir), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["checkpoint"] == "fitted" and printed["checkpoint_step"] is None and printed["total"] == 12
    assert printed["train"]["estimator"] == "linear_svm"
    train = evaluate.evaluate_workdir(workdir, part="train", corpus=features)
    assert train["total"] == 36 and (workdir / "eval-train-best.json").is_file()
    assert json.loads((workdir / "eval.json").read_text())["part"] == "test"
    assert cli.main(["predict", "--checkpoint", str(workdir), str(config_path)]) == 2  # refused, clearly
    assert "serve network runs (kind='supervised') only" in capsys.readouterr().err
    (workdir / "fit" / classic.MODEL_FILE).write_bytes(b"not an npz")
    from jaxser.train.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="damaged"):
        evaluate.evaluate_workdir(workdir, corpus=features)
