"""Per-device train and evaluation steps of the supervised classifier trainer.

Pure module-level functions of (state, batch[, ...]); collectives over
:data:`jaxser.train.parallel.AXIS` make them data-parallel when run by
:class:`~jaxser.train.parallel.DataParallel`, under ``shard_map`` or ``pmap`` alike.
Gradients and metrics are per-device sums added over devices with ``lax.psum``: the
train step's gradient, loss, correct-prediction and row counts, the eval step's
per-utterance probability and label sums. They add up over batches on the device and are fetched
only when logged or when an evaluation ends; the host turns the eval sums into
predictions and a confusion matrix (:mod:`jaxser.metrics`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax import lax

from jaxser import augment as augment_lib
from jaxser import losses
from jaxser.train.parallel import AXIS
from jaxser.train.state import TrainState


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """The config's loss, static in the step (class tables are the fold's, from the host)."""

    name: str = "cross_entropy"
    focal_gamma: float = 2.0
    class_weights: tuple[float, ...] | None = None  # weighted_cross_entropy
    class_share: tuple[float, ...] | None = None  # hard_example

    def per_example(self, logits: jax.Array, batch: dict) -> jax.Array:
        """The loss of each row; rows with a ``weight`` field are scaled by it."""
        table = lambda values: None if values is None else jnp.asarray(values, jnp.float32)  # noqa: E731
        per_example = losses.per_example_loss(
            self.name,
            logits,
            batch["label"],
            class_weights=table(self.class_weights),
            focal_gamma=self.focal_gamma,
            hardness=batch.get("hardness"),
            class_share=table(self.class_share),
        )
        return per_example * batch["weight"] if "weight" in batch else per_example


def step_key(state: TrainState) -> jax.Array:
    """This step's key on this device: different per step and per device (dropout)."""
    return jax.random.fold_in(jax.random.fold_in(state.rng, state.step), lax.axis_index(AXIS))


def train_step(
    state: TrainState, batch: dict, noise_bank=None, *, loss: LossSpec = LossSpec(), augment=None
) -> tuple[TrainState, dict]:
    """One optimiser step on the global batch; returns the new state and summed metrics.

    The loss (``loss``: cross-entropy by default, or another of :mod:`jaxser.losses`,
    optionally scaled by a per-row ``weight``) is the mean over the real (``mask``) rows
    of the global batch: each device differentiates its rows' sum divided by the global
    count and the gradients are summed over devices. ``augment`` (an
    :class:`~jaxser.augment.AugmentConfig`) shifts and adds noise (from ``noise_bank``,
    replicated) to the training rows first, with a key of this step and device.
    """
    if augment is not None and augment.enabled:
        batch = augment_lib.augment_batch(jax.random.fold_in(step_key(state), 1), batch, augment, noise_bank)
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
        per_example = loss.per_example(logits, batch)
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


def eval_step(state: TrainState, batch: dict, noise_bank=None, *, num_utterances: int, eval_snr_db=()) -> dict:
    """Per-utterance sums of class probabilities, log-likelihood and label one-hots.

    Rows are whole utterances (``pad``) or chunks of them (``chunks``); both carry the
    row's ``utterance`` index (-1 for padding). The sums add up over batches; the
    utterance's prediction is the argmax of its averaged probabilities. With
    ``eval_snr_db``, noise from ``noise_bank`` is added first, drawn from each row's
    ``seed`` (its utterance id's hash): the same noisy audio in any batch or run.
    """
    audio = batch["audio"]
    if eval_snr_db:
        keys = augment_lib.eval_noise_key(batch["seed"])
        audio = augment_lib.add_noise_deterministic(keys, audio, batch["length"], noise_bank, eval_snr_db)
    logits = state.model.apply(state.variables(), audio, batch["length"], train=False)
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
