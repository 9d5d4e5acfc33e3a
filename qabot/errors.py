"""The one error type users see: its message is a single line that says what to do."""


class QabotError(Exception):
    """A user-facing failure (bad input, missing corpus, broken index)."""
