"""The training state pytrees and the optimiser built from a config.

:class:`TrainState` holds everything a run of one network needs to continue exactly:
parameters, BatchNorm statistics, optimiser state, step and the base RNG key. The model
and the optimiser's update function ride along as static (non-pytree) fields, so a state
passes through ``jit``/``shard_map`` and orbax as plain arrays.

:class:`MultiState` holds several named networks (:class:`NetState`, each with its own
optimiser, or frozen) plus extra arrays such as class centres; :func:`create_multi`
builds one. Both states give the checkpoint their arrays through ``arrays()`` and take
them back through ``with_arrays()``.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax


class Checkpointable(Protocol):
    """What :mod:`jaxser.train.checkpoint` saves and restores: a state with a step
    counter whose arrays come out as one dict pytree and go back in the same shape."""

    step: jax.Array

    def arrays(self) -> dict[str, Any]: ...

    def with_arrays(self, arrays: Mapping[str, Any]) -> Checkpointable: ...


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

    def arrays(self) -> dict[str, Any]:
        """What a checkpoint holds (the on-disk layout and its SHA-256 depend on it)."""
        return {
            "step": self.step,
            "params": self.params,
            "batch_stats": self.batch_stats,
            "opt_state": self.opt_state,
            "rng": self.rng,
        }

    def with_arrays(self, arrays: Mapping[str, Any]) -> TrainState:
        return self.replace(**arrays)

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


def init_variables(model: nn.Module, keys, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict:
    """``model.init(keys, *args, **kwargs)`` under ``jit``: one compilation, where an eager
    init compiles every operation of the example forward pass on its own (the default
    config's CNN-LSTM: 3.4 s against 33.5 s on a fresh process). Same values, bit for bit
    (tests/train/test_state_init.py). ``kwargs`` are static (``train=False``)."""
    return jax.jit(functools.partial(model.init, **kwargs))(keys, *args)


def create(
    model: nn.Module,
    tx: optax.GradientTransformation,
    seed: int,
    example_audio: jax.Array,
    example_lengths: jax.Array,
) -> TrainState:
    """Initialise parameters from ``seed`` on example inputs of the training shape."""
    init_key, dropout_key, run_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    variables = init_variables(model, {"params": init_key, "dropout": dropout_key}, (example_audio, example_lengths),
                               {"train": False})
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


# -- several named networks -----------------------------------------------------------------
#
# An adversarial system (encoder, decoder, classifier, generator, discriminator), a
# classifier with class centres, a classifier behind a front end trained elsewhere:
# several networks, each with its own optimiser, updated inside one jitted step. Each is
# a NetState; a MultiState holds them by name with one step counter, one base RNG key and
# the extra arrays the losses keep (class centres). Like TrainState, a MultiState is a
# pytree of arrays with the models and optimisers as static fields, and it is checkpointed
# whole by :mod:`jaxser.train.checkpoint` (``arrays()`` / ``with_arrays()``).

# One shared transformation for every frozen network, so two states frozen separately
# have equal tree structures (a GradientTransformation compares by its functions).
FROZEN_TX = optax.set_to_zero()
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@flax.struct.dataclass
class NetState:
    """One network: parameters, BatchNorm statistics, optimiser state.

    A frozen network (``frozen=True``: a front end loaded from another run) holds no
    optimiser state (``FROZEN_TX``'s empty state) and never changes:
    :meth:`apply_gradients` returns it as it is, BatchNorm statistics included, and
    :meth:`variables` puts its arrays behind ``lax.stop_gradient``. Run a frozen network
    with ``train=False`` (running BatchNorm averages, no dropout).
    """

    params: Any
    batch_stats: Any
    opt_state: Any
    model: nn.Module = flax.struct.field(pytree_node=False)
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    frozen: bool = flax.struct.field(pytree_node=False, default=False)

    def variables(self, params: Any = None) -> dict:
        """``{"params", "batch_stats"}`` for ``model.apply``; ``params`` replaces the
        state's own (the argument a loss is differentiated in)."""
        variables = {"params": self.params if params is None else params, "batch_stats": self.batch_stats}
        return jax.lax.stop_gradient(variables) if self.frozen else variables

    def apply_gradients(self, grads: Any, batch_stats: Any = None) -> NetState:
        """One optimiser step; ``batch_stats`` (None: unchanged) are the statistics the
        forward pass returned. A frozen network returns itself unchanged."""
        if self.frozen:
            return self
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        return self.replace(
            params=optax.apply_updates(self.params, updates),
            batch_stats=self.batch_stats if batch_stats is None else batch_stats,
            opt_state=opt_state,
        )

    def freeze(self) -> NetState:
        """This network frozen: same parameters and statistics, no optimiser state."""
        return self.replace(frozen=True, tx=FROZEN_TX, opt_state=FROZEN_TX.init(self.params))

    def unfreeze(self, tx: optax.GradientTransformation) -> NetState:
        """This network trainable again with ``tx`` (a fresh optimiser state): fine-tuning."""
        return self.replace(frozen=False, tx=tx, opt_state=tx.init(self.params))

    def arrays(self) -> dict[str, Any]:
        return {"params": self.params, "batch_stats": self.batch_stats, "opt_state": self.opt_state}


@flax.struct.dataclass
class MultiState:
    """Several named networks with one step counter and base RNG key.

    ``extras`` holds arrays that are neither parameters nor optimiser state but must be
    checkpointed with them (the class centres of a center loss, ``[K, D]``); a step
    updates them with :meth:`replace_extras`. ``rng`` is a raw ``uint32[2]`` key like
    TrainState's, so ``steps.step_key`` works for both. The step counter is the step
    function's to advance: :meth:`apply_gradients` updates the networks named in its
    ``grads`` and adds one; an iteration with several updates of one network (a
    discriminator trained d times) uses :meth:`update_net` and advances once.
    """

    step: jax.Array
    rng: jax.Array
    nets: dict[str, NetState]
    extras: dict[str, Any]

    def net(self, name: str) -> NetState:
        try:
            return self.nets[name]
        except KeyError:
            raise KeyError(f"no network {name!r} in this state; it has {sorted(self.nets)}") from None

    def replace_net(self, name: str, net: NetState) -> MultiState:
        self.net(name)  # only an existing network: adding one is a new state (create_multi)
        return self.replace(nets={**self.nets, name: net})

    def variables(self, name: str, params: Any = None) -> dict:
        return self.net(name).variables(params)

    def params(self) -> dict[str, Any]:
        """``{name: params}`` of every network."""
        return {name: net.params for name, net in self.nets.items()}

    def trainable_params(self) -> dict[str, Any]:
        """``{name: params}`` of the networks that are not frozen: what a loss is
        differentiated in (a frozen network's parameters are then constants of the loss,
        and JAX computes no gradient for them at all)."""
        return {name: net.params for name, net in self.nets.items() if not net.frozen}

    def update_net(self, name: str, grads: Any, batch_stats: Any = None) -> MultiState:
        """One optimiser step of network ``name`` (nothing for a frozen one); step unchanged."""
        return self.replace_net(name, self.net(name).apply_gradients(grads, batch_stats))

    def apply_gradients(self, grads: Mapping[str, Any], batch_stats: Mapping[str, Any] | None = None) -> MultiState:
        """An optimiser step of each network named in ``grads`` (``{name: grads}``), with
        its new statistics from ``batch_stats`` (``{name: stats}``, missing: unchanged);
        frozen ones are left as they are. Then the step counter advances by one."""
        state = self
        for name, net_grads in grads.items():
            state = state.update_net(name, net_grads, (batch_stats or {}).get(name))
        return state.replace(step=state.step + 1)

    def replace_extras(self, **values: Any) -> MultiState:
        return self.replace(extras={**self.extras, **values})

    def arrays(self) -> dict[str, Any]:
        """What a checkpoint holds: ``{"step", "rng", "nets": {name: {params,
        batch_stats, opt_state}}, "extras"}``."""
        return {
            "step": self.step,
            "rng": self.rng,
            "nets": {name: net.arrays() for name, net in self.nets.items()},
            "extras": dict(self.extras),
        }

    def with_arrays(self, arrays: Mapping[str, Any]) -> MultiState:
        """This state with the arrays of :meth:`arrays` (a restored checkpoint) put back."""
        return self.replace(
            step=arrays["step"],
            rng=arrays["rng"],
            nets={name: net.replace(**arrays["nets"][name]) for name, net in self.nets.items()},
            extras=dict(arrays["extras"]),
        )


def frozen_grads_zero(state: MultiState, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` (``{name: params}``, the argument of a loss that is differentiated)
    with the frozen networks' entries behind ``lax.stop_gradient``.

    Their gradients are then exactly zero and are never computed: JAX's autodiff treats
    a stopped value as a constant and differentiates nothing through its parameters
    (for a front end fed by the data, nothing of it at all). Use it when a loss takes
    every network's parameters, ``jax.grad(loss)(frozen_grads_zero(state, state.params()))``;
    differentiating only ``state.trainable_params()`` (the frozen networks read from
    ``state.variables(name)``) does the same. Either way ``apply_gradients`` leaves a
    frozen network unchanged, so its parameters stay bit-identical.
    """
    return {
        name: jax.lax.stop_gradient(value) if state.net(name).frozen else value for name, value in params.items()
    }


class NetSpec(NamedTuple):
    """How to initialise one network of :func:`create_multi`: ``model.init`` is called on
    ``args`` (example inputs of the training shape) and ``kwargs`` (e.g. ``{"train":
    False}``). ``tx`` is the network's own optimiser; a ``frozen`` network needs none
    (``tx`` is ignored: see :meth:`NetState.unfreeze`)."""

    name: str
    model: nn.Module
    tx: optax.GradientTransformation | None
    args: tuple
    frozen: bool = False
    kwargs: Mapping[str, Any] | None = None


def net_keys(seed: int, name: str, streams: Sequence[str] = ("params", "dropout")) -> dict[str, jax.Array]:
    """The init keys of network ``name``: a function of ``seed`` and ``name`` alone, so
    adding, removing or reordering other networks never changes this one's init."""
    tag = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little") & 0x7FFFFFFF
    _, nets_root = jax.random.split(jax.random.PRNGKey(seed))
    keys = jax.random.split(jax.random.fold_in(nets_root, tag), len(streams))
    return dict(zip(streams, keys))


def create_multi(
    specs: Sequence[NetSpec],
    seed: int,
    *,
    extras: Mapping[str, Any] | None = None,
    rng_streams: Sequence[str] = ("params", "dropout"),
) -> MultiState:
    """A MultiState of the networks in ``specs``, initialised from ``seed``.

    Each network's init keys come from :func:`net_keys` (seed and name); the run key
    (``rng``, for step keys) is the seed's first split. ``extras`` are the initial extra
    arrays (class centres); ``rng_streams`` the RNG streams ``model.init`` is given.
    Names are identifiers (they become folder and key names in checkpoints).
    """
    nets = {}
    for spec in specs:
        spec = NetSpec(*spec)
        if not _NAME.fullmatch(spec.name):
            raise ValueError(f"network name {spec.name!r}: use letters, digits and '_' (not starting with a digit)")
        if spec.name in nets:
            raise ValueError(f"two networks named {spec.name!r}")
        if spec.tx is None and not spec.frozen:
            raise ValueError(f"network {spec.name!r} is trainable but has no optimiser (tx)")
        variables = init_variables(spec.model, net_keys(seed, spec.name, rng_streams), spec.args, spec.kwargs or {})
        params = variables["params"]
        tx = FROZEN_TX if spec.frozen else spec.tx
        nets[spec.name] = NetState(
            params=params,
            batch_stats=variables.get("batch_stats", {}),
            opt_state=tx.init(params),
            model=spec.model,
            tx=tx,
            frozen=spec.frozen,
        )
    run_key, _ = jax.random.split(jax.random.PRNGKey(seed))
    return MultiState(
        step=jnp.zeros((), jnp.int32),
        rng=run_key,
        nets=nets,
        extras=jax.tree.map(jnp.asarray, dict(extras or {})),  # arrays, or dicts of them
    )
