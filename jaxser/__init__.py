"""jaxser: speech emotion recognition on JAX/Flax."""

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy: `import jaxser` stays light; `from jaxser import Predictor` loads the model stack.
    if name == "Predictor":
        from jaxser.predict import Predictor

        return Predictor
    raise AttributeError(f"module 'jaxser' has no attribute {name!r}")
