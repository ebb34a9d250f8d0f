"""`evaluate_workdir`, `Predictor` and the cross-validation runner on a tiny trained run."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from jaxser import Predictor, audio, evaluate, experiments
from jaxser.train import checkpoint, supervised
from tests.conftest import make_config, train_tiny_run

pytestmark = pytest.mark.usefixtures("tiny_model")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tfds_dir, tiny_corpus):
    return train_tiny_run(tmp_path_factory.mktemp("run"), tfds_dir, tiny_corpus, epochs=2)


def test_evaluate_writes_metrics_predictions_and_plot(run_dir, tiny_corpus):
    result = evaluate.evaluate_workdir(run_dir, corpus=tiny_corpus)
    assert result["total"] == 12 and result["speakers"] == ["s01"] and result["speaker_independent"]
    assert 0.0 <= result["ua"] <= 1.0 and result["checkpoint"] == "best"
    saved = json.loads((run_dir / "eval.json").read_text())
    assert saved["wa"] == result["wa"] and np.sum(saved["confusion"]) == 12
    rows = list(csv.DictReader((run_dir / "predictions.csv").open()))
    assert len(rows) == 12 and {r["speaker"] for r in rows} == {"s01"}
    predicted_right = sum(r["label"] == r["predicted"] for r in rows)
    assert predicted_right / 12 == pytest.approx(result["wa"])
    assert (run_dir / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    latest = evaluate.evaluate_workdir(run_dir, which="latest", corpus=tiny_corpus, write=False)
    assert latest["checkpoint_step"] == 6


def test_evaluate_names_a_workdir_without_a_run(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="not a jaxser training run"):
        evaluate.evaluate_workdir(tmp_path)


def test_predictor_on_arrays_files_and_long_clips(run_dir, tmp_path, tiny_corpus):
    predictor = Predictor.from_checkpoint(run_dir)
    assert predictor.class_names == tiny_corpus.class_names
    rng = np.random.default_rng(0)
    short, long = 0.1 * rng.standard_normal(8000), 0.1 * rng.standard_normal(16000 * 9)
    out = predictor.predict([short.astype(np.float32), long.astype(np.float32)])
    assert [p.windows for p in out] == [1, 8]  # 2 s windows every 1 s cover 9 s with 8
    for p in out:
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.label == max(p.probabilities, key=p.probabilities.get)
    # A stereo file of the same signal on both channels gives the mono array's result.
    path = tmp_path / "stereo.flac"
    stereo = np.stack([short, short], axis=1)
    sf.write(path, stereo, 16000)
    from_file = predictor.predict([path])[0]
    assert from_file.probabilities == pytest.approx(out[0].probabilities, abs=1e-4)
    with pytest.raises(audio.AudioError):
        predictor.predict([tmp_path / "missing.wav"])


def test_cv_runs_every_fold_and_skips_finished_ones(tmp_path, tfds_dir, tiny_corpus, monkeypatch):
    config = make_config(tfds_dir, epochs=1)
    messages = []
    results = experiments.run_cv(config, tmp_path, log=lambda *a, **k: messages.append(a[0]))
    assert results["aggregate"]["pooled"]["total"] == 48  # every utterance tested once
    assert len(results["folds"]) == 4
    assert (tmp_path / "results.md").is_file() and (tmp_path / "fold-03" / "eval.json").is_file()
    # Run again: nothing is retrained.
    monkeypatch.setattr(supervised.Trainer, "fit", lambda self: pytest.fail("a finished fold was retrained"))
    again = experiments.run_cv(config, tmp_path, log=lambda *a, **k: None)
    assert again["aggregate"] == results["aggregate"]
