"""Conflicts between strong answers: different names in the same slot of the question, or,
for a yes/no question, one source affirming what another denies."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol

from qabot.answer.facts import same_value
from qabot.records import Paragraph
from qabot.search import tokens

_NEGATION = re.compile(r"\b(?:not|no|never|cannot|without)\b|n[’']t\b", re.I)
_WORD = re.compile(r"\w+")


class _Quoted(Protocol):
    @property
    def text(self) -> str: ...


def polarity_conflict(leaders: list[_Quoted], question: str) -> bool:
    """Of strong answers to a yes/no question, one negates a question word another affirms."""
    # only the question's lowercase words: predicates ("defeated"), not names
    lower = " ".join(w for w in question.split() if w[:1].islower())
    q_terms = {tokens.stem(w) for w in tokens.words(lower) if w not in tokens.STOPWORDS}
    negated: set[str] = set()
    affirmed: set[str] = set()
    for c in leaders[:4]:
        words = list(_WORD.finditer(c.text))
        for i, m in enumerate(words):
            t = tokens.stem(tokens.fold(m.group()))
            if t not in q_terms:
                continue
            before = c.text[words[max(0, i - 3)].start() : m.start()]
            (negated if _NEGATION.search(before) else affirmed).add(t)
    return bool(negated & affirmed)


class _Filled(Protocol):
    """A candidate sentence with the names in it and the question words around each."""

    @property
    def paragraph(self) -> Paragraph: ...
    @property
    def start(self) -> int: ...
    @property
    def fillers(self) -> list[tuple[str, frozenset[str]]]: ...


def slot_conflict(
    leaders: Sequence[_Filled], shared: int, idf: Callable[[str], float], overlap: float
) -> bool:
    """Two strong answers put different names next to the same words of the question.

    ``shared`` is how many question words the two names' neighbourhoods must have in common:
    one when the question asks for that kind of name, two when it does not; and they must
    carry most (``overlap``) of the weight of both ("Prime Minister X" does not rival
    "Defense Minister Y").
    """

    def weight(words: frozenset[str]) -> float:
        return sum(idf(w) for w in words)

    for i, a in enumerate(leaders):
        for b in leaders[i + 1 :]:
            if a.paragraph.doc == b.paragraph.doc and a.start == b.start:
                continue
            for va, na in a.fillers:
                if any(same_value(va, vb) for vb, _ in b.fillers):
                    continue
                for vb, nb in b.fillers:
                    common = na & nb
                    if (
                        len(common) >= shared
                        and weight(common) >= overlap * weight(na | nb)
                        and not any(same_value(vb, x) for x, _ in a.fillers)
                    ):
                        return True
    return False
