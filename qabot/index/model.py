"""The index as readers see it: the manifest, the loaded corpus index, a run's report."""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from qabot.errors import QabotError
from qabot.index import storage
from qabot.records import Paragraph, SkippedFile
from qabot.search.bm25 import BM25Matrix

FORMAT_VERSION = 5  # 2: sealed manifest, generations renamed into place; 3: word vectors;
# 4: search structures stored (BM25, vocabulary, sentence IVF), large arrays read by row;
# 5: files of other formats than plain text, their extracted text kept
CURRENT = "CURRENT"
LOCK = ".lock"
# The file that makes a folder qabot's: only in a folder holding it does qabot write, sweep
# generations and temp files, and never anything but its own names even there.
MARKER = ".qabot-index"
GEN_PREFIX = "gen-"
TMP_PREFIX = "tmp-"
DATA_FILES = (  # every generation has these
    "corpus.sqlite",
    "paragraphs.faiss",
    "sentences.npy",
    "sentence_offsets.npy",
    "words.npy",
)
BM25_FILES = ("bm25_idf.npy", "bm25_indptr.npy", "bm25_indices.npy", "bm25_data.npy")
SENTENCE_INDEX = "sentences.faiss"  # only above vectors.FLAT_MAX sentences
LOCK_WAIT_SECONDS = 120.0
# Test hook for the fault tests: a rebuild reaching this stage stops itself (SIGSTOP), so a
# test can SIGKILL it at a known moment. Stages, in order: see ``STAGES``.
FAILPOINT_ENV = "QABOT_FAILPOINT"
STAGES = (
    "reading",
    "cleaning",
    "annotating",
    "embedding",
    "words",
    "writing",
    "sealed",
    "switched",
)


_SHORT_WRITE = re.compile(r"(\d+) requested and (\d+) written")  # numpy's cut-short write


def one_line(exc: BaseException) -> str:
    """An exception's message squeezed onto one line (sqlite and faiss messages may wrap).
    NumPy reports a write the full disk cut short only by its counts: that is named."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    short = _SHORT_WRITE.search(text)
    if short:
        text = f"a write was cut short: is the disk full? ({short[0]})"
    return " ".join(text.split())[:300] or type(exc).__name__


def seal(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "seal"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")
    ).hexdigest()


@dataclass(frozen=True)
class FileEntry:
    """What the manifest remembers of one indexed source file."""

    name: str
    sha256: str
    size: int
    mtime_ns: int
    title: str
    paragraphs: int
    kind: str = "text"  # a file of another kind is cited in its extracted text
    marks: tuple[int, ...] = ()  # where each page / paragraph begins in that text
    unit: str = ""  # "page" or "paragraph"

    def locator(self, offset: int) -> str:
        """Where in the file itself the text at ``offset`` is ("page 3"); empty for a file
        that is cited as it is."""
        if not self.marks:
            return ""
        return f"{self.unit} {bisect.bisect_right(self.marks, offset)}"


@dataclass
class Manifest:
    format_version: int
    model: str
    dimension: int
    created: str
    files: dict[str, FileEntry]
    skipped: list[SkippedFile]
    paragraphs: int
    sentences: int
    checksums: dict[str, str]
    seal: str = ""  # sha256 of everything else: a hand-edited manifest is caught on load

    def to_json(self) -> str:
        data = asdict(self)
        data["files"] = [asdict(f) for f in self.files.values()]
        data["seal"] = seal(data)
        return json.dumps(data, indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """The manifest ``to_json`` wrote; ``ValueError`` when any field has another shape
        (a seal recomputed over ``"checksums": null`` must not reach the code that reads it)."""
        data = json.loads(text)
        _check(data, _MANIFEST_FIELDS, "manifest")
        for f in data["files"]:
            _check(f, _FILE_FIELDS, "file entry")
            _check_locating(f)
        for s in data["skipped"]:
            _check(s, _SKIPPED_FIELDS, "skipped entry")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in data["checksums"].items()):
            raise ValueError("manifest checksums must map names to strings")
        files = {f["name"]: FileEntry(**{**f, "marks": tuple(f["marks"])}) for f in data["files"]}
        skipped = [SkippedFile(**s) for s in data["skipped"]]
        return cls(**{**data, "files": files, "skipped": skipped})


_MANIFEST_FIELDS = {
    "format_version": int,
    "model": str,
    "dimension": int,
    "created": str,
    "files": list,
    "skipped": list,
    "paragraphs": int,
    "sentences": int,
    "checksums": dict,
    "seal": str,
}
_FILE_FIELDS = {
    "name": str,
    "sha256": str,
    "size": int,
    "mtime_ns": int,
    "title": str,
    "paragraphs": int,
    "kind": str,
    "marks": list,
    "unit": str,
}
_SKIPPED_FIELDS = {"name": str, "reason": str}


def _check_locating(entry: dict[str, Any]) -> None:
    """A file entry's kind is one qabot reads, and its marks are rising offsets of pages or
    paragraphs (a locator is shown to people: nothing else may get into it)."""
    from qabot.ingest.formats import KINDS

    marks = entry["marks"]
    if entry["kind"] not in set(KINDS.values()):
        raise ValueError(f"file entry kind {entry['kind']!r} is not one qabot reads")
    if entry["unit"] not in ("", "page", "paragraph") or bool(marks) != bool(entry["unit"]):
        raise ValueError("file entry marks and unit do not go together")
    if not all(type(m) is int and m >= 0 for m in marks) or marks != sorted(marks):
        raise ValueError("file entry marks must be rising offsets")


def _check(data: object, fields: dict[str, type], what: str) -> None:
    """``data`` is a JSON object with exactly ``fields``, each of its type (bool is no int)."""
    if not isinstance(data, dict) or set(data) != set(fields):
        raise ValueError(f"{what} has other fields than {sorted(fields)}")
    for key, kind in fields.items():
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"{what} field {key!r} is not a {kind.__name__}")


@dataclass
class CorpusIndex:
    """A loaded index: everything retrieval and answering need.

    Loaded from disk, paragraphs are read from SQLite on demand and the large arrays by
    row (``qabot.index.storage``); the search structures were built at index time. An
    index made in memory (tests, ``qabot bench``) may hold plain lists and leave ``bm25``,
    ``vocabulary`` and ``sentence_search`` to be built by the retriever at first use.
    """

    directory: Path
    manifest: Manifest
    paragraphs: Sequence[Paragraph]  # paragraph id == position
    paragraph_vectors: Any  # faiss index: IndexFlatIP, or IVF-SQ8 when large (qabot.search.vectors)
    sentence_vectors: np.ndarray
    sentence_offsets: np.ndarray  # first sentence row of paragraph i; length n+1
    paragraph_terms: Sequence[list[str]]
    # every content word of the corpus (tokens.content_words) -> its row in word_vectors:
    # the answerer's soft matching reads them instead of embedding words per question
    words: dict[str, int]
    word_vectors: np.ndarray
    bm25: BM25Matrix | None = None
    vocabulary: dict[str, str] | None = None  # tokens.vocabulary of the paragraphs
    sentence_search: Any = None  # faiss index over sentence_vectors
    stale: str = ""  # why it is older than the seeds, when served anyway (ready.open_index)
    texts: dict[str, str] | None = None  # extracted texts of an index made in memory

    def title(self, doc: str) -> str:
        entry = self.manifest.files.get(doc)
        return entry.title if entry else doc

    def extracted_text(self, doc: str) -> str | None:
        """The text extracted from ``doc`` when it is not plain text (what its citations
        index into); None for a plain-text file, which is cited as it is on disk."""
        entry = self.manifest.files.get(doc)
        if entry is None or entry.kind == "text":
            return None
        if isinstance(self.paragraphs, storage.ParagraphTable):
            text = self.paragraphs.text_of(doc)
        else:
            text = (self.texts or {}).get(doc)
        if text is None:  # never the file on disk instead: its offsets are other ones
            raise QabotError(f"the index has no text for {doc}: run qabot index --rebuild")
        return text

    def locator(self, doc: str, offset: int) -> str:
        entry = self.manifest.files.get(doc)
        return entry.locator(offset) if entry else ""

    @cached_property
    def doc_paragraphs(self) -> dict[str, Sequence[int]]:
        """Paragraph ids of each document, in order, found once (a scan of every paragraph
        per document grew with the corpus: ~0.1 s a document at 1M)."""
        if isinstance(self.paragraphs, storage.ParagraphTable):
            return self.paragraphs.doc_ranges
        out: dict[str, list[int]] = {}
        for pid, p in enumerate(self.paragraphs):
            out.setdefault(p.doc, []).append(pid)
        return out

    @property
    def paragraph_count(self) -> int:
        """Paragraphs it holds (a Milvus corpus's ids have gaps where documents changed)."""
        return len(self.paragraphs)

    def sentence_row(self, paragraph_id: int, k: int) -> int:
        return int(self.sentence_offsets[paragraph_id]) + k


@dataclass
class IndexReport:
    """What one ``qabot index`` run did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    paragraphs: int = 0
    sentences: int = 0
    embedded: int = 0  # texts sent to the encoder in this run
    seconds: float = 0.0
    rebuilt_reason: str = ""  # why the old index was not reused, if it was not
    swept: list[str] = field(default_factory=list)  # leftovers of interrupted runs removed

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)
