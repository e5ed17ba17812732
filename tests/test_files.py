"""write_atomic: the reader sees the old file or the new one, and no temporary file is left behind."""

from __future__ import annotations

import pathlib

import pytest

from processor.files import write_atomic


def test_replaces_content_and_creates_parents(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "a" / "b" / "report.json"
    write_atomic(target, "first")
    write_atomic(target, "second ✓")
    assert target.read_text(encoding="utf-8") == "second ✓"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "report.json"
    write_atomic(target, "old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "bad \ud800")  # a lone surrogate cannot be encoded as UTF-8
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
