"""Every config under configs/ loads, validates and runs one train step on fake data.

So no config rots: a renamed model field or a bad value fails here, in seconds,
instead of an hour into a cross-validation run. Smoke mode (``:smoke``) keeps clips
short; the model and step are the config's own. Configs load from any working
directory, importing their shared base as a package sibling, never through sys.path.
"""

from __future__ import annotations

import functools
import json
import pathlib
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from jaxser import config as config_lib
from jaxser.train import parallel, state as state_lib, steps, supervised

ROOT = pathlib.Path(__file__).parents[1]
CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.py") if not p.stem.endswith("_base") and p.stem != "__init__")


def test_there_are_configs():
    assert {p.stem for p in CONFIGS} >= {"default", "zhao2019_cnn1d_emodb", "zhao2019_cnn2d_emodb", "zhao2019_cnn2d_iemocap"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_runs_one_step(path, tmp_path):
    config = config_lib.load(f"{path}:smoke")
    full = config_lib.load(path)  # the real config validates too
    assert full.name == path.stem or path.stem == "default"
    assert "jaxser " in _docstring(path) and "Expected" in _docstring(path) or path.stem == "default"
    if config.kind == "sklearn":  # a fit on fake feature vectors with the config's estimator
        from jaxser.systems import classic

        rng = np.random.default_rng(0)
        X, y = rng.standard_normal((40, 12)), np.arange(40) % 4
        fitted = classic.estimator(config).fit(X, y)
        assert fitted.coef_.shape == (4, 12)
        return
    if config.kind == "adan":  # one epoch (two iterations) of the config's augmenter on fake vectors
        from jaxser.systems import adan
        from jaxser.train import adversarial

        rng = np.random.default_rng(0)
        X, y = rng.standard_normal((2 * config.augmenter.batch_size, 30)).astype(np.float32), np.arange(2 * config.augmenter.batch_size) % 4
        rec = adan.recipe(config, 4, y)
        trainer = adversarial.Trainer(rec, adan._initial_state(config, rec, 30), X, y, tmp_path, epochs=1,
                                      batch_size=config.augmenter.batch_size)
        state, summary = trainer.fit()
        assert int(state.step) == 2 and summary["nonfinite_iterations_skipped_this_run"] == 0
        return
    num_classes = 4
    samples = round(config.data.clip_seconds * config.data.sample_rate)
    batch_size = config.train.global_batch_size
    rng = np.random.default_rng(0)
    batch = {
        "audio": (0.1 * rng.standard_normal((batch_size, samples))).astype(np.float32),
        "length": np.full(batch_size, samples, np.int32),
        "label": rng.integers(0, num_classes, batch_size).astype(np.int32),
        "mask": np.ones(batch_size, np.float32),
    }
    if config.kind == "zhong":  # two networks: audio and 384 functionals per row
        from jaxser.systems import zhong

        state = zhong.initial_state(config, num_classes, 10, num_rows=batch_size, functionals_dim=384)
        step = functools.partial(zhong.train_step, loss=steps.LossSpec())
        batch.update(row=np.arange(batch_size, dtype=np.int32),
                     functionals=rng.standard_normal((batch_size, 384)).astype(np.float32))
    else:
        model = supervised.build_model(config, num_classes, bn_axis_name=parallel.AXIS)
        tx = state_lib.optimizer(config.train, 10)
        state = state_lib.create(model, tx, 0, jnp.zeros((1, samples)), jnp.full((1,), samples))
        step = steps.train_step
    dp = parallel.DataParallel()
    fn = dp.compile(step, (parallel.REPLICATED, parallel.SHARDED), (parallel.REPLICATED, parallel.REPLICATED))
    new, metrics = fn(dp.replicate(state), dp.shard(batch))
    assert int(new.step) == 1
    assert np.isfinite(float(metrics["loss_sum"]))


# Loads every config, plain and in smoke mode, by the path given on argv; prints their names.
_LOAD_ALL = """
import json, sys
from jaxser import config
print(json.dumps({p + s: config.load(p + s).name for p in sys.argv[1:] for s in ("", ":smoke")}))
"""


@pytest.mark.parametrize("where", ["repo_root", "elsewhere"])
def test_configs_load_from_any_working_directory(where, tmp_path):
    """As ``jaxser train --config configs/x.py`` does, in a fresh process (pytest's own
    sys.path holds the repository root, which would hide a config that relies on it)."""
    if where == "repo_root":
        cwd, paths = ROOT, [str(p.relative_to(ROOT)) for p in CONFIGS]
    else:
        cwd, paths = tmp_path, [str(p) for p in CONFIGS]
    out = subprocess.run([sys.executable, "-c", _LOAD_ALL, *paths], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    names = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(names) == 2 * len(CONFIGS)
    for path in paths:
        assert names[path] == names[path + ":smoke"]


def test_configs_import_their_base_without_sys_path():
    for path in sorted((ROOT / "configs").glob("*.py")):
        assert "sys.path" not in path.read_text(), f"{path.name}: import the base with 'from . import ...'"


@pytest.mark.parametrize("arg", ["tiny", "Smoke", ""])
def test_smoke_is_the_only_config_argument(arg):
    with pytest.raises(config_lib.ConfigError, match=f"config argument '{arg}' is not known: the only one is 'smoke'"):
        config_lib.load(f"{ROOT / 'configs' / 'default.py'}:{arg}")


def test_smoke_mode_of_the_demo_is_its_tiny_corpus():
    smoke, full = config_lib.load(f"{ROOT / 'configs' / 'default.py'}:smoke"), config_lib.load(ROOT / "configs" / "default.py")
    assert (smoke.data.config, smoke.train.epochs) == ("tiny", 2)
    assert (full.data.config, full.train.epochs) == ("default", 20)


def test_overrides_are_typed_and_checked(tmp_path):
    path = CONFIGS[0]
    config = config_lib.load(path, ["--config.train.epochs=3", "train.learning_rate=1e-4", "config.data.cache=false"])
    assert config.train.epochs == 3 and config.train.learning_rate == 1e-4 and config.data.cache is False
    with pytest.raises(config_lib.ConfigError, match="no field 'epoch'"):
        config_lib.load(path, ["train.epoch=3"])
    with pytest.raises(config_lib.ConfigError, match="of type int"):
        config_lib.load(path, ["train.epochs=three"])
    with pytest.raises(config_lib.ConfigError, match="must be one of"):
        config_lib.load(path, ["train.optimizer=lbfgs"])
    with pytest.raises(config_lib.ConfigError, match="not found"):
        config_lib.load(tmp_path / "missing.py")
    # JSON round trip (the workdir's config.json) gives the same config.
    assert config_lib.to_json(config_lib.from_json(config_lib.to_json(config))) == config_lib.to_json(config)


def _docstring(path: pathlib.Path) -> str:
    import ast

    return ast.get_docstring(ast.parse(path.read_text())) or ""
