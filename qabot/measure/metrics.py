"""Scoring functions, each checkable by hand: answer matching and ranking metrics.

Answer matching uses the official SQuAD normalisation (lower case, ASCII punctuation and
articles removed, whitespace collapsed); ranking metrics are binary-relevance nDCG@k,
recall@k and reciprocal rank, as BEIR scores retrieval.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")


_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """The official SQuAD v1.1 normalisation: lower case, no punctuation/articles/extra space."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Iterable[str]) -> float:
    norm = normalize_answer(prediction)
    return float(any(norm == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: Iterable[str]) -> float:
    """Best SQuAD token F1 of ``prediction`` against any gold answer."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        ref = normalize_answer(gold).split()
        same = sum((Counter(pred) & Counter(ref)).values())
        if same:
            precision, recall = same / len(pred), same / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _word_bounds(text: str) -> str:
    """Non-ASCII punctuation as spaces: the official normalisation keeps it, so a curly quote
    or a dash glued to a word (``Netanyahu,”``) would hide that word from ``contains_answer``."""
    return "".join(
        " " if ord(ch) > 127 and unicodedata.category(ch).startswith("P") else ch for ch in text
    )


def contains_answer(span: str, golds: Iterable[str]) -> bool:
    """A gold answer occurs in ``span`` as whole normalised words (SQuAD normalisation, and
    non-ASCII punctuation counts as a word boundary)."""
    haystack = f" {normalize_answer(_word_bounds(span))} "
    return any(
        (needle := normalize_answer(_word_bounds(g))) and f" {needle} " in haystack for g in golds
    )


def ndcg_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k (as BEIR's pytrec_eval with graded qrels of 1)."""
    rel = set(relevant)
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return dcg / ideal if ideal else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    rel = set(relevant)
    return len(rel & set(ranked[:k])) / len(rel) if rel else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    rel = set(relevant)
    return next((1.0 / i for i, d in enumerate(ranked[:k], 1) if d in rel), 0.0)
