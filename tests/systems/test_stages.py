"""The per-fold stage runner: each stage in its own folder, finished stages never rerun."""

from __future__ import annotations

import json

import pytest

from jaxser.systems import stages


class Boom(RuntimeError):
    pass


def _ctx(tmp_path):
    return stages.StageContext(config=None, fold_dir=tmp_path / "fold-00", corpus=None, fold=None)


def test_stages_run_in_order_in_their_folders_and_resume(tmp_path):
    calls, fail = [], {"fit": True}

    def augment(ctx):
        calls.append("augment")
        (ctx.directory / "generated.txt").write_text("samples")
        return {"generated": 10}

    def fit(ctx):
        calls.append("fit")
        assert (ctx.stage_dir("augment") / "generated.txt").read_text() == "samples"  # an earlier stage's output
        assert ctx.summaries["augment"] == {"generated": 10}
        if fail["fit"]:
            raise Boom("killed half-way")
        return {"accuracy": 0.5}

    plan = (stages.Stage("augment", augment), stages.Stage("fit", fit))
    with pytest.raises(Boom):
        stages.run_stages(plan, _ctx(tmp_path), log=lambda *a, **k: None)
    assert (tmp_path / "fold-00" / "augment" / stages.MARKER).is_file()
    assert not (tmp_path / "fold-00" / "fit" / stages.MARKER).exists()
    fail["fit"] = False
    out = stages.run_stages(plan, _ctx(tmp_path), log=lambda *a, **k: None)
    assert calls == ["augment", "fit", "fit"]  # the finished stage was not run again
    assert out == {"augment": {"generated": 10}, "fit": {"accuracy": 0.5}}
    record = json.loads((tmp_path / "fold-00" / "fit" / stages.MARKER).read_text())
    assert record["stage"] == "fit" and record["summary"] == {"accuracy": 0.5} and record["seconds"] >= 0
    stages.run_stages(plan, _ctx(tmp_path), log=lambda *a, **k: None)
    assert calls == ["augment", "fit", "fit"]


def test_a_stage_in_the_fold_folder_keeps_no_marker(tmp_path):
    """The supervised trainer resumes from its own checkpoints (and may be asked for more
    epochs), so it runs every time and decides itself that nothing is left."""
    calls = []
    plan = (stages.Stage("train", lambda ctx: calls.append(ctx.directory) or {"steps": 3}, in_fold_dir=True),)
    for _ in range(2):
        assert stages.run_stages(plan, _ctx(tmp_path)) == {"train": {"steps": 3}}
    assert calls == [tmp_path / "fold-00"] * 2
    assert not list((tmp_path / "fold-00").glob("*.json"))
