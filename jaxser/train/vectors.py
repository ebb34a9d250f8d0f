"""A classifier network (:class:`jaxser.models.adan.MLP`) on feature vectors, trained on
the device: several seeds at once (``vmap``), every epoch a ``lax.scan``, the whole
training one jitted call.

    params = vectors.train_mlp(X, y, num_classes=7, hidden=(100, 100), epochs=100, seeds=(0, 1, 2))
    probs = vectors.predict(params, X_test, num_classes=7, hidden=(100, 100))   # mean over the seeds

The "DNN" of Yi & Mak (2020) trained on real plus generated IS11 vectors: Adam 1e-4
(Sec. IV-D), an L2 penalty on the kernels (Sec. V-B gives no value), cross-entropy with
optional class weights (their IEMOCAP runs). A fold trains one such classifier per
amount of augmented data: thousands of tiny iterations, which one compiled call per
amount runs in seconds where a step per host call would spend most of its time in
dispatch.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxser.models.adan import MLP


def _model(num_classes: int, hidden) -> MLP:
    return MLP(tuple(hidden), num_classes)


def _optimizer(learning_rate: float, l2: float):
    parts = [optax.add_decayed_weights(l2, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p))] if l2 else []
    return optax.chain(*parts, optax.adam(learning_rate))


@functools.partial(
    jax.jit, static_argnames=("num_classes", "hidden", "epochs", "batch_size", "learning_rate", "l2")
)
def _train(X, y, weights, keys, *, num_classes, hidden, epochs, batch_size, learning_rate, l2):
    model = _model(num_classes, hidden)
    tx = _optimizer(learning_rate, l2)
    iters = X.shape[0] // batch_size

    def one_seed(key):
        init_key, shuffle_key = jax.random.split(key)
        params = model.init(init_key, X[:1])["params"]

        def loss_fn(p, rows):
            logits = model.apply({"params": p}, X[rows])
            xent = -jnp.take_along_axis(jax.nn.log_softmax(logits), y[rows][:, None], -1)[:, 0]
            w = weights[y[rows]]
            return jnp.sum(w * xent) / jnp.sum(w)

        def one_epoch(carry, epoch):
            order = jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), X.shape[0])

            def one_step(carry, i):
                p, opt = carry
                grads = jax.grad(loss_fn)(p, lax.dynamic_slice_in_dim(order, i * batch_size, batch_size))
                updates, opt = tx.update(grads, opt, p)
                return (optax.apply_updates(p, updates), opt), None

            carry, _ = lax.scan(one_step, carry, jnp.arange(iters))
            return carry, None

        (params, _), _ = lax.scan(one_epoch, (params, tx.init(params)), jnp.arange(epochs))
        return params

    return jax.vmap(one_seed)(keys)


def train_mlp(
    X: np.ndarray,
    y: np.ndarray,
    *,
    num_classes: int,
    hidden=(100, 100),
    epochs: int = 100,
    batch_size: int = 128,
    learning_rate: float = 1e-4,
    l2: float = 1e-4,
    seeds=(0,),
    class_weights=None,
):
    """Parameters of one MLP per seed (leading axis), trained on ``X`` ``[N, F]``,
    labels ``y``; an epoch is ``N // batch_size`` iterations over a fresh shuffle."""
    X = jnp.asarray(X, jnp.float32)
    batch_size = min(int(batch_size), X.shape[0])
    weights = jnp.ones((num_classes,), jnp.float32) if class_weights is None else jnp.asarray(class_weights, jnp.float32)
    keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])
    return _train(
        X, jnp.asarray(y, jnp.int32), weights, keys, num_classes=int(num_classes), hidden=tuple(int(h) for h in hidden),
        epochs=int(epochs), batch_size=batch_size, learning_rate=float(learning_rate), l2=float(l2),
    )


@functools.partial(jax.jit, static_argnames=("num_classes", "hidden"))
def _probs(params, X, *, num_classes, hidden):
    model = _model(num_classes, hidden)
    return jnp.mean(jax.vmap(lambda p: jax.nn.softmax(model.apply({"params": p}, X)))(params), axis=0)


def predict(params, X: np.ndarray, *, num_classes: int, hidden=(100, 100)) -> np.ndarray:
    """Class probabilities ``[N, K]``: the mean over the seeds' networks."""
    return np.asarray(_probs(params, jnp.asarray(X, jnp.float32), num_classes=int(num_classes),
                             hidden=tuple(int(h) for h in hidden)))


def flatten(params) -> dict[str, np.ndarray]:
    """``{"a/b/kernel": array}``: parameters as plain arrays for ``np.savez``."""
    flat = jax.tree_util.tree_flatten_with_path(jax.device_get(params))[0]
    return {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v) for path, v in flat}


def unflatten(arrays: dict[str, np.ndarray]) -> dict:
    """The inverse of :func:`flatten`."""
    tree: dict = {}
    for name, value in arrays.items():
        node = tree
        *parents, leaf = name.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = jnp.asarray(value)
    return tree
