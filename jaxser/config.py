"""Experiment configs: ml_collections ConfigDicts built on one base, loaded from files.

A config file (``configs/<paper>_<model>_<corpus>.py``) defines ``get_config(arg=None)``
returning :func:`base_config` with its changes; its docstring carries the command and
the expected result. :func:`load` reads such a file (``path.py`` or ``path.py:arg``),
applies ``--config.a.b=value`` overrides (parsed as the field's type) and validates.

Every hyperparameter lives here, none in ``jaxser/train``: sample rate, clip length,
batch size, optimiser, seeds, early stopping, the split and the model's fields.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import pathlib
from collections.abc import Sequence
from typing import Any

import ml_collections

from jaxser.data.schema import SAMPLE_RATE

SPLIT_KINDS = ("loso", "session", "speaker_kfold", "stratified_kfold", "fixed")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
SCHEDULES = ("constant", "cosine", "warmup_cosine")


class ConfigError(ValueError):
    """A config that cannot run; the message names the field and the fix."""


def base_config() -> ml_collections.ConfigDict:
    """Every field with its default. Configs change what they need."""
    c = ml_collections.ConfigDict()
    c.name = "unnamed"

    c.data = ml_collections.ConfigDict()
    c.data.name = "synthetic"  # a corpus of jaxser.data.BUILDERS
    c.data.config = ""  # the builder config ("" = the builder's default), e.g. IEMOCAP "4class"
    c.data.manual_dir = ""  # folder with the corpus audio ("" = $JAXSER_DATA/<name> when set)
    c.data.data_dir = ""  # where built TFRecords live ("" = ~/.cache/jaxser/tensorflow_datasets)
    c.data.sample_rate = SAMPLE_RATE
    c.data.clip_seconds = 4.0  # training crop/pad length
    c.data.eval_mode = "chunks"  # "chunks": windows covering each utterance, averaged; "pad": whole clip
    c.data.eval_seconds = 0.0  # pad mode: padded length (0 = clip_seconds)
    c.data.chunk_seconds = 0.0  # chunks mode: window (0 = clip_seconds)
    c.data.hop_seconds = 0.0  # chunks mode: hop (0 = half the window)
    c.data.shuffle_buffer = 4096
    c.data.cache = True  # keep decoded examples in memory after the first epoch

    c.split = ml_collections.ConfigDict()
    c.split.kind = "loso"  # one of SPLIT_KINDS
    c.split.k = 5  # speaker_kfold / stratified_kfold
    c.split.fold = 0  # which fold `jaxser train` runs (index); `jaxser cv` runs all
    c.split.val_speakers = 1  # validation: whole training speakers held out (speaker-independent)
    c.split.val_fraction = 0.0  # or: a random share of training examples (speaker-dependent)
    c.split.train_speakers = ()  # kind "fixed"
    c.split.test_speakers = ()
    c.split.fixed_val_speakers = ()
    c.split.seed = 0

    c.model = ml_collections.ConfigDict()
    c.model.name = "zhao2019_cnn2d"  # a key of jaxser.models.MODELS
    c.model.kwargs = ml_collections.ConfigDict()  # the model's own fields

    c.train = ml_collections.ConfigDict()
    c.train.global_batch_size = 16  # over all devices and processes
    c.train.epochs = 50
    c.train.optimizer = "adam"
    c.train.learning_rate = 1e-3
    c.train.schedule = "constant"
    c.train.warmup_steps = 0
    c.train.l2 = 0.0  # L2 penalty on kernels, added to the gradient (Keras' kernel_regularizer)
    c.train.weight_decay = 0.0  # decoupled decay (adamw only)
    c.train.momentum = 0.9  # sgd
    c.train.grad_clip_norm = 0.0  # 0 = off
    c.train.on_nonfinite = "stop"  # NaN/Inf loss or gradients: "stop" with an error, or "skip" the update
    c.train.seed = 0
    c.train.eval_every_epochs = 1
    c.train.early_stopping_patience = 10  # evaluations without improvement; 0 = off
    c.train.early_stopping_metric = "ua"  # "ua", "wa" or "loss" on the validation split
    c.train.log_every_steps = 10
    c.train.checkpoint_every_steps = 200
    c.train.progress = True  # a progress bar on stderr

    c.parallel = ml_collections.ConfigDict()
    c.parallel.mode = "shard_map"  # or "pmap" (compatibility path, same step)
    return c


def load(path: str | pathlib.Path, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """``get_config(arg)`` of a config file (``file.py`` or ``file.py:arg``), overridden, validated.

    ``overrides`` are ``key=value`` strings with dotted keys relative to the config
    (``train.epochs=3``; a leading ``config.`` or ``--config.`` is accepted).
    """
    text = str(path)
    arg = None
    if ":" in pathlib.Path(text).name:
        text, arg = text.rsplit(":", 1)
    file = pathlib.Path(text)
    if not file.is_file():
        raise ConfigError(f"config file {file} not found; pass a path like configs/default.py")
    spec = importlib.util.spec_from_file_location(f"jaxser_config_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ConfigError(f"{file} defines no get_config(); a config file must")
    config = module.get_config(arg) if arg is not None else module.get_config()
    apply_overrides(config, overrides)
    validate(config)
    return config


def apply_overrides(config: ml_collections.ConfigDict, overrides: Sequence[str]) -> None:
    """Set ``a.b=value`` fields in place, each parsed as the type of the value it replaces."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} has no '='; write e.g. --config.train.epochs=3")
        key = key.lstrip("-")
        if key.startswith("config."):
            key = key[len("config.") :]
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            if part not in node:
                raise ConfigError(f"override {item!r}: no config section {part!r}")
            node = node[part]
        if leaf not in node:
            known = ", ".join(sorted(node.keys()))
            raise ConfigError(f"override {item!r}: no field {leaf!r} here; fields: {known}")
        node[leaf] = _parse(raw, node[leaf], key)


def _parse(raw: str, current: Any, key: str) -> Any:
    if isinstance(current, bool):
        if raw.lower() in ("true", "1", "yes"):
            return True
        if raw.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"{key}={raw!r}: expected true or false")
    if isinstance(current, str):
        return raw
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        raise ConfigError(f"{key}={raw!r}: not a Python literal of type {type(current).__name__}") from None
    if isinstance(current, float) and isinstance(value, int):
        value = float(value)
    if isinstance(current, tuple) and isinstance(value, list):
        value = tuple(value)
    if current is not None and not isinstance(value, type(current)):
        raise ConfigError(f"{key}={raw!r}: expected {type(current).__name__}, got {type(value).__name__}")
    return value


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise :class:`ConfigError` for a config that would fail (or mislead) later."""
    d, s, t = config.data, config.split, config.train
    _require(d.clip_seconds > 0, f"data.clip_seconds={d.clip_seconds} must be > 0")
    _require(d.eval_mode in ("pad", "chunks"), f"data.eval_mode={d.eval_mode!r} must be 'pad' or 'chunks'")
    _require(s.kind in SPLIT_KINDS, f"split.kind={s.kind!r} must be one of {', '.join(SPLIT_KINDS)}")
    _require(
        not (s.val_speakers and s.val_fraction),
        "set only one of split.val_speakers (speaker-independent) and split.val_fraction (random)",
    )
    if s.kind == "fixed":
        _require(bool(s.test_speakers), "split.kind='fixed' needs split.test_speakers")
    _require(t.global_batch_size > 0, f"train.global_batch_size={t.global_batch_size} must be > 0")
    _require(t.epochs > 0, f"train.epochs={t.epochs} must be > 0")
    _require(t.optimizer in OPTIMIZERS, f"train.optimizer={t.optimizer!r} must be one of {', '.join(OPTIMIZERS)}")
    _require(t.schedule in SCHEDULES, f"train.schedule={t.schedule!r} must be one of {', '.join(SCHEDULES)}")
    _require(t.learning_rate > 0, f"train.learning_rate={t.learning_rate} must be > 0")
    _require(
        t.early_stopping_metric in ("ua", "wa", "loss"),
        f"train.early_stopping_metric={t.early_stopping_metric!r} must be 'ua', 'wa' or 'loss'",
    )
    _require(t.eval_every_epochs >= 1, "train.eval_every_epochs must be >= 1")
    _require(t.on_nonfinite in ("stop", "skip"), f"train.on_nonfinite={t.on_nonfinite!r} must be 'stop' or 'skip'")
    _require(t.log_every_steps >= 1, "train.log_every_steps must be >= 1")
    _require(config.parallel.mode in ("shard_map", "pmap"), "parallel.mode must be 'shard_map' or 'pmap'")
    from jaxser import models  # late: models import flax

    _require(
        config.model.name in models.MODELS,
        f"model.name={config.model.name!r} is not a jaxser model; known: {', '.join(sorted(models.MODELS))}",
    )


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=1, sort_keys=True, default=list)


def from_json(text: str) -> ml_collections.ConfigDict:
    """The inverse of :func:`to_json` on top of the base (new fields keep their defaults)."""
    config = base_config()
    _merge(config, json.loads(text))
    return config


def _merge(node: ml_collections.ConfigDict, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and key in node and isinstance(node[key], ml_collections.ConfigDict):
            _merge(node[key], value)
        elif isinstance(value, dict):
            node[key] = ml_collections.ConfigDict(value)
        else:
            current = node.get(key) if key in node else None
            node[key] = tuple(value) if isinstance(current, tuple) and isinstance(value, list) else value
