"""An exponential moving average of the weights (``train.ema_decay``), kept in the state.

    state = ema.attach(trainer_state, decay)      # an EmaTrainState: a TrainState plus `ema`
    eval_state = ema.for_eval(state)              # a plain TrainState holding the EMA weights

:class:`EmaTrainState` is a :class:`~jaxser.train.state.TrainState` with one more pytree
field, ``ema = {"params", "batch_stats"}``, and the decay as a static field. Its
``apply_gradients`` (called inside the jitted train step, on the device) updates the
average after every optimiser step::

    ema = d * ema + (1 - d) * new        # new: the step's parameters and BatchNorm statistics

so the step's non-finite guard (``jnp.where(finite, new, old)`` over the whole state)
drops the average's update with the step's. The average starts at the initial weights.
Its ``arrays()`` add ``"ema"`` to the TrainState's, so checkpoints hold it and a resumed
run continues it exactly. With ``ema_decay = 0`` (the default) the trainer never builds
one: the state, its checkpoints and the run are the plain TrainState's, unchanged.

Evaluation (validation, the ``best`` checkpoint's test evaluation, prediction) uses the
EMA weights: :func:`for_eval` returns a plain TrainState whose ``params`` and
``batch_stats`` are the averages (and a plain TrainState as it is).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from jaxser.train.state import TrainState

EMA = "ema"  # the key of the average in the state's arrays() (and so in a checkpoint)


@flax.struct.dataclass
class EmaTrainState(TrainState):
    ema: Any = None  # {"params": ..., "batch_stats": ...}: the moving averages
    ema_decay: float = flax.struct.field(pytree_node=False, default=0.0)

    def arrays(self) -> dict[str, Any]:
        return {**TrainState.arrays(self), EMA: self.ema}

    def with_arrays(self, arrays: Mapping[str, Any]) -> EmaTrainState:
        rest = {key: value for key, value in arrays.items() if key != EMA}
        return TrainState.with_arrays(self, rest).replace(ema=arrays[EMA])

    def apply_gradients(self, grads, batch_stats) -> EmaTrainState:
        new = TrainState.apply_gradients(self, grads, batch_stats)
        return new.replace(ema=update(self.ema, _weights(new), self.ema_decay))


def _weights(state: TrainState) -> dict[str, Any]:
    return {"params": state.params, "batch_stats": state.batch_stats}


def update(ema: Any, new: Any, decay: float) -> Any:
    """``decay * ema + (1 - decay) * new``, leaf by leaf, in each leaf's dtype."""
    return jax.tree.map(lambda e, p: (decay * e + (1.0 - decay) * p).astype(e.dtype), ema, new)


def attach(state: TrainState, decay: float) -> EmaTrainState:
    """``state`` with a moving average of its weights starting at them (copies)."""
    if not isinstance(state, TrainState):
        raise TypeError(f"train.ema_decay needs a TrainState (one network), not a {type(state).__name__}")
    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema decay {decay} must be in (0, 1)")
    fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(TrainState)}
    ema = jax.tree.map(lambda x: jnp.array(x, copy=True), _weights(state))
    return EmaTrainState(**fields, ema=ema, ema_decay=float(decay))


def for_eval(state):
    """The state to evaluate: a plain TrainState with the EMA weights for an
    :class:`EmaTrainState`; any other state as it is."""
    if not isinstance(state, EmaTrainState):
        return state
    fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(TrainState)}
    return TrainState(**fields).replace(params=state.ema["params"], batch_stats=state.ema["batch_stats"])


def maybe_attach(state, config) -> Any:
    """``state`` with an average when the config's ``train.ema_decay`` is on, else unchanged."""
    decay = float(config.train.get("ema_decay", 0.0))
    return attach(state, decay) if decay else state
