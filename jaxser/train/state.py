"""The training state pytree and the optimiser built from a config.

:class:`TrainState` holds everything a run needs to continue exactly: parameters,
BatchNorm statistics, optimiser state, step and the base RNG key. The model and the
optimiser's update function ride along as static (non-pytree) fields, so a state
passes through ``jit``/``shard_map`` and orbax as plain arrays.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array  # raw uint32[2] key: step keys are fold_in(rng, step)
    model: nn.Module = flax.struct.field(pytree_node=False)
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    def variables(self) -> dict:
        return {"params": self.params, "batch_stats": self.batch_stats}

    def apply_gradients(self, grads, batch_stats) -> TrainState:
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        return self.replace(
            step=self.step + 1,
            params=optax.apply_updates(self.params, updates),
            batch_stats=batch_stats,
            opt_state=opt_state,
        )


def _kernel_mask(params):
    """L2/decay on weight matrices and kernels only, not on biases or BatchNorm scales."""
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: getattr(path[-1], "key", "") in ("kernel", "embedding") or leaf.ndim > 1, params
    )


def learning_rate_schedule(train: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
    lr = train.learning_rate
    if train.schedule == "constant":
        return optax.constant_schedule(lr)
    if train.schedule == "cosine":
        return optax.cosine_decay_schedule(lr, max(total_steps, 1))
    return optax.warmup_cosine_decay_schedule(0.0, lr, max(train.warmup_steps, 1), max(total_steps, 2))


def optimizer(train: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
    """The config's optimiser; ``l2`` adds ``l2 * w`` to kernel gradients (Keras' L2 penalty)."""
    schedule = learning_rate_schedule(train, total_steps)
    parts = []
    if train.grad_clip_norm:
        parts.append(optax.clip_by_global_norm(train.grad_clip_norm))
    if train.l2:
        parts.append(optax.add_decayed_weights(train.l2, mask=_kernel_mask))
    if train.optimizer == "adam":
        parts.append(optax.adam(schedule))
    elif train.optimizer == "adamw":
        parts.append(optax.adamw(schedule, weight_decay=train.weight_decay, mask=_kernel_mask))
    elif train.optimizer == "sgd":
        parts.append(optax.sgd(schedule, momentum=train.momentum or None))
    elif train.optimizer == "rmsprop":
        parts.append(optax.rmsprop(schedule))
    else:
        parts.append(optax.adagrad(schedule))
    return optax.chain(*parts)


def create(
    model: nn.Module,
    tx: optax.GradientTransformation,
    seed: int,
    example_audio: jax.Array,
    example_lengths: jax.Array,
) -> TrainState:
    """Initialise parameters from ``seed`` on example inputs of the training shape."""
    init_key, dropout_key, run_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    variables = model.init({"params": init_key, "dropout": dropout_key}, example_audio, example_lengths, train=False)
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        rng=run_key,
        model=model,
        tx=tx,
    )
