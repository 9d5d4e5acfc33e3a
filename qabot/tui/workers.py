"""What the chat's worker threads share: how they notice the app closing, and how an
unforeseen failure is put in one line."""

from __future__ import annotations

from textual.worker import NoActiveWorker, get_current_worker


class Cancelled(Exception):
    """The app is closing: an index worker stops at its next progress report."""


def closing() -> bool:
    """True in a worker the app has cancelled (it is quitting or replacing that worker)."""
    try:
        return get_current_worker().is_cancelled
    except NoActiveWorker:  # a thread the index stages started themselves
        return False


def unexpected(exc: BaseException) -> str:
    """One line for a failure qabot did not foresee; the chat keeps running."""
    return " ".join(f"unexpected {type(exc).__name__}: {exc}".split())
