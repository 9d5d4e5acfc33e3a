"""How results are presented (``qabot.present``): corpus text made safe for a terminal, the
numbering of sources that the CLI, the chat and the export share, an indexing run in words."""

from __future__ import annotations

import re

from qabot.index.model import IndexReport
from qabot.present.citations import sources
from qabot.present.display import safe
from qabot.present.markdown import to_markdown
from qabot.present.plain import render
from qabot.present.report import describe
from qabot.records import Answer, AskResult, Citation, Evidence, ShortAnswer, SkippedFile
from qabot.tui import views


def test_escape_and_control_characters_become_visible_text() -> None:
    assert safe("a\x1b]8;;http://x\x07b\x9bc") == "a\\x1b]8;;http://x\\x07b\\x9bc"


def test_windows_line_ends_read_as_line_ends() -> None:
    assert safe("one\r\ntwo\rthree") == "one\ntwo\nthree"


def test_bidirectional_overrides_cannot_reorder_a_quote() -> None:
    assert safe("price \u202e001$\u202c ok") == "price \\u202e001$\\u202c ok"


def test_ordinary_text_is_unchanged() -> None:
    text = "Gallant — «Netanyahu» said: 'ok'\tnext\nline, 日本語 and עברית"
    assert safe(text) == text


def place(doc: str, start: int) -> tuple[str, str, int, int, int, str]:
    return (doc, f"Title of {doc}", 2, start, start + 5, f"text {start}")


def answer(doc: str, start: int, *cited: tuple[str, int]) -> Answer:
    citations = [Citation(*place(d, s), 0.5) for d, s in ((doc, start), *cited)]
    text = f"text {start}"
    return Answer(
        text,
        doc,
        start,
        start + 5,
        0.5,
        text,
        start,
        start + 5,
        f"Title of {doc}",
        2,
        ShortAnswer("text", start, start + 4, "PERSON"),
        citations,
    )


def evidence(doc: str, start: int) -> Evidence:
    return Evidence(*place(doc, start), 0.1, 1.0, 0.5, 1, 1)


def result(answers: list[Answer], abstained: bool = False) -> AskResult:
    found = [evidence(f"e{i}.txt", 10 * i) for i in range(5)]
    return AskResult("Q?", "Q?", answers, abstained, False, found, {"total": 1.0})


TWO_ANSWERS = result([answer("a.txt", 0, ("b.txt", 7)), answer("c.txt", 3)])


def test_sources_are_numbered_through_the_whole_turn() -> None:
    groups = sources(TWO_ANSWERS)
    assert [[(s.number, s.place.doc) for s in g] for g in groups] == [
        [(1, "a.txt"), (2, "b.txt")],
        [(3, "c.txt")],
    ]
    assert all(
        s.is_answer and s.answer is a
        for g, a in zip(groups, TWO_ANSWERS.answers, strict=True)
        for s in g
    )


def test_an_abstention_numbers_the_closest_evidence_as_such() -> None:
    groups = sources(result([], abstained=True))
    assert [[(s.number, s.place.doc) for s in g] for g in groups] == [
        [(1, "e0.txt")],
        [(2, "e1.txt")],
        [(3, "e2.txt")],
    ]
    assert not any(s.is_answer for g in groups for s in g)


def test_the_cli_the_chat_and_the_export_number_sources_alike() -> None:
    for turn in (TWO_ANSWERS, result([], abstained=True)):
        expected = [(s.number, s.place.doc) for g in sources(turn) for s in g]
        cli = re.findall(r"\[(\d+)\] (\S+)", render(turn))
        chat = [(s.number, s.span.doc) for g in views.sources(turn) for s in g]
        export = re.findall(
            r"^- \[(\d+)\] Title of \S+ — (\S+),", to_markdown([turn], title="t"), re.M
        )
        assert [(int(n), d) for n, d in cli] == expected
        assert chat == expected
        assert [(int(n), d) for n, d in export] == expected


def test_the_chat_emphasises_the_short_answer_only_in_the_answers_own_span() -> None:
    first, second = views.sources(TWO_ANSWERS)[0]
    assert first.span.short == TWO_ANSWERS.answers[0].short_answer and first.span.is_answer
    assert second.span.short is None and second.span.is_answer


def test_an_indexing_run_in_words() -> None:
    report = IndexReport(
        added=["a.txt"],
        unchanged=["b.txt", "c.txt"],
        skipped=[SkippedFile("bad\u202e.txt", "not UTF-8 text (bad byte at offset 0)")],
        paragraphs=74,
        sentences=148,
        embedded=187,
        seconds=1.234,
        rebuilt_reason="--rebuild",
    )
    assert describe(report).splitlines() == [
        "indexed: 1 added, 0 changed, 0 removed, 2 unchanged; 74 paragraphs, 148 sentences; "
        "187 texts embedded; 1.23 s",
        "rebuilt from the seeds: --rebuild",
        "skipped bad\\u202e.txt: not UTF-8 text (bad byte at offset 0)",
    ]
    assert describe(report, brief=True) == (
        "index: 1 added, 0 changed, 0 removed, 2 unchanged; 1 files skipped"
    )
