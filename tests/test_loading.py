from pathlib import Path

import pytest

from qabot.errors import QabotError
from qabot.loading import read_document, scan
from qabot.records import Document, SkippedFile


def test_scan_reads_the_seeds_sorted(tmp_path: Path) -> None:
    stats, skipped = scan(Path(__file__).parent.parent / "seeds")
    names = [s.name for s in stats]
    assert names == sorted(names) and len(names) == 5 and not skipped


def test_missing_seeds_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(QabotError, match="seeds folder not found"):
        scan(tmp_path / "nope")


def test_bad_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("A real sentence about Gaza.", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02PNG")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    (tmp_path / "sub dir").mkdir()
    (tmp_path / "sub dir" / "nested é.md").write_text("Nested text here.", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("never read", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    stats, _ = scan(tmp_path)
    results = {s.name: read_document(s) for s in stats}
    assert set(results) == {
        "good.txt",
        "binary.txt",
        "latin1.txt",
        "empty.md",
        "sub dir/nested é.md",
    }
    assert isinstance(results["good.txt"], Document)
    assert isinstance(results["sub dir/nested é.md"], Document)
    reasons = {n: r.reason for n, r in results.items() if isinstance(r, SkippedFile)}
    assert reasons["binary.txt"] == "binary file"
    assert reasons["latin1.txt"].startswith("not UTF-8 text")
    assert reasons["empty.md"] == "empty file"
