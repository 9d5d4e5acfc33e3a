"""The files of an index generation: how each is written, and how it is read back.

On disk (no pickle anywhere)::

    index/
      CURRENT              name of the live generation folder (switched atomically)
      .lock                flock held while a rebuild runs; says which pid and stage
      .qabot-index         marks the folder as qabot's: qabot writes into no other folder
                           (new, empty, or holding an index made before the marker aside)
      gen-<time>-<pid>/    a complete generation (only ever renamed into place whole)
        manifest.json      format, model, dimension, source files (sha256, size), checksums
                           of the data files, and a seal (sha256 of the manifest itself)
        corpus.sqlite      paragraphs (text, sentences, entities, BM25 terms), the word
                           table's words, the fuzzy vocabulary, the BM25 matrix's terms
        paragraphs.faiss   unit vectors of paragraphs: IndexFlatIP (exact cosine), or above
                           ``vectors.FLAT_MAX`` paragraphs IVF-SQ8 (faiss format)
        sentences.npy      unit vectors of sentences, float32, row = sentence id
        sentence_offsets.npy  first sentence row of each paragraph (n + 1 entries)
        sentences.faiss    IVF-SQ8 over the sentence vectors, above ``vectors.FLAT_MAX``
        words.npy          a vector for every content word of the corpus (the answerer's)
        bm25_*.npy         the BM25 matrix (CSR arrays and idf, rank-bm25's floats)
      tmp-<time>-<pid>/    a generation being written; never read, swept by the next run

``corpus.sqlite`` holds the text side: paragraphs (with their sentences, entities and BM25
terms), the rows of the word-vector table, the fuzzy vocabulary and the BM25 matrix's terms.
NumPy ``.npy`` files hold the arrays (sentence and word vectors, sentence offsets, the BM25
matrix's CSR arrays and idf), faiss's own format the vector indexes. Nothing is pickled.

What is costly to build is built at index time and only read at load: at a million
paragraphs, building the BM25 matrix, the vocabulary and the sentence IVF when the first
question came took ~500 s. (The spelling buckets, a flat sentence index up to 100k sentences
and the sentence -> paragraph map take about a second at 1M and are still made then.) And a
loaded index should cost memory for what questions touch, not for the whole corpus: the
large arrays are read by row when asked for (``NpyRows``), and paragraphs from SQLite
(``ParagraphTable``), not held as a million Python objects.
"""

from __future__ import annotations

import json
import operator
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, overload

import numpy as np

from qabot.records import Entity, Paragraph, Sentence

SCHEMA = """
CREATE TABLE paragraphs (id INTEGER PRIMARY KEY, doc TEXT NOT NULL, number INTEGER,
    start INTEGER, end INTEGER, kind TEXT, text TEXT,
    terms TEXT, sentences TEXT, entities TEXT);  -- JSON: [term], [[start, end]],
                                                 --       [[start, end, label]]
CREATE INDEX paragraphs_doc ON paragraphs (doc);
CREATE TABLE words (id INTEGER PRIMARY KEY, word TEXT NOT NULL);  -- rows of words.npy
CREATE TABLE vocabulary (id INTEGER PRIMARY KEY, word TEXT NOT NULL, stem TEXT NOT NULL);
    -- id = order of first use: spelling breaks ties by it
CREATE TABLE bm25_terms (id INTEGER PRIMARY KEY, term TEXT NOT NULL);  -- rows of bm25_*.npy
CREATE TABLE texts (doc TEXT PRIMARY KEY, text TEXT NOT NULL);
    -- the text extracted from each file that is not plain text: what its offsets index into
"""
_COLUMNS = "doc, number, start, end, kind, text, sentences, entities"
CACHE = 8192  # paragraphs kept decoded: a question reads a few dozen
CHUNK = 4096  # rows per query when every paragraph is read in turn


def write_corpus(
    path: Path,
    paragraphs: Sequence[Paragraph],
    terms: Sequence[Sequence[str]],
    words: Sequence[str],
    vocabulary: dict[str, str],
    bm25_terms: Iterable[str],
    texts: dict[str, str],
) -> None:
    con = sqlite3.connect(path)
    try:
        con.executescript(SCHEMA)
        con.executemany(
            "INSERT INTO paragraphs VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    pid,
                    p.doc,
                    p.number,
                    p.start,
                    p.end,
                    p.kind,
                    p.text,
                    json.dumps(list(p_terms)),
                    *map(json.dumps, paragraph_spans(p)),
                )
                for pid, (p, p_terms) in enumerate(zip(paragraphs, terms, strict=True))
            ),
        )
        con.executemany("INSERT INTO words VALUES (?,?)", enumerate(words))
        con.executemany(
            "INSERT INTO vocabulary VALUES (?,?,?)",
            ((i, w, stem) for i, (w, stem) in enumerate(vocabulary.items())),
        )
        con.executemany("INSERT INTO bm25_terms VALUES (?,?)", enumerate(bm25_terms))
        con.executemany("INSERT INTO texts VALUES (?,?)", texts.items())
        con.commit()
    finally:
        con.close()


def write_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as fh:
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)


def read_array(path: Path) -> np.ndarray:
    """A small ``.npy`` file, read whole. Object arrays (a pickle inside) are refused."""
    array = np.load(path, allow_pickle=False)
    if not isinstance(array, np.ndarray):  # a zip (.npz) under a .npy name
        raise ValueError(f"{path.name} is not a .npy array")
    return array


class NpyRows:
    """A large ``.npy`` array on disk whose rows are read when indexed (``os.preadv``).

    Neither loaded nor memory-mapped: a memory map makes every page it touches resident, and
    the kernel maps 64 KB around each fault, so reading the few hundred 1.5 KB word vectors
    a question needs grew the process by ~8 MB a question at 100k paragraphs, for good.
    A positioned read copies just the bytes asked for; the page cache keeps the hot parts fast.
    Supports what qabot does with these arrays: ``shape``, ``len``, an int or a slice (one
    read), a list or array of row ids, and ``np.asarray`` (the whole array, for building an
    index from it).
    """

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            with os.fdopen(os.dup(fd), "rb") as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                self._offset = fh.tell()
            if dtype.hasobject:
                raise ValueError(f"{path.name} holds Python objects (allow_pickle): refused")
            if fortran or not shape:
                raise ValueError(f"{path.name} is not a C-ordered array")
            size = os.fstat(fd).st_size
            self.shape: tuple[int, ...] = tuple(shape)
            self.dtype = np.dtype(dtype)
            self._row = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
            if size != self._offset + self.shape[0] * self._row:
                raise ValueError(f"{path.name} is truncated")
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.ndim = len(self.shape)

    def __del__(self, _close=os.close) -> None:  # os may be gone at interpreter exit
        fd = getattr(self, "_fd", None)
        if fd is not None:
            _close(fd)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self._row

    def _read(self, start: int, stop: int) -> np.ndarray:
        count = max(stop - start, 0)
        out = np.empty((count, *self.shape[1:]), dtype=self.dtype)
        view = memoryview(out.reshape(-1).view(np.uint8)) if count else memoryview(b"")
        at, done = self._offset + start * self._row, 0
        while done < len(view):  # one read returns at most ~2 GiB on Linux
            got = os.preadv(self._fd, [view[done:]], at + done)
            if got <= 0:
                raise OSError(f"short read from an index file ({done} of {len(view)} bytes)")
            done += got
        return out

    def __getitem__(self, key: object) -> Any:
        n = self.shape[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1:
                return self._read(start, stop)
            key = range(start, stop, step)
        if isinstance(key, int | np.integer):
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(key)
            return self._read(i, i + 1)[0]
        ids = np.asarray(key, dtype=np.int64).reshape(-1)
        out = np.empty((len(ids), *self.shape[1:]), dtype=self.dtype)
        for k, i in enumerate(ids.tolist()):
            out[k] = self[i]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self._read(0, self.shape[0])
        return whole if dtype is None else whole.astype(dtype, copy=False)


class ParagraphTable(Sequence[Paragraph]):
    """The paragraphs of a generation's ``corpus.sqlite``, read when asked for.

    Behaves as the list of paragraphs (id == position). The file is opened read-only and
    ``immutable`` (a generation is never changed once written), and stays readable if a
    rebuild sweeps the generation while it is open. One connection serves every thread,
    behind a lock; the last ``CACHE`` paragraphs read stay decoded.
    """

    def __init__(self, path: Path) -> None:
        uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
        self._con = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, Paragraph] = OrderedDict()
        with self._lock:
            self._count = self._con.execute("SELECT COUNT(*) FROM paragraphs").fetchone()[0]
            last = self._con.execute("SELECT MAX(id) FROM paragraphs").fetchone()[0]
        if self._count and last != self._count - 1:
            raise ValueError("paragraph ids are not contiguous")

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Paragraph: ...
    @overload
    def __getitem__(self, index: slice) -> list[Paragraph]: ...
    def __getitem__(self, index: int | slice) -> Paragraph | list[Paragraph]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        pid = operator.index(index)
        pid = pid + self._count if pid < 0 else pid
        if not 0 <= pid < self._count:
            raise IndexError(index)
        with self._lock:
            cached = self._cache.get(pid)
            if cached is not None:
                self._cache.move_to_end(pid)
                return cached
            row = self._con.execute(
                f"SELECT {_COLUMNS} FROM paragraphs WHERE id = ?", (pid,)
            ).fetchone()
            paragraph = _paragraph(row)
            self._cache[pid] = paragraph
            if len(self._cache) > CACHE:
                self._cache.popitem(last=False)
            return paragraph

    def __iter__(self) -> Iterator[Paragraph]:
        for row in self._rows(_COLUMNS):
            yield _paragraph(row)

    def terms(self, pid: int) -> list[str]:
        with self._lock:
            row = self._con.execute("SELECT terms FROM paragraphs WHERE id = ?", (pid,)).fetchone()
        if row is None:
            raise IndexError(pid)
        return json.loads(row[0])

    def all_terms(self) -> Iterator[list[str]]:
        for (terms,) in self._rows("terms"):
            yield json.loads(terms)

    @cached_property
    def doc_ranges(self) -> dict[str, range]:
        """Each document's paragraph ids (contiguous: a generation writes them in order).
        Read once: the load checks it and ``CorpusIndex.doc_paragraphs`` returns it."""
        with self._lock:
            rows = self._con.execute(
                "SELECT doc, MIN(id), MAX(id), COUNT(*) FROM paragraphs GROUP BY doc"
            ).fetchall()
        out = {}
        for doc, first, last, count in rows:
            if last - first + 1 != count:
                raise ValueError(f"paragraphs of {doc} are not contiguous")
            out[doc] = range(first, last + 1)
        return dict(sorted(out.items(), key=lambda item: item[1].start))

    def text_of(self, doc: str) -> str | None:
        """The extracted text of ``doc`` (None: a plain-text file, read from disk)."""
        with self._lock:
            row = self._con.execute("SELECT text FROM texts WHERE doc = ?", (doc,)).fetchone()
        return row[0] if row else None

    def column(self, table: str, columns: str) -> list[tuple]:
        """Every row of a small table (words, vocabulary, bm25_terms), in id order."""
        with self._lock:
            return self._con.execute(f"SELECT {columns} FROM {table} ORDER BY id").fetchall()

    def _rows(self, columns: str) -> Iterator[tuple]:
        # In chunks, each under the lock: no cursor stays open between a caller's steps.
        start = 0
        while start < self._count:
            with self._lock:
                rows = self._con.execute(
                    f"SELECT {columns} FROM paragraphs WHERE id >= ? ORDER BY id LIMIT ?",
                    (start, CHUNK),
                ).fetchall()
            if not rows:
                return
            yield from rows
            start += len(rows)


class TermsView(Sequence[list[str]]):
    """``paragraph_terms`` of a ``ParagraphTable``: each paragraph's BM25 terms, on demand."""

    def __init__(self, table: ParagraphTable) -> None:
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    @overload
    def __getitem__(self, index: int) -> list[str]: ...
    @overload
    def __getitem__(self, index: slice) -> list[list[str]]: ...
    def __getitem__(self, index: int | slice) -> list[str] | list[list[str]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._table.terms(index + len(self) if index < 0 else index)

    def __iter__(self) -> Iterator[list[str]]:
        return self._table.all_terms()


def _paragraph(row: tuple) -> Paragraph:
    doc, number, start, end, kind, text, sentences, entities = row
    return paragraph_of(
        doc, number, start, end, kind, text, json.loads(sentences), json.loads(entities)
    )


def paragraph_spans(p: Paragraph) -> tuple[list[list[int]], list[list[int | str]]]:
    """A paragraph's sentence and entity spans as kept on disk (JSON lists), here and in
    Milvus (``qabot.milvus.store``)."""
    return [[s.start, s.end] for s in p.sentences], [[e.start, e.end, e.label] for e in p.entities]


def paragraph_of(
    doc: str,
    number: int,
    start: int,
    end: int,
    kind: str,
    text: str,
    sentences: Sequence[Sequence[Any]],
    entities: Sequence[Sequence[Any]],
) -> Paragraph:
    """The paragraph that ``paragraph_spans`` and its other fields were kept from."""
    return Paragraph(
        doc,
        number,
        start,
        end,
        text,
        kind,
        tuple(Sentence(s, e) for s, e in sentences),
        tuple(Entity(s, e, label) for s, e, label in entities),
    )
