"""Shared fixtures. Real-data tests read the corpora under $JAXSER_DATA; trainer tests
use the tiny synthetic corpus (built once per session) with a tiny model.

Outside CI a missing data folder skips those tests; with CI=true it fails them, so a
misconfigured CI can never pass by skipping.
"""

from __future__ import annotations

import os
import pathlib

import pytest

from jaxser import config as config_lib
from jaxser import models
from jaxser.train import data

from tests.train.tiny_model import TinyMel

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAXSER_COMPILE_CACHE", "")  # CLI tests: no persistent cache in the user's home


def pytest_configure(config):
    """One persistent XLA compilation cache for the session's in-process tests, in a
    temporary folder: many tests build the same tiny trainer, whose steps then compile
    once per session instead of once per test. Tests that count compilations count
    traces (``_cache_size``), which a cache hit does not change; the subprocess tests
    keep their own settings (JAXSER_COMPILE_CACHE above)."""
    import tempfile

    import jax

    folder = tempfile.mkdtemp(prefix="jaxser-test-xla-cache-")
    config._jaxser_xla_cache = folder
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_unconfigure(config):
    import shutil

    folder = getattr(config, "_jaxser_xla_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def _data_root() -> pathlib.Path | None:
    value = os.environ.get("JAXSER_DATA")
    return pathlib.Path(value).resolve() if value else None


@pytest.fixture(scope="session")
def data_root() -> pathlib.Path:
    root = _data_root()
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    if root is None or not root.is_dir():
        msg = (
            f"real corpora not found (JAXSER_DATA={os.environ.get('JAXSER_DATA')!r}); "
            "set JAXSER_DATA to the folder holding emodb/, casia/ and noise/"
        )
        if ci:
            pytest.fail(msg)
        pytest.skip(msg)
    return root


def _corpus(root: pathlib.Path, name: str) -> pathlib.Path:
    path = root / name
    if not path.is_dir():
        pytest.fail(f"{path} missing: JAXSER_DATA must hold {name}/")
    return path


@pytest.fixture(scope="session")
def emodb_dir(data_root) -> pathlib.Path:
    return _corpus(data_root, "emodb")


@pytest.fixture(scope="session")
def casia_dir(data_root) -> pathlib.Path:
    return _corpus(data_root, "casia")


@pytest.fixture(scope="session")
def noise_dir(data_root) -> pathlib.Path:
    return _corpus(data_root, "noise")


# -- a tiny training setup: the synthetic 'tiny' corpus and model ---------------------


@pytest.fixture
def tiny_model(monkeypatch):
    """Registers tests.train.tiny_model.TinyMel as model "tiny" for the test."""
    monkeypatch.setitem(models.MODELS, "tiny", TinyMel)


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tfds")


def make_config(tfds_dir, **train):
    """LOSO on the tiny synthetic corpus (4 speakers: 24 train, 12 val, 12 test clips)."""
    c = config_lib.base_config()
    c.name = "test_tiny"
    c.data.name, c.data.config, c.data.data_dir = "synthetic", "tiny", str(tfds_dir)
    c.data.clip_seconds = 2.0
    c.model.name = "tiny"
    c.split.kind = "loso"
    c.train.global_batch_size = 8
    c.train.epochs = 3
    c.train.log_every_steps = 2
    c.train.progress = False
    c.train.early_stopping_patience = 0
    for key, value in train.items():
        c.train[key] = value
    return c


def train_tiny_run(workdir, tfds_dir, corpus, *, epochs: int):
    """A trained tiny run in ``workdir`` for module-scoped fixtures (evaluate, predict):
    registers the tiny model for the whole session, since the function-scoped
    ``tiny_model`` fixture comes after module fixtures."""
    from jaxser.train import supervised

    models.MODELS["tiny"] = TinyMel
    supervised.Trainer(make_config(tfds_dir, epochs=epochs), workdir, corpus=corpus).fit()
    return workdir


@pytest.fixture(scope="session")
def tiny_corpus(tfds_dir):
    return data.load_corpus(make_config(tfds_dir))
