"""How reader spans become facts, and when two facts are a conflict."""

from __future__ import annotations

import math

import pytest

from qabot.answer.facts import find, group, same_value
from qabot.answer.reader_inputs import SpanScore

OPENED = "The Harbour Bridge was opened in 1932 by the mayor of the city."
REOPENED = "The Harbour Bridge was opened in 1958 by the mayor of the city."


def _span(passages: list[str], k: int, text: str, logp: float) -> SpanScore:
    start = passages[k].index(text)
    return SpanScore(k, start, start + len(text), logp)


def test_a_fact_is_as_probable_as_its_spans_together() -> None:
    texts = [OPENED, REOPENED]
    spans = [
        _span(texts, 1, "1958", -1.0),
        _span(texts, 0, "1932", -1.2),
        _span(texts, 0, "in 1932", -1.4),
        _span(texts, 0, "1932 by the mayor", -2.0),
    ]
    facts = group(spans, texts, floor=-5.0)
    # "1932" and the spans around it outweigh the single best span
    assert [f.texts[0] for f in facts] == ["1932", "1958"]
    expected = math.log(sum(math.exp(x) for x in (-1.2, -1.4, -2.0)))
    assert facts[0].logp == pytest.approx(expected)


def test_a_span_joins_a_fact_by_its_first_span_only() -> None:
    texts = [OPENED, REOPENED]
    spans = [
        _span(texts, 1, "1958", -1.0),
        _span(texts, 1, "1958 by the mayor of the city", -2.0),
        # resembles the second span of "1958", not its first: another fact
        _span(texts, 0, "1932 by the mayor of the city", -3.0),
    ]
    facts = group(spans, texts, floor=-5.0)
    assert [f.texts[0] for f in facts] == ["1958", "1932 by the mayor of the city"]


def test_a_confident_fact_from_another_document_is_a_rival() -> None:
    texts = [OPENED, REOPENED]
    spans = [_span(texts, 1, "1958", -1.0), _span(texts, 0, "1932", -1.5)]
    facts, other = find(spans, texts, ["a", "b"], confident=-3.0)
    assert other is facts[1] and other.texts == ["1932"]
    # not confident enough
    assert find(spans, texts, ["a", "b"], confident=-1.2)[1] is None
    # one document stating both is not a conflict between sources
    assert find(spans, texts, ["a", "a"], confident=-3.0)[1] is None


def test_spelling_variants_and_shortenings_are_one_value() -> None:
    assert same_value("Yoav Gallant", "Yoav Galant")
    assert same_value("Gallant", "Yoav Gallant")
    assert not same_value("1932", "1958")
    assert not same_value("Gallant", "the defense minister Yoav Gallant met Lloyd Austin today")
