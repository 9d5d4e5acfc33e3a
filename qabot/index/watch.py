"""Noticing changes to the seeds folder, so that they are indexed without being asked.

The operating system reports each write (inotify, FSEvents, ReadDirectoryChangesW, through
watchfiles). A burst of changes is reported once the files it touched have held still
(the same size and modification time) for ``SETTLE_MS``: a file being copied or saved is
not indexed half written. What is reported is only a hint: ``update_index`` compares the
whole folder with the index anyway (a ``stat`` a file), so a change the watch misses is
caught by the next one. Where the system cannot watch the folder (inotify's limit on
watches reached by a large tree, a file system that reports nothing), the watch falls back
to looking at the folder every ``POLL_MS``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from qabot.errors import QabotError
from qabot.ingest.loading import SUFFIXES, ignored_name

SETTLE_MS = 800  # how long the files a burst touched must hold still
LONGEST_WAIT_MS = 60_000  # a file written for longer than this is indexed as it stands
RESTARTS = 3  # the watcher failing this many times in a row: poll; polling too: give up
POLL_MS = 1000  # how often a polling watch looks at the folder


def seed_changes(
    seeds_dir: Path, stop: threading.Event, settle_ms: int = SETTLE_MS, polling: bool = False
) -> Iterator[list[str]]:
    """Yield the names (relative to ``seeds_dir``) touched by each settled burst of
    changes, until ``stop`` is set or Ctrl+C; ``[]`` after the watcher had to be started
    again (something may have changed unseen: look at the whole folder). Only what qabot
    would index is watched: not hidden files, nor editors' temporary files. ``polling``:
    look at the folder every ``POLL_MS`` from the start instead of being told."""
    from watchfiles import Change, watch

    root = seeds_dir.resolve()
    if not root.is_dir():
        raise QabotError(f"seeds folder not found: {seeds_dir}")

    def wanted(change: Change, path: str) -> bool:
        try:
            parts = Path(path).relative_to(root).parts
        except ValueError:
            return False
        if not parts or any(ignored_name(p) for p in parts):
            return False
        if path.lower().endswith(SUFFIXES) or os.path.isdir(path):
            return True
        return change == Change.deleted and "." not in parts[-1]  # maybe a folder

    failures = 0
    seen: dict[str, tuple[int, int] | None] = {}  # the files last reported, as they were
    while not stop.is_set():
        try:
            for changes in watch(
                root,
                watch_filter=wanted,
                step=settle_ms,  # watchfiles' "step": yield after this long without news
                debounce=max(settle_ms, 10_000),
                stop_event=stop,
                raise_interrupt=False,
                force_polling=polling,
                poll_delay_ms=POLL_MS,
            ):
                failures = 0
                # a write while the last burst was held still is reported again: drop a
                # file that is as it was when it was reported
                paths = [
                    p
                    for p in sorted({p for _, p in changes})
                    if p not in seen or _state(p) != seen[p]
                ]
                if not paths:
                    continue
                _hold_still(paths, settle_ms, stop)
                seen = {p: _state(p) for p in paths}
                yield [Path(p).relative_to(root).as_posix() for p in paths]
            return
        except (OSError, RuntimeError) as exc:  # watchfiles' own errors are RuntimeErrors
            failures += 1
            if not root.is_dir() or (failures >= RESTARTS and polling):
                raise QabotError(f"cannot watch {seeds_dir}: {exc}") from exc
            if failures >= RESTARTS:
                polling, failures = True, 0
            time.sleep(settle_ms / 1000)
            yield []


def _hold_still(paths: list[str], settle_ms: int, stop: threading.Event) -> None:
    """Wait until none of ``paths`` changes size or time for ``settle_ms`` (a write to a
    file already reported is no new change to watchfiles: it would yield mid-copy)."""

    deadline = time.monotonic() + LONGEST_WAIT_MS / 1000
    before = [_state(p) for p in paths]
    while time.monotonic() < deadline and not stop.wait(settle_ms / 1000):
        now = [_state(p) for p in paths]
        if now == before:
            return
        before = now


def _state(path: str) -> tuple[int, int] | None:
    """A file's size and modification time; None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)
