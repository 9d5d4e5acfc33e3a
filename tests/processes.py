"""This test process's own child processes, as Linux's /proc lists them."""

from pathlib import Path


def children() -> set[int]:
    """The process ids of this process's live children."""
    tasks = Path("/proc/self/task").glob("*/children")
    return {int(pid) for task in tasks for pid in task.read_text().split()}
