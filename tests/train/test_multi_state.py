"""A state of several named networks (MultiState): per-network optimisers in one jitted
step, checkpoints with the same guarantees as a TrainState's (latest/best, SHA-256,
damaged fallback, exact resume), one network loaded from another run and frozen."""

from __future__ import annotations

import functools
import json
import logging

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxser.train import checkpoint, replicas
from jaxser.train.state import FROZEN_TX, MultiState, NetSpec, TrainState, create_multi, frozen_grads_zero
from tests.reliability import faults

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax, damaged reads

IN, D, K, B = 64, 32, 3, 8  # input width, feature width, classes, batch


class Encoder(nn.Module):
    @nn.compact
    def __call__(self, x, *, train: bool):
        x = nn.Dense(D)(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.5)(x)
        return nn.relu(x)


class Head(nn.Module):
    out: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.out)(x)


# Shared by every state of this module: equal static fields, so each step compiles once.
ENCODER, CLASSIFIER, CRITIC, FRONT = Encoder(), Head(K), Head(1), Head(IN)
ADAM, SGD, CRITIC_TX = optax.adam(1e-2), optax.sgd(0.1, momentum=0.9), optax.adam(1e-3)
X, F = jnp.zeros((B, IN)), jnp.zeros((B, D))


def specs():
    return [
        NetSpec("encoder", ENCODER, ADAM, (X,), kwargs={"train": False}),
        NetSpec("classifier", CLASSIFIER, SGD, (F,)),
        NetSpec("critic", CRITIC, CRITIC_TX, (F,)),
    ]


@functools.cache  # states are immutable: one template serves every test
def fresh() -> MultiState:
    return create_multi(specs(), seed=0, extras={"centres": jnp.zeros((K, D))})


def batch(i: int):
    return jax.random.normal(jax.random.PRNGKey(100 + i), (B, IN)), jnp.arange(B) % K


@jax.jit
def train_step(state: MultiState, x, y):
    """Encoder + classifier on cross-entropy and a center loss, the critic on its own
    loss; each network through its own optimiser; the class centres move to the batch's."""
    x = x + 0.1 * jax.random.normal(jax.random.fold_in(state.rng, state.step), x.shape)
    centres = state.extras["centres"]

    def loss_fn(p):
        feats, updates = ENCODER.apply(state.variables("encoder", p["encoder"]), x, train=True, mutable=["batch_stats"])
        logits = CLASSIFIER.apply(state.variables("classifier", p["classifier"]), feats)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        centre = jnp.sum((feats - centres[y]) ** 2, -1).mean()
        return ce + 0.01 * centre, (feats, updates["batch_stats"])

    params = {name: state.net(name).params for name in ("encoder", "classifier")}
    (loss, (feats, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)

    def critic_loss(p):
        score = CRITIC.apply(state.variables("critic", p), jax.lax.stop_gradient(feats))
        return jnp.mean((score[:, 0] - y) ** 2)

    grads["critic"] = jax.grad(critic_loss)(state.net("critic").params)
    onehot = jax.nn.one_hot(y, K)
    means = onehot.T @ feats / jnp.maximum(onehot.sum(0), 1.0)[:, None]
    state = state.apply_gradients(grads, {"encoder": stats})
    return state.replace_extras(centres=centres + 0.5 * (means - centres)), loss


def run(state, start, stop):
    for i in range(start, stop):
        state, _ = train_step(state, *batch(i))
    return state


def leaves(state) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(state.arrays())]


def identical(a, b) -> bool:
    """Same tree (static fields too), same dtypes and shapes, same bits."""
    la, lb = leaves(a), leaves(b)
    return (
        jax.tree.structure(a) == jax.tree.structure(b)
        and len(la) == len(lb)
        and all(x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y) for x, y in zip(la, lb))
    )


def save(workdir, states, best=True):
    ckpts = checkpoint.Checkpoints(workdir)
    try:
        for state in states:
            step = int(state.step)
            if best:
                ckpts.save_best(state, {"step": step}, score=float(step))
            ckpts.save_latest(state, {"step": step})
    finally:
        ckpts.finish()


@pytest.fixture(scope="module")
def trained():
    """States after 0..5 steps of one uninterrupted run."""
    states = [fresh()]
    for i in range(5):
        states.append(run(states[-1], i, i + 1))
    return states


# -- the state --------------------------------------------------------------------------


def test_each_network_has_its_own_init_and_optimiser(trained):
    state = fresh()
    assert set(state.nets) == {"encoder", "classifier", "critic"}
    # The init of a network depends on the seed and its name only, not on the others.
    alone = create_multi([specs()[1]], seed=0)
    assert np.array_equal(alone.net("classifier").params["Dense_0"]["kernel"], state.net("classifier").params["Dense_0"]["kernel"])
    renamed = create_multi([specs()[1]._replace(name="other")], seed=0)
    assert not np.array_equal(renamed.net("other").params["Dense_0"]["kernel"], state.net("classifier").params["Dense_0"]["kernel"])
    assert set(state.net("encoder").batch_stats["BatchNorm_0"]) == {"mean", "var"}
    assert isinstance(state.net("encoder").opt_state[0], optax.ScaleByAdamState)
    assert isinstance(state.net("classifier").opt_state[0], optax.TraceState)  # sgd momentum
    # Every network moved, each by its own optimiser; BatchNorm statistics and centres too.
    after = trained[3]
    assert int(after.step) == 3
    for name in state.nets:
        before_k, after_k = state.net(name).params["Dense_0"]["kernel"], after.net(name).params["Dense_0"]["kernel"]
        assert not np.array_equal(before_k, after_k), name
    assert int(after.net("encoder").opt_state[0].count) == 3
    assert not np.array_equal(after.net("encoder").batch_stats["BatchNorm_0"]["mean"], 0.0)
    assert not np.array_equal(after.extras["centres"], 0.0)
    with pytest.raises(KeyError, match="no network 'decoder'.*classifier"):
        state.net("decoder")
    with pytest.raises(ValueError, match="two networks named"):
        create_multi([specs()[1], specs()[1]], seed=0)


def test_save_and_restore_latest_and_best_bit_identical_then_resume_exactly(tmp_path, trained):
    save(tmp_path, trained[1:4])  # steps 1, 2, 3: the newest two kept of each
    for kind in ("latest", "best"):
        assert faults.steps(tmp_path / "checkpoints" / kind) == [2, 3]
        restored, meta = checkpoint.restore(tmp_path / "checkpoints" / kind, fresh())
        assert meta["step"] == 3 and isinstance(restored, MultiState)
        assert identical(restored, trained[3])
        assert np.array_equal(restored.extras["centres"], trained[3].extras["centres"])  # [K, D] centres kept
        assert restored.extras["centres"].shape == (K, D)
    # The on-disk layout: {step, rng, nets: {name: {params, batch_stats, opt_state}}, extras}.
    meta = json.loads((tmp_path / "checkpoints" / "latest" / "3" / "meta" / "metadata").read_text())
    assert meta[checkpoint.STATE_SHA256] == replicas.digest(trained[3].arrays())
    assert set(meta[checkpoint.PART_SHA256]) == {f"nets/{n}/{p}" for n in trained[3].nets for p in ("params", "batch_stats")}
    # Resume from step 2 and continue: bit for bit the uninterrupted run.
    restored, _ = checkpoint.restore(tmp_path / "checkpoints" / "latest", fresh(), step=2)
    assert identical(restored, trained[2])
    assert identical(run(restored, 2, 5), trained[5])
    resumed, meta = checkpoint.resume(tmp_path, fresh())
    assert meta["step"] == 3 and identical(run(resumed, 3, 5), trained[5])


@pytest.mark.parametrize("fault", ["flipped_bit_in_array_file", "truncated_array_file"])
def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, trained, fault, caplog):
    save(tmp_path, trained[1:4])
    latest = tmp_path / "checkpoints" / "latest"
    faults.damage(latest, fault)
    with caplog.at_level(logging.WARNING, logger="jaxser.train.checkpoint"):
        resumed, meta = checkpoint.resume(tmp_path, fresh())
    says = "do not match the SHA-256" if fault.startswith("flipped") else "truncated or corrupt"
    assert f"{latest}/3 is damaged" in caplog.text and says in caplog.text
    assert meta["step"] == 2 and identical(resumed, trained[2])
    assert identical(run(resumed, 2, 5), trained[5])
    # The damaged checkpoint and the newer best one were set aside, not deleted.
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "set_aside").iterdir()) == ["best-3", "latest-3"]


def test_a_template_of_other_networks_does_not_restore(tmp_path, trained):
    save(tmp_path, trained[1:2], best=False)
    other = create_multi(specs()[:2], seed=0, extras={"centres": jnp.zeros((K, D))})
    with pytest.raises(checkpoint.CheckpointError, match="step 1: its arrays do not match the state to restore into"):
        checkpoint.restore(tmp_path / "checkpoints" / "latest", other)


# -- a frozen network -------------------------------------------------------------------


def _dot_generals(jaxpr) -> int:
    count = 0
    for eqn in jaxpr.eqns:
        count += eqn.primitive.name == "dot_general"
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", value)
            if hasattr(inner, "eqns"):
                count += _dot_generals(inner)
    return count


@functools.cache
def _front_and_classifier(frozen: bool) -> MultiState:
    return create_multi(
        [NetSpec("frontend", FRONT, ADAM, (X,), frozen=frozen), NetSpec("classifier", CLASSIFIER, SGD, (X,))], seed=1
    )


def _front_loss(state, params, x, y):
    params = frozen_grads_zero(state, params)
    enhanced = x + jnp.tanh(FRONT.apply(state.variables("frontend", params["frontend"]), x))
    logits = CLASSIFIER.apply(state.variables("classifier", params["classifier"]), enhanced)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


@jax.jit
def front_step(state, x, y):
    grads = jax.grad(_front_loss, argnums=1)(state, state.params(), x, y)
    return state.apply_gradients(grads), grads


def test_a_frozen_front_end_never_changes_and_gets_no_gradient():
    state = _front_and_classifier(frozen=True)
    front = state.net("frontend")
    assert front.frozen and front.tx is FROZEN_TX and jax.tree.leaves(front.opt_state) == []
    before = [np.asarray(x).copy() for x in jax.tree.leaves(front.params)]
    classifier_before = np.asarray(state.net("classifier").params["Dense_0"]["kernel"]).copy()
    for i in range(4):
        state, grads = front_step(state, *batch(i))
        assert all(not np.any(np.asarray(g)) for g in jax.tree.leaves(grads["frontend"]))
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(before, jax.tree.leaves(state.net("frontend").params)))
    assert not np.array_equal(classifier_before, state.net("classifier").params["Dense_0"]["kernel"])
    assert int(state.step) == 4
    # apply_gradients of a frozen network is the identity, whatever the gradients.
    assert state.net("frontend").apply_gradients(jax.tree.map(jnp.ones_like, front.params)) is state.net("frontend")
    # Not even computed: the gradient of the loss has 3 matrix products (2 forward, the
    # classifier's kernel), against 5 when the front end trains (its input's and kernel's).
    x, y = batch(0)
    count = {
        frozen: _dot_generals(jax.make_jaxpr(jax.grad(_front_loss, argnums=1))(s, s.params(), x, y).jaxpr)
        for frozen, s in ((True, state), (False, _front_and_classifier(frozen=False)))
    }
    assert count == {True: 3, False: 5}


# -- loading one network from another run -------------------------------------------------


def _trainstate_run(workdir):
    """A one-network run (TrainState) of the front end, written by Checkpoints: steps 1, 2."""
    params = FRONT.init(jax.random.PRNGKey(7), X)["params"]
    state = TrainState(
        step=jnp.array(0), params=params, batch_stats={}, opt_state=ADAM.init(params),
        rng=jax.random.PRNGKey(0), model=FRONT, tx=ADAM,
    )
    states = []
    for step in (1, 2):
        state = state.apply_gradients(jax.tree.map(lambda p: jnp.full_like(p, 0.1 * step), state.params), {})
        states.append(state)
    save(workdir, states)
    return states


def test_load_network_from_a_one_network_run(tmp_path):
    states = _trainstate_run(tmp_path / "front")
    # The TrainState layout on disk is today's: {step, params, batch_stats, opt_state, rng}.
    meta = json.loads((tmp_path / "front" / "checkpoints" / "best" / "2" / "meta" / "metadata").read_text())
    old_layout = {k: getattr(states[1], k) for k in ("step", "params", "batch_stats", "opt_state", "rng")}
    assert meta[checkpoint.STATE_SHA256] == replicas.digest(old_layout)
    assert states[1].arrays().keys() == old_layout.keys()

    multi = _front_and_classifier(frozen=True)
    loaded = checkpoint.load_network(tmp_path / "front", "frontend", multi.net("frontend"))
    assert loaded.frozen and jax.tree.leaves(loaded.opt_state) == []
    assert jax.tree.all(jax.tree.map(np.array_equal, loaded.params, states[1].params))
    older = checkpoint.load_network(tmp_path / "front", "frontend", multi.net("frontend"), which="latest", step=1)
    assert jax.tree.all(jax.tree.map(np.array_equal, older.params, states[0].params))
    # Into a run of several networks, trained with the front end kept as loaded; checkpointed with it.
    multi = multi.replace_net("frontend", loaded)
    for i in range(3):
        multi, _ = front_step(multi, *batch(i))
    assert jax.tree.all(jax.tree.map(np.array_equal, multi.net("frontend").params, states[1].params))
    save(tmp_path / "classifier", [multi], best=False)
    restored, _ = checkpoint.restore(tmp_path / "classifier" / "checkpoints" / "latest", _front_and_classifier(frozen=True))
    assert identical(restored, multi)
    # A network trainable in the template comes back frozen: a state template for a
    # run that fine-tunes it again uses NetState.unfreeze(tx).
    trainable = _front_and_classifier(frozen=False).net("frontend")
    again = checkpoint.load_network(tmp_path / "front", "frontend", trainable)
    assert again.frozen and not again.unfreeze(ADAM).frozen


def test_load_network_from_a_run_of_several_networks(tmp_path, trained):
    save(tmp_path, trained[1:4])
    template = fresh().net("encoder")
    loaded = checkpoint.load_network(tmp_path, "encoder", template)
    assert loaded.frozen
    for part in ("params", "batch_stats"):  # BatchNorm statistics too
        assert jax.tree.all(jax.tree.map(np.array_equal, getattr(loaded, part), getattr(trained[3].net("encoder"), part)))
    # Under another name in the new run.
    critic = checkpoint.load_network(tmp_path, "judge", fresh().net("critic"), source_name="critic")
    assert jax.tree.all(jax.tree.map(np.array_equal, critic.params, trained[3].net("critic").params))


def test_load_network_refuses_other_shapes_and_missing_networks(tmp_path, trained):
    save(tmp_path / "multi", trained[1:2])
    _trainstate_run(tmp_path / "front")
    best = tmp_path / "multi" / "checkpoints" / "best"
    wide = create_multi([NetSpec("classifier", Head(K + 1), SGD, (F,))], seed=0).net("classifier")
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.load_network(tmp_path / "multi", "classifier", wide)
    message = str(err.value)
    assert f"nets/classifier/ in {best} does not match the network" in message
    assert "['params']['Dense_0']['kernel']: checkpoint (32, 3) float32, network (32, 4) float32" in message
    assert "Build the network with the model settings of that run" in message and "config.json" in message
    with pytest.raises(checkpoint.CheckpointError, match=f"no network 'decoder' in the checkpoints in {best}; it holds "
                       r"\['classifier', 'critic', 'encoder'\]. Pass source_name="):
        checkpoint.load_network(tmp_path / "multi", "decoder", wide)
    with pytest.raises(checkpoint.CheckpointError, match="trained one network, not named ones"):
        checkpoint.load_network(tmp_path / "front", "frontend", fresh().net("critic"), source_name="front")
    with pytest.raises(checkpoint.CheckpointError, match="does not match the network"):
        checkpoint.load_network(tmp_path / "front", "frontend", fresh().net("encoder"))
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint folder"):
        checkpoint.load_network(tmp_path / "nothing", "frontend", wide)


def test_load_network_checks_what_it_reads_and_falls_back(tmp_path, trained, caplog):
    save(tmp_path, trained[1:4])
    best = tmp_path / "checkpoints" / "best"
    meta_file = best / "3" / "meta" / "metadata"
    meta = json.loads(meta_file.read_text())
    meta[checkpoint.PART_SHA256]["nets/encoder/batch_stats"] = "0" * 64  # as if a byte of it had changed
    meta_file.write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="jaxser.train.checkpoint"):
        loaded = checkpoint.load_network(tmp_path, "encoder", fresh().net("encoder"))
    assert f"{best}/3 is damaged (its nets/encoder/batch_stats do not match the SHA-256" in caplog.text
    assert jax.tree.all(jax.tree.map(np.array_equal, loaded.params, trained[2].net("encoder").params))
    # A checkpoint written before the parts' checksums existed is read unchecked.
    del meta[checkpoint.PART_SHA256]
    meta_file.write_text(json.dumps(meta))
    loaded = checkpoint.load_network(tmp_path, "encoder", fresh().net("encoder"))
    assert jax.tree.all(jax.tree.map(np.array_equal, loaded.params, trained[3].net("encoder").params))
    # Every checkpoint damaged: an error naming each, never a fresh network.
    faults.damage_all(best, "removed_meta_file")
    with pytest.raises(checkpoint.CheckpointError,
                       match=f"(?s)no checkpoint in {best} could be restored.*step 3: a file is missing.*step 2: "):
        checkpoint.load_network(tmp_path, "encoder", fresh().net("encoder"))
