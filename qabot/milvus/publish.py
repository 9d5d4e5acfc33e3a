"""Bringing a Milvus generation in line with the local index, which stays the embedding cache.

``qabot index --backend milvus`` first updates the local index (only new and changed files
are read and embedded), then publishes it here, by document, driven by the manifest's hashes:

* **Update** (the alias names a generation of this format and model): the rows of new and
  changed documents are inserted under fresh paragraph ids, at or above the head's
  ``next_pid``, which searches do not see yet; then the new head is written (the commit:
  it moves ``next_pid`` past them and marks the replaced documents' ids as retired, which
  searches skip); then the retired rows are deleted. A run killed at any point leaves a head
  that names complete data, and the next run deletes the unfinished rows first.
* **Rebuild** (``--rebuild``, no generation yet, another model or format): a new generation
  is filled, then the alias moves to it, then the old one is dropped. A killed rebuild
  leaves the alias on the old generation; the next run drops the orphan.

BM25 weights are rank-bm25's, split so that Milvus's inner product computes them: the
paragraph holds ``tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl))`` and the question carries
each term's IDF (``qabot.milvus.corpus``). The IDF is recomputed for the whole corpus at each
update; ``avgdl`` stays the one of the last rebuild, so after many updates the weights drift
slightly from rank-bm25's until ``--rebuild``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pymilvus.exceptions import MilvusException

from qabot.errors import QabotError
from qabot.index.model import FAILPOINT_ENV, CorpusIndex
from qabot.milvus import store
from qabot.records import Progress
from qabot.search.bm25 import K1, B

INSERT_ROWS = 1_000
# The fault tests' hook (as ``qabot.index.model.FAILPOINT_ENV``'s stages): a publish stops
# itself (SIGSTOP) once its new rows are in, before the head that would show them.
FAILPOINT = "publishing"


@dataclass
class PublishReport:
    """What one publish did to the Milvus generation."""

    collection: str
    rebuilt_reason: str = ""  # why a new generation was made, when one was
    inserted: list[str] = field(default_factory=list)  # documents (re)inserted
    removed: list[str] = field(default_factory=list)  # documents whose old rows were deleted
    rows: int = 0
    seconds: float = 0.0


def bm25_part(terms: Iterable[str], avgdl: float) -> dict[int, float]:
    """A paragraph's BM25 weights without the IDF, by sparse dimension."""
    counts = Counter(terms)
    dl = sum(counts.values())
    norm = K1 * (1 - B + B * dl / avgdl) if avgdl else K1
    out: dict[int, float] = {}
    for term, tf in counts.items():
        tid = store.term_id(term)
        out[tid] = out.get(tid, 0.0) + tf * (K1 + 1) / (tf + norm)
    return out or dict(store.PLACEHOLDER)


def publish(
    client: Any,
    index: CorpusIndex,
    name: str = store.DEFAULT_NAME,
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> PublishReport:
    """Make the generation that alias ``name`` names hold exactly ``index``."""
    started = time.perf_counter()
    current, state, why = _current(client, index, name)
    for leftover in _orphans(client, name, current):  # killed rebuilds' generations
        _drop(client, leftover)
    if rebuild or state is None:
        report = _rebuild(client, index, name, current, why or "rebuild asked for", progress)
    else:
        report = _update(client, index, current, state, progress)
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class _State:
    """What the live generation holds: its head, manifest and document ranges."""

    head: store.Head
    manifest: dict[str, Any]
    ranges: dict[str, list[int]]


def _current(client: Any, index: CorpusIndex, name: str) -> tuple[str, _State | None, str]:
    """The generation the alias names, what it holds, and why it cannot be updated (if so)."""
    current = store.alias_target(client, name)
    if not current:
        return "", None, "no Milvus collection yet"
    meta = store.meta_name(current)
    if not client.has_collection(meta) or not client.has_collection(current):
        return current, None, "part of it is gone"
    try:
        store.loaded(client, meta, current)
        head = store.read_head(client, meta)
        state = _State(
            head, store.blob(client, meta, head, "manifest"), store.blob(client, meta, head, "docs")
        )
    except QabotError as exc:  # a description missing or garbled (a passing failure raises)
        return current, None, f"its description is unreadable ({exc})"
    m = index.manifest
    if head.format != store.FORMAT or head.model != m.model or head.dimension != m.dimension:
        return current, None, f"it was built by {head.model} (format {head.format})"
    return current, state, ""


def _rebuild(
    client: Any,
    index: CorpusIndex,
    name: str,
    old: str,
    why: str,
    progress: Progress | None,
) -> PublishReport:
    collection = store.generation_name(name, time.time_ns())
    meta = store.meta_name(collection)
    rows_expected = len(index.paragraphs) + index.manifest.sentences
    schema, params = store.paragraph_schema(client, index.manifest.dimension, rows_expected)
    client.create_collection(collection, schema=schema, index_params=params)
    schema, params = store.meta_schema(client)
    client.create_collection(meta, schema=schema, index_params=params)
    lengths = [len(t) for t in index.paragraph_terms]
    avgdl = sum(lengths) / len(lengths) if lengths else 0.0  # rank-bm25's
    head = store.Head(store.FORMAT, index.manifest.model, index.manifest.dimension, 0, 0, avgdl, 0)
    head.nprobe = store.dense_index(rows_expected)[2]
    docs = list(index.doc_paragraphs)
    ranges, rows = _insert(client, collection, index, docs, 0, avgdl, progress)
    head.next_pid = sum(hi - lo for lo, hi in ranges.values())
    _write_meta(client, meta, index, head, ranges)
    client.load_collection(collection)
    if old:
        client.alter_alias(collection, name)
        _mark_replaced(client, old)  # bots still on it reopen at their next question
        _drop(client, old)
    else:
        client.create_alias(collection, name)
    return PublishReport(collection, why, docs, [], rows)


def _update(
    client: Any,
    index: CorpusIndex,
    collection: str,
    state: _State,
    progress: Progress | None,
) -> PublishReport:
    head, ranges = state.head, state.ranges
    meta = store.meta_name(collection)
    client.delete(collection, filter=f"pid >= {head.next_pid}")  # a killed update's rows
    if state.manifest == json.loads(index.manifest.to_json()) and not head.retired:
        return PublishReport(collection)  # in step: nothing to write
    old_files = {f["name"]: f["sha256"] for f in state.manifest.get("files", [])}
    new_files = index.manifest.files
    inserted = [
        d
        for d in index.doc_paragraphs
        if d not in old_files or old_files[d] != new_files[d].sha256 or d not in ranges
    ]
    # every replaced document: also one that changed into one with no paragraphs, which is
    # not among the inserted ones
    removed = [d for d in ranges if d not in new_files or old_files.get(d) != new_files[d].sha256]
    new_ranges, rows = _insert(
        client, collection, index, inserted, head.next_pid, head.avgdl, progress, upsert=True
    )
    retired = [ranges[d] for d in removed if ranges[d][1] > ranges[d][0]]
    for d in removed:
        del ranges[d]
    ranges.update(new_ranges)
    head.next_pid = max([head.next_pid, *(hi for _, hi in new_ranges.values())])
    head.retired = head.retired + retired
    old_version = head.version
    head.version += 1
    _write_meta(client, meta, index, head, ranges)  # the commit
    for lo, hi in head.retired:
        client.delete(collection, filter=f"pid >= {lo} and pid < {hi}")
    client.flush(collection)
    head.retired = []
    store.write_head(client, meta, head)
    # the previous version's blobs stay: a bot opened on it may still read them lazily
    client.delete(meta, filter=f'key like "%/{old_version - 1}/%"')
    return PublishReport(collection, "", inserted, removed, rows)


def _insert(
    client: Any,
    collection: str,
    index: CorpusIndex,
    docs: list[str],
    first_pid: int,
    avgdl: float,
    progress: Progress | None,
    upsert: bool = False,
) -> tuple[dict[str, list[int]], int]:
    """Insert ``docs``' rows under paragraph ids from ``first_pid``; their id ranges.
    ``upsert``: replace rows of the same ids, which a killed update may have left."""
    write = client.upsert if upsert else client.insert
    ranges: dict[str, list[int]] = {}
    batch: list[dict[str, Any]] = []
    pid, rows, total = first_pid, 0, len(docs)
    for done, doc in enumerate(docs, 1):
        local_ids = index.doc_paragraphs[doc]
        ranges[doc] = [pid, pid + len(local_ids)]
        for local in local_ids:
            batch.extend(_rows(index, int(local), pid, avgdl))
            pid += 1
            if len(batch) >= INSERT_ROWS:
                write(collection, batch)
                rows += len(batch)
                batch = []
        if progress is not None:
            progress("publishing", done, total)
    if batch:
        write(collection, batch)
        rows += len(batch)
    client.flush(collection)
    if os.environ.get(FAILPOINT_ENV) == FAILPOINT:
        os.kill(os.getpid(), signal.SIGSTOP)
    return ranges, rows


def _rows(index: CorpusIndex, local: int, pid: int, avgdl: float) -> list[dict[str, Any]]:
    p = index.paragraphs[local]
    vector = index.paragraph_vectors.reconstruct(local)
    sparse = bm25_part(index.paragraph_terms[local], avgdl)
    out = [store.row(pid, -1, p.doc, vector, sparse, store.paragraph_json(p))]
    # a one-sentence paragraph's vector serves as its sentence's, as in the local index
    for k in range(len(p.sentences) if len(p.sentences) > 1 else 0):
        vector = index.sentence_vectors[index.sentence_row(local, k)]
        out.append(store.row(pid, k, p.doc, vector))
    return out


def _write_meta(
    client: Any, meta: str, index: CorpusIndex, head: store.Head, ranges: dict[str, list[int]]
) -> None:
    """Blobs under the head's version, then the head: readers see the old or the new."""
    version = head.version
    manifest = json.loads(index.manifest.to_json())
    idf = dict(index.bm25.idf) if index.bm25 is not None else {}
    vocabulary = index.vocabulary if index.vocabulary is not None else {}
    texts = {d: text for d in index.manifest.files if (text := index.extracted_text(d)) is not None}
    blobs = {
        "manifest": manifest,
        "stats": {"idf": idf, "vocabulary": vocabulary},
        "docs": ranges,
        "texts": texts,
    }
    head.blobs = {
        key: store.write_blob(client, meta, key, version, value) for key, value in blobs.items()
    }
    head.paragraphs = sum(hi - lo for lo, hi in ranges.values())
    client.flush(meta)
    store.write_head(client, meta, head)


def _orphans(client: Any, name: str, current: str) -> set[str]:
    """Generations of ``name`` (``name_<19-digit stamp>``) no alias names: killed rebuilds'."""
    prefix = f"{name}_"
    return {
        c
        for c in client.list_collections()
        if c.startswith(prefix)
        and c[len(prefix) :].isdigit()
        and len(c) - len(prefix) >= 18
        and c != current
        and not store.aliased(client, c)
    }


def _mark_replaced(client: Any, collection: str) -> None:
    """Give the replaced generation's head a version no bot opened it at."""
    meta = store.meta_name(collection)
    with contextlib.suppress(QabotError, MilvusException):
        head = store.read_head(client, meta)
        head.version = -1
        store.write_head(client, meta, head)


def _drop(client: Any, collection: str) -> None:
    for c in (store.meta_name(collection), collection):
        if client.has_collection(c):
            client.drop_collection(c)
