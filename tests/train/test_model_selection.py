"""Model selection for slow starters: ``train.min_epochs``, ``train.val_smoothing``,
``train.ema_decay`` and two validation speakers, on the tiny synthetic corpus.

Validation scores are scripted (``Trainer.evaluate`` replaced by a table of UA per
step), so the tests are about the selection and stopping logic, not what the tiny
model learns. The tiny run has 3 steps an epoch and evaluates every epoch.
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np
import pytest

from jaxser import config as config_lib
from jaxser.data import splits
from jaxser.train import checkpoint, data, ema as ema_lib, metric_log, state as state_lib, supervised

from tests.conftest import make_config

pytestmark = pytest.mark.usefixtures("tiny_model")
ROOT = pathlib.Path(__file__).parents[2]


class Killed(RuntimeError):
    pass


def _scripted(trainer, ua_by_epoch, *, kill_at_step=None):
    """Validation of ``trainer`` returns ``ua_by_epoch[epoch - 1]`` (as UA, WA and 1 - loss)
    without evaluating; with ``kill_at_step`` the evaluation there raises once (a kill)."""
    seen = []

    def evaluate(state, ids):
        step = int(jax.device_get(state.step))
        if step == kill_at_step and not seen.count("killed"):
            seen.append("killed")
            raise Killed(f"killed at step {step}")
        ua = float(ua_by_epoch[step // trainer.steps_per_epoch - 1])
        seen.append(step)
        return supervised.EvalResult((), np.zeros((0, 4)), np.zeros(0, int), {"ua": ua, "wa": ua, "loss": 1.0 - ua})

    trainer.evaluate = evaluate
    return seen


def _recording_bad_evals(trainer):
    """``[(step, bad_evals, stopped)]`` after each validation."""
    out, original = [], trainer._validate

    def validate(state, step, record, ckpts, writer):
        record = original(state, step, record, ckpts, writer)
        out.append((step, record["bad_evals"], record["stopped"]))
        return record

    trainer._validate = validate
    return out


def _val_records(workdir):
    return [r for r in metric_log.read(workdir) if r["split"] == "val"]


# -- (a) train.min_epochs ------------------------------------------------------------------

FALLING = [0.5, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]  # best at epoch 1, never better again


def test_min_epochs_keeps_patience_from_stopping_before_it(tmp_path, tfds_dir, tiny_corpus):
    config = make_config(tfds_dir, epochs=8, early_stopping_patience=2, min_epochs=4)
    trainer = supervised.Trainer(config, tmp_path, corpus=tiny_corpus)
    _scripted(trainer, FALLING)
    evals = _recording_bad_evals(trainer)
    _, summary = trainer.fit()
    # Without min_epochs, patience 2 would stop at epoch 3 (test_supervised's early stopping test).
    # Epochs 2-3 are worse but do not count (bad_evals stays 0); epochs 4 and 5 do: stop at 5.
    assert evals == [(3, 0, False), (6, 0, False), (9, 0, False), (12, 1, False), (15, 2, True)]
    assert summary["early_stopped"] and summary["steps"] == 15 and summary["best_step"] == 3
    assert checkpoint.latest_step(tmp_path / "checkpoints" / "best") == 3
    assert set(_val_records(tmp_path)[0]) >= {"loss", "wa", "ua"}
    assert "smoothed_score" not in _val_records(tmp_path)[0]  # smoothing off: the log as before


def test_evaluations_before_min_epochs_still_select_the_best(tmp_path, tfds_dir, tiny_corpus):
    config = make_config(tfds_dir, epochs=6, early_stopping_patience=1, min_epochs=4)
    trainer = supervised.Trainer(config, tmp_path, corpus=tiny_corpus)
    _scripted(trainer, [0.2, 0.6, 0.1, 0.1, 0.1, 0.1])
    _, summary = trainer.fit()
    assert summary["best_step"] == 6 and summary["best_val_score"] == pytest.approx(0.6)
    assert summary["early_stopped"] and summary["steps"] == 12  # epoch 4 is the first that counts
    assert checkpoint.latest_step(tmp_path / "checkpoints" / "best") == 6


# -- (b) train.val_smoothing ---------------------------------------------------------------

# Raw best at epoch 2 (0.9, a lucky spike); smoothed with a = 0.5:
# 0.1, 0.5, 0.3, 0.45, 0.525, 0.5625 -> best at epoch 6.
SPIKY = [0.1, 0.9, 0.1, 0.6, 0.6, 0.6]
SMOOTHED = [0.1, 0.5, 0.3, 0.45, 0.525, 0.5625]


def test_smoothing_selects_on_the_smoothed_score(tmp_path, tfds_dir, tiny_corpus):
    # On the raw score the best would be epoch 2 (step 6); smoothed, it is epoch 6.
    trainer = supervised.Trainer(make_config(tfds_dir, epochs=6, val_smoothing=0.5), tmp_path / "s", corpus=tiny_corpus)
    _scripted(trainer, SPIKY)
    _, summary = trainer.fit()
    assert summary["best_step"] == 18 and summary["best_val_score"] == pytest.approx(SMOOTHED[-1])
    assert checkpoint.latest_step(tmp_path / "s" / "checkpoints" / "best") == 18
    records = _val_records(tmp_path / "s")
    assert [r["step"] for r in records] == [3, 6, 9, 12, 15, 18]
    assert [r["score"] for r in records] == pytest.approx(SPIKY)  # raw and smoothed both logged
    assert [r["smoothed_score"] for r in records] == pytest.approx(SMOOTHED)


def test_smoothed_score_survives_a_kill_and_resume(tmp_path, tfds_dir, tiny_corpus):
    config = make_config(tfds_dir, epochs=6, val_smoothing=0.5, early_stopping_patience=3)
    first = supervised.Trainer(config, tmp_path / "b", corpus=tiny_corpus)
    _scripted(first, SPIKY, kill_at_step=12)  # dies in the evaluation of epoch 4; latest is step 9
    with pytest.raises(Killed):
        first.fit()
    _, meta = checkpoint.restore(tmp_path / "b" / "checkpoints" / "latest", first.initial_state)
    assert meta["step"] == 9 and meta["record"]["smoothed_score"] == pytest.approx(SMOOTHED[2])
    again = supervised.Trainer(config, tmp_path / "b", corpus=tiny_corpus)
    seen = _scripted(again, SPIKY)
    _, summary = again.fit()
    assert seen == [12, 15, 18]  # resumed after step 9
    # A fresh smoothing from epoch 4 (0.6, 0.6, 0.6) would pick step 12; the restored record goes on.
    assert [r["smoothed_score"] for r in _val_records(tmp_path / "b")] == pytest.approx(SMOOTHED)
    assert summary["best_step"] == 18 and summary["best_val_score"] == pytest.approx(SMOOTHED[-1])  # as uninterrupted


# -- (c) train.ema_decay --------------------------------------------------------------------


def _tree_close(a, b, **tol):
    return all(np.allclose(np.asarray(x), np.asarray(y), **tol) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_ema_off_keeps_the_plain_state(tfds_dir, tiny_corpus, tmp_path):
    trainer = supervised.Trainer(make_config(tfds_dir), tmp_path, corpus=tiny_corpus)
    assert type(trainer.initial_state) is state_lib.TrainState
    assert set(trainer.initial_state.arrays()) == {"step", "params", "batch_stats", "opt_state", "rng"}
    assert ema_lib.for_eval(trainer.initial_state) is trainer.initial_state


def test_ema_is_the_average_of_each_steps_weights_resumes_and_is_what_evaluation_uses(tmp_path, tfds_dir, tiny_corpus):
    decay, weights = 0.8, []

    def recording_trainer(epochs):  # records each step's new weights, as the step returns them
        trainer = supervised.Trainer(make_config(tfds_dir, epochs=epochs, ema_decay=decay), tmp_path, corpus=tiny_corpus)
        original = trainer.train_fn

        def recording(state, *args):
            new, out = original(state, *args)
            weights.append(jax.device_get({"params": new.params, "batch_stats": new.batch_stats}))
            return new, out

        trainer.train_fn = recording
        return trainer

    first = recording_trainer(1)
    assert isinstance(first.initial_state, ema_lib.EmaTrainState)
    assert set(first.initial_state.arrays()) == {"step", "params", "batch_stats", "opt_state", "rng", "ema"}
    start = jax.device_get({"params": first.initial_state.params, "batch_stats": first.initial_state.batch_stats})
    first.fit()  # steps 1-3, then a restart: the average must come back from the checkpoint
    trainer = recording_trainer(2)
    state, summary = trainer.fit()
    assert summary["steps"] == len(weights) == 6
    expected = start
    for w in weights:  # ema = d ema + (1 - d) w after every step, from the initial weights
        expected = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, expected, w)
    assert _tree_close(state.ema, expected, rtol=1e-5, atol=1e-6)
    assert not _tree_close(state.ema["params"], state.params, rtol=1e-3, atol=1e-4)  # a real average

    # Evaluation (validation, test, the best checkpoint's) uses the averaged weights.
    ids = trainer.fold.test_ids
    plain = ema_lib.for_eval(state)
    assert type(plain) is state_lib.TrainState and _tree_close(plain.params, state.ema["params"], rtol=0, atol=0)
    got = trainer.evaluate(state, ids).probs
    assert np.allclose(got, trainer.evaluate(plain, ids).probs, atol=1e-6)
    raw = plain.replace(params=state.params, batch_stats=state.batch_stats)
    assert not np.allclose(got, trainer.evaluate(raw, ids).probs, atol=1e-4)
    # The checkpoints hold the average; prediction loads and uses it.
    saved, meta = checkpoint.restore(tmp_path / "checkpoints" / "latest", trainer.initial_state)
    assert meta["step"] == 6 and _tree_close(saved.ema, state.ema, rtol=0, atol=0)
    from jaxser.predict import Predictor

    predictor = Predictor.from_checkpoint(tmp_path, which="latest")
    assert _tree_close(predictor.variables["params"], state.ema["params"], rtol=0, atol=0)


# -- (d) config validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("min_epochs", -1, "train.min_epochs=-1 must be >= 0"),
        ("val_smoothing", 1.0, "train.val_smoothing=1.0 must be in [0, 1)"),
        ("val_smoothing", -0.1, "train.val_smoothing=-0.1 must be in [0, 1)"),
        ("ema_decay", 1.0, "train.ema_decay=1.0 must be in [0, 1)"),
        ("ema_decay", -0.5, "train.ema_decay=-0.5 must be in [0, 1)"),
    ],
)
def test_out_of_range_values_are_rejected(field, value, says, tfds_dir):
    config = make_config(tfds_dir)
    config.train[field] = value
    with pytest.raises(config_lib.ConfigError) as err:
        config_lib.validate(config)
    assert says in str(err.value)


def test_defaults_are_off():
    t = config_lib.base_config().train
    assert (t.min_epochs, t.val_smoothing, t.ema_decay) == (0, 0.0, 0.0)


# -- (e) two validation speakers -------------------------------------------------------------


def test_fold_with_two_validation_speakers(tfds_dir, tiny_corpus):
    config = make_config(tfds_dir)
    config.split.val_speakers = 2
    fold = data.fold(config, tiny_corpus.meta)  # LOSO of 4 speakers: 1 test, 2 validation, 1 training
    assert len(fold.val_speakers) == 2 and len(fold.train_speakers) == 1
    assert not set(fold.val_speakers) & set(fold.test_speakers + fold.train_speakers)
    assert set(fold.val_speakers) | set(fold.train_speakers) | set(fold.test_speakers) == set(
        np.asarray(tiny_corpus.meta["speaker"]).astype(str).tolist()
    )


def _emodb_like_meta():
    """EmoDB's shape: 10 speakers (its ids), 7 emotions, about 50 clips each."""
    speakers = ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    rows = [(f"{s}a{i:02d}", i % 7, s) for s in speakers for i in range(50)]
    return {key: np.asarray(values) for key, values in zip(("id", "label", "speaker"), zip(*rows))}


def test_robust_emodb_config_holds_out_two_training_speakers_per_loso_fold():
    config = config_lib.load(ROOT / "configs" / "zhao2019_cnn2d_emodb_robust.py")
    t = config.train
    assert (config.split.val_speakers, t.min_epochs, t.val_smoothing, t.early_stopping_patience, t.epochs) == (
        2, 15, 0.5, 8, 40)
    assert config_lib.load(ROOT / "configs" / "zhao2019_cnn2d_emodb.py").split.val_speakers == 1  # paper's: as it was
    meta = _emodb_like_meta()
    folds = data.folds(config, meta)
    assert len(folds) == 10
    for fold in folds:  # 9 training speakers: 2 validate, 7 train, the test speaker never validates
        assert len(fold.test_speakers) == 1 and len(fold.val_speakers) == 2 and len(fold.train_speakers) == 7
        assert not set(fold.val_speakers) & set(fold.test_speakers)
        assert not set(fold.val_speakers) & set(fold.train_speakers)
    assert len({f.val_speakers for f in folds}) > 1  # drawn per fold (seed, fold index)
    assert [f.val_speakers for f in data.folds(config, meta)] == [f.val_speakers for f in folds]  # seeded
    with pytest.raises(splits.SplitError, match="leaves no training speaker"):
        config.split.val_speakers = 9
        data.folds(config, meta)
