"""Find and read the corpus files; a bad file is skipped with a reason, never fatal."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from qabot.errors import QabotError
from qabot.records import Document, SkippedFile

SUFFIXES = (".txt", ".md")
MAX_FILE_BYTES = 50 * 1024 * 1024  # beyond this a "document" is almost surely not an article


@dataclass(frozen=True)
class FileStat:
    """What a cheap ``stat`` tells about a corpus file: enough to skip unchanged ones."""

    name: str
    path: Path
    size: int
    mtime_ns: int


def scan(seeds_dir: Path) -> tuple[list[FileStat], list[SkippedFile]]:
    """List the ``.txt``/``.md`` files under ``seeds_dir`` (recursively, sorted by name).

    Hidden files and folders are ignored; symlinked folders are not followed (no loops).
    """
    if not seeds_dir.exists():
        raise QabotError(f"seeds folder not found: {seeds_dir}")
    if not seeds_dir.is_dir():
        raise QabotError(f"seeds path is not a folder: {seeds_dir}")
    found: list[FileStat] = []
    skipped: list[SkippedFile] = []
    for root, dirs, files in os.walk(seeds_dir, onerror=None, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for filename in sorted(files):
            if filename.startswith(".") or not filename.lower().endswith(SUFFIXES):
                continue
            path = Path(root) / filename
            name = path.relative_to(seeds_dir).as_posix()
            try:
                st = path.stat()
            except OSError as exc:
                skipped.append(SkippedFile(name, f"cannot stat: {exc.strerror or exc}"))
                continue
            found.append(FileStat(name, path, st.st_size, st.st_mtime_ns))
    found.sort(key=lambda f: f.name)
    return found, skipped


def decode(data: bytes) -> str:
    """The one definition of a file's text: strict UTF-8, nothing normalised.

    Offsets everywhere in qabot index into exactly this string.
    """
    return data.decode("utf-8")


def read_document(stat: FileStat) -> Document | SkippedFile:
    """Read one file, or say in a few words why it cannot be indexed."""
    if stat.size > MAX_FILE_BYTES:
        return SkippedFile(stat.name, f"too large ({stat.size // (1024 * 1024)} MB; limit 50 MB)")
    try:
        data = stat.path.read_bytes()
    except PermissionError:
        return SkippedFile(stat.name, "unreadable: permission denied")
    except OSError as exc:
        return SkippedFile(stat.name, f"unreadable: {exc.strerror or exc}")
    if b"\x00" in data[:8192]:
        return SkippedFile(stat.name, "binary file")
    try:
        text = decode(data)
    except UnicodeDecodeError as exc:
        return SkippedFile(stat.name, f"not UTF-8 text (bad byte at offset {exc.start})")
    if not text.strip():
        return SkippedFile(stat.name, "empty file")
    return Document(
        name=stat.name,
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        mtime_ns=stat.mtime_ns,
    )


def read_file_text(seeds_dir: Path, name: str) -> str:
    """Text of a corpus file as qabot sees it (for checking citations)."""
    return decode((seeds_dir / name).read_bytes())
