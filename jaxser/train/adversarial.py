"""The one adversarial training loop: every network of an iteration updated in one jitted,
data-parallel step, a whole chunk of epochs per call (Yi & Mak 2020's ADAN and WADAN,
and the cGAN and AAE baselines, as recipes of the same loop).

    recipe = adversarial.Recipe("wadan", num_classes=7, class_weights=(...))
    state = adversarial.initial_state(recipe, config, feature_dim=4368)
    state, summary = adversarial.Trainer(recipe, state, X, y, workdir, epochs=1500).fit()
    X_new = adversarial.generate(recipe, state, labels, seed=1)

**One iteration** (:func:`iteration`, per device, explicit collectives over
:data:`~jaxser.train.parallel.AXIS`) updates the networks in the order of the paper's
Algorithm 1, each on its own loss with its own optax optimiser, each loss evaluated with
the networks as the previous updates left them:

* ADAN / WADAN: C (eq. 11), D ``d_steps`` times (eq. 10; WADAN eq. 17), then with D
  frozen R (eq. 12), E (eq. 13) and G (eq. 14; WADAN eq. 18);
* GAN: D (eq. 2) ``d_steps`` times, then G (eq. 3, the non-saturating form); no labels,
  so the adan kind trains one per class;
* cGAN: D (eq. 5) ``d_steps`` times, then G (eq. 6, the non-saturating form);
* AAE: D (eq. 7) ``d_steps`` times, then R (eq. 9), E (eqs. 8 + 9).

Each device differentiates its rows' loss sum divided by the global batch size; the
gradients of each network are ``psum``-ed before its update. Noise z, WADAN's
interpolation weights and the AAE's prior draws are drawn for the whole global batch
from the iteration's key and each device takes its rows, so any number of devices
computes what one device does (up to float summation order).

**Data on the device.** The training set (feature vectors, labels) is small (EmoDB's
486 x 4,368 floats are 8 MB; IEMOCAP's 10,000 rows 175 MB) and is placed on every device
once. An epoch is a ``lax.scan`` over its iterations: the shuffle is a permutation drawn
on the device from the epoch's key, each iteration gathers its rows; several epochs run
in one call (another scan), so the host dispatches once per ``epochs_per_call`` epochs
and fetches the per-epoch losses then. As the authors' code, an epoch has
``N // batch_size`` iterations (the remainder of the shuffled rows is left out).

**Exact resume.** The state (:class:`~jaxser.train.state.MultiState`) holds every
network's parameters and optimiser state, the iteration counter and the base key; the
keys of an iteration and of an epoch's shuffle are functions of those, and checkpoints
are written at epoch boundaries, so a killed run resumes to the parameters an unbroken
run reaches.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxser.models import adan as adan_models
from jaxser.train.parallel import AXIS, REPLICATED

log = logging.getLogger(__name__)

# The update order of each recipe (Algorithm 1 for ADAN and WADAN); "D" is repeated d_steps times.
ORDER = {
    "adan": ("C", "D", "R", "E", "G"),
    "wadan": ("C", "D", "R", "E", "G"),
    "gan": ("D", "G"),
    "cgan": ("D", "G"),
    "aae": ("D", "R", "E"),
}
VARIANTS = tuple(ORDER)
RECONSTRUCTIONS = ("mean", "sum")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What one iteration computes (static in the compiled step).

    ``alpha``: the weight of G's classification term (eq. 14/18; 1 for EmoDB, 0.1 for
    the whole IEMOCAP). ``penalty_weight``/``penalty_power``: WADAN's lambda and p
    (eq. 17: lambda ||grad D(x~)||^p; 10 and 5 in the paper; the authors' code
    computes (||grad||^2)^5, i.e. p = 10). ``reconstruction``: ``"mean"`` squared
    error over the features (the authors' code) or ``"sum"`` (the paper's ||x - x^||^2,
    which weighs reconstruction 4,368 times the classification term in E's loss).
    ``class_weights``: n_max / n_k per class (Sec. IV-D), empty for none.
    ``prior_radius``/``prior_std``: the AAE's 2-D mixture prior, component k centred at
    angle 2 pi k / K on a circle.
    """

    variant: str
    num_classes: int
    alpha: float = 1.0
    d_steps: int = 1
    penalty_weight: float = 10.0
    penalty_power: float = 5.0
    reconstruction: str = "mean"
    class_weights: tuple[float, ...] = ()
    noise_dim: int = 100
    latent_dim: int = 100
    prior_radius: float = 4.0
    prior_std: float = 0.5

    def __post_init__(self):
        if self.variant not in ORDER:
            raise ValueError(f"adversarial variant {self.variant!r} is not one of {', '.join(ORDER)}")
        if self.reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction {self.reconstruction!r} is not one of {', '.join(RECONSTRUCTIONS)}")
        if self.d_steps < 1:
            raise ValueError(f"d_steps={self.d_steps} must be >= 1")
        if self.class_weights and len(self.class_weights) != self.num_classes:
            raise ValueError(f"{len(self.class_weights)} class weights for {self.num_classes} classes")


# -- state --------------------------------------------------------------------------


def optimizers(learning_rates: dict[str, float], *, b1: float = 0.5, eps: float = 1e-5) -> dict:
    """One Adam per network."""
    return {name: optax.adam(lr, b1=b1, eps=eps) for name, lr in learning_rates.items()}


def initial_state(
    recipe: Recipe,
    *,
    feature_dim: int,
    seed: int,
    learning_rates: dict[str, float],
    adam_b1: float = 0.5,
    adam_eps: float = 1e-5,
    autoencoder_hidden=(800, 800),
    hidden=(100, 100),
    activation: str = "relu",
    latent_activation: str = "linear",
):
    """A MultiState of the recipe's networks (:func:`jaxser.models.adan.networks`), each
    with its own Adam (``learning_rates`` by network name)."""
    from jaxser.train import state as state_lib

    latent = 2 if recipe.variant == "aae" else recipe.latent_dim
    nets, widths = adan_models.networks(
        recipe.variant, feature_dim=feature_dim, num_classes=recipe.num_classes, latent_dim=latent,
        noise_dim=recipe.noise_dim, autoencoder_hidden=autoencoder_hidden, hidden=hidden, activation=activation,
        latent_activation=latent_activation,
    )
    missing = sorted(set(nets) - set(learning_rates))
    if missing:
        raise ValueError(f"no learning rate for network(s) {', '.join(missing)} of {recipe.variant}")
    txs = optimizers({n: learning_rates[n] for n in nets}, b1=adam_b1, eps=adam_eps)
    spec = adan_models.VARIANTS[recipe.variant]
    specs = [
        state_lib.NetSpec(name, model, txs[name], (adan_models.example_input(spec[name], widths),))
        for name, model in nets.items()
    ]
    return state_lib.create_multi(specs, seed)


# -- one iteration ------------------------------------------------------------------


def _apply(state, name, params=None):
    net = state.net(name)
    return lambda *inputs: net.model.apply(net.variables(params), jnp.concatenate(inputs, axis=-1))


def _xent(logits, onehot):
    return -jnp.sum(onehot * jax.nn.log_softmax(logits.astype(jnp.float32)), axis=-1)


def _prior(noise, y, recipe: Recipe):
    """The AAE's 2-D Gaussian mixture: standard normal ``noise`` ``[n, 2]`` moved to
    component ``y`` of each row."""
    angle = 2.0 * jnp.pi * y.astype(jnp.float32) / recipe.num_classes
    centre = recipe.prior_radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)
    return centre + recipe.prior_std * noise


def iteration(state, x, y, key, recipe: Recipe):
    """One iteration on this device's rows ``x`` ``[b, F]``, labels ``y`` ``[b]``.

    ``key`` is the iteration's key, the same on every device. Returns the new state
    (step + 1) and the losses, each the global batch mean (as the network was updated
    on it; D's is its last update's).
    """
    b = x.shape[0]
    devices = lax.axis_size(AXIS)
    total = b * devices
    mine = lambda a: lax.dynamic_slice_in_dim(a, lax.axis_index(AXIS) * b, b)  # noqa: E731 (this device's rows)
    k_z, k_mu, k_prior = jax.random.split(key, 3)
    noise_width = 2 if recipe.variant == "aae" else recipe.noise_dim
    z = mine(jax.random.normal(k_z, (total, noise_width)))
    mu = mine(jax.random.uniform(k_mu, (total, 1)))
    prior_noise = mine(jax.random.normal(k_prior, (total, 2)))
    onehot = jax.nn.one_hot(y, recipe.num_classes)
    weight = jnp.asarray(recipe.class_weights, jnp.float32)[y] if recipe.class_weights else jnp.ones((b,), jnp.float32)

    def mean(values):  # this device's share of the global batch mean
        return jnp.sum(values) / total

    # E(x) and G(z, y) with a network's weights as they are: computed once and reused until
    # that network's own update (C, D and R all read the E of the iteration's start).
    # Filled here, outside the losses' traces (a value made inside one grad trace cannot be
    # reused in another); a network dropped from it after its update is recomputed.
    inputs = {"E": (x,), "G": (z,) if recipe.variant == "gan" else (z, onehot)}
    cache = {name: _apply(state, name)(*inputs[name]) for name in ("E", "G") if name in state.nets}

    def out(state, name, *args):
        return cache[name] if name in cache else _apply(state, name)(*args)

    def recon(x_hat):
        err = jnp.square(x - x_hat)
        return jnp.mean(err, -1) if recipe.reconstruction == "mean" else jnp.sum(err, -1)

    def d_loss(params, state):
        D = _apply(state, "D", params)
        if recipe.variant in ("adan", "wadan"):
            real, fake = out(state, "E", x), out(state, "G", z, onehot)
            r, f = D(real)[:, 0], D(fake)[:, 0]
            if recipe.variant == "adan":  # eq. 10: -log D(E(x)) - log(1 - D(G(z, y)))
                return mean(jax.nn.softplus(-r) + jax.nn.softplus(f))
            # eq. 17: D(E(x)) - D(G(z, y)) + lambda ||grad D(x~)||^p, x~ between the two
            between = (1.0 - mu) * real + mu * fake
            grads = jax.grad(lambda t: jnp.sum(D(t)))(between)
            norm = jnp.sqrt(jnp.sum(jnp.square(grads), -1) + 1e-12)
            return mean(r - f + recipe.penalty_weight * norm**recipe.penalty_power)
        if recipe.variant == "gan":  # eq. 2
            r, f = D(x)[:, 0], D(out(state, "G", z))[:, 0]
        elif recipe.variant == "cgan":  # eq. 5
            r, f = D(x, onehot)[:, 0], D(out(state, "G", z, onehot), onehot)[:, 0]
        else:  # aae, eq. 7: the prior's draws are "real", the encoder's codes "fake"
            r, f = D(_prior(prior_noise, y, recipe), onehot)[:, 0], D(out(state, "E", x), onehot)[:, 0]
        return mean(jax.nn.softplus(-r) + jax.nn.softplus(f))

    def loss(name, params, state):
        if name == "D":
            return d_loss(params, state)
        if name == "C":  # eq. 11, class-weighted
            return mean(weight * _xent(_apply(state, "C", params)(out(state, "E", x)), onehot))
        if name == "R":  # eq. 12 / 9
            return mean(recon(_apply(state, "R", params)(out(state, "E", x))))
        if name == "E":
            h = _apply(state, "E", params)(x)
            value = recon(_apply(state, "R")(h))
            if recipe.variant == "aae":  # eq. 8 (non-saturating) + eq. 9
                return mean(value + jax.nn.softplus(-_apply(state, "D")(h, onehot)[:, 0]))
            return mean(value + weight * _xent(_apply(state, "C")(h), onehot))  # eq. 13
        # G
        if recipe.variant == "gan":  # eq. 3
            return mean(jax.nn.softplus(-_apply(state, "D")(_apply(state, "G", params)(z))[:, 0]))
        fake = _apply(state, "G", params)(z, onehot) if recipe.variant != "cgan" else None
        if recipe.variant == "cgan":  # eq. 6
            return mean(jax.nn.softplus(-_apply(state, "D")(_apply(state, "G", params)(z, onehot), onehot)[:, 0]))
        f = _apply(state, "D")(fake)[:, 0]
        adversarial = -jax.nn.softplus(f) if recipe.variant == "adan" else f  # eq. 14: log(1 - D); eq. 18: D
        return mean(adversarial + recipe.alpha * weight * _xent(_apply(state, "C")(fake), onehot))

    losses, finite = {}, []
    start = state
    for name in ORDER[recipe.variant]:
        for _ in range(recipe.d_steps if name == "D" else 1):
            value, grads = jax.value_and_grad(functools.partial(loss, name), argnums=0)(state.net(name).params, state)
            grads = lax.psum(grads, AXIS)
            losses[name] = lax.psum(value, AXIS)
            finite.append(jnp.isfinite(losses[name]))
            state = state.update_net(name, grads)
            cache.pop(name, None)
    ok = jnp.all(jnp.stack(finite))
    # A non-finite loss drops the whole iteration (the counter still advances) and is counted.
    state = jax.tree.map(lambda new, old: jnp.where(ok, new, old), state, start)
    state = state.replace(step=start.step + 1)
    losses["nonfinite"] = 1.0 - ok.astype(jnp.float32)
    return state, losses


# -- epochs on the device ------------------------------------------------------------


def _keys(state):
    iteration_root, shuffle_root = jax.random.split(state.rng)
    return iteration_root, shuffle_root


def run_epochs(state, data: dict, *, recipe: Recipe, batch_size: int, num_epochs: int):
    """``num_epochs`` epochs (per device; ``data`` {"x", "y"} replicated). Returns the
    state and each epoch's mean losses, ``[num_epochs]`` per name."""
    X, Y = data["x"], data["y"]
    iters = X.shape[0] // batch_size
    per_device = batch_size // lax.axis_size(AXIS)
    offset = lax.axis_index(AXIS) * per_device

    def one_epoch(state, _):
        iteration_root, shuffle_root = _keys(state)
        order = jax.random.permutation(jax.random.fold_in(shuffle_root, state.step // iters), X.shape[0])

        def one_iteration(state, i):
            rows = lax.dynamic_slice_in_dim(order, i * batch_size + offset, per_device)
            return iteration(state, X[rows], Y[rows], jax.random.fold_in(iteration_root, state.step), recipe)

        state, losses = lax.scan(one_iteration, state, jnp.arange(iters))
        means = {k: (jnp.sum(v) if k == "nonfinite" else jnp.mean(v)) for k, v in losses.items()}
        return state, means

    return lax.scan(one_epoch, state, None, length=num_epochs)


def generate(recipe: Recipe, state, labels: np.ndarray, *, seed: int) -> np.ndarray:
    """Feature vectors of the classes ``labels`` (one per entry), float32 ``[n, F]``:
    R(G(z, y)) for ADAN/WADAN (the dotted path of the paper's Fig. 1), G(z, y) for the
    cGAN, R of a prior draw of component y for the AAE, G(z) for a (one-class) GAN. ``seed`` picks the draws."""
    labels = np.asarray(labels, np.int32)
    return np.asarray(_generate(recipe, state, jnp.asarray(labels), jax.random.PRNGKey(seed)))


@functools.partial(jax.jit, static_argnums=0)
def _generate(recipe, state, labels, key):
    onehot = jax.nn.one_hot(labels, recipe.num_classes)
    if recipe.variant == "aae":
        return _apply(state, "R")(_prior(jax.random.normal(key, (labels.shape[0], 2)), labels, recipe))
    z = jax.random.normal(key, (labels.shape[0], recipe.noise_dim))
    if recipe.variant == "gan":  # a GAN of one class: the labels only count the rows
        return _apply(state, "G")(z)
    made = _apply(state, "G")(z, onehot)
    return made if recipe.variant == "cgan" else _apply(state, "R")(made)


def encode(state, x: np.ndarray) -> np.ndarray:
    """E's latent codes of feature vectors ``x`` (for the t-SNE of the latent space)."""
    return np.asarray(_encode(state, jnp.asarray(x, jnp.float32)))


@jax.jit
def _encode(state, x):
    return _apply(state, "E")(x)


# -- the host loop -------------------------------------------------------------------


class Trainer:
    """Trains (or resumes) a recipe's state on ``X``/``y`` for ``epochs`` epochs in
    ``workdir`` (checkpoints every ``checkpoint_every_epochs``, ``metrics.jsonl`` with
    every epoch's losses, ``losses.png`` at the end). ``mode``: ``shard_map`` or ``pmap``."""

    def __init__(
        self,
        recipe: Recipe,
        state,
        X: np.ndarray,
        y: np.ndarray,
        workdir,
        *,
        epochs: int,
        batch_size: int = 128,
        epochs_per_call: int = 10,
        checkpoint_every_epochs: int = 100,
        mode: str = "shard_map",
        progress: bool = False,
    ):
        from jaxser.train.parallel import DataParallel

        self.recipe, self.initial_state = recipe, state
        self.X, self.y = np.asarray(X, np.float32), np.asarray(y, np.int32)
        self.workdir = pathlib.Path(workdir)
        self.epochs, self.epochs_per_call = int(epochs), max(1, int(epochs_per_call))
        self.checkpoint_every = max(1, int(checkpoint_every_epochs))
        self.progress = progress
        self.dp = DataParallel(mode=mode)
        self.batch_size = batch_size_for(batch_size, len(self.X), self.dp.num_devices)
        self.iterations_per_epoch = len(self.X) // self.batch_size
        self._compiled: dict[int, object] = {}
        self.compilations = 0

    def step_fn(self, num_epochs: int):
        """The compiled call running ``num_epochs`` epochs (compiled once per count)."""
        if num_epochs not in self._compiled:
            fn = functools.partial(run_epochs, recipe=self.recipe, batch_size=self.batch_size, num_epochs=num_epochs)
            self._compiled[num_epochs] = self.dp.compile(fn, (REPLICATED, REPLICATED), (REPLICATED, REPLICATED),
                                                         donate_argnums=(0,))
            self.compilations += 1
        return self._compiled[num_epochs]

    def _meta(self, epoch: int) -> dict:
        return {
            "step": epoch * self.iterations_per_epoch,
            "epoch": epoch,
            "iterations_per_epoch": self.iterations_per_epoch,
            "batch_size": self.batch_size,
            "variant": self.recipe.variant,
        }

    def fit(self):
        from jaxser.train import workdir as workdir_lib

        with workdir_lib.reporting_write_errors(self.workdir):
            self.workdir.mkdir(parents=True, exist_ok=True)
            with workdir_lib.locked(self.workdir):
                return self._fit()

    def _fit(self):
        from tqdm.auto import tqdm

        from jaxser import machine
        from jaxser.train import checkpoint, metric_log, replicas

        found = checkpoint.resume(self.workdir, self.initial_state)
        state, epoch = self.initial_state, 0
        if found is not None:
            state, meta = found
            if meta.get("iterations_per_epoch") != self.iterations_per_epoch or meta.get("variant") != self.recipe.variant:
                raise checkpoint.CheckpointError(
                    f"{self.workdir}: its checkpoint was written by another augmenter or batch size "
                    f"({meta.get('variant')}, {meta.get('iterations_per_epoch')} iterations an epoch; now "
                    f"{self.recipe.variant}, {self.iterations_per_epoch}); use a new workdir"
                )
            epoch = int(meta["epoch"])
        ckpts = checkpoint.Checkpoints(self.workdir)
        writer = metric_log.MetricWriter(self.workdir, tensorboard=False)
        data = self.dp.replicate({"x": self.X, "y": self.y})
        state = self.dp.replicate(state)
        bar = tqdm(total=self.epochs, initial=epoch, unit="epoch", disable=not self.progress, leave=False)
        started, start_epoch, nonfinite = time.perf_counter(), epoch, 0
        try:
            while epoch < self.epochs:
                n = min(self.epochs_per_call, self.epochs - epoch, self.checkpoint_every - epoch % self.checkpoint_every)
                state, losses = self.step_fn(n)(state, data)
                losses = jax.device_get(losses)
                for i in range(n):
                    values = {k: float(v[i]) for k, v in losses.items()}
                    nonfinite += int(values.pop("nonfinite"))
                    writer.write((epoch + i + 1) * self.iterations_per_epoch, "train", values, epoch=epoch + i + 1)
                epoch += n
                bar.update(n)
                if epoch % self.checkpoint_every == 0 or epoch == self.epochs:
                    ckpts.save_latest(state, self._meta(epoch))
            if ckpts.latest.latest_step() is None:
                ckpts.save_latest(state, self._meta(epoch))
        finally:
            bar.close()
            writer.close()
            ckpts.finish()
        summary = {
            "variant": self.recipe.variant,
            "epochs": epoch,
            "iterations": epoch * self.iterations_per_epoch,
            "batch_size": self.batch_size,
            "train_examples": len(self.X),
            "epochs_this_run": epoch - start_epoch,
            "train_seconds_this_run": time.perf_counter() - started,
            "nonfinite_iterations_skipped_this_run": nonfinite,
            "devices": self.dp.num_devices,
            "state_digest": replicas.check_identical(state),
            "machine": machine.describe(),
        }
        (self.workdir / "train_summary.json").write_text(json.dumps(summary, indent=1))
        return jax.device_get(state), summary


def batch_size_for(requested: int, rows: int, devices: int) -> int:
    """The global batch: ``requested``, or the rows there are when fewer (a multiple of
    the device count either way)."""
    size = (min(int(requested), rows) // devices) * devices
    if size == 0:
        raise ValueError(f"{rows} training rows cannot make a batch over {devices} devices")
    return size
