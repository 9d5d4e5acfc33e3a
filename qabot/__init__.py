"""qabot: offline question answering that answers only with exact, cited quotes of the corpus.

    >>> import qabot
    >>> result = qabot.ask("Who is Israel's defense minister?")
    >>> result.answers[0].short_answer.text

Heavy modules (torch, faiss, spaCy) load on first use, not on import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qabot.errors import QabotError
from qabot.records import (
    Answer,
    AskResult,
    Citation,
    Evidence,
    IndexSummary,
    Location,
    ShortAnswer,
)

if TYPE_CHECKING:
    from qabot.api import QABot, ask

__all__ = [
    "Answer",
    "AskResult",
    "Citation",
    "Evidence",
    "IndexSummary",
    "Location",
    "QABot",
    "QabotError",
    "ShortAnswer",
    "ask",
]


def __getattr__(name: str) -> Any:
    if name in ("ask", "QABot"):
        from qabot import api

        return getattr(api, name)
    raise AttributeError(name)
