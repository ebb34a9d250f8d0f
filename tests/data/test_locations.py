"""One default folder for built corpora: jaxser.data, the trainer and the CLI agree."""

from __future__ import annotations

import pathlib

import pytest

from jaxser import cli, config as config_lib, data
from jaxser.data import locations
from jaxser.train import data as train_data


def test_the_default_folder_and_its_overrides(tmp_path, monkeypatch):
    monkeypatch.delenv(locations.ENV, raising=False)
    home = pathlib.Path("~/.cache/jaxser/tensorflow_datasets").expanduser()
    assert locations.default_data_dir() == home
    monkeypatch.setenv(locations.ENV, "")  # empty: unset
    assert locations.default_data_dir() == home
    monkeypatch.setenv(locations.ENV, str(tmp_path))
    assert locations.default_data_dir() == tmp_path
    config = config_lib.base_config()
    assert train_data.data_dir(config) == tmp_path
    config.data.data_dir = str(tmp_path / "mine")
    assert train_data.data_dir(config) == tmp_path / "mine"  # an explicit folder wins
    assert cli.build_parser().parse_args(["summary", "--dataset", "emodb"]).data_dir is None  # resolved at use


def test_jaxser_data_builds_where_the_trainer_reads(tmp_path, monkeypatch):
    monkeypatch.setenv(locations.ENV, str(tmp_path))
    corpus = data.builder("synthetic", config="tiny", download_and_prepare=True)  # data_dir=None
    assert pathlib.Path(corpus.data_dir).is_relative_to(tmp_path)
    assert list(tmp_path.glob("synthetic/tiny/*/dataset_info.json"))
    assert len(data.metadata("synthetic", config="tiny", download_and_prepare=False)["id"]) == 48
    # The trainer finds it built: building again would fail here.
    monkeypatch.setattr(type(corpus), "download_and_prepare", lambda *a, **k: pytest.fail("the corpus was built twice"))
    config = config_lib.base_config()
    config.data.name, config.data.config = "synthetic", "tiny"
    assert train_data.load_corpus(config).class_names == tuple(corpus.info.features["label"].names)
