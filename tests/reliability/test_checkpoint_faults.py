"""Damaged checkpoints: resuming, `evaluate` and `predict` fall back to the previous good
checkpoint with a warning naming what is wrong; with none good, a clear error (exit 2
from the command line, no traceback), never a crash loop or a silent fresh start.

The run under test (:func:`trained`): 9 steps, a checkpoint and a new best every 3, so
``latest`` and ``best`` both hold steps 6 and 9.
"""

from __future__ import annotations

import json
import logging
import shutil

import jax
import numpy as np
import pytest
import soundfile as sf

from jaxser import cli, evaluate
from jaxser.predict import Predictor
from jaxser.train import checkpoint, supervised
from tests.conftest import make_config
from tests.reliability import faults, runs

pytestmark = [
    pytest.mark.usefixtures("tiny_model"),
    # orbax leaves its reading coroutines unawaited when a damaged array fails to load
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

# (a) a truncated array file or one with a flipped bit, (b) a removed file: an array file
# or the meta JSON.
NEWEST_DAMAGED = ["truncated_array_file", "flipped_bit_in_array_file", "removed_array_file", "removed_meta_file"]
# What the warning says about each.
SAYS = {
    "truncated_array_file": "a file is truncated or corrupt",
    "flipped_bit_in_array_file": "its arrays do not match the SHA-256 saved with them",
    "removed_array_file": "a file is truncated or corrupt",  # tensorstore reads a missing chunk as empty
    "removed_meta_file": "a file is missing",
    "removed_tree_metadata": "its array metadata is missing or corrupt",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tfds_dir, tiny_corpus):
    workdir = tmp_path_factory.mktemp("trained")
    runs.train(workdir, tfds_dir, tiny_corpus, rising_scores=True)
    for kind in ("latest", "best"):
        assert faults.steps(workdir / "checkpoints" / kind) == [6, 9], kind
    return workdir


@pytest.fixture(scope="module")
def straight(tmp_path_factory, tfds_dir, tiny_corpus):
    """The 12-step run, never interrupted: what a resumed run must reproduce exactly."""
    state, _ = runs.train(tmp_path_factory.mktemp("straight"), tfds_dir, tiny_corpus, epochs=4)
    return state


@pytest.fixture
def run(trained, tmp_path):
    return runs.copy(trained, tmp_path / "run")


def _params_equal(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _kept(snapshot: dict) -> dict:
    """What a refused run must leave as it was: all but the lock and the config it rewrites."""
    return {k: v for k, v in snapshot.items() if k not in (".lock", "config.json")}


def _warned(caplog, path, fault) -> bool:
    """A warning names the damaged checkpoint and says what is wrong with it."""
    return any(f"{path} is damaged (" in line and SAYS[fault] in line for line in caplog.text.splitlines())


# -- resuming a training run -----------------------------------------------------------


@pytest.mark.parametrize("fault", ["truncated_array_file", "flipped_bit_in_array_file", "removed_meta_file"])
def test_resume_falls_back_past_a_damaged_newest_checkpoint(run, fault, tfds_dir, tiny_corpus, straight, caplog):
    latest = run / "checkpoints" / "latest"
    faults.damage(latest, fault)
    with caplog.at_level(logging.WARNING):
        state, summary = runs.train(run, tfds_dir, tiny_corpus, epochs=4, rising_scores=True)
    assert _warned(caplog, latest / "9", fault)
    # Resumed from step 6 and bit-identical to the run that was never interrupted.
    assert summary["steps"] == 12 and _params_equal(state.params, straight.params)
    assert _params_equal(state.opt_state, straight.opt_state)
    # The damaged checkpoint was moved aside, kept; `best` 9 too (it is of the steps
    # replayed): orbax cannot write a step twice, and a left-over damaged `latest` 9
    # would stay "the newest" for ever.
    aside = run / "checkpoints" / "set_aside"
    assert sorted(p.name for p in aside.iterdir()) == ["best-9", "latest-9"]
    assert "moved checkpoint" in caplog.text
    assert faults.steps(latest) == [9, 12]
    restored, meta = checkpoint.restore(latest, state, step=9)  # written again, good
    assert meta["step"] == 9
    # Step 9 was a new best again: written again too (orbax had refused: StepAlreadyExistsError).
    assert faults.steps(run / "checkpoints" / "best") == [9, 12]
    # And again: nothing to redo, no error (no crash loop).
    _, again = runs.train(run, tfds_dir, tiny_corpus, epochs=4, rising_scores=True)
    assert again["steps"] == 12


def test_resume_with_every_latest_damaged_uses_best(run, tfds_dir, tiny_corpus, caplog):
    faults.damage_all(run / "checkpoints" / "latest", "truncated_array_file")
    with caplog.at_level(logging.WARNING):
        _, summary = runs.train(run, tfds_dir, tiny_corpus, epochs=4)
    assert "every latest checkpoint is damaged; resuming from the best checkpoint (step 9)" in caplog.text
    assert summary["steps"] == 12
    assert faults.steps(run / "checkpoints" / "latest") == [12]
    assert sorted(p.name for p in (run / "checkpoints" / "set_aside").iterdir()) == ["latest-6", "latest-9"]


def test_resume_survives_a_truncated_best_metrics_file(run, tfds_dir, tiny_corpus, caplog):
    """orbax reads every `best` metrics file when it opens the folder: one truncated file
    made every restart fail with a JSONDecodeError (a crash loop)."""
    faults.truncate(faults.step_dir(run / "checkpoints" / "best") / "metrics" / "metrics")
    with caplog.at_level(logging.WARNING):
        _, summary = runs.train(run, tfds_dir, tiny_corpus, epochs=4)
    assert summary["steps"] == 12
    assert "metrics file is unreadable" in caplog.text
    assert (run / "checkpoints" / "set_aside" / "best-9").is_dir()


def test_no_good_checkpoint_stops_the_run_with_a_clear_error(run, tmp_path, tfds_dir, capsys):
    faults.damage_all(run / "checkpoints" / "latest", "truncated_array_file")
    faults.damage_all(run / "checkpoints" / "best", "removed_meta_file")
    before = faults.snapshot(run)
    config = runs.config_file(tmp_path / "config.py", tfds_dir)
    argv = ["train", "--config", str(config), "--workdir", str(run), "--config.train.epochs=4"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"no checkpoint of {run} could be restored, so the run cannot resume" in err
    for line in ("latest step 9: a file is truncated", "latest step 6: ", "best step 9: a file is missing", "best step 6: "):
        assert line in err
    assert f"Restore {run / 'checkpoints'} from a backup, or move it away" in err
    # Nothing was trained over, moved or rewritten (config.json takes the new epochs).
    assert _kept(faults.snapshot(run)) == _kept(before)


# -- a workdir without checkpoints ------------------------------------------------------------


def test_finished_run_without_checkpoints_is_not_trained_over(run, tfds_dir, tiny_corpus):
    import shutil

    shutil.rmtree(run / "checkpoints")
    before = faults.snapshot(run)
    with pytest.raises(supervised.WorkdirError, match="holds a finished run .*train_summary.json.* but no checkpoint"):
        runs.train(run, tfds_dir, tiny_corpus)
    assert _kept(faults.snapshot(run)) == _kept(before)


def test_run_stopped_before_its_first_checkpoint_starts_over_keeping_its_records(tmp_path, tfds_dir, tiny_corpus, caplog):
    """Same config, files of an earlier attempt (config, metrics) but no checkpoint: there is
    nothing to resume and nothing is lost by starting over; it says so."""
    runs.register_tiny_model()
    supervised.write_config(make_config(tfds_dir, **runs.TRAIN), tmp_path)
    earlier = '{"step": 2, "split": "train", "loss": 1.0}\n'
    (tmp_path / "metrics.jsonl").write_text(earlier)
    with caplog.at_level(logging.WARNING):
        _, summary = runs.train(tmp_path, tfds_dir, tiny_corpus, epochs=1)
    assert "holds no checkpoint of its earlier run" in caplog.text and "training from step 0" in caplog.text
    assert summary["steps"] == 3
    assert (tmp_path / "metrics.jsonl").read_text().startswith(earlier)


# -- evaluate and predict --------------------------------------------------------------------


@pytest.mark.parametrize("fault", NEWEST_DAMAGED)
def test_evaluate_falls_back_past_a_damaged_newest_checkpoint(run, fault, tiny_corpus, caplog):
    best = run / "checkpoints" / "best"
    faults.damage(best, fault)
    with caplog.at_level(logging.WARNING):
        result = evaluate.evaluate_workdir(run, corpus=tiny_corpus, write=False)
    assert result["checkpoint"] == "best" and result["checkpoint_step"] == 6
    assert _warned(caplog, best / "9", fault)


@pytest.mark.parametrize("fault", NEWEST_DAMAGED)
def test_predict_falls_back_past_a_damaged_newest_checkpoint(run, fault, tiny_corpus, caplog):
    good = Predictor.from_checkpoint(runs.copy(run, run.parent / "undamaged"))
    expected, _ = checkpoint.restore(run / "checkpoints" / "best", runs.template(run, tiny_corpus), step=6)
    faults.damage(run / "checkpoints" / "best", fault)
    with caplog.at_level(logging.WARNING):
        predictor = Predictor.from_checkpoint(run)
    assert _warned(caplog, run / "checkpoints" / "best" / "9", fault)
    assert _params_equal(predictor.variables["params"], expected.params)
    assert not _params_equal(predictor.variables["params"], good.variables["params"])  # 9 is not 6


def _change_the_optimiser_state_only(run, like, step: int) -> None:
    """Write ``best`` checkpoint ``step`` again with one optimiser value changed and the
    SHA-256 of the state as it was: as a changed byte in the optimiser state's arrays
    leaves it, the parameters and statistics matching the SHA-256 saved for them."""
    best = run / "checkpoints" / "best"
    state, meta = checkpoint.restore(best, like, step=step)
    leaves, tree = jax.tree.flatten(state.opt_state)
    changed = state.replace(opt_state=jax.tree.unflatten(tree, [leaves[0] + 1, *leaves[1:]]))
    shutil.rmtree(best / str(step))
    saved = checkpoint.Checkpoints(run)
    saved.save_best(changed, meta, score=float(step))
    saved.finish()
    meta_file = best / str(step) / "meta" / "metadata"
    written = json.loads(meta_file.read_text())
    assert written[checkpoint.PART_SHA256] == meta[checkpoint.PART_SHA256]  # weights and statistics verify
    assert written[checkpoint.STATE_SHA256] != meta[checkpoint.STATE_SHA256]
    meta_file.write_text(json.dumps({**written, checkpoint.STATE_SHA256: meta[checkpoint.STATE_SHA256]}))


def test_predict_skips_a_checkpoint_damaged_in_its_optimiser_state_only(run, tiny_corpus, caplog):
    """Prediction needs only the weights, but reads the whole state and checks the SHA-256
    saved with it, as evaluation and resuming do: a changed byte anywhere says the copy
    cannot be trusted, so the previous checkpoint is used, and with none good, an error."""
    like = runs.template(run, tiny_corpus)
    best = run / "checkpoints" / "best"
    expected, _ = checkpoint.restore(best, like, step=6)
    _change_the_optimiser_state_only(run, like, 9)
    with caplog.at_level(logging.WARNING):
        predictor = Predictor.from_checkpoint(run)
    assert f"{best / '9'} is damaged (its arrays do not match the SHA-256 saved with them" in caplog.text
    assert _params_equal(predictor.variables, expected.variables())
    _change_the_optimiser_state_only(run, like, 6)
    with pytest.raises(checkpoint.CheckpointError, match=f"(?s)no checkpoint in {best} could be restored.*step 6: its arrays"):
        Predictor.from_checkpoint(run)


def test_a_template_from_the_checkpoints_metadata_restores_the_state_as_saved(run, tiny_corpus):
    """What prediction restores through (no model traced for a template): the shapes of
    the checkpoint's own metadata, the optimiser state shaped by the optimiser."""
    best = run / "checkpoints" / "best"
    like = runs.template(run, tiny_corpus)
    expected, meta = checkpoint.restore(best, like)
    seen = []

    def template(saved):
        seen.append(saved)
        return like

    state, _ = checkpoint.restore(best, template)
    shapes = lambda tree: jax.tree.map(lambda x: (x.shape, x.dtype), tree)  # noqa: E731
    assert shapes(seen[0]["params"]) == shapes(like.params) and shapes(seen[0]["batch_stats"]) == shapes(like.batch_stats)
    assert _params_equal(state.arrays(), expected.arrays())
    predictor = Predictor.from_checkpoint(run)
    assert _params_equal(predictor.variables, expected.variables())
    assert jax.tree.structure(predictor.variables) == jax.tree.structure(expected.variables())
    # The metadata's own tree of the optimiser state (its NamedTuples as dicts) holds the
    # same numbers under other key paths, which the SHA-256 of the state as saved tells
    # apart: why the optimiser, not the metadata, shapes that part.
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    with pytest.raises(checkpoint.CheckpointError, match="SHA-256"):
        checkpoint.restore(
            best, lambda saved: _Arrays(jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), saved)),
            step=9,
        )


class _Arrays:
    """A state that is its arrays (restore's protocol: ``arrays()``, ``with_arrays()``)."""

    def __init__(self, arrays):
        self._arrays = arrays

    def arrays(self):
        return self._arrays

    def with_arrays(self, arrays):
        return _Arrays(arrays)


def test_evaluate_and_predict_from_the_command_line_fall_back(run, tmp_path, capsys):
    faults.damage(run / "checkpoints" / "best", "truncated_array_file")
    faults.damage(run / "checkpoints" / "latest", "removed_meta_file")
    assert cli.main(["evaluate", "--workdir", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint_step"] == 6
    assert cli.main(["evaluate", "--workdir", str(run), "--which", "latest", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint_step"] == 6
    wav = tmp_path / "a.wav"
    sf.write(wav, 0.1 * np.random.default_rng(0).standard_normal(16000), 16000)
    assert cli.main(["predict", "--checkpoint", str(run), str(wav), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["file"] == str(wav)


@pytest.mark.parametrize(
    "fault", ["truncated_array_file", "flipped_bit_in_array_file", "removed_meta_file", "removed_tree_metadata"]
)
def test_every_checkpoint_damaged_is_a_clear_error(run, fault, tmp_path, capsys):
    best = run / "checkpoints" / "best"
    faults.damage_all(best, fault)
    with pytest.raises(checkpoint.CheckpointError, match=f"(?s)no checkpoint in {best} could be restored.*--which latest"):
        evaluate.evaluate_workdir(run, write=False)
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(8000), 16000)
    for argv in (["evaluate", "--workdir", str(run)], ["predict", "--checkpoint", str(run), str(wav)]):
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert f"error: no checkpoint in {best} could be restored" in err
        assert f"step 9: {SAYS[fault]}" in err and f"step 6: {SAYS[fault]}" in err
        assert f"Restore {best} from a backup, or evaluate/predict with the latest checkpoint" in err
    # The latest checkpoints are good: asked for, they are used.
    assert cli.main(["evaluate", "--workdir", str(run), "--which", "latest", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint_step"] == 9


def test_no_checkpoint_folder_names_the_alternative(run):
    import shutil

    shutil.rmtree(run / "checkpoints" / "best")
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint folder .*best.*--which latest"):
        Predictor.from_checkpoint(run)
