"""The index folder: qabot writes only into a folder that is its own, and deletes only the
names it writes there (its generations, its temp folders, CURRENT's temp files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qabot.cli import main
from qabot.index.load import current_generation
from qabot.index.model import CURRENT, GEN_PREFIX, MARKER

from .built_index import Built, answers, copy_index

pytestmark = pytest.mark.slow


def index(built: Built, index_dir: Path, *more: str):
    args = ["index", "--seeds", str(built.seeds), "--index", str(index_dir), *more]
    return CliRunner().invoke(main, args)


def test_what_is_not_qabots_in_its_own_folder_is_never_deleted(
    built: Built, tmp_path: Path
) -> None:
    index_dir = copy_index(built, tmp_path / "index")
    work = index_dir / ".work.tmp"
    work.mkdir()
    (work / "thesis.txt").write_text("precious", encoding="utf-8")
    (index_dir / ".draft.tmp").write_text("also mine", encoding="utf-8")
    (index_dir / f".{CURRENT}.123.tmp").write_text("gen-x\n", encoding="utf-8")  # qabot's
    (index_dir / "tmp-20260101-1").mkdir()  # a killed build's folder: qabot's
    result = index(built, index_dir, "--rebuild")
    assert result.exit_code == 0, result.output
    assert (work / "thesis.txt").read_text(encoding="utf-8") == "precious"
    assert (index_dir / ".draft.tmp").read_text(encoding="utf-8") == "also mine"
    assert not (index_dir / f".{CURRENT}.123.tmp").exists()
    assert not (index_dir / "tmp-20260101-1").exists()
    assert answers(index_dir) == built.old_answers


@pytest.mark.parametrize(
    "files",
    [
        {".bashrc": "alias ll='ls -l'", ".ssh/config": "Host *"},  # a home folder
        {CURRENT: "MANIFEST-000001\n", "MANIFEST-000001": "leveldb"},  # another program's
        {CURRENT: f"{GEN_PREFIX}x\n"},  # qabot's names, not a qabot index
    ],
    ids=["hidden files only", "another program's CURRENT", "a CURRENT naming nothing"],
)
def test_a_folder_that_is_not_qabots_is_refused_and_left_as_it_was(
    files: dict[str, str], built: Built, tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    before = _files(folder)
    result = index(built, folder)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: index folder {folder} is not empty and holds no")
    assert _files(folder) == before


def test_an_index_written_before_the_marker_is_taken_up(built: Built, tmp_path: Path) -> None:
    index_dir = copy_index(built, tmp_path / "index")
    (index_dir / MARKER).unlink()
    result = index(built, index_dir)
    assert result.exit_code == 0, result.output
    assert "5 unchanged" in result.output
    assert (index_dir / MARKER).is_file()
    generation = current_generation(index_dir)
    assert generation is not None
    assert json.loads((generation / "manifest.json").read_text(encoding="utf-8"))["files"]


def test_a_new_or_empty_folder_becomes_qabots(built: Built, tmp_path: Path) -> None:
    for index_dir in (tmp_path / "new" / "index", tmp_path / "empty"):
        if index_dir.name == "empty":
            index_dir.mkdir()
        result = index(built, index_dir)
        assert result.exit_code == 0, result.output
        assert (index_dir / MARKER).is_file()


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }
