"""Which answer spans state the same fact, and when confident answers disagree.

The reader gives spans; several may name one thing ("Yoav Gallant", "Gallant", "Galant" in
a misspelled article). They become one fact with several sources. Two facts that are not the
same thing, each confidently extracted from a different document, are a conflict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from qabot.answer.reader_inputs import SpanScore
from qabot.search import tokens


def same_value(a: str, b: str) -> bool:
    """Two short answers name the same thing (spelling variants and shortenings allowed)."""
    fa, fb = tokens.fold(a), tokens.fold(b)
    if fa == fb:
        return True
    short, long_ = sorted((fa, fb), key=len)
    if fuzz.ratio(fa, fb) >= 80:
        return True
    # a shortening ("Gallant" of "Yoav Gallant"), not a name inside a longer passage
    close_in_length = len(long_.split()) <= 2 * len(short.split()) + 2
    return close_in_length and len(short) >= 5 and fuzz.partial_ratio(short, long_) >= 85


@dataclass
class Fact:
    """Spans that state one answer; the first is the most probable."""

    spans: list[SpanScore] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def logp(self) -> float:
        """The log-probability of the fact: of any of its spans (the reader spreads an
        answer over its bounds, "1932", "in 1932", and over the passages that state it)."""
        top = self.spans[0].logp
        return top + math.log(sum(math.exp(s.logp - top) for s in self.spans))

    @property
    def passages(self) -> set[int]:
        return {s.passage for s in self.spans}


def _overlap(a: SpanScore, b: SpanScore) -> bool:
    return a.passage == b.passage and a.start < b.end and b.start < a.end


def group(spans: list[SpanScore], passages: list[str], floor: float) -> list[Fact]:
    """Spans at or above log-probability ``floor`` grouped into facts, most probable first
    (``Fact.logp``). A span
    joins a fact when it names the same thing as the fact's first span or overlaps it in
    the passage. Only the first: a span joined by overlap ("1958 by the mayor") would
    otherwise pull in what merely resembles it elsewhere ("1932 by the mayor"), and overlap
    with any span would chain "Gallant" through "Gallant met Lloyd Austin" to "Austin"."""
    facts: list[Fact] = []
    for s in spans:
        if s.logp < floor:
            break
        text = passages[s.passage][s.start : s.end]
        for f in facts:
            if _overlap(s, f.spans[0]) or same_value(text, f.texts[0]):
                f.spans.append(s)
                f.texts.append(text)
                break
        else:
            facts.append(Fact([s], [text]))
    facts.sort(key=lambda f: -f.logp)  # stable: equal facts stay in span order
    return facts


def rival(facts: list[Fact], docs: list[str], floor: float) -> Fact | None:
    """The most probable fact, other than the best, stated at or above ``floor`` only in
    documents that do not state the best one; None when there is none."""
    if len(facts) < 2:
        return None
    best_docs = {docs[p] for p in facts[0].passages}
    for f in facts[1:]:
        if f.logp < floor:
            return None
        if not {docs[p] for p in f.passages} & best_docs:
            return f
    return None


def find(
    spans: list[SpanScore], passages: list[str], docs: list[str], confident: float
) -> tuple[list[Fact], Fact | None]:
    """The facts down to the best span or ``confident`` (whichever is lower), and the rival
    of the best one at ``confident``: what answering and calibration both decide by."""
    if not spans:
        return [], None
    found = group(spans, passages, min(spans[0].logp, confident))
    return found, rival(found, docs, confident)
