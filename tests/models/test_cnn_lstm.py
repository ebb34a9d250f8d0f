"""CNNLSTM1D / CNNLSTM2D: shapes, parameter counts, state handling, padding, learning."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxser import models
from jaxser.models import CNNLSTM1D, CNNLSTM2D

SR = 16000
SMALL = dict(filters=(4, 4, 8, 8), pools=(2, 2, 2, 2), lstm_units=16)  # fast test networks


def _rngs(seed=0):
    k1, k2 = jax.random.split(jax.random.key(seed))
    return {"params": k1, "dropout": k2}


def _count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _paper_param_count(num_classes, kernel_taps):
    """By hand from Tables 1-2: conv (taps*c_in*c_out + c_out), BN (scale, bias),
    LSTM 4*(in*256 + 256*256 + 256) with 128 inputs, Dense 256*K + K."""
    convs = [(1, 64), (64, 64), (64, 128), (128, 128)]
    conv = sum(kernel_taps * ci * co + co for ci, co in convs)
    bn = sum(2 * co for _, co in convs)
    lstm = 4 * (128 * 256 + 256 * 256 + 256)
    return conv + bn + lstm + 256 * num_classes + num_classes


@pytest.mark.parametrize("cls,taps,expected", [(CNNLSTM2D, 9, 655_815), (CNNLSTM1D, 3, 483_399)])
def test_paper_shapes_and_parameter_counts(cls, taps, expected):
    assert _paper_param_count(7, taps) == expected
    audio = jnp.zeros((2, 8 * SR), jnp.float32)  # the paper's 8 s clips (shapes only: eval_shape)
    lengths = jnp.full((2,), 8 * SR, jnp.int32)
    for mask_padding in (True, False):
        model = cls(num_classes=7, mask_padding=mask_padding)
        variables = jax.eval_shape(lambda: model.init(_rngs(), audio, lengths, train=False))
        assert _count(variables["params"]) == expected
        assert _count(variables["batch_stats"]) == 2 * (64 + 64 + 128 + 128)
        logits = jax.eval_shape(lambda v: model.apply(v, audio, lengths, train=False), variables)
        assert logits.shape == (2, 7) and logits.dtype == jnp.float32


def test_2d_input_is_paper_log_mel():
    model = CNNLSTM2D(num_classes=7)
    audio = jnp.zeros((1, 8 * SR))
    x, frames = jax.eval_shape(lambda a: model.log_mel(a, jnp.array([8 * SR])), audio)
    assert x.shape == (1, 251, 128, 1)


def test_build_and_unknown_name():
    assert {"zhao2019_cnn1d", "zhao2019_cnn2d", "zhong2020_acln"} <= set(models.MODELS)
    m = models.build("zhao2019_cnn2d", num_classes=4, bn_axis_name="data")
    assert isinstance(m, CNNLSTM2D) and m.num_classes == 4 and m.bn_axis_name == "data"
    with pytest.raises(ValueError, match="zhao2019_cnn1d"):
        models.build("nope", num_classes=4)


@pytest.mark.parametrize("cls", [CNNLSTM2D, CNNLSTM1D])
def test_jit_init_apply_and_batch_stats(cls):
    model = cls(num_classes=3, **SMALL)
    audio = jax.random.uniform(jax.random.key(3), (4, SR), minval=-0.5, maxval=0.5)
    lengths = jnp.array([SR, SR // 2, 9000, 12000], jnp.int32)
    variables = jax.jit(lambda a, n: model.init(_rngs(), a, n, train=False))(audio, lengths)
    logits, updates = jax.jit(
        lambda v, a, n: model.apply(v, a, n, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(9)})
    )(variables, audio, lengths)
    assert logits.shape == (4, 3) and bool(jnp.all(jnp.isfinite(logits)))
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), variables["batch_stats"], updates["batch_stats"])
    assert all(jax.tree.leaves(changed))
    eval_logits = jax.jit(lambda v, a, n: model.apply(v, a, n, train=False))(variables, audio, lengths)
    assert eval_logits.shape == (4, 3)
    _, same = jax.jit(lambda v, a, n: model.apply(v, a, n, train=False, mutable=["batch_stats"]))(
        variables, audio, lengths
    )
    jax.tree.map(np.testing.assert_array_equal, same["batch_stats"], variables["batch_stats"])


@pytest.mark.parametrize("cls", [CNNLSTM2D, CNNLSTM1D])
def test_padding_does_not_change_logits(cls):
    """mask_padding=True, train=False: appending zeros leaves each clip's logits equal
    (float32, same params; tolerance 1e-5 absolute + relative)."""
    model = cls(num_classes=3, **SMALL)
    lengths = jnp.array([SR, 9000, 5000], jnp.int32)
    audio = jax.random.uniform(jax.random.key(4), (3, SR), minval=-0.5, maxval=0.5)
    audio = jnp.where(jnp.arange(SR) < lengths[:, None], audio, 0.0)
    variables = jax.jit(lambda a, n: model.init(_rngs(), a, n, train=False))(audio, lengths)
    _, upd = jax.jit(lambda v, a, n: model.apply(v, a, n, train=True, mutable=["batch_stats"]))(
        variables, audio, lengths
    )  # non-trivial BatchNorm statistics
    variables = {"params": variables["params"], "batch_stats": upd["batch_stats"]}
    apply = jax.jit(lambda v, a, n: model.apply(v, a, n))
    short = apply(variables, audio, lengths)
    for extra in (1, 7000):
        padded = jnp.pad(audio, ((0, 0), (0, extra)))
        np.testing.assert_allclose(apply(variables, padded, lengths), short, rtol=1e-5, atol=1e-5)
    # and the padded clip gives the same logits as the clip alone in a batch of its own
    alone = apply(variables, audio[1:2, :9000], lengths[1:2])
    np.testing.assert_allclose(alone, short[1:2], rtol=1e-5, atol=1e-5)


def test_unmasked_model_runs_paper_path():
    model = CNNLSTM2D(num_classes=2, mask_padding=False, **SMALL)
    audio = jnp.ones((2, SR)) * 0.1
    lengths = jnp.full((2,), SR, jnp.int32)
    v = jax.jit(lambda a, n: model.init(_rngs(), a, n))(audio, lengths)
    assert jax.jit(lambda v, a, n: model.apply(v, a, n))(v, audio, lengths).shape == (2, 2)


@pytest.mark.slow  # ~12 s on the 2-core VM (mostly compilation)
def test_tiny_overfit_2d():
    """8 random 1 s clips, 2 classes: 100% train accuracy within 60 Adam steps."""
    model = CNNLSTM2D(num_classes=2, **SMALL)
    audio = jax.random.uniform(jax.random.key(5), (8, SR), minval=-0.5, maxval=0.5)
    lengths = jnp.full((8,), SR, jnp.int32)
    labels = jnp.array([0, 1, 0, 1, 1, 0, 1, 0])
    variables = jax.jit(lambda a, n: model.init(_rngs(), a, n))(audio, lengths)
    tx = optax.adam(3e-3)
    state = (variables["params"], variables["batch_stats"], tx.init(variables["params"]))

    @jax.jit
    def step(state):
        params, stats, opt = state

        def loss_fn(p):
            logits, upd = model.apply({"params": p, "batch_stats": stats}, audio, lengths, train=True,
                                      mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), (logits, upd)

        (_, (logits, upd)), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
        u, opt = tx.update(g, opt, params)
        acc = jnp.mean(jnp.argmax(logits, -1) == labels)
        return (optax.apply_updates(params, u), upd["batch_stats"], opt), acc

    for _ in range(60):
        state, acc = step(state)
        if float(acc) == 1.0:
            break
    assert float(acc) == 1.0
