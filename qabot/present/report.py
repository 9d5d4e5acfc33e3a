"""An indexing run in words, for ``qabot index``, ``qabot ask`` and the chat."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qabot.present.display import safe

if TYPE_CHECKING:
    from qabot.index.model import IndexReport


def describe(report: IndexReport, *, brief: bool = False) -> str:
    """What an indexing run did.

    In full, as ``qabot index`` prints it: the files added, changed, removed and unchanged,
    the paragraphs, sentences and texts embedded, and the time; then why the old index was
    not reused, the leftovers of an interrupted run removed and each file skipped with its
    reason, one a line (names shown safely). ``brief``, for a notice in the chat: the file
    counts and how many files were skipped, on one line.
    """
    files = (
        f"{len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.removed)} removed, {len(report.unchanged)} unchanged"
    )
    if brief:
        skipped = f"; {len(report.skipped)} files skipped" if report.skipped else ""
        return f"index: {files}{skipped}"
    lines = [
        f"indexed: {files}; {report.paragraphs} paragraphs, {report.sentences} sentences; "
        f"{report.embedded} texts embedded; {report.seconds:.2f} s"
    ]
    if report.rebuilt_reason:
        lines.append(f"rebuilt from the seeds: {report.rebuilt_reason}")
    if report.swept:
        lines.append(f"removed leftovers of an interrupted run: {', '.join(report.swept)}")
    lines += [f"skipped {safe(s.name)}: {safe(s.reason)}" for s in report.skipped]
    return "\n".join(lines)


def changed_files(report: IndexReport, limit: int = 5) -> str:
    """The files an update added, changed and removed, by name (``limit`` of each kind),
    for a watch that reports each change as it is indexed; empty when none."""
    out = []
    for kind, names in (
        ("added", report.added),
        ("changed", report.changed),
        ("removed", report.removed),
    ):
        if names:
            more = f" and {len(names) - limit} more" if len(names) > limit else ""
            out.append(f"{kind} {', '.join(safe(n) for n in names[:limit])}{more}")
    return "; ".join(out)
