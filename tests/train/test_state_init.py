"""Networks are initialised under jit (state.init_variables): the same parameters and
BatchNorm statistics, bit for bit, as an eager ``model.init``, for the supervised state
and the several-network states of the zhong and adversarial kinds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxser.train import state as state_lib
from tests.train.tiny_model import TinyMel


def _eager(model, keys, args, kwargs):
    return model.init(keys, *args, **kwargs)


def _assert_identical(a, b):
    same = jax.tree.map(lambda x, y: bool(np.array_equal(np.asarray(x), np.asarray(y))), a, b)
    assert jax.tree.leaves(same) and all(jax.tree.leaves(same))


def _train_config():
    from jaxser import config as config_lib

    return config_lib.base_config().train


def test_supervised_state(monkeypatch):
    model = TinyMel(num_classes=4)
    tx = state_lib.optimizer(_train_config(), 10)
    make = lambda: state_lib.create(model, tx, 3, jnp.zeros((1, 8000)), jnp.full((1,), 8000))  # noqa: E731
    jitted = make()
    monkeypatch.setattr(state_lib, "init_variables", _eager)
    eager = make()
    _assert_identical((jitted.params, jitted.batch_stats), (eager.params, eager.batch_stats))


@pytest.mark.parametrize("kind", ["zhong", "adan"])
def test_multi_network_states(monkeypatch, kind):
    if kind == "zhong":
        from jaxser.systems import zhong
        from tests.systems.test_zhong_kind import DIM, ROWS, make_config

        make = lambda: zhong.initial_state(make_config(), 4, 10, num_rows=ROWS, functionals_dim=DIM)  # noqa: E731
    else:
        from jaxser.train import adversarial

        rec = adversarial.Recipe("adan", 3, noise_dim=4, latent_dim=4)
        rates = dict.fromkeys("CDEGR", 1e-3)
        make = lambda: adversarial.initial_state(rec, feature_dim=6, seed=1, learning_rates=rates,  # noqa: E731
                                                 autoencoder_hidden=(8,), hidden=(8,))
    jitted = make()
    monkeypatch.setattr(state_lib, "init_variables", _eager)
    eager = make()
    assert set(jitted.nets) == set(eager.nets) and len(jitted.nets) >= 2
    for name in jitted.nets:
        _assert_identical((jitted.nets[name].params, jitted.nets[name].batch_stats),
                          (eager.nets[name].params, eager.nets[name].batch_stats))
