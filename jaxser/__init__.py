"""jaxser: speech emotion recognition on JAX/Flax."""

__version__ = "0.1.0"
