"""Plain typed records that the pipeline stages hand to each other.

Every offset is a character offset into the *original* decoded file text, so that
``document.text[start:end] == span_text`` holds for everything qabot cites.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# progress(stage, done, total): what long work reports (indexing stages, evaluation questions)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Document:
    """One source file: a plain-text file exactly as it is on disk (decoded UTF-8), any
    other the text extracted from it (``qabot.ingest.formats``), which the index keeps."""

    name: str  # path relative to the seeds folder, POSIX separators
    text: str
    sha256: str  # of the file's bytes
    size: int
    mtime_ns: int
    kind: str = "text"  # text, markdown, html, pdf, docx
    marks: tuple[int, ...] = ()  # where each page / paragraph of the file begins in ``text``
    unit: str = ""  # what a mark is: "page" or "paragraph"


@dataclass(frozen=True)
class SkippedFile:
    """A file under the seeds folder that could not be indexed, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class Block:
    """A cleaned paragraph of a document, before sentence annotation."""

    doc: str
    start: int
    end: int
    text: str
    kind: str  # "body" or "heading"


@dataclass(frozen=True)
class Entity:
    """A named entity found at index time (spaCy label names)."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int


@dataclass(frozen=True)
class Paragraph:
    """An indexed paragraph: the unit of retrieval."""

    doc: str
    number: int  # position among the document's indexed paragraphs
    start: int
    end: int
    text: str
    kind: str
    sentences: tuple[Sentence, ...]
    entities: tuple[Entity, ...]


@dataclass(frozen=True)
class Hit:
    """A retrieved paragraph with the breakdown of how it scored."""

    paragraph_id: int
    fused: float
    bm25: float
    dense: float
    bm25_rank: int | None  # 1-based; None when BM25 did not return it
    dense_rank: int | None


@dataclass
class Location:
    """A place in a file of the corpus: ``file_text[start:end] == text``.

    ``paragraph`` is the paragraph's number in its document and ``title`` the document's
    title. For a file that is not plain text, ``file_text`` is the text extracted from it
    (``QABot.document_text``) and ``locator`` says where to look in the file itself
    ("page 3" of a PDF). Citations, evidence and what the chat shows are places of this kind.
    """

    doc: str
    title: str
    paragraph: int
    start: int
    end: int
    text: str
    locator: str = field(default="", kw_only=True)


@dataclass
class Citation(Location):
    """A cited span of the corpus, with the score of the sentence that states it."""

    score: float


@dataclass
class ShortAnswer:
    text: str
    start: int
    end: int
    label: str


@dataclass
class Answer:
    """One answer: a sentence of the corpus (or a phrase in it), with its sources.

    ``citations`` holds every place that states this answer, the primary span first.
    """

    text: str
    doc: str
    start: int
    end: int
    score: float
    context: str
    context_start: int
    context_end: int
    title: str
    paragraph: int
    short_answer: ShortAnswer | None = None
    citations: list[Citation] = field(default_factory=list)
    locator: str = ""  # "page 3": where ``text`` is in a file that is not plain text


@dataclass(frozen=True)
class AnswerSet:
    """What an answerer concludes from the retrieved paragraphs."""

    answers: list[Answer]
    abstained: bool
    conflict: bool
    note: str = ""  # why it abstained


@dataclass
class Evidence(Location):
    """A retrieved paragraph shown as evidence, with its retrieval scores."""

    fused: float
    bm25: float
    dense: float
    bm25_rank: int | None
    dense_rank: int | None


@dataclass
class AskResult:
    """What ``qabot.ask`` returns; the CLI's ``--json`` is exactly ``to_dict()``."""

    question: str
    resolved_question: str
    answers: list[Answer]
    abstained: bool
    conflict: bool
    evidence: list[Evidence]
    timings_ms: dict[str, float]
    note: str = ""
    stale: str = ""  # why the index answered from is older than the seeds, when it is

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for answer in out["answers"]:
            if answer["short_answer"] is None:
                del answer["short_answer"]
        return out


@dataclass(frozen=True)
class IndexSummary:
    """What the index a ``QABot`` answers from holds, for a status line."""

    documents: int
    paragraphs: int
    sentences: int
    skipped: int  # files under the seeds folder that could not be indexed
    built: str  # when the index was built: ISO 8601, e.g. "2026-12-03T17:54:00+0000"
    index_dir: Path
    stale: str = ""  # why the index is older than the seeds, when it is served anyway
