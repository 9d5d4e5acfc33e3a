"""The Textual chat, driven headless with ``App.run_test`` and ``Pilot`` over the real seeds."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Static
from textual.widgets._toast import Toast

from qabot.errors import QabotError
from qabot.present.markdown import to_markdown
from qabot.records import AskResult
from qabot.tui import views
from qabot.tui.app import QabotApp
from qabot.tui.screens import ArticleScreen, HelpScreen
from qabot.tui.widgets import EvidencePanel, QuestionInput, SpanItem, TurnView
from tests.conftest import SEEDS, file_text

pytestmark = pytest.mark.slow

TRUCE = "How long a truce with Hamas has the U.S. been pressing Israel to accept?"
DEFENSE = "Who is Israel's defense minister?"
FOLLOW_UP = "And who did he meet on Tuesday?"
UNANSWERED = "When did Netanyahu publish the video accusing the U.S. of holding back weapons?"
CONFLICT = "Can Hamas be defeated without a ground offensive in Rafah?"
INJECTED = (
    "Harbor Authority reopens the northern port\n\n"
    "The spokeswoman of the Harbor Authority, [bold]Mirela Quastova[/bold], said the northern "
    "port reopened on Friday after the storm. [link=https://example.com]Read more[/link] "
    "\x1b[31mALERT\x1b[0m\x1b]0;pwned\x07\n"
)


def run(app: QabotApp, scenario: Callable[[Pilot], Awaitable[None]], **options: bool) -> None:
    async def main() -> None:
        async with app.run_test(size=(160, 50), **options) as pilot:
            await scenario(pilot)

    asyncio.run(main())


async def ask(pilot: Pilot, question: str) -> TurnView:
    app = pilot.app
    assert isinstance(app, QabotApp)
    box = app.query_one(QuestionInput)
    box.focus()
    box.value = question
    await pilot.press("enter")
    await settle(pilot)
    turn = app.turns[-1]
    assert turn.question == question
    return turn


async def settle(pilot: Pilot) -> None:
    """Wait for the workers (loading, answering; not the watch, which runs till the end) and
    for the UI to catch up with them."""
    for _ in range(3):
        busy = [w for w in pilot.app.workers if w.group != "watch"]
        if busy:  # none: wait_for_complete would wait for every worker
            await pilot.app.workers.wait_for_complete(busy)
        await pilot.pause()


async def until(pilot: Pilot, done: Callable[[], bool], seconds: float = 60.0) -> None:
    """Wait until ``done()`` (a bound for a loaded machine, not a speed requirement)."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.2)


def plain(widget: Static) -> str:
    content = widget.visual
    assert isinstance(content, Content)
    return content.plain


def rendered(markdown: str) -> str:
    """What a Markdown viewer shows of ``markdown``: its text, one space between words."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    words = [c.content for t in tokens if t.children for c in t.children if c.type == "text"]
    return " ".join(" ".join(words).split())


PLAIN_TOKENS = {"blockquote_open", "blockquote_close", "paragraph_open", "paragraph_close"}
PLAIN_TOKENS |= {"inline", "text", "softbreak", "hardbreak"}


def structure(markdown: str) -> set[str]:
    """The kinds of Markdown element in ``markdown`` beyond quoted paragraphs of text."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in t.children or []}
    return kinds - PLAIN_TOKENS


def links(markdown: str) -> list[str]:
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [
        c.attrGet("href") for t in tokens if t.children for c in t.children if c.type == "link_open"
    ]


def styled_text(content: Content, style: str) -> str:
    """The characters of ``content`` that carry ``style``."""
    return "".join(content.plain[s.start : s.end] for s in content.spans if style in str(s.style))


@pytest.fixture
def app(bot, tmp_path: Path) -> QabotApp:
    return QabotApp(SEEDS, bot.index_dir, bot=bot, export_dir=tmp_path)


def test_answer_shows_quote_short_answer_citation_and_highlighted_span(app: QabotApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        turn = await ask(pilot, TRUCE)
        result = turn.result
        assert isinstance(result, AskResult) and not result.abstained
        first = result.answers[0]
        answer_item = turn.query(".answer").first(SpanItem)
        text = plain(answer_item)
        assert first.text in text and "six-week" in text
        assert first.short_answer is not None
        assert styled_text(answer_item.visual, views.SHORT_STYLE) == first.short_answer.text
        sources = [plain(s) for s in turn.query(".source").results(SpanItem)]
        assert sources[0].startswith("[1] ")
        assert first.doc in sources[0] and f"chars {first.start}–{first.end}" in sources[0]
        # every source line is an exact span of its file
        for item in turn.query(SpanItem).results(SpanItem):
            assert (
                file_text(SEEDS, item.span.doc)[item.span.start : item.span.end] == item.span.text
            )
        # the evidence panel shows the cited paragraph with the span highlighted, and the scores
        panel = app.query_one(EvidencePanel)
        shown = panel.query_one("#evidence-text", Static).visual
        assert styled_text(shown, views.SPAN_STYLE) == first.text
        scores = plain(panel.query_one("#evidence-scores", Static))
        assert "BM25" in scores and "dense" in scores and "fused" in scores

    run(app, scenario)


def test_follow_up_leans_on_the_earlier_question(app: QabotApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        first = await ask(pilot, DEFENSE)
        assert first.result and first.result.answers[0].short_answer
        assert first.result.answers[0].short_answer.text == "Yoav Gallant"
        turn = await ask(pilot, FOLLOW_UP)
        result = turn.result
        assert result is not None and DEFENSE in result.resolved_question
        assert "read as:" in " ".join(plain(s) for s in turn.query(Static).results(Static))
        top = result.answers[0]
        assert top.short_answer and top.short_answer.text == "Lloyd Austin"
        assert "Tuesday" in top.text

    run(app, scenario)


def test_abstention_says_so_and_shows_closest_evidence_as_such(app: QabotApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        turn = await ask(pilot, UNANSWERED)
        assert turn.result is not None and turn.result.abstained
        assert "does not answer" in plain(turn.query_one(".abstained", Static))
        items = list(turn.query(SpanItem).results(SpanItem))
        assert items and not any(i.span.is_answer for i in items)
        assert not turn.query(".answer")
        items[0].focus()
        await pilot.pause()
        title = plain(app.query_one("#evidence-title", Static))
        assert "closest evidence (not an answer)" in title

    run(app, scenario)


def test_conflict_marks_disagreement_and_cites_each_version(app: QabotApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        turn = await ask(pilot, CONFLICT)
        assert turn.result is not None and turn.result.conflict
        assert "Sources disagree" in plain(turn.query_one(".conflict", Static))
        answers = list(turn.query(".answer").results(SpanItem))
        assert len(answers) >= 2
        texts = {a.span.text for a in answers}
        assert any("cannot defeat Hamas without entering Rafah" in t for t in texts)
        assert any("abandon the ground offensive" in t for t in texts)

    run(app, scenario)


def test_up_and_down_recall_earlier_questions(app: QabotApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        await ask(pilot, TRUCE)
        await ask(pilot, DEFENSE)
        box = app.query_one(QuestionInput)
        box.focus()
        await pilot.press(*"draft")
        await pilot.press("up")
        assert box.value == DEFENSE
        await pilot.press("up")
        assert box.value == TRUCE
        await pilot.press("up")  # no earlier question: stays
        assert box.value == TRUCE
        await pilot.press("down")
        assert box.value == DEFENSE
        await pilot.press("down")
        assert box.value == "draft"

    run(app, scenario)


def test_questions_are_recalled_in_a_later_session_from_a_private_file(bot, tmp_path: Path) -> None:
    history = tmp_path / "state" / "questions.jsonl"

    async def first(pilot: Pilot) -> None:
        await ask(pilot, TRUCE)
        await ask(pilot, DEFENSE)

    async def later(pilot: Pilot) -> None:
        box = pilot.app.query_one(QuestionInput)
        box.focus()
        await pilot.press("up")
        assert box.value == DEFENSE
        await pilot.press("up")
        assert box.value == TRUCE

    history.parent.mkdir()
    history.write_text("", encoding="utf-8")
    history.chmod(0o644)  # as an earlier version left it
    run(QabotApp(SEEDS, bot.index_dir, bot=bot, history_file=history), first)
    assert history.stat().st_mode & 0o777 == 0o600  # what the user asked is theirs alone
    with history.open("ab") as f:
        f.write(b"{damaged\n\xff\xfe not UTF-8\n")  # a damaged line costs that line only
    run(QabotApp(SEEDS, bot.index_dir, bot=bot, history_file=history), later)


def test_keyboard_moves_between_answers_and_opens_the_article(app: QabotApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        turn = await ask(pilot, DEFENSE)
        items = list(turn.query(SpanItem).results(SpanItem))
        assert len(items) >= 3
        await pilot.press("tab")
        assert app.focused is items[0]
        await pilot.press("up")  # the first one: it stays, no jump to the far end
        assert app.focused is items[0]
        await pilot.press("down")
        assert app.focused is items[1]
        where = plain(app.query_one("#evidence-where", Static))
        assert items[1].span.doc in where and f"chars {items[1].span.start}" in where
        await pilot.press("up")
        assert app.focused is items[0]
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ArticleScreen)
        hits = list(screen.query(".hit").results(Static))
        assert hits and items[0].span.text in plain(hits[0])
        assert styled_text(hits[0].visual, views.SPAN_STYLE).startswith(items[0].span.text[:20])
        await pilot.press("escape")
        assert not isinstance(app.screen, ArticleScreen)
        await pilot.press("escape")
        assert isinstance(app.focused, QuestionInput)

    run(app, scenario)


def test_export_writes_markdown_with_citations(app: QabotApp, tmp_path: Path) -> None:
    async def scenario(pilot: Pilot) -> None:
        await ask(pilot, UNANSWERED)
        turn = await ask(pilot, TRUCE)
        await pilot.press("ctrl+s")
        await pilot.pause()
        files = list(tmp_path.glob("qabot-chat-*.md"))
        assert len(files) == 1
        await pilot.press("ctrl+s")  # again, within the same second: a second file
        await pilot.pause()
        assert len(list(tmp_path.glob("qabot-chat-*.md"))) == 2
        text = files[0].read_text(encoding="utf-8")
        shown = rendered(text)
        assert f"1. {UNANSWERED}" in shown and f"2. {TRUCE}" in shown
        first = turn.result.answers[0] if turn.result else None
        assert first is not None
        assert " ".join(first.text.split()) in shown
        assert f"[1] {first.title} — {first.doc}, paragraph" in shown
        assert f"characters {first.start}–{first.end}" in shown
        assert "**The corpus does not answer this question.**" in text
        # the slash command writes where it is told
        target = tmp_path / "named.md"
        box = app.query_one(QuestionInput)
        box.value = f"/export {target}"
        await pilot.press("enter")
        await pilot.pause()
        named = target.read_text(encoding="utf-8")
        assert named.splitlines()[1:] == text.splitlines()[1:]  # the title holds the time
        # an existing file is never overwritten; a path that looks like markup is only text
        box.value = f"/export {target}"
        await pilot.press("enter")
        await pilot.pause()
        assert target.read_text(encoding="utf-8") == named
        box.value = f"/export {tmp_path}/no-such-dir/[b]x[/b].md"
        await pilot.press("enter")
        await pilot.pause()
        toasts = [t.render().plain for t in app.screen.query(Toast).results(Toast)]
        assert any("exists already" in t for t in toasts)
        assert any("cannot write" in t and "[b]x[/b].md" in t for t in toasts)

    run(app, scenario, notifications=True)


def test_export_to_a_folder_that_is_gone_is_one_toast(bot, tmp_path: Path) -> None:
    app = QabotApp(SEEDS, bot.index_dir, bot=bot, export_dir=tmp_path / "gone")

    async def scenario(pilot: Pilot) -> None:
        await ask(pilot, TRUCE)
        await pilot.press("ctrl+s")
        await pilot.pause()
        toasts = [t.render().plain for t in app.screen.query(Toast).results(Toast)]
        assert any(f"cannot write {tmp_path / 'gone'}" in t for t in toasts)
        assert app.is_running and not (tmp_path / "gone").exists()

    run(app, scenario, notifications=True)


def test_clear_empties_the_chat_and_the_conversation(app: QabotApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        await ask(pilot, DEFENSE)
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert not app.query(TurnView) and app.turns == [] and app.history == []
        turn = await ask(pilot, FOLLOW_UP)  # no earlier question to lean on any more
        assert turn.result is not None and turn.result.resolved_question == FOLLOW_UP
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)

    run(app, scenario)


def test_bad_question_is_one_line_in_the_chat(app: QabotApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        await ask(pilot, DEFENSE)
        turn = await ask(pilot, "x" * 5000)
        assert turn.result is None
        assert plain(turn.query_one(".error", Static)).startswith("error: question is too long")
        # the refused question is not part of the conversation: the follow-up still leans
        # on the question before it; ↑ brings the refused one back to be fixed
        assert app.history == [DEFENSE]
        # nor can a question with nothing to look for be leaned on ("?!" itself is read
        # with the conversation, as "Why?" would be)
        await ask(pilot, "?!")
        follow = await ask(pilot, FOLLOW_UP)
        assert follow.result is not None and DEFENSE in follow.result.resolved_question
        box = app.query_one(QuestionInput)
        box.focus()
        await pilot.press("up", "up", "up")
        assert box.value == "x" * 5000

    run(app, scenario)


def test_markup_and_escapes_in_a_seed_are_shown_literally(seeds_copy: Path, tmp_path: Path) -> None:
    """Loads in the background over a corpus with an injected article, then rebuilds."""
    # written with Windows line ends: each line still shows as one line
    (seeds_copy / "005_injected.txt").write_text(INJECTED, encoding="utf-8", newline="\r\n")
    app = QabotApp(seeds_copy, tmp_path / "index", export_dir=tmp_path)

    async def scenario(pilot: Pilot) -> None:
        # the window is up while the index is still being built; a question waits its turn
        status = plain(app.query_one("#status", Static))
        assert "loading" in status or "indexing" in status
        turn = await ask(pilot, "What did the Harbor Authority say about the northern port?")
        assert "6 documents" in plain(app.query_one("#status", Static))
        assert turn.result is not None and not turn.result.abstained
        assert turn.result.answers[0].doc == "005_injected.txt"
        answer = plain(turn.query(".answer").first(Static))
        assert "[bold]Mirela Quastova[/bold]" in answer
        item = turn.query(".answer").first(SpanItem)
        item.focus()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        article = "\n".join(plain(b) for b in app.screen.query(".block").results(Static))
        assert "[link=https://example.com]Read more[/link]" in article
        assert "\\x1b[31mALERT\\x1b[0m\\x1b]0;pwned\\x07" in article
        assert "\x1b" not in article and "\x07" not in article
        assert "\n\n" not in article and "\\x0d" not in article
        await pilot.press("escape")
        # the export shows the same text literally, as Markdown that a viewer cannot turn
        # into a link, emphasis or an escape sequence
        exported = to_markdown([turn.result], title="t")
        assert "\x1b" not in exported and links(exported) == []
        assert "[bold]Mirela Quastova[/bold]" in rendered(exported)
        # a seed added while the chat is open is picked up by a rebuild in a worker
        shutil.copy(seeds_copy / "005_injected.txt", seeds_copy / "006_copy.txt")
        app.check_seeds()  # what the app does every few seconds
        await settle(pilot)
        assert "seeds changed" in plain(app.query_one("#status", Static))
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert "7 documents" in plain(app.query_one("#status", Static))

    run(app, scenario)


@pytest.mark.parametrize(
    "text",
    [
        "[1]: https://evil.example/steal",  # a link definition would vanish and capture [1]
        "<img src=x onerror=alert(1)> & &amp; *not bold* _nor_ `code`",
        "# not a heading\n- not a list\n2024. not a list either\n=====",
        "a \x1b[2J b\r\nc | d | ~~e~~ \\ ![i](j)",
        "Rates rose\u2028- 3% in March\u20282024. A record year\u2028=======",
        "    an *indented* line\n\tand a [tabbed] one",
    ],
)
def test_exported_quotes_read_literally_in_a_markdown_viewer(text: str) -> None:
    from qabot.present.display import safe
    from qabot.present.markdown import _quoted

    quoted = _quoted(text)
    assert links(quoted) == [] and "\x1b" not in quoted and structure(quoted) == set()
    assert rendered(quoted) == " ".join(safe(text).split())


def test_a_failed_load_is_said_and_ctrl_r_retries(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    app = QabotApp(seeds, tmp_path / "index", export_dir=tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        assert "Ctrl+R to retry" in plain(app.query_one("#status", Static))
        turn = await ask(pilot, DEFENSE)  # answered at once with the reason, not left waiting
        error = plain(turn.query_one(".error", Static))
        assert error.startswith("error: ") and "Ctrl+R to retry" in error
        shutil.copy(SEEDS / "000_816a538e2e2ec7f8.txt", seeds)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert "1 documents" in plain(app.query_one("#status", Static))
        turn = await ask(pilot, DEFENSE)
        assert turn.result is not None and turn.result.answers

    run(app, scenario)


def test_a_stale_index_is_said_in_the_status_line_and_still_answers(bot, tmp_path: Path) -> None:
    from qabot.index.generations import index_lock

    index_dir = tmp_path / "index"
    shutil.copytree(bot.index_dir, index_dir)
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / "late.md").write_text("A note added after the index was built.", encoding="utf-8")
    app = QabotApp(seeds, index_dir, export_dir=tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        status = plain(app.query_one("#status", Static))
        assert "5 documents" in status and "stale: the seeds changed" in status
        turn = await ask(pilot, DEFENSE)
        assert turn.result is not None and turn.result.answers and turn.result.stale

    with index_lock(index_dir):  # another qabot is rebuilding it
        run(app, scenario)


def test_marked_never_parses_markup() -> None:
    text = "a [b]bold[/b] \x1b[2J word"
    content = views.marked(text, 100, 102, 113, None)
    assert content.plain == "a [b]bold[/b] \\x1b[2J word"
    assert styled_text(content, views.SPAN_STYLE) == "[b]bold[/b]"


def test_an_article_that_cannot_be_read_says_why(app: QabotApp) -> None:
    def gone(doc: str) -> str:
        raise QabotError(f"[Errno 2] No such file or directory: '{doc}'")

    async def scenario(pilot: Pilot) -> None:
        app.push_screen(ArticleScreen(gone, views.Span("[b]x.txt", "T", 0, 0, 1, "x")))
        await pilot.pause()
        shown = [plain(s) for s in app.screen.query("#article Static").results(Static)]
        assert shown == ["cannot read [b]x.txt: [Errno 2] No such file or directory: '[b]x.txt'"]

    run(app, scenario)


def test_a_chat_watching_the_seeds_answers_from_a_file_written_while_it_is_open(
    seeds_copy: Path, tmp_path: Path
) -> None:
    app = QabotApp(seeds_copy, tmp_path / "index", export_dir=tmp_path, watch=True)
    question = "Who founded the Zorblat Lantern Festival?"

    def status() -> str:
        return plain(app.query_one("#status", Static))

    async def scenario(pilot: Pilot) -> None:
        await until(pilot, lambda: "5 documents" in status())
        assert "watching the seeds" in status()
        new = seeds_copy / "zorblat.txt"
        new.write_text(
            "The Zorblat Lantern Festival was founded in 1987 by the glassmaker Mira Quell.\n",
            encoding="utf-8",
        )
        await until(pilot, lambda: "6 documents" in status())  # no Ctrl+R
        turn = await ask(pilot, question)
        assert turn.result is not None and turn.result.answers[0].doc == "zorblat.txt"
        new.unlink()
        await until(pilot, lambda: "5 documents" in status())
        turn = await ask(pilot, question)
        assert turn.result is not None
        assert all(e.doc != "zorblat.txt" for e in turn.result.evidence)

    run(app, scenario)


def test_a_change_during_an_update_is_indexed_by_one_more_update_after_it(
    seeds_copy: Path, tmp_path: Path
) -> None:
    app = QabotApp(seeds_copy, tmp_path / "index", export_dir=tmp_path)

    def status() -> str:
        return plain(app.query_one("#status", Static))

    async def scenario(pilot: Pilot) -> None:
        await until(pilot, lambda: "5 documents" in status())
        # long enough to embed for a while: the second file comes while it is embedded
        long = "\n\n".join(
            f"Report {i}: the harbour board met on day {i} and approved budget line {i * 7}."
            for i in range(400)
        )
        (seeds_copy / "a.txt").write_text(long + "\n")
        app.seeds_written(seen=True)  # what the watch does on a change
        await until(pilot, lambda: "indexing: embedding" in status())  # a.txt read, b.txt not
        (seeds_copy / "b.txt").write_text("The b festival opens in June.\n")
        app.seeds_written(seen=True)
        assert app._index_again  # queued behind the update under way
        await until(pilot, lambda: "7 documents" in status())  # only the queued one adds b.txt

    run(app, scenario)
