"""`evaluate_workdir`, `Predictor` and the cross-validation runner on a tiny trained run."""

from __future__ import annotations

import csv
import json
import shutil

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


def test_other_parts_and_checkpoints_never_replace_the_folds_result(run_dir, tiny_corpus):
    """`evaluate --part val` or `--which latest` write their own files: only the test part
    of the best checkpoint is the fold's eval.json (what `jaxser cv` pools)."""
    official = evaluate.evaluate_workdir(run_dir, corpus=tiny_corpus)
    before = (run_dir / "eval.json").read_bytes()
    val = evaluate.evaluate_workdir(run_dir, part="val", corpus=tiny_corpus)
    latest = evaluate.evaluate_workdir(run_dir, which="latest", corpus=tiny_corpus)
    assert (run_dir / "eval.json").read_bytes() == before
    assert json.loads((run_dir / "eval-val-best.json").read_text())["speakers"] == val["speakers"] != official["speakers"]
    assert json.loads((run_dir / "eval-test-latest.json").read_text())["checkpoint"] == latest["checkpoint"] == "latest"
    assert (run_dir / "predictions-val-best.csv").is_file() and (run_dir / "confusion-test-latest.png").is_file()
    assert official["val_speakers"] and not set(official["val_speakers"]) & set(official["speakers"])  # recorded
    assert evaluate.is_fold_result(run_dir / "eval.json")
    assert not evaluate.is_fold_result(run_dir / "eval-val-best.json")


def test_cv_pools_only_test_evaluations_of_the_selected_model(tmp_path, tfds_dir, tiny_corpus):
    config = make_config(tfds_dir, epochs=1)
    results = experiments.run_cv(config, tmp_path, log=lambda *a, **k: None)
    fold = tmp_path / "fold-00"
    assert results["folds"][next(iter(results["folds"]))]["val_speakers"]  # recorded per fold
    assert "Validation speakers" in (tmp_path / "results.md").read_text()
    # What an older jaxser let `evaluate --part val` do: overwrite the fold's eval.json.
    test_result = (fold / "eval.json").read_text()
    val_result = evaluate.evaluate_workdir(fold, part="val", corpus=tiny_corpus, write=False)
    (fold / "eval.json").write_text(json.dumps(val_result))
    again = experiments.run_cv(config, tmp_path, log=lambda *a, **k: None)
    assert again["aggregate"] == results["aggregate"]  # the fold was evaluated on its test speaker again
    assert json.loads((fold / "eval.json").read_text())["confusion"] == json.loads(test_result)["confusion"]
    # The current evaluate never touches eval.json for another part or checkpoint.
    evaluate.evaluate_workdir(fold, part="val", corpus=tiny_corpus)
    evaluate.evaluate_workdir(fold, which="latest", corpus=tiny_corpus)
    assert experiments.run_cv(config, tmp_path, log=lambda *a, **k: None)["aggregate"] == results["aggregate"]


def test_predictor_scores_whole_clips_in_pad_mode(run_dir, tmp_path):
    """eval_mode "pad": one row per clip padded to eval_seconds, as evaluation does, and
    a longer clip is refused (evaluation refuses it too) instead of windowed."""
    config = evaluate.load_config(run_dir)
    config.data.eval_mode, config.data.eval_seconds = "pad", 3.0
    chunked = Predictor.from_checkpoint(run_dir)
    padded = Predictor(config, chunked.variables, chunked.class_names)
    assert padded.window == 3 * 16000
    rng = np.random.default_rng(1)
    clip = (0.1 * rng.standard_normal(16000 * 5 // 2)).astype(np.float32)  # 2.5 s: 2 windows when chunked
    (one,) = padded.predict([clip])
    assert one.windows == 1 and chunked.predict([clip])[0].windows == 2
    row = np.zeros((1, padded.window), np.float32)
    row[0, : len(clip)] = clip
    direct = np.asarray(padded._fn(padded.variables, audio=row, lengths=np.array([len(clip)], np.int32)))[0]
    assert list(one.probabilities.values()) == pytest.approx(direct.tolist(), abs=1e-5)
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(16000 * 4, np.float32), 16000)
    predictions, failures = padded.predict_files([path])
    assert not predictions and "longer than the model's input" in failures[0][1]


def test_predictor_reports_clips_too_short_to_judge(run_dir, tmp_path):
    """A clip under min_seconds (default: an eighth of the model's window) is not labelled."""
    predictor = Predictor.from_checkpoint(run_dir)
    assert predictor.window_seconds == 2.0 and predictor.min_seconds == 0.25
    rng = np.random.default_rng(2)
    blip, enough = ((0.1 * rng.standard_normal(n)).astype(np.float32) for n in (40, 4800))  # 2.5 ms, 0.3 s
    short, ok = predictor.predict([blip, enough])
    assert (short.status, short.label, short.probabilities, short.windows) == ("too_short", None, {}, 0)
    assert short.seconds == 40 / 16000
    assert ok.status == "ok" and ok.label in ok.probabilities and ok.windows == 1
    # Files too, through predict_files: too short is a result, not a failure.
    path = tmp_path / "blip.wav"
    sf.write(path, blip, 16000)
    predictions, failures = predictor.predict_files([path])
    assert not failures and predictions[0].status == "too_short"
    # The threshold is the caller's to choose.
    anything = Predictor.from_checkpoint(run_dir, min_seconds=0)
    assert anything.predict([blip])[0].status == "ok"
    strict = Predictor(predictor.config, predictor.variables, predictor.class_names, min_seconds=0.35)
    assert [p.status for p in strict.predict([blip, enough])] == ["too_short", "too_short"]
    with pytest.raises(ValueError, match="min_seconds"):
        Predictor(predictor.config, predictor.variables, predictor.class_names, min_seconds=-1)


def test_weights_that_do_not_fit_the_model_are_a_clear_error(run_dir, tmp_path):
    """from_checkpoint shapes what it reads by the checkpoint's metadata, not by the model;
    weights that do not fit the model the run's config builds (the config edited, or
    the model's code changed, since training) are reported when the model first runs."""
    run = shutil.copytree(run_dir, tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    config["model"]["kwargs"]["width"] = 8  # trained with the tiny model's 16
    (run / "config.json").write_text(json.dumps(config))
    predictor = Predictor.from_checkpoint(run)
    with pytest.raises(checkpoint.CheckpointError, match=r"do not fit the model .*\(32, 8\).*\(32, 16\)"):
        predictor.predict([np.zeros(16000, np.float32)])


def test_outcomes_keep_the_input_order_and_report_progress(run_dir, tmp_path):
    predictor = Predictor.from_checkpoint(run_dir)
    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    sf.write(good, 0.1 * np.random.default_rng(3).standard_normal(24000), 16000)
    bad.write_bytes(b"not audio")
    seen = []
    outcomes = predictor.outcomes([bad, good, bad], progress=seen.append)
    assert [type(o).__name__ for o in outcomes] == ["AudioError", "Prediction", "AudioError"]
    assert seen == [0.0, 1.5, 0.0]  # seconds of audio read, per file
