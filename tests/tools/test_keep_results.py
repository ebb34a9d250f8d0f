"""tools/keep_results.py: finished folds' records are copied, checkpoints and unfinished folds are not."""


from tests.tools import load_tool

keep_results = load_tool("keep_results")


def _run(tmp_path):
    run = tmp_path / "runs" / "loso"
    done, busy = run / "fold-00", run / "fold-01"
    for fold in (done, busy):
        (fold / "checkpoints" / "latest" / "7").mkdir(parents=True)
        (fold / "checkpoints" / "latest" / "7" / "state").write_bytes(b"x" * 100)
        (fold / "metrics.jsonl").write_text('{"step": 1}\n')
        (fold / "config.json").write_text("{}")
    (done / "eval.json").write_text('{"wa": 0.5}')
    (done / "fold_summary.json").write_text('{"steps": 7}')
    (run / "results.json").write_text("{}")
    return run


def test_keeps_finished_folds_only(tmp_path):
    run = _run(tmp_path)
    written = keep_results.keep(run, tmp_path / "results")
    kept = tmp_path / "results" / "loso"
    assert (kept / "results.json").is_file()
    assert sorted(p.name for p in (kept / "fold-00").iterdir()) == ["config.json", "eval.json", "fold_summary.json", "metrics.jsonl"]
    assert (kept / "fold-00" / "eval.json").read_text() == '{"wa": 0.5}'
    assert not (kept / "fold-01").exists()  # unfinished: would mark nothing and keep no checkpoint
    assert not list(kept.rglob("checkpoints"))
    assert len(written) == 5


def test_cli_reports_missing_run(tmp_path, capsys):
    assert keep_results.main([str(tmp_path / "nope"), "--dest", str(tmp_path / "results")]) == 1
    assert "no such run folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert keep_results.main([str(empty), "--dest", str(tmp_path / "results")]) == 1
    assert "no finished fold" in capsys.readouterr().err


def test_cli_summary_line(tmp_path, capsys):
    run = _run(tmp_path)
    assert keep_results.main([str(run), "--dest", str(tmp_path / "results")]) == 0
    assert "finished folds fold-00" in capsys.readouterr().out



def test_keeps_each_stage_summary_but_not_fitted_models(tmp_path):
    run = _run(tmp_path)
    (run / "fold-00" / "fit").mkdir()
    (run / "fold-00" / "fit" / "stage.json").write_text('{"stage": "fit"}')
    (run / "fold-00" / "fit" / "model.npz").write_bytes(b"x" * 100)
    keep_results.keep(run, tmp_path / "results")
    kept = tmp_path / "results" / "loso" / "fold-00" / "fit"
    assert [p.name for p in kept.iterdir()] == ["stage.json"]


def test_keeps_a_stage_training_curve_and_hard_example_counts(tmp_path):
    run = _run(tmp_path)
    stage = run / "fold-00" / "train"
    (stage / "checkpoints" / "latest" / "3").mkdir(parents=True)
    for name in ("stage.json", "metrics.jsonl", "hard_examples.npz"):
        (stage / name).write_text("x")
    keep_results.keep(run, tmp_path / "results")
    kept = tmp_path / "results" / "loso" / "fold-00" / "train"
    assert sorted(p.name for p in kept.iterdir()) == ["hard_examples.npz", "metrics.jsonl", "stage.json"]


def test_keeps_each_subnetwork_loss_picture_but_not_its_checkpoints(tmp_path):
    run = _run(tmp_path)
    stage = run / "fold-00" / "augment"
    (stage / "class-0" / "checkpoints" / "latest").mkdir(parents=True)
    (stage / "stage.json").write_text("{}")
    for name in ("losses.png", "metrics.jsonl", "train_summary.json"):
        (stage / "class-0" / name).write_text("x")
    keep_results.keep(run, tmp_path / "results")
    kept = tmp_path / "results" / "loso" / "fold-00" / "augment"
    assert sorted(p.name for p in kept.iterdir()) == ["class-0", "stage.json"]
    assert [p.name for p in (kept / "class-0").iterdir()] == ["losses.png"]
