"""The zhong kind end to end on the built-in synthetic corpus (slow): every stage of a
cross-validation, what each stage was fitted on, resuming, counters across a restart,
and `jaxser bench` on a zhong config. Kept apart from test_zhong_kind.py so the two
files run on different test workers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxser import hard_examples
from jaxser.systems import zhong
from tests.systems.test_zhong_kind import make_config


# -- the whole system, stage by stage ------------------------------------------------


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    from jaxser import experiments

    config = make_config()
    config.data.clip_seconds = 1.0
    config.train.optimizer = "adam"
    config.train.learning_rate = 1e-3
    config.train.epochs = 2
    config.hard_examples.retrain = True
    config.hard_examples.retrain_from_epoch = 2
    config.hard_examples.retrain_epochs = 1
    config.hard_examples.beta = 0.0
    config.train.progress = False
    workdir = tmp_path_factory.mktemp("zhong_cv")
    results = experiments.run_cv(config, workdir, log=lambda *a, **k: None)
    return config, workdir, results


@pytest.mark.slow
def test_cross_validation_runs_every_stage_on_training_data_only(cv_run):
    from jaxser.train import data

    config, workdir, results = cv_run
    assert results["meta"]["protocol"].startswith("speaker-DEPENDENT random 75%/25% split repeated 2 times")
    # Without SVM fusion: each network's softmax, and their mean, pooled beside the SVM's result.
    assert set(results["aggregate"]["other_outputs"]) == {"softmax/acln", "softmax/fcn", "softmax/mean"}
    corpus = zhong.load_data(config)
    for index, fold in enumerate(data.folds(config, corpus.meta)):
        d = workdir / f"fold-{index:02d}"
        for stage in ("train", "retrain", "fuse"):
            assert (d / stage / "stage.json").is_file(), stage
        train = json.loads((d / "train" / "stage.json").read_text())["summary"]
        assert train["epochs"] == 2.0
        # The hard index saved is the one the counters give, test rows never hard.
        saved = np.load(d / "train" / "hard_examples.npz")
        np.testing.assert_allclose(saved["h"], hard_examples.hard_index(saved["seen"], saved["missed"]))
        test_rows = np.isin(saved["ids"], fold.test_ids)
        assert not saved["seen"][:, test_rows].any() and not saved["hard"][:, test_rows].any()
        assert set(saved["ids"][saved["seen"].any(axis=0)]) <= set(fold.train_ids)
        retrain = json.loads((d / "retrain" / "stage.json").read_text())["summary"]
        assert retrain["loss"] == "hard_example" and retrain["retrain_examples"] <= len(fold.train_ids)
        fuse = json.loads((d / "fuse" / "stage.json").read_text())["summary"]
        assert fuse["train_examples"] == len(fold.train_ids)  # the SVM saw the training part only
        evaluation = json.loads((d / "eval.json").read_text())
        assert evaluation["utterances"] == len(fold.test_ids) and evaluation["checkpoint"] == "fitted"
        assert set(evaluation["softmax"]) == {"acln", "fcn", "mean"}
        assert evaluation["speaker_independent"] is False
    from jaxser.predict import Predictor
    from jaxser.train.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="kind='zhong' run"):  # refused, naming what works instead
        Predictor.from_checkpoint(workdir / "fold-00")


@pytest.mark.slow
def test_a_finished_cross_validation_resumes_without_training(cv_run):
    from jaxser import experiments

    config, workdir, results = cv_run
    stamps = {p: p.stat().st_mtime_ns for p in workdir.glob("fold-*/*/stage.json")}
    again = experiments.run_cv(config, workdir, log=lambda *a, **k: None)
    assert again["aggregate"] == results["aggregate"]
    assert stamps == {p: p.stat().st_mtime_ns for p in workdir.glob("fold-*/*/stage.json")}


@pytest.mark.slow
def test_counters_resume_exactly(tmp_path, cv_run):
    """A first stage killed after one epoch and resumed ends with the counters of an
    uninterrupted run (they are in the checkpointed state)."""
    from jaxser.train import data, supervised

    config, workdir, _ = cv_run
    corpus = zhong.load_data(config)
    fold = data.folds(config, corpus.meta)[0]
    fc = zhong.fold_corpus(corpus, fold, config)
    one = zhong._stage_config(config, epochs=1)
    supervised.Trainer(one, tmp_path, corpus=fc, fold=fold).fit()
    state, _ = supervised.Trainer(zhong._stage_config(config, epochs=2), tmp_path, corpus=fc, fold=fold).fit()
    straight = np.load(workdir / "fold-00" / "train" / "hard_examples.npz")
    for i, name in enumerate(straight["networks"]):
        np.testing.assert_array_equal(np.asarray(state.extras["counts"][str(name)]["seen"]), straight["seen"][i])
        np.testing.assert_array_equal(np.asarray(state.extras["counts"][str(name)]["missed"]), straight["missed"][i])


@pytest.mark.slow
def test_bench_runs_a_zhong_config(tmp_path):
    """`jaxser bench` loads the kind's corpus, readies it for the fold and times the step."""
    from jaxser import bench

    config = make_config()
    config.data.clip_seconds = 1.0
    report = bench.run(config, steps=2, warmup=1)
    assert report["model"] == "zhong2020_independent" and report["end_to_end"]["steps_per_s"] > 0
