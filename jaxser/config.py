"""Experiment configs: ml_collections ConfigDicts built on one base, loaded from files.

A config file (``configs/<paper>_<model>_<corpus>.py``) defines ``get_config(arg=None)``
returning :func:`base_config` with its changes; its docstring carries the command and
the expected result. :func:`load` reads such a file (``path.py``, or ``path.py:smoke``
for its smoke mode: a few steps that check it runs), applies ``--config.a.b=value``
overrides (parsed as the field's type) and validates. A file in a package folder (one
with ``__init__.py``, as ``configs/``) is loaded as a module of that package, so it
imports shared settings with ``from . import zhao2019_base`` from any working directory.

Every hyperparameter lives here, none in ``jaxser/train``: sample rate, clip length,
batch size, optimiser, seeds, early stopping, the split and the model's fields.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import hashlib
import importlib.util
import json
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

import ml_collections

from jaxser.data.schema import SAMPLE_RATE

SPLIT_KINDS = ("loso", "session", "speaker_kfold", "stratified_kfold", "repeated_holdout", "fixed")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
SCHEDULES = ("constant", "cosine", "warmup_cosine")
FEATURE_SOURCES = ("waveform", "opensmile")
OPENSMILE_SETS = ("IS09", "IS11")
NORMALIZATIONS = ("train", "per_speaker", "none")
SMOKE = "smoke"  # the one argument a config file takes: ``path.py:smoke``


class ConfigError(ValueError):
    """A config that cannot run; the message names the field and the fix."""


def base_config() -> ml_collections.ConfigDict:
    """Every field with its default. Configs change what they need."""
    c = ml_collections.ConfigDict()
    c.name = "unnamed"
    c.kind = "supervised"  # how the system trains: a key of jaxser.systems.KINDS

    c.features = ml_collections.ConfigDict()
    c.features.source = "waveform"  # "waveform" (features on device, in the model) or "opensmile" functionals
    c.features.opensmile_set = "IS09"  # "IS09" (384) or "IS11" (4,368), for source "opensmile"
    c.features.normalize = "train"  # z-score fitted on the fold's training part; "per_speaker" (uses every
    # speaker's own unlabelled statistics, the test speaker's too: not speaker-independent normalisation) or "none"
    c.features.drop_constant = True  # drop features constant over the training part
    c.features.cache_dir = ""  # "" = $JAXSER_FEATURE_CACHE or ~/.cache/jaxser/functionals

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
    c.split.k = 5  # speaker_kfold / stratified_kfold; repeated_holdout: the number of repetitions
    c.split.test_fraction = 0.2  # repeated_holdout: the share of examples each repetition tests on
    c.split.fold = 0  # which fold `jaxser train` runs (index); `jaxser cv` runs all
    c.split.val_speakers = 1  # validation: whole training speakers held out (speaker-independent)
    c.split.val_fraction = 0.0  # or: a random share of training examples (speaker-dependent)
    c.split.train_speakers = ()  # kind "fixed"
    c.split.test_speakers = ()
    c.split.fixed_val_speakers = ()
    c.split.seed = 0

    c.augment = ml_collections.ConfigDict()  # on device, training rows only (jaxser.augment)
    c.augment.noise_snr_db = ()  # SNRs (dB, on the active speech) to draw from; () = no training noise
    c.augment.noise_snr_uniform = False  # read noise_snr_db as a (low, high) range
    c.augment.noise_prob = 0.0  # chance that a training row gets noise
    c.augment.shift_seconds = 0.0  # largest random time shift of a training row; 0 = none
    c.augment.shift_mode = "roll"  # "roll" (circular within the clip) or "pad" (zeros)
    c.augment.noise_dir = ""  # the noise corpus ("" = $JAXSER_DATA/noise)
    c.augment.test_noise_types = ("running_tap", "white_noise")  # held out of training, used by evaluation
    c.augment.eval_snr_db = ()  # evaluate (validation and test) in noise: SNRs drawn per utterance, seeded
    # by its id, from the test noise types; () = clean evaluation

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "cross_entropy"  # a classification loss of jaxser.losses.CLASSIFICATION
    c.loss.class_weights = "none"  # "balanced": n / (K n_k) of the fold's training labels (weighted_cross_entropy)
    c.loss.focal_gamma = 2.0  # focal: (1 - p)^gamma

    c.hard_examples = ml_collections.ConfigDict()  # kind "zhong": hard-example mining and retraining
    c.hard_examples.retrain = False  # after the first stage, retrain each network on its hard examples
    c.hard_examples.retrain_from_epoch = 800  # with retrain: the first stage's epochs (then train.epochs is unused)
    c.hard_examples.retrain_epochs = 50  # the retraining stage's epochs (the paper's "stop epoch")
    c.hard_examples.beta = 0.1  # hard <=> h_i >= beta, beta in [0, 1) (the paper gives no value)
    c.hard_examples.loss = "hard_example"  # the retraining stage's loss

    c.fusion = ml_collections.ConfigDict()  # kind "zhong": a linear SVM on the networks' learned features
    c.fusion.C = 1.0  # LinearSVC's C
    c.fusion.max_iter = 10000

    c.augmenter = ml_collections.ConfigDict()  # kind "adan": what makes the augmented feature vectors
    c.augmenter.method = "wadan"  # adan, wadan, gan (one per class), cgan, aae (jaxser.train.adversarial); duplicate, noise, smote; none
    c.augmenter.sets = 10  # augmented sets, each the size and label distribution of the training part
    c.augmenter.epochs = 1500  # adversarial training epochs over the fold's training part
    c.augmenter.batch_size = 128
    c.augmenter.seed = 0
    c.augmenter.latent_dim = 100  # M = dim(h) = dim(z) (Sec. IV-D); the AAE's code is 2-D
    c.augmenter.noise_dim = 100
    c.augmenter.autoencoder_hidden = (800, 800)  # E and R
    c.augmenter.hidden = (100, 100)  # C, G and D
    c.augmenter.activation = "relu"  # hidden layers ("leaky_relu": 0.2, the authors' code)
    c.augmenter.latent_activation = "linear"  # E's and G's code outputs: "linear" (the paper) or "tanh" (authors' code)
    c.augmenter.alpha = 1.0  # G's classification term (eq. 14/18): 1 (EmoDB), 0.1 (whole IEMOCAP)
    c.augmenter.d_steps = 1  # discriminator updates per iteration
    c.augmenter.penalty_weight = 10.0  # WADAN lambda (eq. 17)
    c.augmenter.penalty_power = 5.0  # WADAN p (eq. 17)
    c.augmenter.reconstruction = "mean"  # "mean" squared error over features (authors' code) or "sum" (||.||^2)
    c.augmenter.class_weighted = True  # n_max / n_k in the classification losses (Sec. IV-D)
    # Adam per network; the paper gives none for the augmenter: the authors' run script's
    # (train_adan.py: 1e-4 for all; the class defaults differ: D 1e-5, R 1e-3).
    c.augmenter.lr_C = 1e-4
    c.augmenter.lr_D = 1e-4
    c.augmenter.lr_E = 1e-4
    c.augmenter.lr_G = 1e-4
    c.augmenter.lr_R = 1e-4
    c.augmenter.adam_b1 = 0.5
    c.augmenter.adam_eps = 1e-5
    c.augmenter.noise_std = 0.1  # method "noise": Gaussian noise in z-score units (the paper gives none)
    c.augmenter.smote_k = 5  # method "smote": neighbours
    c.augmenter.epochs_per_call = 10  # epochs per compiled call (the host fetches losses once per call)
    c.augmenter.checkpoint_every_epochs = 100

    c.classifier = ml_collections.ConfigDict()  # kind "adan": what classifies real + augmented vectors
    c.classifier.name = "dnn"  # the fold's result: "dnn" or "svm" (both are trained and reported)
    c.classifier.amount = -1  # augmented sets used: -1 = chosen on the validation speakers, or 0..augmenter.sets
    c.classifier.hidden = (100, 100)  # EmoDB 2 x 100; IEMOCAP 4 x 512
    c.classifier.epochs = 100
    c.classifier.batch_size = 128
    c.classifier.learning_rate = 1e-4
    c.classifier.l2 = 1e-4  # L2 on the kernels (the paper applies one, value not given)
    c.classifier.seeds = 1  # DNNs per amount, probabilities averaged
    c.classifier.class_weighted = False  # n_max / n_k weights (the paper's IEMOCAP runs)
    c.classifier.svm_C = 1e-3  # LinearSVC's C (the classic IS11 baseline's)
    c.classifier.svm_max_iter = 1000  # L-BFGS iterations of the linear SVM (jaxser.linear_svm)

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
    # Model selection for slow starters (defaults: off, runs as before):
    c.train.min_epochs = 0  # evaluations before this epoch update `best` but never count toward patience
    c.train.val_smoothing = 0.0  # a in [0, 1): select/stop on s_t = a s_(t-1) + (1 - a) m_t (0 = raw metric)
    c.train.ema_decay = 0.0  # d in [0, 1): evaluate/predict with an EMA of the weights, d ema + (1 - d) w (0 = off)
    c.train.log_every_steps = 10
    c.train.checkpoint_every_steps = 200
    c.train.progress = True  # a progress bar on stderr

    c.parallel = ml_collections.ConfigDict()
    c.parallel.mode = "shard_map"  # or "pmap" (compatibility path, same step)
    return c


def load(path: str | pathlib.Path, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """``get_config()`` of a config file (``file.py``; ``file.py:smoke`` calls
    ``get_config("smoke")``), overridden, validated.

    ``overrides`` are ``key=value`` strings with dotted keys relative to the config
    (``train.epochs=3``; a leading ``config.`` or ``--config.`` is accepted).
    """
    text = str(path)
    arg = None
    if ":" in pathlib.Path(text).name:
        text, arg = text.rsplit(":", 1)
        if arg != SMOKE:
            raise ConfigError(f"config argument {arg!r} is not known: the only one is {SMOKE!r} "
                              f"({text}:{SMOKE}, the smoke mode)")
    file = pathlib.Path(text)
    if not file.is_file():
        raise ConfigError(f"config file {file} not found; pass a path like configs/default.py")
    module = _exec_config_file(file)
    if not hasattr(module, "get_config"):
        raise ConfigError(f"{file} defines no get_config(); a config file must")
    try:
        config = module.get_config(arg) if arg is not None else module.get_config()
    except TypeError as err:
        if "Could not override field" not in str(err):
            raise
        # ml_collections refuses a value of another type than the field's default.
        raise ConfigError(f"{file}: get_config() sets a field to a value of the wrong type: {err}; "
                          "give it a value of the default's type") from None
    apply_overrides(config, overrides)
    validate(config)
    return config


def _exec_config_file(file: pathlib.Path):
    """A fresh module of ``file``; in a package folder, a module of that package."""
    name = f"jaxser_config_{file.stem}"
    if (file.parent / "__init__.py").is_file():
        name = f"{_config_package(file.parent.resolve())}.{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config_package(folder: pathlib.Path) -> str:
    """Registers ``folder`` as a package, named after its path: relative imports in its
    files then work without touching ``sys.path``, and two config folders never clash."""
    name = "jaxser_configs_" + hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        try:
            spec.loader.exec_module(package)
        except BaseException:
            del sys.modules[name]
            raise
    return name


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


# Sections whose keys are not fixed by base_config(): the model's own fields.
FREE_FORM = ("model.kwargs",)
# Model fields set by the trainer, not by a config.
SET_BY_TRAINER = ("num_classes", "bn_axis_name", "parent", "name")


def validate(config: ml_collections.ConfigDict, *, num_devices: int | None = None) -> None:
    """Raise :class:`ConfigError` for a config that would fail (or mislead) later.

    Pure checks, before any data is loaded or anything compiled: every key is one of
    :func:`base_config`'s (or a field of the model, under ``model.kwargs``) with a
    value of the default's type, and every value is possible. With ``num_devices``
    (the trainer passes the device count) also that the global batch splits over them.
    Each message names the key and the fix.
    """
    _check_keys_and_types(config, base_config(), "")
    d, s, t = config.data, config.split, config.train
    _require(d.clip_seconds > 0, f"data.clip_seconds={d.clip_seconds} must be > 0")
    _require(d.sample_rate > 0, f"data.sample_rate={d.sample_rate} must be > 0 (the corpora are stored at 16000)")
    for key in ("eval_seconds", "chunk_seconds", "hop_seconds"):
        _require(d[key] >= 0, f"data.{key}={d[key]} must be >= 0 (0 = its default)")
    window = d.chunk_seconds or d.clip_seconds
    hop = d.hop_seconds or window / 2
    _require(
        hop <= window,
        f"data.hop_seconds={d.hop_seconds} is longer than the evaluation window (data.chunk_seconds="
        f"{d.chunk_seconds or d.clip_seconds}): the windows would leave gaps; use a hop <= the window "
        "(0 = half the window)",
    )
    _require(d.shuffle_buffer >= 1, f"data.shuffle_buffer={d.shuffle_buffer} must be >= 1")
    _check_manual_dir(config)
    _require(d.eval_mode in ("pad", "chunks"), f"data.eval_mode={d.eval_mode!r} must be 'pad' or 'chunks'")
    _require(s.kind in SPLIT_KINDS, f"split.kind={s.kind!r} must be one of {', '.join(SPLIT_KINDS)}")
    _require(
        not (s.val_speakers and s.val_fraction),
        "set only one of split.val_speakers (speaker-independent) and split.val_fraction (random)",
    )
    if s.kind == "fixed":
        _require(bool(s.test_speakers), "split.kind='fixed' needs split.test_speakers")
    if s.kind in ("speaker_kfold", "stratified_kfold"):
        _require(s.k >= 2, f"split.k={s.k} must be >= 2 for split.kind={s.kind!r}")
    if s.kind == "repeated_holdout":
        _require(s.k >= 1, f"split.k={s.k} (the number of repetitions) must be >= 1 for split.kind='repeated_holdout'")
        _require(0 < s.test_fraction < 1, f"split.test_fraction={s.test_fraction} must lie in (0, 1)")
    _require(s.fold >= 0, f"split.fold={s.fold} must be >= 0 (a fold index)")
    _require(s.val_speakers >= 0, f"split.val_speakers={s.val_speakers} must be >= 0")
    _require(0 <= s.val_fraction < 1, f"split.val_fraction={s.val_fraction} must be in [0, 1)")
    _require(t.global_batch_size > 0, f"train.global_batch_size={t.global_batch_size} must be > 0")
    if num_devices is not None:
        from jaxser.train.parallel import BatchSizeError, check_batch_size  # late: imports jax

        try:
            check_batch_size(t.global_batch_size, num_devices)
        except BatchSizeError as err:
            raise ConfigError(f"train.global_batch_size={t.global_batch_size}: {err}") from None
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
    _require(t.checkpoint_every_steps >= 1, f"train.checkpoint_every_steps={t.checkpoint_every_steps} must be >= 1")
    for key in ("warmup_steps", "early_stopping_patience", "l2", "weight_decay", "grad_clip_norm"):
        _require(t[key] >= 0, f"train.{key}={t[key]} must be >= 0 (0 = off)")
    _require(0 <= t.momentum < 1, f"train.momentum={t.momentum} must be in [0, 1)")
    _require(t.min_epochs >= 0, f"train.min_epochs={t.min_epochs} must be >= 0 (0 = early stopping counts every evaluation)")
    _require(
        0 <= t.val_smoothing < 1,
        f"train.val_smoothing={t.val_smoothing} must be in [0, 1): 0 selects on the raw validation metric, "
        "0.5 averages over about the last 3 evaluations (1 would never move from the first one)",
    )
    _require(
        0 <= t.ema_decay < 1,
        f"train.ema_decay={t.ema_decay} must be in [0, 1): 0 = off, e.g. 0.99 averages the weights over about "
        "the last 100 steps (1 would never move from the initial weights)",
    )
    _require(config.parallel.mode in ("shard_map", "pmap"), "parallel.mode must be 'shard_map' or 'pmap'")
    f = config.features
    _require(f.source in FEATURE_SOURCES, f"features.source={f.source!r} must be one of {', '.join(FEATURE_SOURCES)}")
    _require(f.opensmile_set in OPENSMILE_SETS,
             f"features.opensmile_set={f.opensmile_set!r} must be one of {', '.join(OPENSMILE_SETS)}")
    _require(f.normalize in NORMALIZATIONS,
             f"features.normalize={f.normalize!r} must be one of {', '.join(NORMALIZATIONS)}")
    from jaxser import augment, losses, systems  # late: these import JAX

    try:
        augment.AugmentConfig.of_experiment(config)
    except ValueError as err:
        raise ConfigError(f"augment: {err} (the augment.* fields)") from None

    lc = config.loss
    _require(lc.name in losses.CLASSIFICATION,
             f"loss.name={lc.name!r} must be one of {', '.join(losses.CLASSIFICATION)}")
    _require(lc.class_weights in ("none", "balanced"), f"loss.class_weights={lc.class_weights!r} must be 'none' or 'balanced'")
    _require((lc.name == "weighted_cross_entropy") == (lc.class_weights == "balanced"),
             "loss.name='weighted_cross_entropy' goes with loss.class_weights='balanced' (and only it uses class weights)")
    _require(lc.name != "hard_example",
             "loss.name='hard_example' needs each training example's hard-example index, which only a hard-example "
             "stage provides (the Zhong 2020 system); use cross_entropy, weighted_cross_entropy or focal")
    _require(lc.focal_gamma >= 0, f"loss.focal_gamma={lc.focal_gamma} must be >= 0")

    _require(config.kind in systems.KINDS,
             f"kind={config.kind!r} is not a jaxser system kind; known: {', '.join(sorted(systems.KINDS))}")
    systems.KINDS[config.kind].validate(config)


def check_flax_model(config: ml_collections.ConfigDict) -> None:
    """model.name is a network of jaxser.models and model.kwargs are its fields."""
    from jaxser import models  # late: models import flax

    _require(
        config.model.name in models.MODELS,
        f"model.name={config.model.name!r} is not a jaxser model; known: {', '.join(sorted(models.MODELS))}",
    )
    _check_model_fields(config, models.MODELS[config.model.name])


def _check_keys_and_types(node: ml_collections.ConfigDict, base: ml_collections.ConfigDict, prefix: str) -> None:
    for key in node.keys():
        path = f"{prefix}{key}"
        if key not in base:
            close = difflib.get_close_matches(key, list(base.keys()), n=1)
            hint = f"did you mean {prefix}{close[0]}?" if close else f"the keys here are {', '.join(sorted(base.keys()))}"
            raise ConfigError(f"unknown config key {path}: remove it or fix its name ({hint})")
        value, default = node[key], base[key]
        if isinstance(default, ml_collections.ConfigDict):
            if not isinstance(value, ml_collections.ConfigDict):
                raise ConfigError(f"{path} must be a config section, not {type(value).__name__}; set its fields instead")
            if path not in FREE_FORM:
                _check_keys_and_types(value, default, path + ".")
            continue
        _check_type(path, value, default)


def _check_type(path: str, value: Any, default: Any) -> None:
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, want = isinstance(value, str), "a string"
    elif isinstance(default, (tuple, list)):
        ok, want = isinstance(value, (tuple, list)), "a list"
    else:
        return
    _require(ok, f"{path}={value!r} is a {type(value).__name__}; it must be {want} (like its default {default!r})")


def _check_model_fields(config: ml_collections.ConfigDict, model_class) -> None:
    """model.kwargs: fields the model has, and feature settings that can work."""
    name, kwargs = config.model.name, config.model.kwargs
    fields = {f.name: f for f in dataclasses.fields(model_class)} if dataclasses.is_dataclass(model_class) else None
    if fields is None:
        return
    for key in kwargs.keys():
        _require(key not in SET_BY_TRAINER, f"model.kwargs.{key} is set by the trainer; remove it from the config")
        if key not in fields:
            known = [f for f in fields if f not in SET_BY_TRAINER]
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean model.kwargs.{close[0]}?" if close else f"its fields are {', '.join(known)}"
            raise ConfigError(f"model.kwargs.{key} is not a field of model {name!r}: remove it or fix its name ({hint})")
    values = {k: f.default for k, f in fields.items() if f.default is not dataclasses.MISSING}
    values.update(kwargs.to_dict())
    for key in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels"):
        value = values.get(key)
        if value is None:
            continue
        _require(
            isinstance(value, int) and not isinstance(value, bool) and value > 0,
            f"model.kwargs.{key}={value!r} must be a positive integer" + (" (a hop of 0 never advances)" if key == "hop_length" else ""),
        )
    d = config.data
    if values.get("sample_rate") is not None:
        _require(
            values["sample_rate"] == d.sample_rate,
            f"model.kwargs.sample_rate={values['sample_rate']} differs from data.sample_rate={d.sample_rate}: the "
            "features would assume another rate than the audio has; set both to the same rate",
        )
    window = values.get("win_length") or values.get("n_fft")
    if window:
        shortest = min([d.clip_seconds] + ([d.chunk_seconds] if d.eval_mode == "chunks" and d.chunk_seconds else []))
        samples = round(shortest * d.sample_rate)
        key = "win_length" if values.get("win_length") else "n_fft"
        _require(
            window <= samples,
            f"model.kwargs.{key}={window} samples is longer than the shortest model input "
            f"({shortest} s = {samples} samples, data.clip_seconds / data.chunk_seconds): the feature window must fit "
            f"the clip; lower model.kwargs.{key} or lengthen the clip",
        )


def _check_manual_dir(config: ml_collections.ConfigDict) -> None:
    """A data.manual_dir that does not exist, for a corpus not built yet from it."""
    d = config.data
    if not d.manual_dir or pathlib.Path(d.manual_dir).expanduser().is_dir():
        return
    from jaxser.data.locations import data_dir  # the one default, as the trainer builds the corpus

    built_in = data_dir(d.data_dir)
    if any(built_in.expanduser().joinpath(d.name).glob("**/dataset_info.json")):
        return  # built before: the audio is not read again
    raise ConfigError(
        f"data.manual_dir={d.manual_dir!r} is not a folder, and {d.name} is not built yet in {built_in}: set "
        f"--config.data.manual_dir to the folder holding the {d.name} audio (or leave it empty to use "
        f"$JAXSER_DATA/{d.name})"
    )


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=1, sort_keys=True, default=list)


def from_json(text: str) -> ml_collections.ConfigDict:
    """The inverse of :func:`to_json` on top of the base (new fields keep their defaults)."""
    config = base_config()
    try:
        _merge(config, json.loads(text))
    except TypeError as err:  # a value of another type than the field's (a hand-edited file)
        raise ConfigError(f"a saved config (config.json) holds a value of the wrong type: {err}; fix that field") from None
    return config


def _merge(node: ml_collections.ConfigDict, values: dict, prefix: str = "") -> None:
    for key, value in values.items():
        if isinstance(value, dict) and key in node and isinstance(node[key], ml_collections.ConfigDict):
            _merge(node[key], value, f"{prefix}{key}.")
        elif isinstance(value, dict):
            node[key] = ml_collections.ConfigDict(value)
        else:
            current = node.get(key) if key in node else None
            try:
                node[key] = tuple(value) if isinstance(current, tuple) and isinstance(value, list) else value
            except TypeError:
                raise TypeError(f"{prefix}{key}={value!r} is a {type(value).__name__}, the field a "
                                f"{type(current).__name__}") from None
