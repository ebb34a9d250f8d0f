"""The zhong kind (Zhong et al. 2020): independent training, hard-example counters and
retraining, validation, and two devices against one (slow), on tiny networks and short
clips. Every stage end to end on a corpus: test_zhong_cv.py."""

from __future__ import annotations

import functools
import pathlib

import jax
import numpy as np
import pytest

from jaxser import config as config_lib
from jaxser.systems import zhong
from jaxser.train import steps
from jaxser.train.parallel import REPLICATED, SHARDED, DataParallel
from tests.device_check import run_on_host_devices

ROWS, DIM, B = 16, 12, 8
TINY_ACLN = {"filters": (4, 4, 4, 4), "lstm_units": 8, "attention_units": 8}


def make_config(layout: str = "zhong2020_independent"):
    c = config_lib.base_config()
    c.name = "zhong_test"
    c.kind = "zhong"
    c.data.name = "synthetic"
    c.data.config = "tiny"
    c.data.clip_seconds = 0.25
    c.features.source = "opensmile"
    c.model.name = layout
    c.model.kwargs.acln = dict(TINY_ACLN)
    c.model.kwargs.fcn = {"hidden": (16, 8)}
    c.train.global_batch_size = B
    c.train.optimizer = "sgd"  # the change of a parameter is its gradient: easy to reason about
    c.train.momentum = 0.0
    c.train.learning_rate = 0.1
    c.split.kind = "repeated_holdout"
    c.split.k = 2
    c.split.test_fraction = 0.25
    c.split.val_speakers = 0
    return c


def batch(seed=0, **changes):
    rng = np.random.default_rng(seed)
    samples = 4000
    out = {
        "audio": (0.1 * rng.standard_normal((B, samples))).astype(np.float32),
        "length": np.full(B, samples, np.int32),
        "label": rng.integers(0, 4, B).astype(np.int32),
        "mask": np.ones(B, np.float32),
        "row": rng.permutation(ROWS)[:B].astype(np.int32),
        "functionals": rng.standard_normal((B, DIM)).astype(np.float32),
    }
    out.update(changes)
    return out


@functools.lru_cache(maxsize=None)
def compiled(layout: str):
    config = make_config(layout)
    state = zhong.initial_state(config, 4, 10, num_rows=ROWS, functionals_dim=DIM)
    dp = DataParallel()
    fn = dp.compile(functools.partial(zhong.train_step, loss=steps.LossSpec()), (REPLICATED, SHARDED), (REPLICATED, REPLICATED))
    return config, state, dp, fn


def step(layout, state, rows):
    _, _, dp, fn = compiled(layout)
    new, metrics = fn(dp.replicate(state), dp.shard(rows))
    return jax.device_get(new), jax.device_get(metrics)


def changed(a, b) -> bool:
    return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_independent_networks_exchange_no_gradient():
    _, state, _, _ = compiled("zhong2020_independent")
    base = batch()
    ref, metrics = step("zhong2020_independent", state, base)
    assert changed(ref.nets["acln"].params, state.nets["acln"].params)
    assert changed(ref.nets["fcn"].params, state.nets["fcn"].params)
    # Other functionals: the FCN learns differently, the ACLN exactly as before.
    other_functionals, _ = step("zhong2020_independent", state, batch(functionals=base["functionals"] + 1.0))
    assert changed(other_functionals.nets["fcn"].params, ref.nets["fcn"].params)
    assert not changed(other_functionals.nets["acln"].params, ref.nets["acln"].params)
    # Other audio: the reverse.
    other_audio, _ = step("zhong2020_independent", state, batch(audio=base["audio"][::-1].copy()))
    assert changed(other_audio.nets["acln"].params, ref.nets["acln"].params)
    assert not changed(other_audio.nets["fcn"].params, ref.nets["fcn"].params)
    # Each network's own loss and accuracy are logged, and pooled.
    for name in ("acln", "fcn"):
        assert metrics[f"{name}/count"] == B and np.isfinite(metrics[f"{name}/loss_sum"])
    assert metrics["count"] == 2 * B
    np.testing.assert_allclose(metrics["loss_sum"], metrics["acln/loss_sum"] + metrics["fcn/loss_sum"], rtol=1e-6)


def test_fused_training_sends_one_loss_into_both_branches():
    _, state, _, _ = compiled("zhong2020_fused")
    assert list(state.nets) == ["fused"]
    base = batch()
    ref, _ = step("zhong2020_fused", state, base)
    other, _ = step("zhong2020_fused", state, batch(functionals=base["functionals"] + 1.0))
    # The functionals reach the ACLN branch's parameters through the shared softmax.
    assert changed(other.nets["fused"].params["acln"], ref.nets["fused"].params["acln"])


def test_counters_add_each_real_row_once_and_its_misclassification():
    _, state, _, _ = compiled("zhong2020_independent")
    rows = batch(mask=np.array([1, 1, 1, 1, 1, 1, 0, 0], np.float32))
    new, _ = step("zhong2020_independent", state, rows)
    for name in ("acln", "fcn"):
        seen = np.asarray(new.extras["counts"][name]["seen"])
        missed = np.asarray(new.extras["counts"][name]["missed"])
        expected = np.zeros(ROWS, np.int32)
        expected[rows["row"][:6]] = 1  # padding rows (mask 0) are not counted
        np.testing.assert_array_equal(seen, expected)
        assert np.all(missed <= seen)
    # The counters ride in the state's arrays: they are checkpointed with it.
    assert "counts" in new.arrays()["extras"]


def test_retraining_trains_each_network_on_its_hard_rows_only():
    _, state, _, _ = compiled("zhong2020_independent")
    hard_acln = np.zeros(ROWS, np.float32)
    rows = batch()
    hard_acln[rows["row"][:3]] = 1.0  # three rows of this batch are hard for the ACLN, none for the FCN
    h = np.linspace(0.2, 1.0, ROWS).astype(np.float32)
    retrain = state.replace(extras=zhong._retrain_extras(np.stack([h, h]), np.stack([hard_acln, np.zeros(ROWS)]), ["acln", "fcn"]))
    dp = DataParallel()
    share = (0.1, 0.2, 0.3, 0.4)
    fn = dp.compile(
        functools.partial(zhong.train_step, loss=steps.LossSpec(name="hard_example", class_share=share)),
        (REPLICATED, SHARDED), (REPLICATED, REPLICATED),
    )
    new, metrics = jax.device_get(fn(dp.replicate(retrain), dp.shard(rows)))
    assert metrics["acln/count"] == 3 and metrics["fcn/count"] == 0
    assert changed(new.nets["acln"].params, retrain.nets["acln"].params)
    assert not changed(new.nets["fcn"], retrain.nets["fcn"])  # nothing hard for it: untouched
    # The labels of rows that are not hard for the ACLN do not enter its loss.
    relabelled = dict(rows, label=np.where(np.arange(B) < 3, rows["label"], (rows["label"] + 1) % 4).astype(np.int32))
    again, _ = jax.device_get(fn(dp.replicate(retrain), dp.shard(relabelled)))
    assert not changed(again.nets["acln"].params, new.nets["acln"].params)
    # HE loss of the hard rows, by hand: mean of -h (1 - alpha_y) log p_y.
    assert "counts" not in new.extras  # retraining counts nothing


def test_validation_names_the_field_and_the_fix():
    c = make_config()
    config_lib.validate(c)
    bad = make_config()
    bad.split.val_speakers = 1
    with pytest.raises(config_lib.ConfigError, match="split.val_speakers=0"):
        config_lib.validate(bad)
    bad = make_config()
    bad.model.kwargs.acln = {"filter": (8,)}
    with pytest.raises(config_lib.ConfigError, match="model.kwargs.acln.filter is not a field of ACLN"):
        config_lib.validate(bad)
    bad = make_config()
    bad.features.source = "waveform"
    with pytest.raises(config_lib.ConfigError, match="features.source='opensmile'"):
        config_lib.validate(bad)
    bad = make_config()
    bad.hard_examples.beta = 1.0
    with pytest.raises(config_lib.ConfigError, match=r"beta=1.0 must lie in \[0, 1\)"):
        config_lib.validate(bad)
    bad = make_config()
    bad.model.name = "zhong2020"
    with pytest.raises(config_lib.ConfigError, match="zhong2020_independent"):
        config_lib.validate(bad)


def test_retraining_batch_is_the_hard_union_and_refuses_none():
    from jaxser.data import splits

    fold = splits.Fold("f", ("a", "b", "c", "d", "e"), (), ("t",), False, ("s",), (), ("s",))
    ids = np.array(["a", "b", "c", "d", "e", "t"])
    hard = np.array([[1, 0, 0, 1, 0, 1], [0, 1, 0, 1, 0, 0]], bool)  # "t" is a test row: never retrained
    c = make_config()
    new_fold, batch_size = zhong._retrain_plan(c, fold, 2, {"ids": ids, "hard": hard})
    assert new_fold.train_ids == ("a", "b", "d") and batch_size == 2
    with pytest.raises(RuntimeError, match="lower hard_examples.beta"):
        zhong._retrain_plan(c, fold, 1, {"ids": ids, "hard": np.zeros_like(hard)})


CHECK = pathlib.Path(__file__).with_name("zhong_parallel_check.py")


@pytest.mark.slow
def test_two_devices_match_one_device_under_shard_map_and_pmap():
    results = run_on_host_devices(CHECK, 2, timeout=900)
    assert set(results) == {"shard_map", "pmap"}
    for result in results.values():
        assert result["devices"] == 2
        assert result["params_max_abs_diff"] <= 1e-5, result
        assert result["counts_equal"], result
