"""Atomic file and directory writes: complete results or nothing, never a leftover temporary."""

from __future__ import annotations

import os

import pytest

from bcekit.io import atomic_directory, atomic_write


class Boom(Exception):
    pass


def test_atomic_write_replaces_the_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_write(target) as f:
        f.write(b"new content")
        assert target.read_bytes() == b"old"
    assert target.read_bytes() == b"new content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_atomic_write_text_mode_is_utf8(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_write(target, "w") as f:
        f.write("σ(z) − y")
    assert target.read_bytes() == "σ(z) − y".encode()


def test_atomic_write_gives_normal_permissions(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_write(target, "w") as f:
        f.write("x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_write_error_keeps_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(Boom), atomic_write(target) as f:
        f.write(b"partial")
        raise Boom
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_atomic_write_error_on_new_file_creates_nothing(tmp_path):
    with pytest.raises(Boom), atomic_write(tmp_path / "new.bin") as f:
        f.write(b"partial")
        raise Boom
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", ["a", "r", "wb+", "x"])
def test_atomic_write_rejects_other_modes(tmp_path, mode):
    with pytest.raises(ValueError, match="mode must be one of"), atomic_write(tmp_path / "f", mode):
        pass


def test_atomic_write_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory"), atomic_write(tmp_path / "nope" / "f"):
        pass


def test_atomic_directory_appears_complete(tmp_path):
    target = tmp_path / "report"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("a")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text("b")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "a"
    assert (target / "sub" / "b.txt").read_text() == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_atomic_directory_error_leaves_nothing(tmp_path):
    target = tmp_path / "report"
    with pytest.raises(Boom), atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("a")
        raise Boom
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_refuses_existing_without_overwrite(tmp_path):
    target = tmp_path / "report"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="overwrite=True"), atomic_directory(target):
        pass
    assert (target / "keep.txt").read_text() == "keep"


def test_atomic_directory_overwrite_replaces_whole_directory(tmp_path):
    target = tmp_path / "report"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_directory(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_atomic_directory_overwrite_failure_keeps_old(tmp_path):
    target = tmp_path / "report"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(Boom), atomic_directory(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise Boom
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_atomic_directory_over_a_file_is_an_error(tmp_path):
    target = tmp_path / "report"
    target.write_text("file")
    with pytest.raises(NotADirectoryError), atomic_directory(target, overwrite=True):
        pass
