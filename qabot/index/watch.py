"""Noticing changes to the seeds folder, so that they are indexed without being asked.

The operating system reports each write (inotify, FSEvents, ReadDirectoryChangesW, through
watchfiles); a burst of writes (a copy of many files, an editor's save) is reported once,
after ``SETTLE_MS`` without a further change, so a half-copied file is not indexed as it is.
What is reported is only a hint: ``update_index`` compares the whole folder with the index
anyway (a ``stat`` a file), so a change the watch misses is caught by the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from qabot.errors import QabotError

SETTLE_MS = 800  # quiet time after the last write before the burst counts as done
LONGEST_BURST_MS = 10_000  # a longer stream of writes (a big copy) is indexed in steps


def seed_changes(
    seeds_dir: Path, stop: threading.Event, settle_ms: int = SETTLE_MS
) -> Iterator[list[str]]:
    """Yield the names (relative to ``seeds_dir``) touched by each settled burst of
    changes, until ``stop`` is set or Ctrl+C. Hidden files and folders are not watched:
    qabot does not index them."""
    from watchfiles import watch

    root = seeds_dir.resolve()
    if not root.is_dir():
        raise QabotError(f"seeds folder not found: {seeds_dir}")

    def visible(_change: object, path: str) -> bool:
        try:
            parts = Path(path).relative_to(root).parts
        except ValueError:
            return False
        return not any(p.startswith(".") for p in parts)

    try:
        for changes in watch(
            root,
            watch_filter=visible,
            step=settle_ms,  # watchfiles' "step": yield after this long without a change
            debounce=max(settle_ms, LONGEST_BURST_MS),
            stop_event=stop,
            raise_interrupt=False,
        ):
            yield sorted({Path(p).relative_to(root).as_posix() for _, p in changes})
    except OSError as exc:  # the folder was removed, or the watch limit was reached
        raise QabotError(f"cannot watch {seeds_dir}: {exc.strerror or exc}") from exc
