"""ACLN, FCN and the fused baseline (Zhong et al. 2020): shapes, padding, features, gradients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxser.models import zhong
from jaxser.train import state as state_lib

SR = 16000
SMALL = dict(filters=(8, 8, 8, 8), lstm_units=16, attention_units=16)  # the layout, cheaply compiled


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.normal(size=(3, SR))).astype(np.float32)
    lengths = np.array([SR, SR // 2, SR // 8], np.int32)
    audio[1, lengths[1]:] = 0.0
    audio[2, lengths[2]:] = 0.0
    return jnp.asarray(audio), jnp.asarray(lengths)


@pytest.fixture(scope="module")
def acln(clips):
    model = zhong.ACLN(num_classes=7, **SMALL, input_norm="cmvn")
    variables = state_lib.init_variables(model, jax.random.key(0), clips, {"train": False})
    return model, variables


def test_acln_logits_features_and_mfcc_shape(acln, clips):
    model, variables = acln
    logits, alf = jax.jit(functools.partial(model.apply, features=True))(variables, *clips)
    assert logits.shape == (3, 7) and alf.shape == (3, 16)
    x, frames = jax.jit(functools.partial(model.apply, method=zhong.ACLN.mfcc))(variables, *clips)
    assert x.shape == (3, 1 + SR // 192, 13, 1)
    np.testing.assert_array_equal(frames, 1 + np.asarray(clips[1]) // 192)
    # CMVN over valid frames: each coefficient has mean 0 there, and padding is 0
    valid = np.asarray(x[1, : frames[1], :, 0])
    np.testing.assert_allclose(valid.mean(0), 0.0, atol=1e-4)
    assert np.all(np.asarray(x[1, frames[1]:]) == 0.0)


def test_acln_result_does_not_depend_on_padding(acln, clips):
    model, variables = acln
    audio, lengths = clips
    apply = jax.jit(model.apply)  # one compilation per shape, not one per operation
    short = apply(variables, audio[1:2, : lengths[1]], lengths[1:2])
    padded = apply(variables, audio[1:2], lengths[1:2])
    np.testing.assert_allclose(short, padded, atol=1e-4)


def test_fcn_shapes_dropout_and_features():
    model = zhong.FCN(num_classes=6)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(8, 384)), jnp.float32)
    variables = model.init(jax.random.key(0), x)
    logits, elf = model.apply(variables, x, features=True)
    assert logits.shape == (8, 6) and elf.shape == (8, 64)
    assert set(variables["params"]) == {"dense1", "dense2", "dense3", "bn1", "bn2", "bn3", "out"}
    assert set(variables["batch_stats"]) == {"bn1", "bn2", "bn3"}
    a, _ = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(1)}, mutable=["batch_stats"])
    b, _ = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)}, mutable=["batch_stats"])
    assert not np.allclose(a, b)  # dropout 0.25 is active in training


def test_fused_has_one_head_and_its_loss_reaches_both_branches(clips):
    audio, lengths = clips
    functionals = jnp.asarray(np.random.default_rng(2).normal(size=(3, 384)), jnp.float32)
    model = zhong.FusedACLNFCN(num_classes=4, acln=SMALL, fcn=dict(hidden=(32, 16)))
    variables = jax.jit(model.init)(jax.random.key(0), audio, lengths, functionals)
    assert "out" not in variables["params"]["acln"] and "out" not in variables["params"]["fcn"]
    logits, fused = jax.jit(functools.partial(model.apply, features=True))(variables, audio, lengths, functionals)
    assert logits.shape == (3, 4) and fused.shape == (3, 16 + 16)

    def loss(params):
        out, _ = model.apply({**variables, "params": params}, audio, lengths, functionals, train=True,
                             rngs={"dropout": jax.random.key(3)}, mutable=["batch_stats"])
        return -jax.nn.log_softmax(out)[:, 0].mean()

    grads = jax.jit(jax.grad(loss))(variables["params"])
    for branch in ("acln", "fcn"):
        norm = sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads[branch]))
        assert norm > 0, f"the fused loss must train the {branch} branch"


def test_default_sizes_without_compiling():
    """The documented layout (ALF 128, ELF 64) by shape inference only: nothing is compiled."""
    audio = jax.ShapeDtypeStruct((2, 3 * SR), jnp.float32)
    lengths = jax.ShapeDtypeStruct((2,), jnp.int32)
    model = zhong.ACLN(num_classes=7)
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(audio.shape), jnp.full(2, 3 * SR)))
    out = jax.eval_shape(lambda v, a, n: model.apply(v, a, n, features=True), variables, audio, lengths)
    assert out[0].shape == (2, 7) and out[1].shape == (2, 128)
    assert [variables["params"][f"block{i}"]["conv"]["kernel"].shape[-1] for i in range(1, 5)] == [32, 64, 64, 128]
    fcn = zhong.FCN(num_classes=7)
    x = jnp.zeros((2, 384))
    v = jax.eval_shape(lambda: fcn.init(jax.random.key(0), x))
    assert jax.eval_shape(lambda v, x: fcn.apply(v, x, features=True)[1], v, x).shape == (2, 64)


def test_acln_batchnorm_input_keeps_the_clip_level_and_ignores_padding(clips):
    audio, lengths = clips
    model = zhong.ACLN(num_classes=7, **SMALL, input_norm="batchnorm")
    variables = state_lib.init_variables(model, jax.random.key(0), (audio, lengths), {"train": False})
    assert variables["batch_stats"]["input_bn"]["mean"].shape == (13,)  # one statistic per coefficient
    _, updates = jax.jit(functools.partial(model.apply, train=True, mutable=["batch_stats"]))(variables, audio, lengths)
    variables = {**variables, **updates}
    apply = jax.jit(model.apply)  # one compilation per shape, not one per operation
    short = apply(variables, audio[1:2, : lengths[1]], lengths[1:2])
    padded = apply(variables, audio[1:2], lengths[1:2])
    np.testing.assert_allclose(short, padded, atol=1e-4)
    # Twice as loud is another input (CMVN would map both to the same one).
    louder = apply(variables, 2.0 * audio[:1], lengths[:1])
    assert not np.allclose(louder, apply(variables, audio[:1], lengths[:1]), atol=1e-4)
    with pytest.raises(ValueError, match="input_norm"):
        zhong.ACLN(num_classes=7, **SMALL, input_norm="global").init(jax.random.key(0), audio, lengths)
