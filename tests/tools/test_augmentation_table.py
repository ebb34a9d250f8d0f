"""tools/augmentation_table.py: Table I and Fig. 6 pooled from adan runs' fold records."""

import json

import numpy as np
import pytest

from tests.tools import load_tool

augmentation_table = load_tool("augmentation_table")

NAMES = ["a", "b"]


def _fold(run, name, method, confusions, chosen, mmd=None, corpus="emodb"):
    """``confusions``: {(classifier, m): 2 x 2 list}."""
    fold = run / name
    (fold / "classify").mkdir(parents=True)
    others = {f"{c}/sets={m:02d}": {"confusion": conf} for (c, m), conf in confusions.items()}
    (fold / "eval.json").write_text(json.dumps({"class_names": NAMES, "other_outputs": others}))
    (fold / "config.json").write_text(json.dumps({"augmenter": {"method": method}, "data": {"name": corpus}}))
    (fold / "classify" / "stage.json").write_text(json.dumps({"summary": {"chosen": chosen}}))
    if mmd is not None:
        (fold / "augment").mkdir()
        (fold / "augment" / "stage.json").write_text(json.dumps({"summary": {"mmd_set0": mmd}}))


def _runs(tmp_path):
    wadan, smote = tmp_path / "wadan", tmp_path / "smote"
    # fold-00: m = 0 gets 3 + 2 of 2 x 5 right, m = 1 gets 5 + 4; fold-01: m = 0 4 + 4, m = 1 3 + 5.
    f0 = {("dnn", 0): [[3, 2], [3, 2]], ("dnn", 1): [[5, 0], [1, 4]]}
    f1 = {("dnn", 0): [[4, 1], [1, 4]], ("dnn", 1): [[3, 2], [0, 5]]}
    _fold(wadan, "fold-00", "wadan", f0, {"dnn": 1}, mmd=0.02)
    _fold(wadan, "fold-01", "wadan", f1, {"dnn": 0}, mmd=0.04)
    (wadan / "fold-02").mkdir()  # unfinished: no eval.json
    _fold(smote, "fold-00", "smote", f0, {"dnn": 0})
    return wadan, smote


def test_pools_folds_at_validation_choice_and_test_peak(tmp_path):
    wadan, _ = _runs(tmp_path)
    none, row = augmentation_table.table([wadan])
    dnn = row["classifiers"]["dnn"]
    assert row["folds"] == ["fold-00", "fold-01"]
    # pooled m = 0: (3 + 4) / 10 a, (2 + 4) / 10 b; m = 1: 8 / 10 a, 9 / 10 b
    assert dnn["curve"][0] == pytest.approx({"wa": 13 / 20, "ua": (0.7 + 0.6) / 2})
    assert dnn["curve"][1] == pytest.approx({"wa": 17 / 20, "ua": (0.8 + 0.9) / 2})
    assert dnn["test_peak"]["m"] == 1
    # validation chose m = 1 on fold-00 (5 + 4 right) and m = 0 on fold-01 (4 + 4 right)
    assert dnn["chosen_m"] == [1, 0]
    assert dnn["validation_chosen"] == pytest.approx({"wa": 17 / 20, "ua": (9 / 10 + 8 / 10) / 2})
    assert row["mmd"] == pytest.approx({"mean": 0.03, "std": 0.01, "folds": 2})
    assert none["method"] == "none" and none["classifiers"]["dnn"]["validation_chosen"] == dnn["curve"][0]


def test_only_folds_every_run_finished(tmp_path):
    wadan, smote = _runs(tmp_path)
    rows = augmentation_table.table([wadan, smote])
    assert [r["method"] for r in rows] == ["none", "wadan", "smote"]
    assert all(r["folds"] == ["fold-00"] for r in rows)
    assert augmentation_table.table([wadan, smote], all_folds=True)[1]["folds"] == ["fold-00", "fold-01"]
    text = augmentation_table.markdown(rows)
    assert "| wadan | DNN | 1 | 90.00 / 90.00 | 90.00 / 90.00 (1) | — | 84.49 / 83.31 | 0.0200 ± 0.0000 (0.0054) |" in text
    assert "| smote | DNN | 1 | 50.00 / 50.00 |" in text  # validation chose m = 0 there


def test_cli_errors_and_png(tmp_path, capsys):
    wadan, smote = _runs(tmp_path)
    assert augmentation_table.main([str(tmp_path / "nope")]) == 1
    assert "no finished fold" in capsys.readouterr().err
    assert augmentation_table.main([str(wadan), str(wadan)]) == 1
    assert "same method" in capsys.readouterr().err
    png = tmp_path / "curves.png"
    assert augmentation_table.main([str(wadan), str(smote), "--png", str(png), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in rows] == ["none", "wadan", "smote"]
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert np.isfinite(rows[1]["classifiers"]["dnn"]["curve"]["1"]["wa"])


def test_a_fold_without_its_config_is_named(tmp_path, capsys):
    wadan, _ = _runs(tmp_path)
    for fold in wadan.glob("fold-*/config.json"):
        fold.unlink()
    assert augmentation_table.main([str(wadan)]) == 1
    assert "no augmenter.method" in capsys.readouterr().err


def test_paper_figures_only_for_the_papers_corpora(tmp_path):
    f0 = {("dnn", 0): [[3, 2], [3, 2]], ("dnn", 1): [[5, 0], [1, 4]]}
    casia, iemocap = tmp_path / "casia", tmp_path / "iemocap"
    _fold(casia, "fold-00", "wadan", f0, {"dnn": 1}, mmd=0.02, corpus="casia")
    _fold(iemocap, "fold-00", "wadan", f0, {"dnn": 1}, mmd=0.02, corpus="iemocap")
    text = augmentation_table.markdown(augmentation_table.table([casia]))
    assert "| wadan | DNN | 1 | 90.00 / 90.00 | 90.00 / 90.00 (1) | — | — | 0.0200 ± 0.0000 |" in text
    text = augmentation_table.markdown(augmentation_table.table([iemocap]))
    assert "| wadan | DNN | 1 | 90.00 / 90.00 | 90.00 / 90.00 (1) | — | 66.92 / 64.51 | 0.0200 ± 0.0000 |" in text
    smote = tmp_path / "smote"
    _fold(smote, "fold-00", "smote", f0, {"dnn": 0}, corpus="iemocap")
    with pytest.raises(ValueError, match="different corpora"):
        augmentation_table.table([casia, smote])


def test_the_paper_m_column_reads_the_curve_where_the_paper_names_its_m(tmp_path):
    # EmoDB's GAN row was read at one augmented set (Sec. V-C), whatever the peak.
    f0 = {("dnn", 0): [[3, 2], [3, 2]], ("dnn", 1): [[4, 1], [2, 3]], ("dnn", 2): [[5, 0], [1, 4]]}
    gan = tmp_path / "gan"
    _fold(gan, "fold-00", "gan", f0, {"dnn": 2})
    text = augmentation_table.markdown(augmentation_table.table([gan]))
    assert "| gan | DNN | 1 | 90.00 / 90.00 | 90.00 / 90.00 (2) | 70.00 / 70.00 (1) | 80.37 / 78.60 | — |" in text
