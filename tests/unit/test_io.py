"""Atomic output: a file is replaced whole or not at all, and no temp files are left behind."""
import json

import pytest

from pipeline.io import atomic_path, write_json, write_text


def test_write_text_creates_the_folder_and_replaces_the_file(tmp_path):
    target = tmp_path / "results" / "figures.md"
    write_text(target, "first\n")
    write_text(target, "second\n")
    assert target.read_text() == "second\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["figures.md"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "results.json"
    write_json(target, {"b": 1, "a": 2})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"half": ')
        raise RuntimeError("interrupted")
    assert json.loads(target.read_text()) == {"a": 2, "b": 1}
    assert target.read_text().index('"a"') < target.read_text().index('"b"')  # sorted keys: stable diffs
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
