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
# An attribution set off from the question ("…, according to the AP report?", "In the Gantz
# article, …"): it says where the answer is to be found, not what it is. Only a clause set off
# by commas (or the question's start and end) is one, and its source is named in one to four
# words that are not a preposition or a conjunction: "What was found in the 2019 report?" and
# "Which is higher, in the UN report or the WHO report?" ask about the reports.
_NOT_A_NAME = (
    r"(?:in|on|of|at|by|for|from|to|with|about|and|or|than|versus|vs|compared|that|which|who|whose)"
)
_SOURCE = (
    rf"(?:the|this|that|an?)\s+(?:(?!{_NOT_A_NAME}\b)[^\s,?]+\s+){{1,4}}?"
    r"(?:article|report|story|piece|coverage)\b"
)
ATTRIBUTION = re.compile(
    rf"(?:^|,)\s*(?:according\s+to|in|from|per)\s+{_SOURCE}\s*(?:,|(?=[?.!]*\s*$))",
    re.I,
)


def without_source(question: str) -> str:
    """``question`` without an attribution of its source, which retrieval has already used
    (``SourceScope``). The reader was trained to refuse a question that names what its
    passage does not mention, and no passage calls itself "the AP report"."""
    rest = question
    for _ in range(3):  # "Who met Sullivan, in the Gantz article, according to the AP report?"
        m = ATTRIBUTION.search(rest)
        if not m:
            break
        lead = "," if m.group(0).startswith(",") and m.group(0).endswith(",") else " "
        rest = rest[: m.start()] + lead + " " + rest[m.end() :]
        rest = re.sub(r"\s+(?=[?.!,])", "", re.sub(r"\s{2,}", " ", rest)).strip(" ,")
    if rest == question or len(re.findall(r"\w+", rest)) < 2:
        return question
    return rest[0].upper() + rest[1:]


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
