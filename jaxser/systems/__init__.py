"""System kinds: how a config's system is trained, evaluated and used, chosen by ``config.kind``.

    from jaxser import systems
    kind = systems.get(config)              # KINDS[config.kind]
    kind.stages(config)                     # what `jaxser cv` runs in each fold, in order

A kind is one module exposing a :class:`Kind`: the same small interface for every
training style, so `jaxser train`, `evaluate`, `cv` and the results tables serve every
system without knowing which one runs:

* ``validate(config)``: the kind's own config checks (:class:`~jaxser.config.ConfigError`);
* ``load_data(config)``: the corpus it trains on (audio, or feature vectors with the
  same ids, speakers and labels), loaded once and shared by every fold;
* ``stages(config)``: the per-fold :class:`~jaxser.systems.stages.Stage` s (fit a
  normaliser, train, fit an SVM...), each resumable in its own folder;
* ``evaluate(workdir, ...)``: test (or validation) metrics of a finished fold, in the
  same ``eval.json`` format for every kind;
* ``predictor(workdir, which)``: the object behind ``jaxser predict``;
* device kinds also name their per-device functions (``build_state``, ``train_step``,
  ``eval_step``, ``predict_step``) with explicit collectives over the ``data`` axis,
  run by :class:`~jaxser.train.parallel.DataParallel` under ``shard_map`` or ``pmap``.

The table is one explicit dict: a new system style is a new module and one line here.
Kind modules import their heavy dependencies (TensorFlow, openSMILE, the trainer)
inside their functions, so reading this table costs nothing.
"""

from __future__ import annotations

from jaxser.systems.kind import Kind
from jaxser.systems import adan, classic, supervised, zhong  # light: heavy imports happen inside

# The one table of system kinds: config.kind -> its module's Kind.
KINDS: dict[str, Kind] = {
    "supervised": supervised.KIND,  # a classifier network on audio, cross-entropy-style losses (Zhao 2019)
    "sklearn": classic.KIND,  # a scikit-learn estimator on feature vectors (openSMILE + SVM baselines)
    "zhong": zhong.KIND,  # two networks on MFCC + functionals, hard examples, SVM fusion (Zhong 2020)
    "adan": adan.KIND,  # classifiers of openSMILE vectors on real + augmented data: ADAN/WADAN (Yi & Mak 2020)
}


def get(config) -> Kind:
    if config.kind not in KINDS:
        raise KeyError(f"kind={config.kind!r} is not a jaxser system kind; known: {', '.join(sorted(KINDS))}")
    return KINDS[config.kind]


__all__ = ["KINDS", "Kind", "get"]
