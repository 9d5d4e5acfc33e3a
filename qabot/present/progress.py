"""A long run on a terminal: a bar per stage, with its rate and the time left."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from qabot.records import Progress

if TYPE_CHECKING:
    from rich.console import Console

# what each stage of a long run counts, for its rate
UNITS = {
    "reading": "files",
    "annotating": "paragraphs",
    "embedding": "texts",
    "words": "words",
    "questions": "questions",
}


@contextmanager
def progress_bar(console: Console | None = None) -> Iterator[Progress | None]:
    """A progress bar on stderr when it is a terminal, with each stage's rate and time
    left; nothing otherwise (a piped run prints its one summary line)."""
    if console is None and not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("{task.description:<11}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>18}"),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total, rate="")
            task = tasks[stage]
            bar.update(task, completed=done, total=total)
            speed = bar.tasks[task].speed  # over rich's recent window
            if speed:
                bar.update(task, rate=f"{speed:,.1f} {UNITS.get(stage, 'items')}/s")

        yield update
