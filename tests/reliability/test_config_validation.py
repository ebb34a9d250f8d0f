"""Configs that cannot run are rejected before anything is loaded or compiled, with a
message naming the key and the fix: unknown keys, wrong types, impossible values."""

from __future__ import annotations

import time

import jax
import ml_collections
import pytest

from jaxser import cli
from jaxser import config as config_lib
from jaxser.train import supervised
from tests.conftest import make_config

pytestmark = pytest.mark.usefixtures("tiny_model")


def _cnn2d(c):
    """The paper's 2D model (it has feature settings: n_fft, hop_length, sample_rate)."""
    c.model.name = "zhao2019_cnn2d"
    return c


def _set(**fields):
    def change(c):
        for dotted, value in fields.items():
            *parents, leaf = dotted.split("__")
            node = c
            for part in parents:
                node = node[part]
            node[leaf] = value
        return c

    return change


def _unknown_key(c):
    c.train.epoch = 3
    return c


def _unknown_section(c):
    c.optimiser = ml_collections.ConfigDict({"lr": 0.1})
    return c


def _unknown_model_field(c):
    _cnn2d(c).model.kwargs.n_fftt = 1024
    return c


# id -> (change to the tiny test config, what the message must say: the key, the fix)
BAD = {
    "unknown key": (_unknown_key, ["unknown config key train.epoch", "did you mean train.epochs?"]),
    "unknown section": (_unknown_section, ["unknown config key optimiser", "remove it or fix its name"]),
    "unknown model field": (_unknown_model_field, ["model.kwargs.n_fftt is not a field of model 'zhao2019_cnn2d'",
                                                   "did you mean model.kwargs.n_fft?"]),
    "trainer-set model field": (_set(model__kwargs__num_classes=4), ["model.kwargs.num_classes is set by the trainer",
                                                                     "remove it"]),
    "bool for an int": (_set(train__epochs=True), ["train.epochs=True is a bool", "it must be an integer"]),
    "string for a float": (lambda c: _set(data=ml_collections.ConfigDict({**c.data.to_dict(), "clip_seconds": "2"}))(c),
                           ["data.clip_seconds='2' is a str", "it must be a number"]),
    "feature hop 0": (lambda c: _set(model__kwargs__hop_length=0)(_cnn2d(c)),
                      ["model.kwargs.hop_length=0 must be a positive integer", "a hop of 0 never advances"]),
    "window hop negative": (_set(data__hop_seconds=-0.5), ["data.hop_seconds=-0.5 must be >= 0", "0 = its default"]),
    "window hop longer than the window": (_set(data__chunk_seconds=1.0, data__hop_seconds=1.5),
                                          ["data.hop_seconds=1.5 is longer than the evaluation window",
                                           "use a hop <= the window"]),
    "feature window longer than the clip": (lambda c: _set(data__clip_seconds=0.1)(_cnn2d(c)),
                                            ["model.kwargs.n_fft=2048 samples is longer than the shortest model input",
                                             "lower model.kwargs.n_fft or lengthen the clip"]),
    "feature rate differs from the audio": (lambda c: _set(model__kwargs__sample_rate=8000)(_cnn2d(c)),
                                            ["model.kwargs.sample_rate=8000 differs from data.sample_rate=16000",
                                             "set both to the same rate"]),
    "checkpoint every 0 steps": (_set(train__checkpoint_every_steps=0),
                                 ["train.checkpoint_every_steps=0 must be >= 1"]),
    "k-fold with one fold": (_set(split__kind="speaker_kfold", split__k=1), ["split.k=1 must be >= 2"]),
    "validation fraction 1": (_set(split__val_speakers=0, split__val_fraction=1.0),
                              ["split.val_fraction=1.0 must be in [0, 1)"]),
    "negative patience": (_set(train__early_stopping_patience=-1),
                          ["train.early_stopping_patience=-1 must be >= 0"]),
    "missing manual data folder": (_set(data__name="emodb", data__manual_dir="/no/such/emodb"),
                                   ["data.manual_dir='/no/such/emodb' is not a folder",
                                    "set --config.data.manual_dir to the folder holding the emodb audio"]),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_config_is_rejected_naming_the_key_and_the_fix(case, tfds_dir):
    change, says = BAD[case]
    config = change(make_config(tfds_dir))
    with pytest.raises(config_lib.ConfigError) as caught:
        config_lib.validate(config)
    for text in says:
        assert text in str(caught.value)


def test_the_tiny_and_shipped_configs_pass(tfds_dir):
    config_lib.validate(make_config(tfds_dir), num_devices=1)
    config_lib.validate(_cnn2d(make_config(tfds_dir)), num_devices=8)


def test_batch_not_divisible_by_the_devices(tfds_dir):
    with pytest.raises(config_lib.ConfigError, match=r"train.global_batch_size=8: .* over 3 devices; use a multiple of 3"):
        config_lib.validate(make_config(tfds_dir), num_devices=3)


def test_a_wrongly_typed_field_in_a_config_file_or_saved_config(tmp_path):
    path = tmp_path / "typo.py"
    path.write_text(
        "from jaxser import config as config_lib\n\n\n"
        "def get_config(arg=None):\n    c = config_lib.base_config()\n    c.train.epochs = '3'\n    return c\n"
    )
    with pytest.raises(config_lib.ConfigError, match=r"typo.py: get_config\(\) sets a field to a value of the wrong type"):
        config_lib.load(path)
    with pytest.raises(config_lib.ConfigError, match=r"train.epochs='3' is a str, the field a int; fix that field"):
        config_lib.from_json('{"train": {"epochs": "3"}}')


@pytest.fixture
def no_compiling(monkeypatch):
    """Any compilation or data loading fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("compiled or loaded data before rejecting the config")

    for name in ("jit", "pmap", "shard_map"):
        monkeypatch.setattr(jax, name, refuse)
    monkeypatch.setattr(supervised.data, "load_corpus", refuse)


def _config_file(tmp_path, tfds_dir, body: str):
    path = tmp_path / "config.py"
    path.write_text(
        "from tests.conftest import make_config\n\n\n"
        f"def get_config(arg=None):\n    c = make_config({str(tfds_dir)!r})\n{body}    return c\n"
    )
    return path


@pytest.mark.parametrize(
    "body, override, says",
    [
        ("    c.train.epoch = 3\n", None, "unknown config key train.epoch"),
        ("", "--config.train.checkpoint_every_steps=0", "train.checkpoint_every_steps=0 must be >= 1"),
        ("    c.model.name = 'zhao2019_cnn2d'\n    c.model.kwargs.hop_length = 0\n", None,
         "model.kwargs.hop_length=0 must be a positive integer"),
        ("    c.data.name = 'emodb'\n    c.data.manual_dir = '/no/such/emodb'\n", None,
         "data.manual_dir='/no/such/emodb' is not a folder"),
    ],
    ids=["unknown key", "impossible value", "feature hop 0", "missing data folder"],
)
def test_command_line_rejects_before_compiling(body, override, says, tmp_path, tfds_dir, no_compiling, capsys):
    argv = ["train", "--config", str(_config_file(tmp_path, tfds_dir, body)), "--workdir", str(tmp_path / "run")]
    start = time.perf_counter()
    assert cli.main(argv + ([override] if override else [])) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_trainer_rejects_a_batch_the_devices_cannot_split(tmp_path, tfds_dir, no_compiling, monkeypatch, capsys):
    """Checked first in Trainer(): before the corpus is read and anything compiles."""
    monkeypatch.setattr(jax, "device_count", lambda *a: 3)
    argv = ["train", "--config", str(_config_file(tmp_path, tfds_dir, "")), "--workdir", str(tmp_path / "run")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "train.global_batch_size=8: global batch size 8 does not divide evenly over 3 devices" in err
    assert "use a multiple of 3 (e.g. 9)" in err
