"""The adversarial loop (jaxser/train/adversarial.py): update order and counts, gradient
isolation, the WADAN penalty, data parallelism, exact resume, generation."""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxser.train import adversarial, parallel
from tests.device_check import run_on_host_devices

RATES = {"C": 1e-3, "D": 1e-3, "E": 1e-3, "G": 1e-3, "R": 1e-3}
FEATURES = 6


def data(rows: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (np.arange(rows) % 3).astype(np.int32)
    X = (rng.standard_normal((rows, FEATURES)) + y[:, None]).astype(np.float32)
    return X, y


def tiny_state(recipe, seed: int = 0):
    return adversarial.initial_state(recipe, feature_dim=FEATURES, seed=seed, learning_rates=RATES,
                                     autoencoder_hidden=(8,), hidden=(8,))


def recipe(variant="wadan", **kw):
    return adversarial.Recipe(variant, 3, noise_dim=4, latent_dim=4, **kw)


def one_iteration(rec, state, X, y):
    dp = parallel.DataParallel(parallel.make_mesh(jax.devices()[:1]))
    fn = dp.compile(lambda s, b: adversarial.iteration(s, b["x"], b["y"], jax.random.PRNGKey(7), rec),
                    (parallel.REPLICATED, parallel.SHARDED), (parallel.REPLICATED, parallel.REPLICATED))
    return jax.device_get(fn(dp.replicate(state), dp.shard({"x": X, "y": y})))


def adam_count(net):
    counts = [leaf for leaf in jax.tree.leaves(net.opt_state) if np.ndim(leaf) == 0]
    return int(counts[0])


@pytest.mark.parametrize("variant,d_steps", [(v, 2) for v in adversarial.VARIANTS] + [("adan", 1)])
def test_each_network_updates_once_and_d_d_times(variant, d_steps):
    rec = recipe(variant, d_steps=d_steps)
    state = tiny_state(rec)
    X, y = data(8)
    new, losses = one_iteration(rec, state, X, y)
    assert int(new.step) == 1
    for name, net in new.nets.items():
        assert adam_count(net) == (d_steps if name == "D" else 1), name
        moved = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), net.params, state.nets[name].params)
        assert max(jax.tree.leaves(moved)) > 0, name
    assert set(losses) == {*adversarial.ORDER[variant], "nonfinite"}
    assert all(np.isfinite(float(v)) for v in losses.values())


def test_d_is_frozen_after_its_own_update(monkeypatch):
    """D after a whole iteration equals D after the C and D phases alone: the R, E and G
    phases leave it untouched (the paper's "freezing the weights of D")."""
    rec = recipe("wadan")
    state = tiny_state(rec)
    X, y = data(8)
    full, _ = one_iteration(rec, state, X, y)
    monkeypatch.setitem(adversarial.ORDER, "wadan", ("C", "D"))
    short, _ = one_iteration(rec, state, X, y)
    same = jax.tree.map(lambda a, b: np.array_equal(a, b), full.nets["D"].params, short.nets["D"].params)
    assert all(jax.tree.leaves(same))
    differs = jax.tree.map(lambda a, b: np.array_equal(a, b), full.nets["G"].params, short.nets["G"].params)
    assert not all(jax.tree.leaves(differs))


def test_updates_are_sequential_with_the_latest_weights(monkeypatch):
    """E's update sees the decoder R as R's own update left it (Algorithm 1, lines 10-11):
    the E phase run on a state whose R was updated differs from one on the old R."""
    rec = recipe("adan")
    state = tiny_state(rec)
    X, y = data(8)
    full, _ = one_iteration(rec, state, X, y)
    monkeypatch.setitem(adversarial.ORDER, "adan", ("C", "D", "E", "G"))  # R not updated before E
    no_r, _ = one_iteration(rec, state, X, y)
    same = jax.tree.map(lambda a, b: np.array_equal(a, b), full.nets["E"].params, no_r.nets["E"].params)
    assert not all(jax.tree.leaves(same))


def test_wasserstein_penalty_matches_a_numpy_reference():
    """eq. 17's lambda ||grad D(x~)||^p for a linear critic D(h) = w.h + b: the gradient is
    w for every row, so the penalty is lambda ||w||^p exactly."""
    rec = recipe("wadan", penalty_weight=10.0, penalty_power=5.0)
    state = tiny_state(rec)
    w = np.full((4, 1), 0.3, np.float32)
    # A D with no hidden layer: replace its model by a linear one with weights w.
    from jaxser.models.adan import MLP
    from jaxser.train import state as state_lib

    linear = MLP((), 1)
    params = {"out": {"kernel": jnp.asarray(w), "bias": jnp.zeros((1,))}}
    tx = adversarial.optimizers({"D": 1.0})["D"]
    state = state.replace_net("D", state_lib.NetState(params, {}, tx.init(params), linear, tx))
    X, y = data(8)

    def d_loss(s):
        rec0 = dataclasses_replace(rec, penalty_weight=0.0)
        _, l0 = one_iteration(rec0, s, X, y)
        _, l1 = one_iteration(rec, s, X, y)
        return float(l1["D"]) - float(l0["D"])

    assert d_loss(state) == pytest.approx(10.0 * np.linalg.norm(w) ** 5, rel=1e-4)


def dataclasses_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


def test_resume_gives_the_parameters_of_an_unbroken_run(tmp_path):
    rec = recipe("wadan")
    X, y = data(32)
    kw = dict(batch_size=8, epochs_per_call=2, checkpoint_every_epochs=2)
    straight, _ = adversarial.Trainer(rec, tiny_state(rec), X, y, tmp_path / "a", epochs=4, **kw).fit()
    adversarial.Trainer(rec, tiny_state(rec), X, y, tmp_path / "b", epochs=2, **kw).fit()
    resumed, summary = adversarial.Trainer(rec, tiny_state(rec), X, y, tmp_path / "b", epochs=4, **kw).fit()
    assert summary["epochs_this_run"] == 2 and summary["iterations"] == 16
    same = jax.tree.map(lambda a, b: np.array_equal(a, b), straight.arrays(), resumed.arrays())
    assert all(jax.tree.leaves(same))
    records = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]


def test_a_checkpoint_of_another_recipe_is_refused(tmp_path):
    from jaxser.train import checkpoint

    X, y = data(32)
    adversarial.Trainer(recipe("wadan"), tiny_state(recipe("wadan")), X, y, tmp_path, epochs=1, batch_size=8).fit()
    with pytest.raises(checkpoint.CheckpointError, match="another augmenter or batch size"):
        adversarial.Trainer(recipe("wadan"), tiny_state(recipe("wadan")), X, y, tmp_path, epochs=2, batch_size=16).fit()


def test_one_compilation_per_epoch_count(tmp_path):
    rec = recipe("adan")
    X, y = data(32)
    trainer = adversarial.Trainer(rec, tiny_state(rec), X, y, tmp_path, epochs=7, batch_size=8, epochs_per_call=3,
                                  checkpoint_every_epochs=100)
    trainer.fit()
    assert trainer.compilations == 2  # 3, 3, then 1


@pytest.mark.parametrize("variant", adversarial.VARIANTS)
def test_generation_has_the_features_shape_and_follows_the_seed(variant):
    rec = recipe(variant)
    state = tiny_state(rec)
    labels = np.array([0, 1, 2, 2])
    a = adversarial.generate(rec, state, labels, seed=1)
    assert a.shape == (4, FEATURES) and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, adversarial.generate(rec, state, labels, seed=1))
    assert not np.array_equal(a, adversarial.generate(rec, state, labels, seed=2))


def test_batch_size_is_capped_by_the_rows_and_split_over_devices():
    assert adversarial.batch_size_for(128, 486, 1) == 128
    assert adversarial.batch_size_for(128, 40, 4) == 40
    assert adversarial.batch_size_for(128, 42, 4) == 40
    with pytest.raises(ValueError, match="cannot make a batch"):
        adversarial.batch_size_for(128, 3, 4)


CHECK = pathlib.Path(__file__).with_name("adversarial_parallel_check.py")


@pytest.mark.slow
def test_four_devices_match_one_device_under_shard_map_and_pmap():
    results = run_on_host_devices(CHECK, 4, timeout=900)
    assert set(results) == {"shard_map", "pmap"}
    assert set(results["shard_map"]["recipes"]) == set(adversarial.VARIANTS)
    assert set(results["pmap"]["recipes"]) == {"wadan", "aae"}
    for mode in results.values():
        assert mode["devices"] == 4
        for variant, r in mode["recipes"].items():
            assert r["step"] == 8, variant
            assert r["moved"] > 1e-4, variant
            assert r["params_max_abs_diff"] <= 1e-5, (variant, r)



def test_encode_gives_the_latent_codes():
    rec = recipe("wadan", )
    state = tiny_state(rec)
    X, _ = data(5)
    codes = adversarial.encode(state, X)
    assert codes.shape == (5, 4)
    np.testing.assert_allclose(codes, adversarial._apply(state, "E")(jnp.asarray(X)), rtol=1e-6, atol=1e-6)
