"""The supervised trainer end to end on the tiny synthetic corpus (48 clips, 4 speakers)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from jaxser.train import checkpoint, metric_log, supervised

from tests.conftest import make_config

pytestmark = pytest.mark.usefixtures("tiny_model")


def _max_diff(a, b):
    return max(jax.tree.leaves(jax.tree.map(lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))), a, b)))


def test_fit_compiles_once_and_writes_the_run(tmp_path, tfds_dir, tiny_corpus):
    config = make_config(tfds_dir)
    assert config.train.early_stopping_metric == "ua" and not config.train.val_smoothing
    trainer = supervised.Trainer(config, tmp_path, corpus=tiny_corpus)
    # LOSO fold 0 of 4 speakers: 1 test, 1 validation, 2 training speakers (24 clips).
    assert trainer.steps_per_epoch == 3 and trainer.total_steps == 9
    assert not set(trainer.fold.test_speakers) & set(trainer.fold.train_speakers + trainer.fold.val_speakers)
    state, summary = trainer.fit()
    assert int(state.step) == 9 and summary["steps"] == 9
    assert trainer.train_fn._cache_size() == 1  # one compilation for all 9 steps
    for name in ("config.json", "classes.json", "train_summary.json", "metrics.jsonl"):
        assert (tmp_path / name).is_file(), name
    records = metric_log.read(tmp_path)
    # Every log_every_steps=2, and before each evaluation / checkpoint (steps 3, 6, 9).
    assert [r["step"] for r in records if r["split"] == "train"] == [2, 3, 4, 6, 8, 9]
    assert [r["step"] for r in records if r["split"] == "val"] == [3, 6, 9]
    assert all(np.isfinite(r["loss"]) for r in records)
    assert checkpoint.latest_step(tmp_path / "checkpoints" / "latest") == 9
    # `best` is the first validation with the highest UA (a save needs a strict gain).
    val = [r for r in records if r["split"] == "val"]
    best_ua = max(r["ua"] for r in val)
    best_step = next(r["step"] for r in val if r["ua"] == best_ua)
    assert checkpoint.latest_step(tmp_path / "checkpoints" / "best") == best_step == summary["best_step"]
    assert json.loads((tmp_path / "classes.json").read_text())["class_names"] == list(tiny_corpus.class_names)
    # The machine it ran on: another CPU generation rounds differently (jaxser/machine.py).
    written = json.loads((tmp_path / "train_summary.json").read_text())
    assert written["machine"]["cpu_family_model_stepping"] == summary["machine"]["cpu_family_model_stepping"] != ""


def test_interrupted_run_resumes_exactly(tmp_path, tfds_dir, tiny_corpus):
    whole, _ = supervised.Trainer(make_config(tfds_dir, epochs=4), tmp_path / "a", corpus=tiny_corpus).fit()
    supervised.Trainer(make_config(tfds_dir, epochs=2), tmp_path / "b", corpus=tiny_corpus).fit()
    resumed, summary = supervised.Trainer(make_config(tfds_dir, epochs=4), tmp_path / "b", corpus=tiny_corpus).fit()
    assert summary["steps"] == 12
    # Same state, RNG and data position: bit-identical parameters, stats and optimiser state.
    assert _max_diff(whole.params, resumed.params) == 0.0
    assert _max_diff(whole.batch_stats, resumed.batch_stats) == 0.0
    assert _max_diff(whole.opt_state, resumed.opt_state) == 0.0


def test_early_stopping_on_validation(tmp_path, tfds_dir, tiny_corpus):
    # A learning rate too small to change predictions: validation UA never improves.
    config = make_config(tfds_dir, epochs=10, learning_rate=1e-12, early_stopping_patience=2)
    _, summary = supervised.Trainer(config, tmp_path, corpus=tiny_corpus).fit()
    assert summary["early_stopped"] and summary["best_step"] == 3
    assert summary["steps"] == 9  # evaluations at steps 3 (best), 6 and 9 (no gain twice)


def test_workdir_of_another_config_is_refused(tmp_path, tfds_dir, tiny_corpus):
    supervised.Trainer(make_config(tfds_dir, epochs=1), tmp_path, corpus=tiny_corpus).fit()
    other = make_config(tfds_dir, epochs=1, learning_rate=0.5)
    with pytest.raises(supervised.WorkdirError, match="different config"):
        supervised.Trainer(other, tmp_path, corpus=tiny_corpus).fit()


def test_evaluation_counts_every_test_utterance_once(tmp_path, tfds_dir, tiny_corpus):
    trainer = supervised.Trainer(make_config(tfds_dir, epochs=1), tmp_path, corpus=tiny_corpus)
    state, _ = trainer.fit()
    for mode in ("pad", "chunks"):
        config = make_config(tfds_dir, epochs=1)
        config.data.eval_mode = mode
        config.data.eval_seconds = 4.0  # the synthetic clips are 1.5-4 s
        config.data.chunk_seconds = 1.0  # several chunks per clip
        result = supervised.Trainer(config, tmp_path / mode, corpus=tiny_corpus).evaluate(state, trainer.fold.test_ids)
        assert result.metrics["total"] == result.metrics["utterances"] == len(trainer.fold.test_ids) == 12
        assert np.allclose(result.probs.sum(-1), 1.0, atol=1e-5)


def _poisoned(trainer, bad_steps):
    """Make the training batches at ``bad_steps`` (1-based) produce a NaN loss."""
    original = trainer._train_batches

    def batches(start_epoch, skip):
        for step, batch in enumerate(original(start_epoch, skip), start=start_epoch * trainer.steps_per_epoch + skip + 1):
            if step in bad_steps:
                batch = dict(batch, audio=np.full_like(batch["audio"], np.nan))
            yield batch

    trainer._train_batches = batches
    return trainer


def test_nonfinite_loss_stops_the_run_without_touching_the_state(tmp_path, tfds_dir, tiny_corpus):
    config = make_config(tfds_dir, epochs=3, checkpoint_every_steps=3)
    trainer = _poisoned(supervised.Trainer(config, tmp_path, corpus=tiny_corpus), {5})
    with pytest.raises(supervised.NonFiniteError, match="up to step 6.*latest at step 3, best at step 3"):
        trainer.fit()
    state, _ = checkpoint.restore(tmp_path / "checkpoints" / "latest", trainer.initial_state)
    assert int(state.step) == 3
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves((state.params, state.opt_state)))


def test_nonfinite_updates_are_skipped_when_asked(tmp_path, tfds_dir, tiny_corpus):
    config = make_config(tfds_dir, epochs=3, on_nonfinite="skip")
    trainer = _poisoned(supervised.Trainer(config, tmp_path, corpus=tiny_corpus), {2, 7})
    state, summary = trainer.fit()
    assert summary["nonfinite_steps_skipped"] == 2 and int(state.step) == 9
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves((state.params, state.batch_stats, state.opt_state)))


def test_run_without_latest_checkpoint_resumes_from_best(tmp_path, tfds_dir, tiny_corpus, caplog):
    """Killed before `latest` had anything to keep (or with every `latest` damaged): the
    run resumes from `best` (same contents) instead of silently starting over."""
    import shutil

    whole, _ = supervised.Trainer(make_config(tfds_dir, epochs=4), tmp_path / "a", corpus=tiny_corpus).fit()
    supervised.Trainer(make_config(tfds_dir, epochs=2), tmp_path / "b", corpus=tiny_corpus).fit()
    best = checkpoint.latest_step(tmp_path / "b" / "checkpoints" / "best")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "latest")
    with caplog.at_level("WARNING"):
        resumed, summary = supervised.Trainer(make_config(tfds_dir, epochs=4), tmp_path / "b",
                                              corpus=tiny_corpus).fit()
    assert f"resuming from the best checkpoint (step {best})" in caplog.text
    assert summary["steps"] == 12 and summary["train_seconds_this_run"] > 0
    assert _max_diff(whole.params, resumed.params) == 0.0
    assert _max_diff(whole.opt_state, resumed.opt_state) == 0.0
