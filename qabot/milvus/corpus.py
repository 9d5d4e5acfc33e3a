"""The corpus as a Milvus generation: what the answerer reads, and hybrid retrieval there.

``MilvusCorpus`` is a ``CorpusIndex`` whose paragraphs and vectors live in Milvus: the
answerer reads it as it reads the local index and cannot tell them apart. Paragraphs and
their sentence vectors are fetched in one query for the hits of a question (and kept in a
bounded cache). The corpus words' vectors are not stored: the answerer embeds the words it
meets at question time, which gives the same vectors as the local table.

A question first reads the generation's head (one ``get``): when a publish has replaced it,
the bot opens the new one (``QABot`` swaps it in whole, as it swaps a reloaded local index).
Every pymilvus call goes through ``guard``: a failure is a one-line QabotError.

``MilvusRetriever`` sends the dense search (rows grouped by paragraph: a paragraph scores its
best of its own and its sentences' cosines) and the BM25 search (the question's IDF-weighted
terms against the paragraphs' sparse weights) to Milvus at once, on two threads, and fuses
the two rankings by reciprocal rank (k = 60) as the local retriever does. Milvus's own RRF
(``hybrid_search``) fuses rows, not paragraphs, so it cannot fuse a paragraph's best
sentence with its BM25 rank.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar, overload

import numpy as np

from qabot.errors import QabotError
from qabot.index.model import CorpusIndex, Manifest
from qabot.milvus import guard, store
from qabot.records import Hit, Paragraph
from qabot.search.retrieval import MODES, Query, Retriever

CACHE_PARAGRAPHS = 20_000
FETCH_IDS = 512  # paragraph ids a query asks for at once
DOCS_WITH_LIMIT = 16_384  # paragraphs a "documents with this term" search returns at most
# What a paragraph id of a replaced document reads as: no document's paragraph
GAP = Paragraph("", -1, 0, 0, "", "gap", (), ())
_POOL = ThreadPoolExecutor(8, thread_name_prefix="qabot-milvus")  # two searches a question
T = TypeVar("T")


class _Rows:
    """Paragraphs, their vectors and their sentences' vectors, fetched by paragraph id and
    kept in a bounded LRU cache; one lock, since the chat answers on several threads."""

    def __init__(self, client: Any, collection: str, dimension: int, uri: str) -> None:
        self.client, self.collection, self.dimension, self.uri = client, collection, dimension, uri
        self.paragraphs: OrderedDict[int, Paragraph] = OrderedDict()
        self.vectors: dict[int, np.ndarray] = {}  # pid -> paragraph vector
        self.sentences: dict[tuple[int, int], np.ndarray] = {}
        self.complete: set[int] = set()  # pids whose sentences' vectors are here too
        self.lock = threading.RLock()

    def call(self, fn: Callable[[], T]) -> T:
        return guard(fn, self.uri)

    def fetch(self, pids: Sequence[int], sentences: bool = True) -> None:
        """Fetch ``pids``' paragraphs (and their sentences' vectors) not yet here, in a few
        queries; an id with no paragraph (a replaced document's) reads as ``GAP``."""
        with self.lock:
            have = self.complete if sentences else self.paragraphs
            wanted = sorted({int(p) for p in pids if int(p) not in have})
        only = "" if sentences else " and k == -1"
        for lo in range(0, len(wanted), FETCH_IDS):
            part = wanted[lo : lo + FETCH_IDS]
            rows = self.call(
                lambda part=part: self.client.query(
                    self.collection,
                    filter=f"pid in {part}{only}",
                    output_fields=["pid", "k", "dense", "para"],
                )
            )
            with self.lock:
                for pid in part:
                    self.paragraphs[pid] = self.paragraphs.get(pid, GAP)
                    self.paragraphs.move_to_end(pid)  # the newest: never evicted by this fetch
                for r in rows:
                    pid, k = int(r["pid"]), int(r["k"])
                    vector = np.asarray(r["dense"], dtype=np.float32)
                    if k < 0:
                        self.paragraphs[pid] = store.paragraph_from_json(r["para"])
                        self.vectors[pid] = vector
                    else:
                        self.sentences[(pid, k)] = vector
                if sentences:
                    self.complete.update(part)
        with self.lock:
            while len(self.paragraphs) > CACHE_PARAGRAPHS:
                pid, p = self.paragraphs.popitem(last=False)
                self.vectors.pop(pid, None)
                self.complete.discard(pid)
                for k in range(len(p.sentences)):
                    self.sentences.pop((pid, k), None)

    def paragraph(self, pid: int) -> Paragraph:
        with self.lock:
            if pid in self.paragraphs:
                self.paragraphs.move_to_end(pid)
                return self.paragraphs[pid]
        self.fetch([pid], sentences=False)
        with self.lock:
            return self.paragraphs.get(pid, GAP)

    def vector(self, pid: int) -> np.ndarray:
        with self.lock:
            if pid in self.vectors:
                self.paragraphs.move_to_end(pid)
                return self.vectors[pid]
        self.fetch([pid], sentences=False)
        with self.lock:
            if pid not in self.vectors:
                raise QabotError(f"no paragraph {pid} in {self.collection}: ask again")
            return self.vectors[pid]

    def sentence(self, pid: int, k: int) -> np.ndarray:
        with self.lock:
            if (pid, k) in self.sentences:
                self.paragraphs.move_to_end(pid)
                return self.sentences[(pid, k)]
        self.fetch([pid])
        with self.lock:
            if (pid, k) in self.sentences:
                return self.sentences[(pid, k)]
        if len(self.paragraph(pid).sentences) == 1:
            return self.vector(pid)  # one sentence: no row of its own
        raise QabotError(f"no sentence {k} of paragraph {pid} in {self.collection}: ask again")


class RemoteParagraphs(Sequence[Paragraph]):
    """``paragraphs[pid]`` of a Milvus generation; ids of replaced documents read as ``GAP``."""

    def __init__(self, rows: _Rows, size: int, live: Callable[[], dict[str, range]]) -> None:
        self.rows, self.size, self.live = rows, size, live

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> Paragraph: ...
    @overload
    def __getitem__(self, index: slice) -> list[Paragraph]: ...
    def __getitem__(self, index: int | slice) -> Paragraph | list[Paragraph]:
        if isinstance(index, slice):
            ids = list(range(self.size))[index]
            self.rows.fetch(ids, sentences=False)
            return [self.rows.paragraph(i) for i in ids]
        if not 0 <= index < self.size:
            raise IndexError(index)
        return self.rows.paragraph(index)

    def __iter__(self) -> Iterator[Paragraph]:
        """Every live paragraph in id order (ids of replaced documents are skipped), fetched
        a batch at a time: what evaluation reads, not what a question does."""
        live = sorted(pid for ids in self.live().values() for pid in ids)
        for lo in range(0, len(live), FETCH_IDS):
            part = live[lo : lo + FETCH_IDS]
            self.rows.fetch(part, sentences=False)
            yield from (self.rows.paragraph(pid) for pid in part)


class _ParagraphVectors:
    """The ``reconstruct`` that the answerer and evidence use of the local faiss index."""

    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    def reconstruct(self, pid: int) -> np.ndarray:
        return self.rows.vector(pid)


class _SentenceVectors:
    """``sentence_vectors[sentence_row(pid, k)]``: the row is the pair itself here."""

    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    def __getitem__(self, key: tuple[int, int]) -> np.ndarray:
        return self.rows.sentence(*key)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows.sentences), self.rows.dimension)


@dataclass
class _IdfTable:
    """What the retriever's IDF look-ups read of a BM25 matrix."""

    idf: dict[str, float]


@dataclass
class MilvusCorpus(CorpusIndex):
    """A Milvus generation read as a ``CorpusIndex`` (see the module docstring)."""

    client: Any = None
    collection: str = ""
    head: store.Head | None = None
    rows: _Rows | None = None
    idf: dict[str, float] | None = None
    client_uri: str = ""

    @classmethod
    def open(cls, client: Any, name: str = store.DEFAULT_NAME, where: str = "") -> MilvusCorpus:
        """The generation alias ``name`` names; QabotError when there is none, or it was
        built by another model than this qabot's."""
        from qabot.ingest.embedding import DIMENSION, model_id

        collection = store.alias_target(client, name)
        if not collection:
            raise QabotError(
                f"Milvus{' at ' + where if where else ''} holds no qabot corpus {name!r}: "
                "run qabot index --backend milvus"
            )
        meta = store.meta_name(collection)
        store.loaded(client, meta, collection)
        head = store.read_head(client, meta)
        if head.format != store.FORMAT:
            raise QabotError(
                f"the Milvus collection {collection} is of another format: "
                "run qabot index --backend milvus --rebuild"
            )
        if head.model != model_id() or head.dimension != DIMENSION:
            raise QabotError(
                f"the Milvus collection {collection} was built by {head.model} "
                f"({head.dimension}d), this qabot uses {model_id()} ({DIMENSION}d): "
                "run qabot index --backend milvus --rebuild"
            )
        manifest = Manifest.from_json(json.dumps(store.blob(client, meta, head, "manifest")))
        stats = store.blob(client, meta, head, "stats")
        rows = _Rows(client, collection, head.dimension, where)

        @functools.cache
        def doc_ranges() -> dict[str, range]:
            ranges = guard(lambda: store.blob(client, meta, head, "docs"), where)
            return {d: range(lo, hi) for d, (lo, hi) in ranges.items()}

        return cls(
            directory=Path(where or "."),
            manifest=manifest,
            paragraphs=RemoteParagraphs(rows, head.next_pid, doc_ranges),
            paragraph_vectors=_ParagraphVectors(rows),
            sentence_vectors=_SentenceVectors(rows),  # type: ignore[arg-type]
            sentence_offsets=np.zeros(0, dtype=np.int64),
            paragraph_terms=[],
            words={},
            word_vectors=np.zeros((0, head.dimension), dtype=np.float32),
            vocabulary=stats["vocabulary"],
            client=client,
            collection=collection,
            head=head,
            rows=rows,
            idf=stats["idf"],
            client_uri=where,
        )

    def outdated(self) -> bool:
        """Whether a publish replaced this generation's head (or the generation): one read."""
        assert self.head is not None
        try:
            now = store.read_head(self.client, store.meta_name(self.collection))
        except QabotError:
            return True
        except Exception as exc:  # the generation dropped by a rebuild: a new one is named
            if not self.client.has_collection(store.meta_name(self.collection)):
                return True
            raise exc
        return now.version != self.head.version

    def sentence_row(self, paragraph_id: int, k: int) -> Any:  # type: ignore[override]
        return (paragraph_id, k)

    @property
    def paragraph_count(self) -> int:
        assert self.head is not None
        return self.head.paragraphs

    @cached_property
    def doc_paragraphs(self) -> dict[str, Sequence[int]]:
        assert isinstance(self.paragraphs, RemoteParagraphs)
        return dict(self.paragraphs.live())

    @cached_property
    def _texts(self) -> dict[str, str]:
        assert self.head is not None
        meta, head = store.meta_name(self.collection), self.head
        texts: dict[str, str] = guard(
            lambda: store.blob(self.client, meta, head, "texts"), self.client_uri
        )
        return texts

    def extracted_text(self, doc: str) -> str | None:
        entry = self.manifest.files.get(doc)
        if entry is None or entry.kind == "text":
            return None
        text = self._texts.get(doc)
        if text is None:
            raise QabotError(f"the Milvus collection has no text for {doc}: reindex it")
        return text


class MilvusRetriever(Retriever):
    """Hybrid retrieval in Milvus, with the local retriever's query analysis and fusion."""

    index: MilvusCorpus

    @cached_property
    def bm25(self) -> Any:
        return _IdfTable(self.index.idf or {})

    def search(self, query: Query, k: int = 10) -> list[Hit]:
        """The top ``k`` of the hybrid ranking, fetched with what the answerer reads: the
        paragraphs after them, and their sentences' vectors (one query)."""
        return self._rank(query, k, "hybrid", self.config.candidates, for_answer=True)

    def rank(
        self, query: Query, k: int, mode: str = "hybrid", depth: int | None = None
    ) -> list[Hit]:
        """As the local ``rank``; ``depth``: paragraphs each search returns."""
        return self._rank(query, k, mode, depth, for_answer=False)

    def _rank(
        self, query: Query, k: int, mode: str, depth: int | None, *, for_answer: bool
    ) -> list[Hit]:
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; one of {', '.join(MODES)}")
        head, rows = self.index.head, self.index.rows
        assert head is not None and rows is not None
        if head.paragraphs == 0:
            return []
        depth = depth or (max(k, self.config.candidates) if mode == "hybrid" else k)
        depth = min(depth, head.paragraphs)
        dense_job = _POOL.submit(self._dense, query, depth) if mode != "bm25" else None
        bm25_job = _POOL.submit(self._bm25, query, depth) if mode != "dense" else None
        dense = rows.call(dense_job.result) if dense_job else []
        bm25 = rows.call(bm25_job.result) if bm25_job else []
        # fused as the local retriever fuses; a paragraph only BM25 found scores the cosine
        # of its own vector, which the BM25 search returned with it
        vectors = {pid: vector for pid, _, vector in bm25}
        hits = self._fuse(
            query,
            defaultdict(float, {pid: score for pid, score, _ in bm25}),
            [pid for pid, _, _ in bm25],
            dict(dense),
            [pid for pid, _ in dense],
            vectors.__getitem__,
        )[:k]
        order = [h.paragraph_id for h in hits]
        if for_answer:
            rows.fetch([*order, *(pid + 1 for pid in order)])
        else:
            rows.fetch(order, sentences=False)
        return hits

    def _dense(self, query: Query, depth: int) -> list[tuple[int, float]]:
        assert self.index.head is not None
        found = self.index.client.search(
            self.index.collection,
            data=[query.vector.astype(np.float32).tolist()],
            anns_field="dense",
            limit=depth,
            group_by_field="pid",
            filter=self.index.head.visible(),
            output_fields=["pid"],
            search_params=self.index.head.dense_params(),
        )[0]
        return [(int(h["entity"]["pid"]), float(h["distance"])) for h in found]

    def sparse_query(self, terms: dict[str, float]) -> dict[int, float]:
        idf = self.bm25.idf
        out: dict[int, float] = {}
        for term, weight in terms.items():
            if term in idf:
                tid = store.term_id(term)
                out[tid] = out.get(tid, 0.0) + weight * idf[term]
        return out

    def _bm25(self, query: Query, depth: int) -> list[tuple[int, float, np.ndarray]]:
        sparse = self.sparse_query(query.terms)
        if not sparse:
            return []
        assert self.index.head is not None
        found = self.index.client.search(
            self.index.collection,
            data=[sparse],
            anns_field="sparse",
            limit=depth,
            filter=self.index.head.visible(),
            output_fields=["pid", "dense"],
            search_params={"metric_type": "IP"},
        )[0]
        return [
            (int(h["entity"]["pid"]), float(h["distance"]), np.asarray(h["entity"]["dense"]))
            for h in found
            if h["distance"] > 0
        ]

    def docs_with(self, term: str) -> set[str]:
        if term not in self.bm25.idf:
            return set()
        head = self.index.head
        assert head is not None
        found = guard(
            lambda: self.index.client.search(
                self.index.collection,
                data=[{store.term_id(term): 1.0}],
                anns_field="sparse",
                limit=DOCS_WITH_LIMIT,
                filter=head.visible(),
                output_fields=["doc"],
                search_params={"metric_type": "IP"},
            )[0],
            self.index.client_uri,
        )
        return {h["entity"]["doc"] for h in found}
