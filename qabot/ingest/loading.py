"""Find and read the corpus files; a bad file is skipped with a reason, never fatal."""

from __future__ import annotations

import codecs
import hashlib
import os
import stat as stat_mode
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from qabot.errors import QabotError
from qabot.ingest.formats import KINDS, Unextractable, extract, kind_of
from qabot.records import Document, SkippedFile

SUFFIXES = tuple(KINDS)
MAX_FILE_BYTES = 50 * 1024 * 1024  # beyond this a "document" is almost surely not an article
MAX_DEPTH = 64  # folders below the seeds folder; deeper ones are skipped with that reason


@dataclass(frozen=True)
class FileStat:
    """What a cheap ``stat`` tells about a corpus file: enough to skip unchanged ones."""

    name: str
    path: Path
    size: int
    mtime_ns: int


def display_name(name: str) -> str:
    """A file name fit for a terminal, JSON and SQLite: undecodable bytes and control
    characters written as ``\\xNN`` escapes."""
    raw = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(f"\\x{ord(ch):02x}" if unicodedata.category(ch) == "Cc" else ch for ch in raw)


def ignored_name(name: str) -> bool:
    """Hidden files and folders, and the lock file Word keeps beside an open document
    (``~$report.docx``), are not the corpus."""
    return name.startswith((".", "~$"))


def _name_problem(name: str) -> str:
    """Why a name cannot be indexed as is: citations, JSON and the terminal all show it."""
    if display_name(name) == name:
        return ""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8"
    return "file name contains control characters"


def scan(seeds_dir: Path) -> tuple[list[FileStat], list[SkippedFile]]:
    """List the files qabot reads (``formats.KINDS``) under ``seeds_dir`` (recursively,
    sorted by name).

    Hidden files and folders are ignored. Symlinked folders are not followed (no loops) and
    are named in the skipped list, as are unreadable folders, files that are not regular
    files (a FIFO would block the reader forever) and symlinks to files outside the seeds
    folder (``ln -s /etc/passwd seeds/a.txt`` must not put that file in answers).
    """
    if not seeds_dir.exists():
        raise QabotError(f"seeds folder not found: {seeds_dir}")
    if not seeds_dir.is_dir():
        raise QabotError(f"seeds path is not a folder: {seeds_dir}")
    found: list[FileStat] = []
    skipped: list[SkippedFile] = []
    inside = seeds_dir.resolve()  # a file symlink is followed only to a file under here

    def relative(path: Path) -> str:
        return display_name(path.relative_to(seeds_dir).as_posix())

    def folder_error(exc: OSError) -> None:
        path = Path(exc.filename) if exc.filename else seeds_dir
        where = relative(path) + "/" if path != seeds_dir else "."
        skipped.append(SkippedFile(where, f"cannot read folder: {exc.strerror or exc}"))

    for root, dirs, files in os.walk(seeds_dir, onerror=folder_error, followlinks=False):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not ignored_name(d))
        if dirs and len(here.relative_to(seeds_dir).parts) >= MAX_DEPTH:
            # os.walk recurses: a folder chain thousands deep would overflow the stack
            for d in dirs:
                skipped.append(SkippedFile(relative(here / d) + "/", "folder nested too deep"))
            dirs[:] = []
        for d in dirs:
            if (here / d).is_symlink():
                skipped.append(SkippedFile(relative(here / d) + "/", "symlinked folder"))
        for filename in sorted(files):
            if ignored_name(filename) or not filename.lower().endswith(SUFFIXES):
                continue
            path = here / filename
            name = path.relative_to(seeds_dir).as_posix()
            problem = _name_problem(name)
            if problem:
                skipped.append(SkippedFile(display_name(name), problem))
                continue
            try:
                st = path.stat()
            except OSError as exc:
                skipped.append(SkippedFile(name, f"cannot stat: {exc.strerror or exc}"))
                continue
            if path.is_symlink() and not path.resolve().is_relative_to(inside):
                skipped.append(SkippedFile(name, "symlink to a file outside the seeds folder"))
                continue
            if not stat_mode.S_ISREG(st.st_mode):
                skipped.append(SkippedFile(name, "not a regular file"))
                continue
            found.append(FileStat(name, path, st.st_size, st.st_mtime_ns))
    found.sort(key=lambda f: f.name)
    skipped.sort(key=lambda s: s.name)
    return found, skipped


def decode(data: bytes) -> str:
    """The one definition of a file's text: strict UTF-8, nothing normalised.

    Offsets everywhere in qabot index into exactly this string.
    """
    return data.decode("utf-8")


def _read_bounded(path: Path) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes of a regular file; never blocks on a FIFO."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat_mode.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(0, "not a regular file")
        chunks: list[bytes] = []
        left = MAX_FILE_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def file_sha256(stat: FileStat) -> str | None:
    """The sha256 of a file's bytes (None when it cannot be read): whether it changed,
    without extracting the text of a PDF to find out."""
    try:
        data = _read_bounded(stat.path)
    except OSError:
        return None
    return hashlib.sha256(data).hexdigest()


def read_document(stat: FileStat) -> Document | SkippedFile:
    """Read one file, or say in a few words why it cannot be indexed."""
    limit = f"limit {MAX_FILE_BYTES // (1024 * 1024)} MB"
    if stat.size > MAX_FILE_BYTES:
        return SkippedFile(stat.name, f"too large ({stat.size // (1024 * 1024)} MB; {limit})")
    try:
        data = _read_bounded(stat.path)
    except PermissionError:
        return SkippedFile(stat.name, "unreadable: permission denied")
    except OSError as exc:
        return SkippedFile(stat.name, f"unreadable: {exc.strerror or exc}")
    if len(data) > MAX_FILE_BYTES:  # it grew after the scan
        return SkippedFile(stat.name, f"too large (over {limit})")
    kind = kind_of(stat.name) or "text"
    if kind != "text":
        if not data.strip():
            return SkippedFile(stat.name, "empty file")
        try:
            found = extract(kind, data)
        except Unextractable as exc:
            return SkippedFile(stat.name, str(exc))
        return Document(
            stat.name,
            found.text,
            hashlib.sha256(data).hexdigest(),
            len(data),
            stat.mtime_ns,
            kind,
            found.marks,
            found.unit,
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return SkippedFile(stat.name, "UTF-16 text (save it as UTF-8)")
    if b"\x00" in data:
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
    """Text of a plain-text corpus file as qabot sees it (for checking citations; the text
    of any other format is the index's: ``QABot.document_text``)."""
    return decode((seeds_dir / name).read_bytes())
