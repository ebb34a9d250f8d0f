"""Shared fixtures. Real-data tests read the corpora under $JAXSER_DATA.

Outside CI a missing data folder skips those tests; with CI=true it fails them, so a
misconfigured CI can never pass by skipping.
"""

from __future__ import annotations

import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
