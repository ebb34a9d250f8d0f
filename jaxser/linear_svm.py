"""A linear SVM fitted on the device: scikit-learn's ``LinearSVC`` objective, solved by
L-BFGS for all one-vs-rest problems at once (one matrix product per evaluation).

    coef, intercept = linear_svm.fit(X, y, num_classes=7, C=1e-3)
    scores = X @ coef.T + intercept                      # as LinearSVC.decision_function

Why not LinearSVC itself: Yi & Mak's curves fit a linear SVM on the training vectors plus
0..10 augmented sets in every fold, up to 4,873 x 4,368 on EmoDB; liblinear took 60-260 s
per fit there on the 2-core dev VM (primal or dual), about a quarter of an hour per fold
for the SVMs alone. The same objective on the device takes seconds.

The objective is liblinear's L2-regularised squared hinge (LinearSVC's default,
``penalty="l2", loss="squared_hinge"``) with its bias handling (``intercept_scaling=1``:
the intercept is the weight of a constant feature 1 and is regularised like the others).
For class k: minimise 0.5 ||w||^2 + sum_i C_i max(0, 1 - t_i (w . [x_i, 1]))^2 with
t_i = +1 for class k and -1 otherwise; C_i = C * class_weight[k] for the positives and C
for the others (liblinear's one-vs-rest weighting). The problem is strictly convex, so
L-BFGS reaches the same solution; tests compare against LinearSVC.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax


def balanced_weights(y: np.ndarray, num_classes: int) -> np.ndarray:
    """scikit-learn's ``class_weight="balanced"``: n / (K n_k) (0 for an absent class)."""
    counts = np.bincount(np.asarray(y), minlength=num_classes).astype(np.float64)
    present = counts > 0
    return np.where(present, len(y) / (present.sum() * np.maximum(counts, 1)), 0.0)


@functools.partial(jax.jit, static_argnames=("max_iter",))
def _fit(X, y, C_pos, C, tol, *, max_iter: int):
    Xb = jnp.concatenate([X, jnp.ones((X.shape[0], 1), X.dtype)], axis=1)
    num_classes = C_pos.shape[0]
    onehot = jax.nn.one_hot(y, num_classes, dtype=X.dtype)
    t = 2.0 * onehot - 1.0  # [N, K]: +1 for the class of column k, -1 otherwise
    cost = jnp.where(onehot > 0, C_pos[None, :], C)

    # The K problems are independent, so their sum is minimised by each one's minimiser:
    # one L-BFGS over W [F + 1, K] makes every objective evaluation one matrix product.
    def objective(W):
        margin = jnp.maximum(0.0, 1.0 - t * (Xb @ W))
        return 0.5 * jnp.sum(W * W) + jnp.sum(cost * margin * margin)

    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(objective)
    W0 = jnp.zeros((Xb.shape[1], num_classes), Xb.dtype)
    stop = tol * jnp.linalg.norm(jax.grad(objective)(W0))  # relative to the gradient at W = 0

    def step(carry):
        W, state = carry
        value, grad = value_and_grad(W, state=state)
        updates, state = opt.update(grad, state, W, value=value, grad=grad, value_fn=objective)
        return optax.apply_updates(W, updates), state

    def going(carry):
        _, state = carry
        count = optax.tree_utils.tree_get(state, "count")
        grad = optax.tree_utils.tree_get(state, "grad")
        return (count == 0) | ((count < max_iter) & (optax.tree_utils.tree_norm(grad) >= stop))

    W, state = jax.lax.while_loop(going, step, (W0, opt.init(W0)))
    return W.T, optax.tree_utils.tree_get(state, "count")


def fit(X: np.ndarray, y: np.ndarray, *, num_classes: int, C: float = 1.0, class_weight=None,
        tol: float = 1e-4, max_iter: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(coef [K, F], intercept [K], iterations)`` of the one-vs-rest linear SVMs.

    ``class_weight``: None, ``"balanced"`` or one weight per class. ``tol``: each problem
    stops when its gradient norm falls below ``tol`` times its norm at w = 0."""
    X = jnp.asarray(X, jnp.float32)
    y = jnp.asarray(y, jnp.int32)
    if class_weight is None:
        weights = np.ones(num_classes)
    elif isinstance(class_weight, str) and class_weight == "balanced":
        weights = balanced_weights(np.asarray(y), num_classes)
    else:
        weights = np.asarray(class_weight, np.float64)
    w, iters = _fit(X, y, jnp.asarray(C * weights, jnp.float32), jnp.float32(C), jnp.float32(tol),
                    max_iter=int(max_iter))
    w = np.asarray(w)
    return w[:, :-1], w[:, -1], np.asarray(iters)
