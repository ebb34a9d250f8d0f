"""Reference Zhao et al. (2019) 1D/2D CNN-LSTM in tf.keras, for benchmarks only.

Not part of the jaxser package. Same layer sizes as ``jaxser.models.CNNLSTM1D/2D``
(4 LFLBs: conv 3 / 3x3 SAME + BatchNorm(momentum 0.99, eps 1e-3) + ELU + max-pool,
filters 64, 64, 128, 128; LSTM 256; Dense K) with Keras' floor pooling and the LSTM
read at its last step (jaxser's ``mask_padding=False``). The 2D network takes a
precomputed log-mel ``[B, frames, mels, 1]``: compute it once on the host, outside the
timed step (see ``tools/bench_cnn_lstm.py``).

    .venv/bin/python tools/reference_cnn_lstm_keras.py --model 2d --steps 3
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def import_keras():
    """(tf, keras) or SystemExit with an install hint; TensorFlow never claims a GPU."""
    try:
        import tensorflow as tf
    except ImportError as e:  # pragma: no cover - environment dependent
        raise SystemExit(f"TensorFlow is required for the Keras reference ({e}); pip install tensorflow-cpu") from e
    tf.config.set_visible_devices([], "GPU")
    import keras

    return tf, keras


FILTERS = (64, 64, 128, 128)
POOLS = {"1d": (4, 4, 4, 4), "2d": (2, 4, 4, 4)}


def build_model(kind: str, num_classes: int, input_shape: tuple[int, ...]):
    """Keras functional model; ``input_shape`` without the batch: (N, 1) or (T, F, 1)."""
    _, keras = import_keras()
    layers = keras.layers
    conv = layers.Conv1D if kind == "1d" else layers.Conv2D
    pool = layers.MaxPooling1D if kind == "1d" else layers.MaxPooling2D
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for f, p in zip(FILTERS, POOLS[kind]):
        x = conv(f, 3, padding="same")(x)
        x = layers.BatchNormalization(momentum=0.99, epsilon=1e-3)(x)
        x = layers.ELU()(x)
        x = pool(p)(x)
    if kind == "2d":  # [B, T', F', C] -> [B, T', F' * C]: the LSTM runs over time
        x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]))(x)
    x = layers.LSTM(256)(x)
    outputs = layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs)


def make_train_step(kind: str, num_classes: int, input_shape: tuple[int, ...], lr: float = 1e-3):
    """``step(x, y) -> loss`` (one Adam step with ``train_on_batch``) and the model."""
    _, keras = import_keras()
    model = build_model(kind, num_classes, input_shape)
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    def step(x, y):
        return float(model.train_on_batch(x, y))

    return step, model


def main(argv=None) -> int:
    import numpy as np

    import reference_cli

    _, keras = import_keras()
    rng = np.random.default_rng(0)
    return reference_cli.run(
        __doc__.splitlines()[0], make_train_step,
        lambda batch, shape: (rng.standard_normal((batch, *shape)).astype(np.float32),
                              rng.integers(0, reference_cli.NUM_CLASSES, batch)),
        lambda model: f"keras {keras.__version__} (backend {keras.backend.backend()}), params {model.count_params()}",
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
