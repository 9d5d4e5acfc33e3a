from pathlib import Path

import pytest

from qabot.errors import QabotError
from qabot.ingest.loading import read_document, scan
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


def test_files_that_would_hang_loop_or_mislead_are_skipped(tmp_path: Path) -> None:
    import os

    (tmp_path / "good.txt").write_text("Readable.", encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.txt")
    os.symlink("b.txt", tmp_path / "a.txt")
    os.symlink("a.txt", tmp_path / "b.txt")
    os.symlink(".", tmp_path / "loop")
    (tmp_path / "dir.txt").mkdir()
    (tmp_path / "dir.txt" / "in.md").write_text("Inside.", encoding="utf-8")
    with open(os.fsencode(tmp_path) + b"/caf\xe9.txt", "wb") as fh:
        fh.write(b"text")
    (tmp_path / "bell\x07.txt").write_text("text", encoding="utf-8")
    stats, skipped = scan(tmp_path)
    assert [s.name for s in stats] == ["dir.txt/in.md", "good.txt"]
    assert {s.name: s.reason for s in skipped} == {
        "a.txt": "cannot stat: Too many levels of symbolic links",
        "b.txt": "cannot stat: Too many levels of symbolic links",
        "bell\\x07.txt": "file name contains control characters",
        "caf\\xe9.txt": "file name is not valid UTF-8",
        "loop/": "symlinked folder",
        "pipe.txt": "not a regular file",
    }


def test_a_symlink_is_followed_only_to_a_file_inside_the_seeds(tmp_path: Path) -> None:
    import os

    seeds = tmp_path / "seeds"
    (seeds / "sub").mkdir(parents=True)
    (seeds / "sub" / "article.txt").write_text("An article.", encoding="utf-8")
    os.symlink("sub/article.txt", seeds / "alias.txt")
    (tmp_path / "private.txt").write_text("Not a seed.", encoding="utf-8")
    os.symlink(tmp_path / "private.txt", seeds / "private.txt")
    os.symlink("../private.txt", seeds / "sub" / "relative.txt")
    stats, skipped = scan(seeds)
    assert [s.name for s in stats] == ["alias.txt", "sub/article.txt"]
    outside = "symlink to a file outside the seeds folder"
    assert {s.name: s.reason for s in skipped} == {
        "private.txt": outside,
        "sub/relative.txt": outside,
    }
    # the seeds folder itself may be reached through a symlink
    os.symlink(seeds, tmp_path / "linked")
    assert [s.name for s in scan(tmp_path / "linked")[0]] == ["alias.txt", "sub/article.txt"]


def test_folders_nested_thousands_deep_are_skipped_not_a_crash(tmp_path: Path) -> None:
    import os

    from qabot.ingest.loading import MAX_DEPTH

    (tmp_path / "top.txt").write_text("At the top.", encoding="utf-8")
    fd = os.open(tmp_path, os.O_RDONLY)
    try:  # 1,200 levels, made relative to each new folder (the full path grows too long)
        for _ in range(1200):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)
    shallow = tmp_path / "/".join(["d"] * 3) / "shallow.txt"
    shallow.write_text("Three folders down.", encoding="utf-8")
    try:
        stats, skipped = scan(tmp_path)
    finally:  # removed here, level by level: pytest's own clean-up recurses and would fail
        shallow.unlink()
        for level in range(1200, 0, -1):
            os.rmdir(tmp_path / "/".join(["d"] * level))
    assert [s.name for s in stats] == ["d/d/d/shallow.txt", "top.txt"]
    assert [(s.name, s.reason) for s in skipped] == [
        ("/".join(["d"] * (MAX_DEPTH + 1)) + "/", "folder nested too deep")
    ]


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    import os

    from qabot.ingest.loading import MAX_FILE_BYTES, FileStat

    big = tmp_path / "big.txt"
    with big.open("wb") as fh:
        fh.truncate(100 * 1024 * 1024)  # sparse: costs no disk and no time
    (stat,) = scan(tmp_path)[0]
    assert read_document(stat) == SkippedFile("big.txt", "too large (100 MB; limit 50 MB)")
    # a file that grew after the scan is still read no further than the limit
    grown = FileStat("big.txt", big, 10, stat.mtime_ns)
    result = read_document(grown)
    assert isinstance(result, SkippedFile) and result.reason.startswith("too large")
    assert os.path.getsize(big) > MAX_FILE_BYTES


def test_nul_anywhere_means_binary(tmp_path: Path) -> None:
    (tmp_path / "late.txt").write_bytes(b"A" * 20_000 + b"\x00")
    (stat,) = scan(tmp_path)[0]
    assert read_document(stat) == SkippedFile("late.txt", "binary file")


@pytest.mark.skipif(
    __import__("os").geteuid() == 0, reason="root reads any file: permissions cannot block it"
)
def test_unreadable_file_and_folder_are_named(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("text", encoding="utf-8")
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "inside.txt").write_text("text", encoding="utf-8")
    secret.chmod(0)
    closed.chmod(0)
    try:
        stats, skipped = scan(tmp_path)
        assert [s.name for s in stats] == ["secret.txt"]
        assert read_document(stats[0]) == SkippedFile("secret.txt", "unreadable: permission denied")
        assert skipped == [SkippedFile("closed/", "cannot read folder: Permission denied")]
    finally:
        secret.chmod(0o644)
        closed.chmod(0o755)
