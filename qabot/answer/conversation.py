"""Follow-up questions: what a question leans on from the earlier turns of the chat."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from qabot.errors import QabotError
from qabot.search import tokens

# Words that point back at something said earlier.
_ANAPHORA = re.compile(
    r"\b(?:he|she|it|they|him|her|them|his|hers|its|their|this|that|these|those|there|then|"
    r"the (?:analyst|official|minister|meeting|visit|article|report|same))\b"
    r"|^\s*(?:and|but|so|also|what about|how about)\b",
    re.IGNORECASE,
)
CONTEXT_WEIGHT = 0.3  # how much the earlier question counts, relative to the new one
MAX_HISTORY_CHARS = 2000
MAX_QUESTION_CHARS = 1000


@dataclass(frozen=True)
class Turn:
    """A question made ready for retrieval."""

    question: str
    context: str  # earlier question(s) it leans on; "" when it stands alone
    leans_back: bool  # whether it has words that point at the earlier turns
    referents: tuple[str, ...] = ()  # names the earlier answer established ("Yoav Gallant")

    @property
    def resolved(self) -> str:
        if not self.context:
            return self.question
        known = f"; {', '.join(self.referents)}" if self.referents else ""
        return f"{self.question} [context: {self.context}{known}]"

    @property
    def retrieval_context(self) -> str:
        """The earlier question and what its answer named: "he" is looked for by name."""
        return " ".join([self.context, *self.referents]).strip()


def leans_back(question: str) -> bool:
    """Whether ``question`` points at earlier turns ("he", "it", "the analyst", a leading
    "And") or is too short to stand alone."""
    return bool(_ANAPHORA.search(question)) or len(tokens.terms(question)) <= 2


def resolve(question: str, history: Sequence[str] = (), referents: Sequence[str] = ()) -> Turn:
    """Attach the most recent earlier question (and the names its answer gave) as context,
    when the question leans on it; a question that stands alone is read alone, whatever
    was asked before it."""
    earlier = [h.strip() for h in history if h and h.strip()]
    if not earlier or not leans_back(question):
        return Turn(question, "", False)  # it stands alone: the chat must not steer it
    return Turn(question, earlier[-1][-MAX_HISTORY_CHARS:], True, tuple(referents))


_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def clean_question(question: str, what: str = "question") -> str:
    """Strip control characters and surrounding space; refuse empty or huge questions.
    ``what`` names the text in the error ("history entry 2").

    The length is checked before anything else is done with the text, so a pasted
    megabyte costs nothing but this one comparison.
    """
    if not isinstance(question, str):
        raise QabotError(f"{what} must be text")
    if len(question) > 100 * MAX_QUESTION_CHARS:
        raise QabotError(
            f"{what} is too long ({len(question):,} characters; limit {MAX_QUESTION_CHARS})"
        )
    text = _ANSI.sub(" ", question)  # a pasted colour code is not part of the question
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    text = " ".join(text.split())
    if not text:
        raise QabotError(f"{what} is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise QabotError(
            f"{what} is too long ({len(text):,} characters; limit {MAX_QUESTION_CHARS})"
        )
    return text
