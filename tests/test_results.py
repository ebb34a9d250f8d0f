"""jaxser.results on three synthetic folds: numbers by hand, table rows, atomic writes."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from jaxser import results

CLASSES = ["anger", "neutral"]
FOLDS = {
    "spk03": {"confusion": np.array([[3, 1], [0, 2]]), "test_speakers": ["03"], "val_speakers": ["08"], "steps": np.int64(500)},
    "spk08+09": {"confusion": [[2, 0], [2, 2]], "test_speakers": ["08", "09"]},
    "spk10": {"confusion": [[1, 0], [0, 0]], "test_speakers": ["10"]},  # no neutral test example
}
META = {"config": "zhao2019_cnn_lstm_emodb", "split": "loso", "protocol": "speaker-independent LOSO",
        "command": "jaxser cv --config=configs/x.py --workdir=/tmp/w"}


def test_write_and_load(tmp_path):
    json_path, md_path = results.write_cv_results(tmp_path / "run", FOLDS, CLASSES, meta=META)
    assert json_path == tmp_path / "run" / "results.json" and md_path == tmp_path / "run" / "results.md"
    doc = results.load_cv_results(tmp_path / "run")
    assert doc == results.load_cv_results(json_path)
    assert list(doc["folds"]) == list(FOLDS)
    assert doc["meta"]["protocol"] == "speaker-independent LOSO" and "written_at" in doc["meta"]
    f1 = doc["folds"]["spk03"]
    assert f1["wa"] == pytest.approx(5 / 6) and f1["ua"] == pytest.approx(7 / 8)
    assert f1["counts"] == {"anger": 4, "neutral": 2} and f1["confusion"] == [[3, 1], [0, 2]]
    assert f1["test_speakers"] == ["03"] and f1["steps"] == 500
    assert doc["folds"]["spk10"]["ua"] == 1.0 and doc["folds"]["spk10"]["ua_classes"] == ["anger"]
    pooled, mean = doc["aggregate"]["pooled"], doc["aggregate"]["fold_mean"]
    assert pooled["confusion"] == [[6, 1], [2, 4]] and pooled["total"] == 13
    assert pooled["wa"] == pytest.approx(10 / 13) and pooled["ua"] == pytest.approx(16 / 21)
    assert mean["wa"] == pytest.approx(5 / 6) and mean["wa_std"] == pytest.approx(math.sqrt(1 / 54))
    assert mean["ua"] == pytest.approx(7 / 8) and mean["ua_std"] == pytest.approx(math.sqrt(1 / 96))
    png = tmp_path / "run" / doc["confusion_png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    umask = os.umask(0)
    os.umask(umask)
    for path in (json_path, md_path, png):  # ordinary permissions, not a temp file's 0600
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_markdown_table(tmp_path):
    _, md_path = results.write_cv_results(tmp_path, FOLDS, CLASSES, meta=META)
    lines = md_path.read_text().splitlines()
    assert lines[0] == "# Results: zhao2019_cnn_lstm_emodb"
    assert "- command: `jaxser cv --config=configs/x.py --workdir=/tmp/w`" in lines
    start = lines.index("| Fold | Test speakers | Validation speakers | n | WA (%) | UA (%) |")
    assert lines[start + 2 : start + 7] == [
        "| spk03 | 03 | 08 | 6 | 83.33 | 87.50 |",
        "| spk08+09 | 08, 09 | – | 6 | 66.67 | 75.00 |",
        "| spk10 | 10 | – | 1 | 100.00 | 100.00 |",
        "| **Pooled** | all folds | | 13 | 76.92 | 76.19 |",
        "| **Mean ± std** | 3 folds | | 13 | 83.33 ± 13.61 | 87.50 ± 10.21 |",
    ]
    assert any(line.startswith("WA (weighted accuracy): the share of test utterances") for line in lines)
    assert "| neutral | 6 | 66.67 | 80.00 | 72.73 |" in lines  # pooled per class: 4/6, 4/5, 8/11
    assert "![Pooled confusion matrix](confusion_pooled.png)" in lines


def test_failed_write_keeps_previous_results(tmp_path, monkeypatch):
    results.write_cv_results(tmp_path, FOLDS, CLASSES, meta=META)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    # A value JSON cannot hold fails before any file is touched.
    with pytest.raises(TypeError, match="not JSON serialisable"):
        results.write_cv_results(tmp_path, {"a": {"confusion": np.eye(2, dtype=int), "x": object()}}, CLASSES, meta=META)
    # A crash at the final rename leaves the old results.json and no temp files.
    real_replace = os.replace

    def crash_on_json(src, dst):
        if str(dst).endswith("results.json"):
            raise OSError("killed")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_json)
    with pytest.raises(OSError, match="killed"):
        results.write_cv_results(tmp_path, {"a": {"confusion": np.eye(2, dtype=int)}}, CLASSES, meta=META)
    assert (tmp_path / "results.json").read_bytes() == before["results.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="jaxser cv"):
        results.load_cv_results(tmp_path)
    with pytest.raises(ValueError, match="without a 'confusion'"):
        results.write_cv_results(tmp_path, {"a": {"test_speakers": ["1"]}}, CLASSES, meta={})
    with pytest.raises(ValueError, match="no fold results"):
        results.write_cv_results(tmp_path, {}, CLASSES, meta={})
    (tmp_path / "results.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ValueError, match="format_version 99"):
        results.load_cv_results(tmp_path)


def test_other_outputs_are_pooled_beside_the_fold_result(tmp_path):
    """E.g. each network's own softmax of a system whose folds are scored by an SVM."""
    perfect = {name: np.diag(np.asarray(f["confusion"]).sum(axis=1)).tolist() for name, f in FOLDS.items()}
    results.write_cv_results(tmp_path, FOLDS, CLASSES, meta=META, other_outputs={"softmax/acln": perfect})
    doc = results.load_cv_results(tmp_path)
    other = doc["aggregate"]["other_outputs"]["softmax/acln"]
    assert other["pooled"]["wa"] == other["pooled"]["ua"] == 1.0 and other["pooled"]["total"] == 13
    assert other["fold_mean"]["n_folds"] == 3
    assert doc["aggregate"]["pooled"]["wa"] == pytest.approx(10 / 13)  # the folds' result is unchanged
    assert "| softmax/acln | 100.00 | 100.00 | 100.00 ± 0.00 | 100.00 ± 0.00 |" in (tmp_path / "results.md").read_text()
