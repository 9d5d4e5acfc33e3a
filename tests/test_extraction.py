"""Answers from the shipped reader (``QABOT_ANSWERER=reader``) on the real seeds: exact
quotes, short answers inside them, abstention, follow-ups."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qabot.answer.extraction import _bounds, _names, _sentences_of
from qabot.answer.facts import group
from qabot.answer.questions import YES_NO
from qabot.answer.reader_inputs import SpanScore
from qabot.api import QABot

from .conftest import SEEDS, file_text
from .test_answering import assert_exact

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bot(bot: QABot) -> QABot:
    """The seeds' index, answered by the reader."""
    return QABot(SEEDS, bot.index_dir, refresh=False, answerer="reader")


def test_every_dev_question_gets_exact_quotes(bot: QABot, dev_questions) -> None:
    assert bot.answerer.kind == "reader"
    for q in dev_questions:
        result = bot.ask(q["question"], q.get("history", []))
        assert_exact(result)
        polar = YES_NO.search(q["question"])  # answered by the sentence answerer
        for a in result.answers:
            assert polar or a.short_answer is not None  # the reader's span, in its sentence
            assert "\n\n" not in a.text and 0.0 <= a.score <= 1.0
            assert a.citations and (a.citations[0].doc, a.citations[0].start) == (a.doc, a.start)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who is Israel's defense minister?", "Gallant"),
        ("How much humanitarian aid has the US pledged to Gaza?", "$100 million"),
        ("Who leads the Wilson Centre's Mideast programme?", "Melissa"),
    ],
)
def test_short_answers(bot: QABot, question: str, expected: str) -> None:
    result = bot.ask(question)
    assert not result.abstained, result.note
    assert expected in result.answers[0].short_answer.text


def test_abstains_when_the_corpus_does_not_answer(bot: QABot) -> None:
    for question in (
        "What is the boiling point of liquid nitrogen?",
        "Who won the 1998 football World Cup?",
    ):
        result = bot.ask(question)
        assert result.abstained and not result.answers, (question, result.answers)
        assert "reader" in result.note and result.evidence


def test_a_yes_no_question_is_answered_with_the_sentence_that_settles_it(bot: QABot) -> None:
    # the reader has no span for "yes": the sentence answerer quotes the sentence instead
    result = bot.ask("Has the U.N. raised alarms about starvation in Gaza?")
    assert not result.abstained, result.note
    assert "famine" in result.answers[0].text
    assert result.answers[0].short_answer is None  # no span stands for yes or no


def test_a_follow_up_is_answered_by_another_name_than_the_one_it_leans_on(bot: QABot) -> None:
    result = bot.ask("And who did he meet at the Pentagon?", ["Who is Israel's defense minister?"])
    assert not result.abstained, result.note
    assert "Gallant" not in result.answers[0].short_answer.text
    assert "Austin" in result.answers[0].short_answer.text


def test_a_question_that_names_its_source_is_answered(bot: QABot, monkeypatch) -> None:
    # the reader refuses questions that name what the passage does not, and no passage calls
    # itself "the spat article": it reads the question without the attribution
    reader = bot.answerer.reader
    read: list[str] = []
    original = type(reader).read

    def recording(self, question: str, passages: list[str]):
        read.append(question)
        return original(self, question, passages)

    monkeypatch.setattr(type(reader), "read", recording)
    for question, plain, expected in (
        (
            "According to the diplomatic-spat story, what were White House officials?",
            "What were White House officials?",
            "confused",
        ),
        (
            "Which city is Israel planning to invade, according to the spat article?",
            "Which city is Israel planning to invade?",
            "Rafah",
        ),
    ):
        read.clear()
        result = bot.ask(question)
        assert read == [plain]
        assert not result.abstained, (question, result.note)
        # the quoted sentence, not the span: where a span ends ("the southern Gaza city" or
        # "… of Rafah") can turn on int8 rounding, which differs between CPUs
        assert expected in result.answers[0].text


# ------------------------------------------------------------------ how spans become answers

GALLANT_DOC = "000_816a538e2e2ec7f8.txt"


def _paragraph(bot: QABot, doc: str, holding: str):
    return next(p for p in bot.index.paragraphs if p.doc == doc and holding in p.text)


def _span(p, text: str, passage: int = 0, logp: float = -1.0) -> SpanScore:
    a = p.text.index(text)
    return SpanScore(passage, a, a + len(text), logp)


def test_a_span_across_two_sentences_is_quoted_in_both(bot: QABot) -> None:
    p = _paragraph(bot, GALLANT_DOC, "Lloyd Austin")
    assert len(p.sentences) >= 2
    crossing = _span(p, "high-stakes diplomacy. He will meet")
    first, last = _sentences_of(p, crossing)
    assert last == first + 1
    start, end = _bounds(p, first, last)
    text = file_text(SEEDS, p.doc)
    assert text[start:end].startswith("Yoav Gallant") and "Lloyd Austin" in text[start:end]
    # a paragraph without sentences is quoted whole
    bare = replace(p, sentences=())
    assert _bounds(bare, *_sentences_of(bare, crossing)) == (p.start, p.end)


def test_spans_group_by_name_or_by_overlapping_the_first_span(bot: QABot) -> None:
    p = _paragraph(bot, GALLANT_DOC, "Lloyd Austin")
    gallant = _span(p, "Yoav Gallant", logp=-0.5)
    # a long span holding both names joins the best fact; it does not pull Austin into it
    longer = p.text[gallant.start : p.text.index("Lloyd Austin") + len("Lloyd Austin")]
    both = _span(p, longer, logp=-1.0)
    austin = _span(p, "Lloyd Austin", logp=-2.0)
    surname = _span(p, "Austin", logp=-3.0)
    facts = group([gallant, both, austin, surname], [p.text], floor=-10.0)
    assert [f.texts for f in facts] == [["Yoav Gallant", longer], ["Lloyd Austin", "Austin"]]


def test_a_referent_is_a_run_of_whole_words_of_the_name_or_a_spelling_of_it() -> None:
    assert _names("Gallant", "Yoav Gallant") and _names("yoav  GALLANT", "Yoav Gallant")
    assert _names("Yov Gallant", "Yoav Gallant") and _names("Yoav Galant", "Yoav Gallant")
    assert not _names("Gal", "Yoav Gallant") and not _names("Lloyd Austin", "Yoav Gallant")
    assert not _names("", "Yoav Gallant") and not _names("Benny Gantz", "Yoav Gallant")
