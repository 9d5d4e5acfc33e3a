"""The sentence scorer (``QABOT_ANSWERER=sentences``) on the real seeds: exact offsets, no
chrome, conflicts, abstention, follow-ups."""

from dataclasses import replace
from pathlib import Path

import pytest

from qabot.answer.answering import AnswererConfig, expected_labels
from qabot.ingest.embedding import embed
from qabot.records import AskResult
from qabot.search.retrieval import Query

from .conftest import SEEDS, file_text
from .test_cleaning import CHROME

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bot(bot):
    """The seeds' index, answered by the sentence scorer."""
    from qabot.api import QABot

    return QABot(SEEDS, bot.index_dir, refresh=False, answerer="sentences")


def assert_exact(result: AskResult) -> None:
    """Every span qabot returns equals the file text at its offsets."""
    for a in result.answers:
        text = file_text(SEEDS, a.doc)
        assert text[a.start : a.end] == a.text
        assert text[a.context_start : a.context_end] == a.context
        assert a.context_start <= a.start < a.end <= a.context_end
        if a.short_answer:
            assert text[a.short_answer.start : a.short_answer.end] == a.short_answer.text
            assert a.start <= a.short_answer.start < a.short_answer.end <= a.end
        for c in a.citations:
            assert file_text(SEEDS, c.doc)[c.start : c.end] == c.text
    for e in result.evidence:
        assert file_text(SEEDS, e.doc)[e.start : e.end] == e.text


def test_offsets_exact_and_no_chrome_for_every_dev_question(bot, dev_questions) -> None:
    for q in dev_questions:
        result = bot.ask(q["question"], q.get("history", []))
        assert_exact(result)
        for a in result.answers:
            assert "\n\n" not in a.text  # a sentence, never a paragraph dump
            for chrome in CHROME:
                assert chrome not in a.text and chrome not in a.context


def test_defense_minister(bot) -> None:
    result = bot.ask("Who is Israel's defense minister?")
    assert not result.abstained
    top = result.answers[0]
    assert top.short_answer is not None and top.short_answer.text == "Yoav Gallant"
    # the same fact from several articles is one answer with several citations
    assert len({c.doc for c in top.citations}) >= 2
    assert result.conflict  # one article names Benny Gantz


def test_short_answers(bot) -> None:
    cases = {
        "How much humanitarian aid has the US pledged to Gaza?": "$100 million",
        "When was the photo of Palestinians inspecting airstrike damage in Rafah taken?": "March 24, 2024",
        "Which regional countries has the U.S. engaged with while seeking a diplomatic solution?": "Egypt, Qatar",
    }
    for question, short in cases.items():
        result = bot.ask(question)
        assert result.answers[0].short_answer is not None, question
        assert result.answers[0].short_answer.text == short


def test_conflict_questions(bot, dev_questions) -> None:
    for q in (q for q in dev_questions if q["type"] == "conflict"):
        result = bot.ask(q["question"])
        assert result.conflict, q["id"]
        assert len(result.answers) >= 2


def test_no_conflict_on_plain_factoids(bot, dev_questions) -> None:
    for q in dev_questions:
        if q["type"] in ("factoid", "date", "numeric", "misspelled"):
            assert not bot.ask(q["question"]).conflict, q["id"]


def test_abstains_when_the_corpus_does_not_answer(bot) -> None:
    result = bot.ask(
        "When did Netanyahu publish the video accusing the U.S. of holding back weapons?"
    )
    assert result.abstained and not result.answers
    assert result.evidence  # the closest evidence is still shown, as such
    off_topic = bot.ask("What is the boiling point of liquid nitrogen?")
    assert off_topic.abstained


def test_a_date_in_a_sentence_about_something_else_does_not_answer_when(bot, dev_questions) -> None:
    # The seeds never say when the video came out. A sentence about the UN vote holds a
    # date ("almost six months") and almost none of the question's words; with float32 it
    # scored 0.798 of the best and with int8 0.809, just either side of the 0.8 that shows a
    # candidate. Even scored as the best, it must not turn the abstention into an answer.
    question = "When did Netanyahu publish the video accusing the U.S. of holding back weapons?"
    words = bot.retriever.analyze(question)
    query = Query(words, embed([question])[0])
    candidates = bot.answerer.candidates(bot.retriever.search(query, k=10), query, question)
    dated = [c for c in candidates[:10] if c.short and c.short.label == "DATE"]
    assert dated and all(c.lexical < AnswererConfig().typed_min_coverage for c in dated)
    for c in dated:
        lifted = replace(c, score=candidates[0].score)
        found = bot.answerer.answer([lifted, *(o for o in candidates if o is not c)], question)
        assert found.abstained and not found.answers
        assert found.note == "no DATE/TIME in a sentence about the question"
    # a sentence about the question still answers it with its date (dev d005)
    d005 = next(q for q in dev_questions if q["id"] == "d005")
    when = bot.ask(d005["question"])
    assert not when.abstained and when.answers[0].short_answer.text in d005["answers"]


def test_follow_up_uses_history(bot) -> None:
    result = bot.ask("And what did he say about aid?", ["How did Austin describe casualties?"])
    assert "Austin" in result.resolved_question
    assert "aid delivery as “too low”" in result.answers[0].text
    followup = bot.ask(
        "Had Hanegbi actually been confirmed for it?",
        ["Which U.S. official was overseeing the high-level meeting on Iran that was scrapped?"],
    )
    assert "never finally nailed onto the schedule" in followup.answers[0].text


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When did Galant meet Lloyd Austen?", "Austin"),
        ("What did Bibi cancel?", "Netanyahu"),
        ("Why would an invasion of Rafa be a mistake?", "mistake"),
        ("Who leads the Wilson Centre's Mideast programme?", "Melissa Kurma"),
        ("Has the U.N. raised alarms about starvation in Gaza?", "famine"),
    ],
)
def test_misspelled_and_variant_names(bot, question: str, expected: str) -> None:
    result = bot.ask(question)
    assert not result.abstained
    assert expected in " ".join(c.text for a in result.answers[:2] for c in a.citations)


def test_timings_are_reported(bot) -> None:
    result = bot.ask("Who is Israel's defense minister?")
    assert set(result.timings_ms) >= {"embed", "retrieve", "answer", "total"}


def test_expected_labels() -> None:
    assert expected_labels("Who leads the programme?")[0] == "PERSON"
    assert expected_labels("When did they meet?")[0] == "DATE"
    assert expected_labels("How many battalions are in Rafah?")[0] == "CARDINAL"
    assert expected_labels("How much aid was pledged?")[0] == "MONEY"
    assert expected_labels("Which regional countries were engaged?")[0] == "GPE"
    assert expected_labels("What did the analyst say Biden is trying to do?") == ()
    assert expected_labels("Why has the coalition struggled?") == ()


def test_bad_questions(bot) -> None:
    from qabot.errors import QabotError

    for bad in ["", "   \n\t", "\x00\x01"]:
        with pytest.raises(QabotError, match="empty"):
            bot.ask(bad)
    with pytest.raises(QabotError, match="too long"):
        bot.ask("why " * 300_000)
    for odd in [
        "???",
        "加沙的停火决议是什么？",
        "ما هو قرار وقف إطلاق النار؟",
        "🚀🔥",
        "a\x1b[31mred",
    ]:
        result = bot.ask(odd)  # answered or abstained, never a crash
        assert_exact(result)


def test_seeds_are_unchanged_by_asking(bot) -> None:
    assert sorted(p.name for p in Path(SEEDS).iterdir()) == sorted(
        p.name for p in Path(SEEDS).iterdir() if p.suffix == ".txt"
    )


def test_a_full_word_cache_is_emptied_without_losing_words(bot, monkeypatch) -> None:
    """Question words the corpus lacks are embedded and cached; when the cache is full it
    is emptied before the look-up, so the same question still answers (no KeyError)."""
    from qabot.answer.answering import Answerer

    answerer = Answerer(bot.index, bot.retriever, AnswererConfig(word_cache=0))
    monkeypatch.setattr(bot, "answerer", answerer)
    question = "Who is the Israeli defence supremo visiting Washington?"
    first = bot.ask(question)
    assert bot.answerer._word_vectors  # "supremo" is not a corpus word: embedded, cached
    second = bot.ask(question)
    assert [a.text for a in second.answers] == [a.text for a in first.answers]


def test_a_named_source_scopes_to_the_documents_that_use_its_words(bot) -> None:
    """ "According to the … article": documents whose title has the words count most, then
    those whose text has them (found from the BM25 rows, not by reading every paragraph)."""
    from qabot.search import tokens

    index, answerer = bot.index, bot.answerer
    terms = list(index.paragraph_terms)
    for word in ("Gaza", "Pentagon", "Israel", "shipment", "zzyzx"):
        (term,) = tokens.terms(word)
        want = {p.doc for p, t in zip(index.paragraphs, terms, strict=True) if term in t}
        assert answerer.retriever.docs_with(term) == want
        assert (word == "zzyzx") == (not want)
    scope = answerer.scope.weights("According to the arms shipment article, what was held up?")
    best = max(scope, key=scope.get)
    assert scope[best] == 1.0 and "Arms Shipment" in index.title(best)
    assert set(scope) == set(index.manifest.files)
