"""jaxser.atomic_file.replacing: the old file or the new one, never half of one."""

import os

import pytest

from jaxser import atomic_file


def test_replaces_whole_and_leaves_no_temp(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("old")
    with atomic_file.replacing(path, encoding="utf-8") as f:
        f.write("new ")
        assert path.read_text() == "old"  # untouched until the block ends
        f.write("text")
    assert path.read_text() == "new text"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_an_error_keeps_the_old_file(tmp_path):
    path = tmp_path / "c.npz"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_file.replacing(path, "wb") as f:
            f.write(b"half")
            raise RuntimeError("killed")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_file.replacing(tmp_path / "p.png", "wb") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o640  # 0o666 less the umask, not mkstemp's 0600


def test_only_write_modes(tmp_path):
    with pytest.raises(ValueError, match="'w' or 'wb'"):
        with atomic_file.replacing(tmp_path / "x", "a"):
            pass
