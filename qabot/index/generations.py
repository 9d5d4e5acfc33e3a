"""Generations on disk: the lock a rebuild holds, and sweeping what killed runs left."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qabot.errors import QabotError
from qabot.index.load import current_generation
from qabot.index.model import (
    CURRENT,
    FAILPOINT_ENV,
    GEN_PREFIX,
    LOCK,
    LOCK_WAIT_SECONDS,
    MARKER,
    TMP_PREFIX,
    one_line,
)

# --------------------------------------------------------------------------- the lock


class IndexLock:
    """The held rebuild lock. Its file says who holds it and how far it got, for the
    message a second rebuild prints, and (with ``QABOT_FAILPOINT``) for the fault tests.

    The lock is an ``flock``: the kernel drops it when its holder dies, even by SIGKILL, so
    a killed rebuild never leaves a stale lock behind.
    """

    def __init__(self, fh: Any) -> None:
        self._fh = fh

    def stage(self, name: str, *, checkpoint: bool = True) -> None:
        """Say which stage the rebuild is in; at a checkpoint (inside the stage, work done
        and work left) the failpoint of that name, if set, stops the process."""
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"pid {os.getpid()} {name}\n")
        self._fh.flush()
        if checkpoint and os.environ.get(FAILPOINT_ENV) == name:
            os.kill(os.getpid(), signal.SIGSTOP)


def _holder(index_dir: Path) -> str:
    try:
        text = (index_dir / LOCK).read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return "another qabot"
    if len(text) >= 3 and text[0] == "pid":
        return f"another qabot (pid {text[1]}, {text[2]})"
    return "another qabot"


@contextlib.contextmanager
def index_lock(index_dir: Path, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[IndexLock]:
    """Hold the index's rebuild lock; a second rebuild waits, then refuses in one line."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fh = (index_dir / LOCK).open("a+", encoding="utf-8")
    except OSError as exc:
        raise QabotError(f"cannot write the index at {index_dir}: {one_line(exc)}") from exc
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise QabotError(
                        f"{_holder(index_dir)} is rebuilding the index at {index_dir}; "
                        "try again when it finishes"
                    ) from None
                time.sleep(0.2)
        lock = IndexLock(fh)
        lock.stage("locked", checkpoint=False)
        yield lock
        lock.stage("done", checkpoint=False)
    finally:
        fh.close()


def claim_index_dir(index_dir: Path) -> None:
    """Make ``index_dir`` qabot's, or refuse: a folder is qabot's when it holds ``MARKER``,
    is new or empty, or holds an index written before the marker existed (a ``CURRENT``
    naming one of its generations, which holds a manifest). Anything else, hidden files
    included (a home folder), is someone else's, and qabot writes nothing there."""
    if index_dir.exists() and not index_dir.is_dir():
        raise QabotError(f"index path is not a folder: {index_dir}")
    marker = index_dir / MARKER
    try:
        foreign = (
            index_dir.is_dir()
            and not marker.is_file()
            and any(index_dir.iterdir())
            and not _older_index(index_dir)
        )
        if foreign:
            raise QabotError(
                f"index folder {index_dir} is not empty and holds no qabot index; "
                "choose another --index"
            )
        index_dir.mkdir(parents=True, exist_ok=True)
        if not marker.is_file():
            marker.write_text(MARKER_TEXT, encoding="utf-8")
    except OSError as exc:
        raise QabotError(f"cannot write the index at {index_dir}: {one_line(exc)}") from exc


MARKER_TEXT = "A qabot index folder: qabot deletes only its own gen-* and tmp-* here.\n"


def _older_index(index_dir: Path) -> bool:
    try:
        generation = current_generation(index_dir)
    except QabotError:
        return False
    return generation is not None and (generation / "manifest.json").is_file()


def clear_pointer_folder(index_dir: Path) -> str:
    """A folder where ``CURRENT`` belongs is removed when empty (the build could not switch
    to its generation otherwise), and why is returned; one with anything in it is not
    qabot's to delete."""
    pointer = index_dir / CURRENT
    if not pointer.is_dir() or pointer.is_symlink():
        return ""
    try:
        pointer.rmdir()
    except OSError:
        raise QabotError(
            f"index at {index_dir}: {CURRENT} is a folder with files in it, where qabot keeps "
            "its pointer file; move it away"
        ) from None
    return f"index at {index_dir} is corrupt: {CURRENT} is a folder, not a pointer (removed)"


def sweep(index_dir: Path, keep: set[str]) -> list[str]:
    """Remove what interrupted runs left: ``tmp-*`` folders, the temp files of ``CURRENT``
    (``atomic_write``'s names, nothing else hidden), and generations other than those in
    ``keep``. Called only while holding the lock, in a folder ``claim_index_dir`` claimed."""
    removed: list[str] = []
    for entry in sorted(index_dir.iterdir()):
        name = entry.name
        old_generation = name.startswith(GEN_PREFIX) and name not in keep
        temp_file = is_temp_of(name, CURRENT) and not entry.is_dir()
        if not (old_generation or temp_file or name.startswith(TMP_PREFIX)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
        removed.append(name)
    return removed


def sweep_leftovers(index_dir: Path) -> list[str]:
    """At the start of a run: keep the live generation and the newest other one (a reader
    may still be loading the generation a recent rebuild replaced)."""
    try:
        live = current_generation(index_dir)
    except QabotError:
        live = None
    others = sorted(
        p.name for p in index_dir.glob(f"{GEN_PREFIX}*") if live is None or p.name != live.name
    )
    keep = {live.name} if live else set()
    keep.update(others[-1:])
    removed = sweep(index_dir, keep)
    if live is not None and live.is_dir():  # a manifest rewrite killed halfway
        for tmp in live.iterdir():
            if is_temp_of(tmp.name, "manifest.json"):
                with contextlib.suppress(OSError):
                    tmp.unlink()
    return [n for n in removed if n.startswith((GEN_PREFIX, TMP_PREFIX))]


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # what is_temp_of recognises
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync(path.parent)


def is_temp_of(name: str, target: str) -> bool:
    """Whether ``name`` is the temp file ``atomic_write`` stages ``target`` in: the only
    hidden names a sweep may delete."""
    return re.fullmatch(rf"\.{re.escape(target)}\.\d+\.tmp", name) is not None
