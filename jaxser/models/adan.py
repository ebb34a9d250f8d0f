"""The networks of Yi & Mak (2020), IEEE TNNLS 33(1) ("Improving Speech Emotion
Recognition With Adversarial Data Augmentation Network"), and of its GAN baselines.

Every network is a fully connected :class:`MLP` (Sec. IV-D): two hidden layers with
ReLU, Xavier (Glorot uniform) initialisation, a linear last layer:

* encoder **E**: features (IS11, 4,368 less the constant ones) -> 800 -> 800 -> latent h (100);
* decoder **R**: h -> 800 -> 800 -> features (the z-scored features, so linear);
* classifier **C**: h -> 100 -> 100 -> class logits (its softmax is in the loss);
* generator **G**: [z (100), one-hot y] -> 100 -> 100 -> h (100);
* discriminator **D**: h -> 100 -> 100 -> 1: a logit (ADAN: the sigmoid is in the loss,
  eq. 10) or the critic's value (WADAN: linear, eq. 17).

The baselines reuse them with other inputs and outputs (:func:`networks`): a GAN's
G makes feature vectors from z alone and its D judges feature vectors; a cGAN's G and D
also take the one-hot label; an AAE has E, R and a D on the latent code, which is 2-D
there (a 2-D Gaussian mixture as the prior, one component per class, as the paper).

The classifier trained on real plus generated data is :class:`MLP` too (the paper's
"DNN": 2 x 100 for EmoDB, 4 x 512 for IEMOCAP).

What the paper leaves open, as fields (and what the authors' code does instead: we
implement the paper and note the code): hidden sizes (the code's C has 400 units),
activations (the code: leaky ReLU 0.2 and tanh outputs, with the features scaled by
their maximum), batch norm (the code's E and R hold batch-norm layers that stay in
inference mode, i.e. a fixed affine map: we have none).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

ACTIVATIONS = {"relu": nn.relu, "leaky_relu": lambda x: nn.leaky_relu(x, 0.2), "tanh": jnp.tanh, "linear": lambda x: x}


class MLP(nn.Module):
    """Dense layers ``hidden`` with ``activation``, then Dense(``out``) with
    ``out_activation``; Xavier-uniform kernels, zero biases."""

    hidden: Sequence[int]
    out: int
    activation: str = "relu"
    out_activation: str = "linear"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        init = nn.initializers.xavier_uniform()
        act = ACTIVATIONS[self.activation]
        for i, width in enumerate(self.hidden):
            x = act(nn.Dense(width, kernel_init=init, name=f"dense{i}")(x))
        return ACTIVATIONS[self.out_activation](nn.Dense(self.out, kernel_init=init, name="out")(x))


# What each augmenter trains, and the positional inputs of each network ("x" features,
# "h" a latent vector, "z" noise, "y" one-hot labels; a tuple is concatenated).
VARIANTS = {
    "adan": {"E": "x", "R": "h", "C": "h", "G": ("z", "y"), "D": "h"},
    "wadan": {"E": "x", "R": "h", "C": "h", "G": ("z", "y"), "D": "h"},
    "gan": {"G": "z", "D": "x"},  # one per class (the kind trains each on one class's vectors)
    "cgan": {"G": ("z", "y"), "D": ("x", "y")},
    "aae": {"E": "x", "R": "h", "D": ("h", "y")},  # D judges (code, label): one prior component per class
}


def networks(
    variant: str,
    *,
    feature_dim: int,
    num_classes: int,
    latent_dim: int = 100,
    noise_dim: int = 100,
    autoencoder_hidden: Sequence[int] = (800, 800),
    hidden: Sequence[int] = (100, 100),
    activation: str = "relu",
    latent_activation: str = "linear",
) -> tuple[dict[str, MLP], dict[str, int]]:
    """``({name: MLP}, {input name: width})`` of an augmenter ``variant`` (:data:`VARIANTS`).

    The widths say how to build each network's example input: ``x`` is
    ``feature_dim``, ``h`` ``latent_dim``, ``z`` ``noise_dim``, ``y`` ``num_classes``.
    ``latent_activation`` is the output activation of the networks that make latent
    codes (E, and G where it makes codes): "linear" as the paper, or "tanh" as the
    authors' code, which bounds the codes to [-1, 1].
    """
    if variant not in VARIANTS:
        raise ValueError(f"augmenter {variant!r} is not one of {', '.join(VARIANTS)}")
    widths = {"x": feature_dim, "h": latent_dim, "z": noise_dim, "y": num_classes}
    gen_out = feature_dim if variant in ("gan", "cgan") else latent_dim
    wide, narrow = tuple(autoencoder_hidden), tuple(hidden)
    table = {
        "E": MLP(wide, latent_dim, activation, latent_activation),
        "R": MLP(wide, feature_dim, activation),
        "C": MLP(narrow, num_classes, activation),
        "G": MLP(narrow, gen_out, activation, "linear" if variant in ("gan", "cgan") else latent_activation),
        "D": MLP(narrow, 1, activation),
    }
    return {name: table[name] for name in VARIANTS[variant]}, widths


def example_input(spec, widths: dict[str, int]) -> jax.Array:
    """A one-row zero input for a network whose inputs are ``spec`` (:data:`VARIANTS`)."""
    parts = (spec,) if isinstance(spec, str) else tuple(spec)
    return jnp.zeros((1, sum(widths[p] for p in parts)), jnp.float32)
