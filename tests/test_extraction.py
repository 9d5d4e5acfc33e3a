"""Answers from the shipped reader (``QABOT_ANSWERER=reader``) on the real seeds: exact
quotes, short answers inside them, abstention, follow-ups."""

from __future__ import annotations

import pytest

from qabot.api import QABot

from .test_answering import assert_exact

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bot(bot: QABot) -> QABot:
    """The seeds' index, answered by the reader."""
    from .conftest import SEEDS

    return QABot(SEEDS, bot.index_dir, refresh=False, answerer="reader")


def test_every_dev_question_gets_exact_quotes(bot: QABot, dev_questions) -> None:
    assert bot.answerer.kind == "reader"
    for q in dev_questions:
        result = bot.ask(q["question"], q.get("history", []))
        assert_exact(result)
        for a in result.answers:
            assert a.short_answer is not None  # the reader's span, quoted in its sentence
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


def test_a_follow_up_is_answered_by_another_name_than_the_one_it_leans_on(bot: QABot) -> None:
    result = bot.ask("And who did he meet at the Pentagon?", ["Who is Israel's defense minister?"])
    assert not result.abstained, result.note
    assert "Gallant" not in result.answers[0].short_answer.text
    assert "Austin" in result.answers[0].short_answer.text
