"""An index ready to answer from: loaded, built when there is none, refreshed when the seeds
changed, or the last good one when it cannot be refreshed."""

from __future__ import annotations

from pathlib import Path

from qabot.errors import QabotError
from qabot.index.build import update_index
from qabot.index.load import is_stale, load_index
from qabot.index.model import LOCK_WAIT_SECONDS, CorpusIndex, IndexReport
from qabot.records import Progress


def open_index(
    seeds_dir: Path, index_dir: Path, *, progress: Progress | None = None
) -> tuple[CorpusIndex, IndexReport | None]:
    """Load the index, building it when there is none (or it is unusable) and refreshing it
    when the seeds changed. The seeds are the source of truth, so rebuilding loses nothing.

    Returns the index and the report of the indexing work done (None when none was needed).
    When the seeds changed but the index cannot be updated (the disk is full or read-only,
    another qabot holds the rebuild lock), the last good index is returned with ``stale``
    saying why: answering from it beats no answer.
    """
    if not seeds_dir.is_dir():
        raise QabotError(
            f"seeds path is not a folder: {seeds_dir}"
            if seeds_dir.exists()
            else f"seeds folder not found: {seeds_dir}"
        )
    old: CorpusIndex | None = None
    try:
        old = load_index(index_dir)
        if not is_stale(seeds_dir, old.manifest):
            return old, None
    except QabotError:
        pass  # missing or unusable: update_index rebuilds it and says why
    try:
        # with a good index to answer from, a rebuild another qabot holds is not waited for
        wait = 0.0 if old else LOCK_WAIT_SECONDS
        report = update_index(seeds_dir, index_dir, progress=progress, wait_seconds=wait)
    except QabotError as exc:
        if old is None:
            raise
        old.stale = f"the seeds changed, but the index could not be updated: {exc}"
        return old, None
    return load_index(index_dir), report
