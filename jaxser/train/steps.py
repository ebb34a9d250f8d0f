"""Per-device train and evaluation steps of the supervised classifier trainer.

Pure module-level functions of (state, batch[, ...]); collectives over
:data:`jaxser.train.parallel.AXIS` make them data-parallel when run by
:class:`~jaxser.train.parallel.DataParallel`, under ``shard_map`` or ``pmap`` alike.
Metrics leave a step as sums and counts (``psum`` over devices), so they add up over
batches on the device and are fetched only when logged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxser.train.parallel import AXIS
from jaxser.train.state import TrainState


def step_key(state: TrainState) -> jax.Array:
    """This step's key on this device: different per step and per device (dropout)."""
    return jax.random.fold_in(jax.random.fold_in(state.rng, state.step), lax.axis_index(AXIS))


def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    """One optimiser step on the global batch; returns the new state and summed metrics.

    The loss is the mean cross-entropy over the real (``mask``) rows of the global
    batch: each device differentiates its rows' sum divided by the global count and
    the gradients are summed over devices.
    """
    mask = batch["mask"]
    global_count = lax.psum(jnp.sum(mask), AXIS)

    def loss_fn(params):
        logits, updates = state.model.apply(
            {"params": params, "batch_stats": state.batch_stats},
            batch["audio"],
            batch["length"],
            train=True,
            mutable=["batch_stats"],
            rngs={"dropout": step_key(state)},
        )
        per_example = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
        return jnp.sum(per_example * mask) / jnp.maximum(global_count, 1.0), (logits, updates)

    (loss, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    grads = lax.psum(grads, AXIS)
    total_loss = lax.psum(loss, AXIS)
    new_batch_stats = updates.get("batch_stats", state.batch_stats)
    # A non-finite loss, gradient or statistic never reaches the state: the update is
    # dropped (the step counter still advances with the data) and counted; the host
    # stops or carries on as the config says. Every device sees the same psummed values.
    finite = jnp.isfinite(total_loss) & _all_finite(grads) & _all_finite(new_batch_stats)
    updated = state.apply_gradients(grads, new_batch_stats)
    new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), updated, state.replace(step=updated.step))
    correct = jnp.sum((jnp.argmax(logits, -1) == batch["label"]) * mask)
    metrics = {
        "loss_sum": jnp.where(finite, total_loss * global_count, 0.0),
        "correct": jnp.where(finite, lax.psum(correct, AXIS), 0),
        "count": jnp.where(finite, global_count, 0.0),
        "nonfinite": 1 - finite.astype(jnp.int32),
    }
    return new_state, metrics


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def eval_step(state: TrainState, batch: dict, num_utterances: int) -> dict:
    """Per-utterance sums of class probabilities, log-likelihood and label one-hots.

    Rows are whole utterances (``pad``) or chunks of them (``chunks``); both carry the
    row's ``utterance`` index (-1 for padding). The sums add up over batches; the
    utterance's prediction is the argmax of its averaged probabilities.
    """
    logits = state.model.apply(state.variables(), batch["audio"], batch["length"], train=False)
    num_classes = logits.shape[-1]
    weight = batch["mask"]
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1) * weight[:, None]
    labels = jax.nn.one_hot(batch["label"], num_classes) * weight[:, None]
    utterance = jnp.where(weight > 0, batch["utterance"], num_utterances)  # padding -> dropped segment
    sums = {
        "probs": jax.ops.segment_sum(probs, utterance, num_segments=num_utterances),
        "labels": jax.ops.segment_sum(labels, utterance, num_segments=num_utterances),
        "rows": jax.ops.segment_sum(weight, utterance, num_segments=num_utterances),
    }
    return lax.psum(sums, AXIS)


def predict_step(variables: dict, model, audio: jax.Array, lengths: jax.Array) -> jax.Array:
    """Class probabilities of each row (no collectives: per device, any sharding)."""
    return jax.nn.softmax(model.apply(variables, audio, lengths, train=False).astype(jnp.float32), axis=-1)
