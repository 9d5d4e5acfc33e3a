"""Sentences and paragraphs from spaCy: exact spans for any text (loads spaCy: slow)."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qabot.ingest.annotation import MAX_NLP_CHARS, annotate, annotate_documents, pieces
from qabot.ingest.cleaning import clean
from qabot.records import Document

pytestmark = pytest.mark.slow

# Text that looks like articles some of the time: words, sentence ends, blank lines, and any
# Unicode at all in between (no surrogates: files are decoded UTF-8).
_ANY = st.characters(codec="utf-8")
_PROSE = st.sampled_from(
    ["The minister said.", " ", "\n", "\n\n", "U.S.", "Gaza", "“Quote,” he said. ", "…", "\r\n"]
)
TEXT = st.lists(st.one_of(st.text(alphabet=_ANY, max_size=20), _PROSE), max_size=40).map("".join)


def check_spans(text: str) -> None:
    doc = Document("x.txt", text, "0", len(text), 0)
    last_end = 0
    for p in annotate(clean(doc), text):
        assert 0 <= p.start < p.end <= len(text)
        assert p.start >= last_end, "paragraphs overlap or go backwards"
        assert text[p.start : p.end] == p.text
        last_end = p.end
        assert p.sentences and p.sentences[0].start == p.start and p.sentences[-1].end == p.end
        previous = p.start
        for s in p.sentences:
            assert previous <= s.start < s.end <= p.end
            sentence = text[s.start : s.end]
            assert sentence == sentence.strip() and sentence
            previous = s.end
        for e in p.entities:
            assert p.start <= e.start < e.end <= p.end


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_paragraph_and_sentence_spans_are_exact_for_any_text(text: str) -> None:
    check_spans(text)


def test_a_block_too_long_for_the_parser_is_annotated_in_pieces() -> None:
    sentence = "The minister said on Monday in Washington that the talks would go on. "
    text = "Title of the piece here\n\n" + sentence * (3 * MAX_NLP_CHARS // len(sentence))
    text += "x" * (MAX_NLP_CHARS + 5)  # one "word" longer than a piece
    check_spans(text)


@given(st.text(alphabet=_ANY, max_size=300), st.integers(min_value=1, max_value=60))
def test_pieces_cover_the_text_in_order(text: str, limit: int) -> None:
    spans = pieces(text, limit)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end == start
    assert all(0 < e - s <= limit for s, e in spans) or text == ""


def test_documents_annotated_together_match_one_by_one() -> None:
    """The index annotates all new files as one spaCy stream: the same paragraphs, sentences
    and entities as annotating each seed alone, and every block reported once."""
    from pathlib import Path

    from qabot.ingest.loading import read_document, scan

    seeds = Path(__file__).resolve().parent.parent / "seeds"
    docs = [d for d in map(read_document, scan(seeds)[0]) if isinstance(d, Document)]
    assert len(docs) >= 2
    cleaned = [(clean(d), d.text) for d in docs]
    ticks = []
    together = annotate_documents(cleaned, lambda: ticks.append(1))
    assert len(ticks) == sum(len(blocks) for blocks, _ in cleaned)
    assert together == [annotate(blocks, text) for blocks, text in cleaned]
    assert any(p.entities for p in itertools.chain(*together))
