"""The supervised kind: a classifier network on waveforms (features computed on device).

One stage per fold, ``train``: :class:`jaxser.train.supervised.Trainer` in the fold's own
folder (checkpoints, logs, early stopping on the validation speakers), then evaluation of
the best checkpoint on the test speakers. The per-device functions are those of
:mod:`jaxser.train.steps`: explicit collectives over the ``data`` axis, run under
``jax.shard_map`` or ``jax.pmap`` by :class:`~jaxser.train.parallel.DataParallel`.
"""

from __future__ import annotations

import pathlib

from jaxser import config as config_lib
from jaxser.systems.kind import Kind
from jaxser.systems.stages import Stage, StageContext
from jaxser.train import state as state_lib, steps


def validate(config) -> None:
    config_lib.check_flax_model(config)
    if config.features.source != "waveform":
        raise config_lib.ConfigError(
            f"kind='supervised' trains networks on waveforms (features.source='waveform'), not "
            f"features.source={config.features.source!r}; use kind='sklearn' for feature vectors"
        )


def build_state(config, num_classes: int, total_steps: int, corpus=None):
    """The config's network and optimiser, initialised on one training-shaped clip (and
    with weight averages when ``train.ema_decay`` is set)."""
    import jax.numpy as jnp

    from jaxser.train import data, ema, network
    from jaxser.train.parallel import AXIS

    model = network.build_model(config, num_classes, bn_axis_name=AXIS)
    tx = state_lib.optimizer(config.train, total_steps)
    samples = data.pipeline_config(config).clip_samples
    state = state_lib.create(model, tx, config.train.seed, jnp.zeros((1, samples), jnp.float32), jnp.full((1,), samples))
    return ema.maybe_attach(state, config)


def load_data(config):
    from jaxser.train import data  # late: TensorFlow

    return data.load_corpus(config)


def _train(ctx: StageContext) -> dict:
    from jaxser.train import supervised

    _, summary = supervised.Trainer(ctx.config, ctx.directory, corpus=ctx.corpus, fold=ctx.fold).fit()
    return summary


def stages(config) -> tuple[Stage, ...]:
    return (Stage("train", _train, in_fold_dir=True),)


def evaluate(config, workdir: pathlib.Path, *, which: str, part: str, corpus=None):
    from jaxser import evaluate as evaluate_lib
    from jaxser.train import checkpoint, supervised

    trainer = supervised.Trainer(config, workdir, corpus=corpus)
    state, meta = checkpoint.restore(pathlib.Path(workdir) / "checkpoints" / which, trainer.initial_state)
    result = trainer.evaluate(state, trainer.fold.ids(part))
    return evaluate_lib.Evaluated(
        result=result,
        fold=trainer.fold,
        class_names=trainer.class_names,
        meta=trainer.corpus.meta,
        checkpoint=which,
        checkpoint_step=int(meta["step"]),
    )


def predictor(workdir, *, which: str = "best", batch_size: int = 16):
    from jaxser.predict import Predictor

    return Predictor.from_checkpoint(workdir, which=which, batch_size=batch_size)


KIND = Kind(
    name="supervised",
    description="a classifier network trained on waveforms with a cross-entropy-style loss",
    validate=validate,
    load_data=load_data,
    stages=stages,
    evaluate=evaluate,
    predictor=predictor,
    build_state=build_state,
    train_step=steps.train_step,
    eval_step=steps.eval_step,
    predict_step=steps.predict_step,
)
