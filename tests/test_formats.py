"""Files of other formats than plain text: their text without markup, citations exact into
it with the page a person can open, and a broken file skipped with its reason while the
rest is indexed. The files are small real ones, made here (``tests/documents.py``)."""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from qabot.api import QABot
from qabot.cli import main
from qabot.ingest.formats import Unextractable, extract
from tests import documents

FESTIVAL = "The Zorblat Lantern Festival was founded in 1987 by the glassmaker Mira Quell."
EMPTY_PAGE = b"<html><head><title>Loading</title><script>load()</script></head><body></body></html>"
HARBOUR = (
    "The Osterhaven harbour authority said on Sunday that the new breakwater, which cost "
    "about 48 million euros, will be finished in the spring of 2028."
)


def test_markdown_is_read_as_its_text_without_the_syntax() -> None:
    source = (
        "# Festival notes\n\nThe **Zorblat** festival was founded by [Mira Quell](https://x.y)"
        " in *1987*.\n\n- lanterns\n- `glass`\n\n<div class='ad'>Buy now</div>\n"
    )
    text = extract("markdown", source.encode()).text
    assert text.split("\n\n") == [
        "Festival notes",
        "The Zorblat festival was founded by Mira Quell in 1987.",
        "lanterns",
        "glass",
    ]


def test_a_web_page_is_read_as_its_article_without_navigation_or_comments() -> None:
    page = documents.html("Breakwater to be finished in 2028", [HARBOUR, FESTIVAL])
    text = extract("html", page).text
    assert HARBOUR in text and FESTIVAL in text
    for chrome in ("Home", "World", "Leave a reply", "Great read", "All rights reserved", "<"):
        assert chrome not in text
    with pytest.raises(Unextractable, match="no article text"):
        extract("html", EMPTY_PAGE)


def test_a_pdf_is_read_page_by_page_and_a_word_file_paragraph_by_paragraph() -> None:
    found = extract("pdf", documents.pdf([["Page one says little."], [FESTIVAL]]))
    assert found.unit == "page" and len(found.marks) == 2
    assert found.text[found.marks[1] :] == FESTIVAL
    word = extract("docx", documents.docx(["Heading", "", HARBOUR, FESTIVAL]))
    assert word.text.split("\n\n") == ["Heading", HARBOUR, FESTIVAL]
    assert [word.text[m:].split("\n\n")[0] for m in word.marks] == ["Heading", HARBOUR, FESTIVAL]


@pytest.mark.parametrize(
    ("kind", "data", "reason"),
    [
        ("pdf", documents.blank_pdf(), "no text layer"),
        ("pdf", documents.encrypted_pdf([[FESTIVAL]]), "encrypted PDF"),
        ("pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "cannot read the PDF"),
        ("docx", b"PK\x03\x04 not really a zip", "cannot read the Word file"),
        ("markdown", "caf\u00e9".encode("latin-1"), "not UTF-8"),
    ],
)
def test_a_file_with_no_text_to_quote_says_why(kind: str, data: bytes, reason: str) -> None:
    with pytest.raises(Unextractable, match=reason):
        extract(kind, data)


def test_a_character_no_text_can_hold_is_replaced_one_for_one() -> None:
    # a font map that sends "A" to a lone surrogate: SQLite, spaCy and UTF-8 refuse it
    found = extract("pdf", documents.pdf([["A festival in 1987."]], maps={"A": "\ud800"}))
    assert found.text == "\ufffd festival in 1987."
    found.text.encode("utf-8")


def test_a_word_file_that_unpacks_to_too_much_is_refused_unread() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"<w:document>" + b" " * (201 * 2**20))
    assert len(out.getvalue()) < 2**20  # a small file on disk
    with pytest.raises(Unextractable, match="unpacks to 201 MB"):
        extract("docx", out.getvalue())


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> QABot:
    """The seeds, with a PDF, a Word file, a web page and Markdown beside them, and a
    broken file of each kind."""
    from tests.conftest import SEEDS

    seeds = tmp_path_factory.mktemp("mixed") / "seeds"
    seeds.mkdir()
    for f in SEEDS.iterdir():
        (seeds / f.name).write_bytes(f.read_bytes())
    files = {
        "festival.pdf": documents.pdf([["Osterhaven visitor guide, 2026 edition."], [FESTIVAL]]),
        "harbour.docx": documents.docx(["Harbour news", HARBOUR]),
        "lanterns.html": documents.html(
            "Lantern makers", ["The lantern makers of Osterhaven use recycled bottle glass."]
        ),
        "notes.md": b"# Notes\n\nThe **ferry** to Osterhaven runs *twice* a day from Gdansk.\n",
        "scan.pdf": documents.blank_pdf(),
        "locked.pdf": documents.encrypted_pdf([["Secret minutes."]]),
        "broken.docx": b"PK\x03\x04 broken",
        "empty.html": EMPTY_PAGE,
        "odd.pdf": documents.pdf([["An odd font: Alpha."]], maps={"A": "\ud800"}),
        "~$harbour.docx": b"\x00lock",  # Word's lock file beside an open document
    }
    for name, data in files.items():
        (seeds / name).write_bytes(data)
    return QABot(seeds, seeds.parent / "index")


@pytest.mark.slow
def test_broken_files_are_skipped_with_their_reason_and_the_rest_is_indexed(mixed: QABot):
    assert mixed.report is not None
    reasons = {s.name: s.reason for s in mixed.report.skipped}
    assert reasons == {
        "scan.pdf": "no text layer in the PDF (scanned pages?)",
        "locked.pdf": "encrypted PDF (a password is needed)",
        "broken.docx": "cannot read the Word file: BadZipFile",
        "empty.html": "no article text in the page",
    }
    assert sorted(mixed.report.added)[-5:] == [
        "festival.pdf",
        "harbour.docx",
        "lanterns.html",
        "notes.md",
        "odd.pdf",
    ]
    assert "\ufffd" in mixed.document_text("odd.pdf")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "doc", "locator", "short"),
    [
        ("Who founded the Zorblat Lantern Festival?", "festival.pdf", "page 2", "Mira Quell"),
        ("How much did the Osterhaven breakwater cost?", "harbour.docx", "paragraph 2", "48"),
        ("What do the lantern makers of Osterhaven use?", "lanterns.html", "", "glass"),
        ("Where does the ferry to Osterhaven run from?", "notes.md", "", "Gdansk"),
    ],
)
def test_answers_from_each_format_cite_exact_spans_of_its_text(
    mixed: QABot, question: str, doc: str, locator: str, short: str
) -> None:
    answer = mixed.ask(question).answers[0]
    assert answer.doc == doc and short in answer.text
    assert answer.locator == locator
    text = mixed.document_text(doc)
    for place in [answer, *answer.citations]:
        assert text[place.start : place.end] == place.text
    assert "**" not in text and "<" not in text


@pytest.mark.slow
def test_show_prints_the_text_citations_index_into(mixed: QABot) -> None:
    where = ["--seeds", str(mixed.seeds_dir), "--index", str(mixed.index_dir)]
    shown = CliRunner().invoke(main, ["show", "festival.pdf", *where])
    assert shown.exit_code == 0 and shown.output.rstrip("\n") == mixed.document_text("festival.pdf")
    missing = CliRunner().invoke(main, ["show", "scan.pdf", *where])
    assert missing.exit_code == 1 and "not an indexed file" in missing.output
    asked = CliRunner().invoke(
        main, ["ask", "Who founded the Zorblat Lantern Festival?", "--json", *where]
    )
    data = json.loads(asked.output)
    assert data["answers"][0]["locator"] == "page 2"
    assert data["answers"][0]["citations"][0]["locator"] == "page 2"


@pytest.mark.slow
def test_an_unchanged_pdf_keeps_its_text_when_another_file_changes(
    mixed: QABot, tmp_path: Path
) -> None:
    shutil.copytree(mixed.seeds_dir, tmp_path / "seeds")
    shutil.copytree(mixed.index_dir, tmp_path / "index")
    bot = QABot(tmp_path / "seeds", tmp_path / "index")
    before = bot.document_text("festival.pdf")
    note = tmp_path / "seeds" / "notes.md"
    note.write_text(note.read_text() + "\nThe ferry also stops at Hel.\n", encoding="utf-8")
    os.utime(tmp_path / "seeds" / "festival.pdf")  # touched, not changed: not read again
    report = bot.refresh()
    assert report.changed == ["notes.md"] and "festival.pdf" in report.unchanged
    assert bot.document_text("festival.pdf") == before
    assert bot.ask("Who founded the Zorblat Lantern Festival?").answers[0].locator == "page 2"
