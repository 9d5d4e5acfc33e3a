"""``qabot.api.QABot``, the one door of the CLI and the chat, on the real seeds: indexing the
seeds (refresh, rebuild, staleness), reading a cited file, and the summary of the index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import qabot
from qabot.api import QABot
from qabot.errors import QabotError
from tests.conftest import SEEDS, file_text

pytestmark = pytest.mark.slow

DEFENSE = "Who is Israel's defense minister?"
GALLANT = "000_816a538e2e2ec7f8.txt"  # "Yoav Gallant, the Israeli Defense Minister, is also …"


@pytest.fixture
def one_seed(tmp_path: Path) -> Path:
    """A seeds folder with one real article: quick to index, and to index again."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEEDS / GALLANT, seeds)
    return seeds


def test_document_text_is_the_text_citations_index_into(bot: QABot) -> None:
    result = bot.ask(DEFENSE)
    places = [c for a in result.answers for c in a.citations] + result.evidence
    assert result.answers and places
    for place in places:
        text = bot.document_text(place.doc)
        assert text == file_text(SEEDS, place.doc)
        assert text[place.start : place.end] == place.text


@pytest.mark.parametrize("doc", ["../pyproject.toml", "/etc/hostname", "", ".", "missing.txt"])
def test_document_text_reads_only_files_of_the_seeds_folder(bot: QABot, doc: str) -> None:
    with pytest.raises(QabotError):
        bot.document_text(doc)


def test_summary_counts_what_the_index_holds(bot: QABot) -> None:
    summary = bot.summary()
    manifest = bot.index.manifest
    assert (summary.documents, summary.skipped) == (5, 0)
    assert summary.paragraphs == len(bot.index.paragraphs) == manifest.paragraphs
    assert summary.sentences == manifest.sentences
    assert summary.built == manifest.created and summary.index_dir == bot.index_dir


def test_refresh_indexes_a_new_seed_and_answers_from_it(one_seed: Path, tmp_path: Path) -> None:
    bot = QABot(one_seed, tmp_path / "index")
    assert bot.report is not None and bot.report.added == [GALLANT]
    assert not bot.is_stale() and bot.summary().documents == 1
    shutil.copy(one_seed / GALLANT, one_seed / "copy.txt")
    assert bot.is_stale()

    report = bot.refresh()
    assert report.added == ["copy.txt"] and report.unchanged == [GALLANT]
    assert bot.report is report and not bot.is_stale() and bot.summary().documents == 2
    result = bot.ask(DEFENSE)
    assert {c.doc for c in result.answers[0].citations} == {GALLANT, "copy.txt"}

    (one_seed / "copy.txt").unlink()
    assert bot.is_stale()
    assert bot.refresh().removed == ["copy.txt"]
    assert bot.summary().documents == 1
    assert {c.doc for c in bot.ask(DEFENSE).answers[0].citations} == {GALLANT}


def test_a_lazy_bot_indexes_without_loading_and_loads_at_first_use(
    one_seed: Path, tmp_path: Path
) -> None:
    bot = QABot(one_seed, tmp_path / "index", lazy=True)  # what `qabot index` does
    assert not bot.loaded
    assert bot.refresh().added == [GALLANT]
    again = bot.rebuild()
    assert again.added == [GALLANT] and again.rebuilt_reason
    assert not bot.loaded

    top = bot.ask(DEFENSE).answers[0]
    assert bot.loaded and top.short_answer and top.short_answer.text == "Yoav Gallant"
    first = bot.index.directory
    bot.rebuild()  # a loaded bot answers from the new generation from then on
    assert bot.index.directory != first and bot.index.directory.is_dir()
    assert bot.ask(DEFENSE).answers[0].text == top.text


def test_a_lazy_bot_over_no_index_says_so(tmp_path: Path) -> None:
    bot = QABot(SEEDS, tmp_path / "index", lazy=True)
    with pytest.raises(QabotError, match="no index at"):
        bot.ask(DEFENSE)


def test_the_module_function_answers_as_the_bot_does(bot: QABot) -> None:
    def without_timings(result: qabot.AskResult) -> dict:
        return {k: v for k, v in result.to_dict().items() if k != "timings_ms"}

    through_module = qabot.ask(DEFENSE, seeds_dir=SEEDS, index_dir=bot.index_dir)
    assert without_timings(through_module) == without_timings(bot.ask(DEFENSE))


def test_the_answerer_is_chosen_by_name_or_environment(bot: QABot, monkeypatch) -> None:
    """The sentence scorer answers by default; the reader by name or $QABOT_ANSWERER; a
    retrieval alone loads no answerer."""
    monkeypatch.delenv("QABOT_ANSWERER", raising=False)
    assert QABot(SEEDS, bot.index_dir, refresh=False).answerer.kind == "sentences"
    reading = QABot(SEEDS, bot.index_dir, refresh=False, answerer="reader")
    reading.retrieve(DEFENSE)
    assert reading._loaded is not None and reading._loaded.made is None
    assert reading.answerer.kind == "reader"
    monkeypatch.setenv("QABOT_ANSWERER", "reader")
    assert QABot(SEEDS, bot.index_dir, refresh=False).answerer.kind == "reader"
    with pytest.raises(QabotError, match="one of reader, sentences"):
        QABot(SEEDS, bot.index_dir, refresh=False, answerer="bogus")
