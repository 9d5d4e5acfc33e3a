"""Text out of the files people keep: Markdown, HTML, PDF and Word, each through a well-kept
library; plain text is read as it is.

What is extracted is the text qabot quotes: a citation's offsets index into it, and the
index keeps it (a PDF cannot be sliced by character). Paragraphs are separated by a blank
line, as the cleaner expects. ``marks`` are where each page (PDF) or paragraph (Word)
begins in that text, so a citation can say where to look in the file itself.

A file that yields no text says why in a few words (``Unextractable``): a scanned PDF, an
encrypted one, a corrupt Word file, a page with no article in it. A file whose extraction
hangs is given up on by ``qabot.ingest.extract_process``, which runs this in a child process.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass

KINDS = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
MAX_UNPACKED_BYTES = 200 * 2**20  # a Word file's XML, unzipped (a 1,000-page book is ~10 MB)
_LINE_BREAKS = re.compile(r"\s*\n\s*")
# pypdf decodes a font's character map with "surrogatepass": a lone surrogate cannot be
# written as UTF-8 (SQLite, spaCy, the terminal), so it becomes U+FFFD, one for one
_SURROGATE = re.compile("[\ud800-\udfff]")


class Unextractable(Exception):
    """The file holds no text qabot can quote; the message says why."""


@dataclass(frozen=True)
class Extracted:
    text: str
    marks: tuple[int, ...] = ()  # start of each PDF page / Word paragraph in ``text``
    unit: str = ""  # what a mark is: "page" or "paragraph"


def kind_of(name: str) -> str | None:
    """The format of a file by its name (``None``: not one qabot reads)."""
    dot = name.rfind(".")
    return KINDS.get(name[dot:].lower()) if dot >= 0 else None


def extract(kind: str, data: bytes) -> Extracted:
    """The text of a file of ``kind`` (not "text": plain text is not extracted)."""
    readers = {
        "markdown": lambda: Extracted(_markdown(_utf8(data))),
        "html": lambda: Extracted(_html(data)),
        "pdf": lambda: _pdf(data),
        "docx": lambda: _docx(data),
    }
    if kind not in readers:
        raise ValueError(f"no extractor for {kind!r}")
    try:
        out = readers[kind]()
    except Unextractable:
        raise
    except Exception as exc:  # a damaged file makes each library raise its own kinds
        raise Unextractable(f"cannot read the {kind} file: {type(exc).__name__}") from None
    if not out.text.strip():
        raise Unextractable("no text in it")
    return Extracted(_SURROGATE.sub("\ufffd", out.text), out.marks, out.unit)


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unextractable(f"not UTF-8 text (bad byte at offset {exc.start})") from None


def _join(pieces: list[str]) -> tuple[str, tuple[int, ...]]:
    """Pieces as paragraphs (a blank line between), and where each begins."""
    text, marks = "", []
    for piece in pieces:
        if text:
            text += "\n\n"
        marks.append(len(text))
        text += piece
    return text, tuple(marks)


def _markdown(source: str) -> str:
    """Markdown as the text a reader sees: no ``**``, no link targets, no HTML; each block
    (paragraph, heading, list item, code block) a paragraph of its own."""
    from markdown_it import MarkdownIt

    blocks: list[str] = []
    for token in MarkdownIt("commonmark").enable("table").parse(source):
        if token.type == "inline":
            words = []
            for child in token.children or []:
                if child.type in ("text", "code_inline"):
                    words.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    words.append("\n")
            piece = "".join(words).strip()
        elif token.type in ("fence", "code_block"):
            piece = token.content.strip("\n")
        else:
            continue
        if piece:
            blocks.append(piece)
    return _join(blocks)[0]


def _html(data: bytes) -> str:
    """The page's main content (trafilatura drops navigation, comments and the lists of
    related articles); each of its paragraphs a paragraph here."""
    import trafilatura

    text = trafilatura.extract(
        data, output_format="txt", include_comments=False, include_tables=True
    )
    if not text or not text.strip():
        raise Unextractable("no article text in the page")
    return _join([line.strip() for line in text.split("\n") if line.strip()])[0]


def _pdf(data: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its repairs are not the user's news

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unextractable("encrypted PDF (a password is needed)")
        pages = []
        for page in reader.pages:
            pages.append((page.extract_text() or "").strip())
    except Unextractable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise Unextractable(f"cannot read the PDF: {' '.join(str(exc).split())}") from None
    except Exception as exc:  # pypdf on a damaged file raises more kinds than it documents
        raise Unextractable(f"cannot read the PDF: {type(exc).__name__}") from None
    if not any(pages):
        raise Unextractable("no text layer in the PDF (scanned pages?)")
    text, marks = _join(pages)
    return Extracted(text, marks, "page")


def _docx(data: bytes) -> Extracted:
    """The document's paragraphs and table cells, in order."""
    from docx import Document as Word
    from docx.table import Table

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            unpacked = sum(info.file_size for info in z.infolist())
    except zipfile.BadZipFile:
        raise Unextractable("cannot read the Word file: BadZipFile") from None
    if unpacked > MAX_UNPACKED_BYTES:  # python-docx would parse it all in memory
        raise Unextractable(
            f"unpacks to {unpacked // 2**20} MB (limit {MAX_UNPACKED_BYTES // 2**20})"
        )
    try:
        document = Word(io.BytesIO(data))
        pieces = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                # a merged cell is listed once for each grid cell it spans: keep it once
                cells = {id(cell._tc): cell.text for row in item.rows for cell in row.cells}
                pieces += [c.strip() for c in cells.values() if c.strip()]
            elif item.text.strip():
                pieces.append(_LINE_BREAKS.sub("\n", item.text.strip()))
    except Exception as exc:  # a corrupt file: zipfile, lxml and docx each raise their own
        raise Unextractable(f"cannot read the Word file: {type(exc).__name__}") from None
    text, marks = _join(pieces)
    return Extracted(text, marks, "paragraph")
