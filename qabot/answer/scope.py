"""Questions that name a source ("according to the AP report", "the article on Gaza"):
documents whose title or text has its words count more."""

from __future__ import annotations

import re

from qabot.index.model import CorpusIndex
from qabot.search import tokens
from qabot.search.retrieval import Retriever

SCOPE = re.compile(
    r"(?:according to|in|from|per|by)\s+(?:the|this|that|an?)\s+(?P<name>[^,?]{1,60}?)\s+"
    r"(?:article|report|story|piece|account|coverage)\b"
    r"|(?:the|this|that)\s+(?:article|report|story|piece)\s+(?:on|about)\s+(?P<topic>[^,?]{1,80})",
    re.I,
)
SCOPE_NOISE = {"news", "articl", "report", "stori"}


class SourceScope:
    def __init__(self, index: CorpusIndex, retriever: Retriever) -> None:
        self.index = index
        self.retriever = retriever

    def weights(self, question: str) -> dict[str, float]:
        """How well each document matches a source the question names ("the AP report")."""
        m = SCOPE.search(question)
        if not m:
            return {}
        wanted = {t for t in tokens.terms(m.group("name") or m.group("topic") or "")} - SCOPE_NOISE
        if not wanted:
            return {}
        in_text = {t: self.retriever.docs_with(t) for t in wanted}
        found: dict[str, float] = {}
        for name in self.index.manifest.files:
            title_terms = set(tokens.terms(self.index.title(name)))
            found[name] = sum(
                1.0 if t in title_terms else 0.6 if name in in_text[t] else 0.0 for t in wanted
            ) / len(wanted)
        return found
