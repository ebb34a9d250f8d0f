"""Training losses, picked by name from a config.

Every loss returns a PER-EXAMPLE float32 vector ``[B]``; the train step multiplies it
by the row mask (and any per-example weights), sums, and divides by the global row
count, so padding rows and data-parallel sharding never change the result. Keeping the
reduction out of the losses is what lets one step serve them all.

    from jaxser import losses

    weights = losses.balanced_class_weights(train_labels, num_classes)  # host, once
    per_example = losses.per_example_loss(
        config.train.loss, logits, batch["label"], class_weights=weights)
    loss = jnp.sum(per_example * batch["mask"]) / global_count

    # centre loss (Wen et al. 2016) as an auxiliary term; centres live in the state
    loss += lam * jnp.sum(losses.center_loss(emb, batch["label"], centers) * mask) / global_count
    centers = losses.update_centers(centers, emb, batch["label"], mask, alpha=0.5, axis_name="data")

Class-dependent tables (class weights, class shares) are computed once on the host
from the training labels and passed in as arrays.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

# --- host helpers ---------------------------------------------------------------


def _class_counts(labels, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    return np.bincount(labels, minlength=num_classes).astype(np.float64)


def balanced_class_weights(labels, num_classes: int) -> np.ndarray:
    """sklearn's ``"balanced"`` weights n / (K n_k) as float32 ``[num_classes]``.

    K counts the classes present in ``labels`` (as sklearn does), so the mean weight
    over the training examples stays 1 and the loss scale matches plain CE. A class
    with no examples gets weight 0: it never occurs as a true label anyway.
    """
    counts = _class_counts(labels, num_classes)
    present = np.count_nonzero(counts)
    weights = np.zeros(num_classes)
    np.divide(counts.sum(), present * counts, out=weights, where=counts > 0)
    return weights.astype(np.float32)


def share_class_weights(labels, num_classes: int) -> np.ndarray:
    """Each class's share alpha_k = n_k / n as float32 ``[num_classes]`` (for :func:`hard_example`)."""
    counts = _class_counts(labels, num_classes)
    return (counts / max(counts.sum(), 1.0)).astype(np.float32)


# --- classification losses: fn(logits [B,K], labels [B]) -> [B] -------------------


def _log_prob_of_label(logits, labels) -> jax.Array:
    logp = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32), axis=-1)
    return jnp.take_along_axis(logp, labels[:, None].astype(jnp.int32), axis=-1)[:, 0]


def cross_entropy(logits, labels) -> jax.Array:
    """-log p_y."""
    return optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(logits, jnp.float32), labels)


def weighted_cross_entropy(logits, labels, class_weights) -> jax.Array:
    """-w_y log p_y: rare classes count more (class_weights ``[K]``, e.g. balanced)."""
    return jnp.asarray(class_weights, jnp.float32)[labels] * cross_entropy(logits, labels)


def focal(logits, labels, gamma: float = 2.0, alpha=None) -> jax.Array:
    """Focal loss (Lin et al. 2017): -alpha_y (1 - p_y)^gamma log p_y.

    Works in log space: 1 - p_y is ``-expm1(log p_y)``, accurate when p_y is near 1, and
    it is floored at the smallest normal float so d/dx x^gamma stays finite for
    gamma < 1 (including gamma = 0, which then equals cross-entropy exactly).
    ``alpha``: None, a scalar or per-class ``[K]`` weights.
    """
    logp_y = _log_prob_of_label(logits, labels)
    one_minus_p = jnp.maximum(-jnp.expm1(logp_y), jnp.finfo(jnp.float32).tiny)
    loss = -(one_minus_p**gamma) * logp_y
    if alpha is not None:
        alpha = jnp.asarray(alpha, jnp.float32)
        loss = loss * (alpha[labels] if alpha.ndim else alpha)
    return loss


def hard_example(logits, labels, hardness, class_share) -> jax.Array:
    """-h_i (1 - alpha_{y_i}) log p_{y_i} (Zhong et al. 2020).

    ``hardness`` ``[B]``: how hard each example is (e.g. annotator disagreement);
    ``class_share`` ``[K]``: n_k / n from :func:`share_class_weights`, so frequent
    classes are down-weighted.
    """
    share = jnp.asarray(class_share, jnp.float32)[labels]
    return -jnp.asarray(hardness, jnp.float32) * (1.0 - share) * _log_prob_of_label(logits, labels)


# --- centre loss (Wen et al. 2016) -----------------------------------------------


def center_loss(features, labels, centers) -> jax.Array:
    """0.5 ||f_i - c_{y_i}||^2 per example.

    Centres are not learnt by gradient (they move by :func:`update_centers`), so no
    gradient flows into them; the features get f_i - c_{y_i}.
    """
    c = jax.lax.stop_gradient(jnp.asarray(centers, jnp.float32))[labels]
    return 0.5 * jnp.sum(jnp.square(jnp.asarray(features, jnp.float32) - c), axis=-1)


def update_centers(centers, features, labels, mask, alpha: float, axis_name=None) -> jax.Array:
    """One step of the paper's rule c_j <- c_j - alpha sum_{i:y_i=j}(c_j - f_i) / (1 + n_j).

    Sums and counts n_j run over the real (``mask`` > 0) rows of the GLOBAL batch: with
    ``axis_name`` they are ``psum``-ed over that axis, so every device computes the
    same new centres under ``shard_map``/``pmap``. A class absent from the batch keeps
    its centre (n_j = 0, empty sum). Padding rows may carry any label.
    """
    centers = jnp.asarray(centers, jnp.float32)
    features = jax.lax.stop_gradient(jnp.asarray(features, jnp.float32))
    num_classes = centers.shape[0]
    real = jnp.asarray(mask) > 0
    segment = jnp.where(real, labels, num_classes)  # out of range: dropped by segment_sum
    counts = jax.ops.segment_sum(real.astype(jnp.float32), segment, num_segments=num_classes)
    sums = jax.ops.segment_sum(features * real[:, None], segment, num_segments=num_classes)
    if axis_name is not None:
        counts, sums = jax.lax.psum((counts, sums), axis_name)
    delta = counts[:, None] * centers - sums  # sum_{i:y_i=j} (c_j - f_i)
    return centers - alpha * delta / (1.0 + counts[:, None])


# --- regression losses (enhancement targets) -------------------------------------


def _per_example_mean(values, mask):
    """Mean over all non-batch axes; with a frame mask ``[B,T]``, over valid frames only."""
    values = jnp.asarray(values, jnp.float32)
    if mask is None:
        return jnp.mean(values.reshape(values.shape[0], -1), axis=-1)
    mask = jnp.asarray(mask, jnp.float32)
    values = values.reshape(*mask.shape, -1)  # [B, T, rest]
    total = jnp.sum(values * mask[..., None], axis=(1, 2))
    count = jnp.sum(mask, axis=1) * values.shape[-1]
    return total / jnp.maximum(count, 1.0)  # an example with no valid frame scores 0


def mse(pred, target, mask=None) -> jax.Array:
    """Per-example mean squared error; ``mask`` ``[B,T]`` excludes padded frames."""
    return _per_example_mean(jnp.square(jnp.asarray(pred, jnp.float32) - target), mask)


def mae(pred, target, mask=None) -> jax.Array:
    """Per-example mean absolute error; ``mask`` ``[B,T]`` excludes padded frames."""
    return _per_example_mean(jnp.abs(jnp.asarray(pred, jnp.float32) - target), mask)


# --- names ------------------------------------------------------------------------

CLASSIFICATION = {
    "cross_entropy": cross_entropy,
    "weighted_cross_entropy": weighted_cross_entropy,
    "focal": focal,
    "hard_example": hard_example,
}
REGRESSION = {"mse": mse, "mae": mae}
LOSS_NAMES = (*CLASSIFICATION, *REGRESSION)

# Where each optional input comes from, quoted in the dispatcher's errors.
CONFIG_FIELDS = {
    "class_weights": "loss.class_weights='balanced' (losses.balanced_class_weights of the fold's training labels)",
    "hardness": "a batch field 'hardness' (the hard-example index of each training example, from a hard-example stage)",
    "class_share": "the class shares of the fold's training labels (losses.share_class_weights; the trainer passes them)",
}


def _require(name: str, **inputs):
    for arg, value in inputs.items():
        if value is None:
            raise ValueError(f"loss {name!r} needs {arg}, which was not given; set {CONFIG_FIELDS[arg]}")


def per_example_loss(
    name: str,
    logits,
    labels,
    *,
    class_weights=None,
    focal_gamma: float = 2.0,
    focal_alpha=None,
    hardness=None,
    class_share=None,
) -> jax.Array:
    """The classification loss ``name`` per example ``[B]``; inputs it needs must be given."""
    if name == "cross_entropy":
        return cross_entropy(logits, labels)
    if name == "weighted_cross_entropy":
        _require(name, class_weights=class_weights)
        return weighted_cross_entropy(logits, labels, class_weights)
    if name == "focal":
        return focal(logits, labels, gamma=focal_gamma, alpha=focal_alpha)
    if name == "hard_example":
        _require(name, hardness=hardness, class_share=class_share)
        return hard_example(logits, labels, hardness, class_share)
    if name in REGRESSION:
        raise ValueError(f"loss {name!r} is a regression loss: call losses.REGRESSION[{name!r}](pred, target, mask)")
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(CLASSIFICATION)}")
