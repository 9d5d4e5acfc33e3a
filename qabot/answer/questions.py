"""What kind of answer a question asks for, read from its wording.

Who / when / where / how many / how much, and "which country" style questions want a named
entity of certain spaCy labels; questions that open with an auxiliary verb are yes/no.
"""

from __future__ import annotations

import re

_Q_PREFIX = r"^\s*(?:and|but|so|also|then)?\s*(?:according to [^,]+,\s*)?"
_EXPECTED: list[tuple[re.Pattern[str], tuple[str, ...]]] = [
    (re.compile(_Q_PREFIX + r"who(?:m|se)?\b", re.I), ("PERSON", "ORG")),
    (re.compile(r"\bhow many\b", re.I), ("CARDINAL", "QUANTITY")),
    (re.compile(r"\bhow much\b", re.I), ("MONEY", "PERCENT", "QUANTITY", "CARDINAL")),
    (re.compile(r"\bhow long\b", re.I), ("DATE", "TIME", "QUANTITY")),
    (
        re.compile(
            _Q_PREFIX + r"(?:when|(?:on |in )?(?:what|which) (?:year|date|day|month|time)\b)", re.I
        ),
        ("DATE", "TIME"),
    ),
    (re.compile(_Q_PREFIX + r"where\b", re.I), ("GPE", "LOC", "FAC")),
    (
        re.compile(
            r"\b(?:which|what)\s+(?:(?!(?:did|does|do|is|are|was|were|has|have|had|will|would|can|could)\b)[\w.'’-]+\s+){0,3}?(?:countries|country|nations?|cities|city|states)\b",
            re.I,
        ),
        ("GPE", "LOC", "NORP"),
    ),
    (
        re.compile(
            r"\b(?:which|what)\s+(?:(?!(?:did|does|do|is|are|was|were|has|have|had|will|would|can|could)\b)[\w.'’-]+\s+){0,3}?(?:presidents?|ministers?|officials?|person|"
            r"people|leaders?|reporters?|journalists?|spokes(?:man|woman|person)|secretary|"
            r"advis[eo]rs?|analysts?|directors?|generals?|diplomats?)\b",
            re.I,
        ),
        ("PERSON",),
    ),
    (
        re.compile(
            r"\b(?:which|what)\s+(?:(?!(?:did|does|do|is|are|was|were|has|have|had|will|would|can|could)\b)[\w.'’-]+\s+){0,3}?(?:organi[sz]ations?|groups?|party|parties|"
            r"agenc(?:y|ies)|compan(?:y|ies)|institutes?)\b",
            re.I,
        ),
        ("ORG",),
    ),
]
YES_NO = re.compile(
    r"^\s*(?:and\s+)?(?:can|could|is|are|was|were|do|does|did|has|have|had|will|would|should|must)\b",
    re.I,
)


def expected_labels(question: str) -> tuple[str, ...]:
    """spaCy entity labels that would answer the question, most wanted first; () if any."""
    for pattern, labels in _EXPECTED:
        if pattern.search(question):
            return labels
    return ()
