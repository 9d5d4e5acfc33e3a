"""Build and update the hybrid index: one new generation per run, swapped in whole.

A rebuild writes a new generation in ``tmp-*``, fsyncs it, renames it to ``gen-*`` and then
replaces ``CURRENT`` (write a temp file, fsync, rename): a rebuild killed at any moment leaves
the previous index loadable, and the next run sweeps what it left. Readers take no lock: they
read ``CURRENT`` once and every file from that one immutable generation, each verified
against the manifest before it is parsed, so they see the old index or the new, never a mix.
Only new or changed files are cleaned, annotated and embedded; everything else is copied
from the old index. The files of a generation and how they are read: ``qabot.index.storage``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from qabot.errors import QabotError
from qabot.index import storage
from qabot.index.embed_texts import embed_batches, embedded_texts, load_beside
from qabot.index.generations import (
    IndexLock,
    atomic_write,
    claim_index_dir,
    clear_pointer_folder,
    fsync,
    index_lock,
    sweep,
    sweep_leftovers,
)
from qabot.index.load import current_generation, load_index, sha256_file, unchanged_by_stat
from qabot.index.model import (
    BM25_FILES,
    CURRENT,
    DATA_FILES,
    FORMAT_VERSION,
    GEN_PREFIX,
    LOCK_WAIT_SECONDS,
    SENTENCE_INDEX,
    TMP_PREFIX,
    CorpusIndex,
    FileEntry,
    IndexReport,
    Manifest,
    one_line,
)
from qabot.index.parts import DocPart, parts_from_index
from qabot.ingest.extract_process import FileReader
from qabot.ingest.loading import SUFFIXES, file_sha256, scan
from qabot.records import Document, Progress, SkippedFile
from qabot.search import tokens
from qabot.search import vectors as qabot_vectors
from qabot.search.bm25 import BM25Matrix

# --------------------------------------------------------------------------- building


def _process(
    documents: list[Document], progress: Progress | None, lock: IndexLock
) -> dict[str, DocPart]:
    """Clean, annotate and embed new or changed documents."""
    from qabot.ingest.annotation import annotate_documents
    from qabot.ingest.cleaning import clean, title_of
    from qabot.ingest.embedding import DIMENSION, embed, load

    lock.stage("cleaning", checkpoint=False)
    cleaned = []
    for doc in documents:
        cleaned.append((doc, clean(doc)))
        if len(cleaned) == 1:
            lock.stage("cleaning")
    total_blocks = sum(len(blocks) for _, blocks in cleaned)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if done == 1:
            lock.stage("annotating")
        if progress:
            progress("annotating", done, total_blocks)

    lock.stage("annotating", checkpoint=False)
    if progress:  # before spaCy loads (seconds): the bar shows, and a closing chat can stop here
        progress("annotating", 0, total_blocks)
    encoder = load_beside(load) if total_blocks else None  # the encoder loads while spaCy runs
    annotations = annotate_documents([(blocks, doc.text) for doc, blocks in cleaned], tick)
    if encoder is not None:
        encoder.result()  # its errors (a missing model) are raised here
    annotated = [
        (doc, blocks, paragraphs)
        for (doc, blocks), paragraphs in zip(cleaned, annotations, strict=True)
    ]

    texts = embedded_texts(p for _, _, paragraphs in annotated for p in paragraphs)
    vectors = embed_batches(texts, embed, progress, lock)

    parts: dict[str, DocPart] = {}
    row = 0
    for doc, blocks, paragraphs in annotated:
        p_vecs: list[np.ndarray] = []
        s_vecs: list[np.ndarray] = []
        for p in paragraphs:
            p_vecs.append(vectors[row])
            row += 1
            if len(p.sentences) > 1:
                s_vecs.extend(vectors[row : row + len(p.sentences)])
                row += len(p.sentences)
            else:
                s_vecs.append(p_vecs[-1])
        entry = FileEntry(
            doc.name,
            doc.sha256,
            doc.size,
            doc.mtime_ns,
            title_of(doc, blocks),
            len(paragraphs),
            doc.kind,
            doc.marks,
            doc.unit,
        )
        parts[doc.name] = DocPart(
            entry,
            paragraphs,
            [tokens.terms(p.text) for p in paragraphs],
            np.array(p_vecs, dtype=np.float32).reshape(-1, DIMENSION),
            np.array(s_vecs, dtype=np.float32).reshape(-1, DIMENSION),
            doc.text if doc.kind != "text" else None,
        )
    return parts


def update_index(
    seeds_dir: Path,
    index_dir: Path,
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    wait_seconds: float = LOCK_WAIT_SECONDS,
    flat_max: int | None = None,
) -> IndexReport:
    """Bring the index at ``index_dir`` in line with ``seeds_dir``; see the module docstring.

    A second rebuild of the same index waits up to ``wait_seconds`` for the first, then
    raises QabotError. Disk errors (full, read-only) are one-line QabotErrors too.
    ``flat_max``: exact vector search up to this many vectors, IVF above
    (``vectors.FLAT_MAX`` when None).
    """
    claim_index_dir(index_dir)
    with index_lock(index_dir, wait_seconds) as lock:
        return _update_locked(seeds_dir, index_dir, rebuild, progress, lock, flat_max)


def write_index(index_dir: Path, index: CorpusIndex, flat_max: int | None = None) -> None:
    """Write an index made in memory as the live generation of ``index_dir``, the way
    ``update_index`` writes one (``qabot bench`` loads its synthetic archives from disk)."""
    claim_index_dir(index_dir)
    with index_lock(index_dir) as lock:
        parts = list(parts_from_index(index).values())
        words = sorted(index.words, key=index.words.__getitem__)
        rows = np.array([index.words[w] for w in words], dtype=np.int64)
        _write_generation(index_dir, parts, [], (words, index.word_vectors[rows]), lock, flat_max)


def _update_locked(
    seeds_dir: Path,
    index_dir: Path,
    rebuild: bool,
    progress: Progress | None,
    lock: IndexLock,
    flat_max: int | None = None,
) -> IndexReport:
    started = time.perf_counter()
    report = IndexReport()
    report.swept = sweep_leftovers(index_dir)
    cleared = clear_pointer_folder(index_dir)
    old: CorpusIndex | None = None
    if cleared:
        report.rebuilt_reason = cleared
    elif rebuild:
        report.rebuilt_reason = "--rebuild"
    else:
        try:
            old = load_index(index_dir)
        except QabotError as exc:
            if (index_dir / CURRENT).exists():
                report.rebuilt_reason = str(exc)
    stats, report.skipped = scan(seeds_dir)
    old_files = old.manifest.files if old else {}
    reusable = parts_from_index(old) if old else {}

    lock.stage("reading")
    parts: dict[str, DocPart] = {}
    to_process: list[Document] = []
    mtime_only = False
    with FileReader() as reader:  # other formats than text: in a child, with a time limit
        for i, stat in enumerate(stats):
            if progress:
                progress("reading", i + 1, len(stats))
            entry = old_files.get(stat.name)
            if unchanged_by_stat(stat, entry):
                parts[stat.name] = reusable[stat.name]
                report.unchanged.append(stat.name)
                continue
            if entry is not None and file_sha256(stat) == entry.sha256:  # touched, not changed
                part = reusable[stat.name]
                part.entry = FileEntry(**{**asdict(part.entry), "mtime_ns": stat.mtime_ns})
                parts[stat.name] = part
                report.unchanged.append(stat.name)
                mtime_only = True
                continue
            doc = reader.read(stat)
            if isinstance(doc, SkippedFile):
                report.skipped.append(doc)
                continue
            (report.changed if entry is not None else report.added).append(stat.name)
            to_process.append(doc)
    # gone from the folder, or now unreadable: either way no longer in the index
    report.removed = sorted(set(old_files) - set(parts) - {d.name for d in to_process})

    if not stats or (not to_process and not parts):
        skipped = "; ".join(f"{s.name}: {s.reason}" for s in report.skipped[:3])
        raise QabotError(
            f"no readable documents in {seeds_dir} (qabot reads {', '.join(SUFFIXES)})"
            + (f" (skipped {skipped})" if skipped else "")
        )

    report.embedded = 0
    if to_process:
        new_parts = _process(to_process, progress, lock)
        report.embedded = sum(
            len(p.paragraphs) + sum(len(x.sentences) for x in p.paragraphs if len(x.sentences) > 1)
            for p in new_parts.values()
        )
        parts.update(new_parts)

    ordered = [parts[s.name] for s in stats if s.name in parts]
    skipped_changed = old is None or [asdict(s) for s in report.skipped] != [
        asdict(s) for s in old.manifest.skipped
    ]
    try:
        if old is not None and not report.touched and not skipped_changed:
            if mtime_only:
                _rewrite_manifest(old, ordered)
        else:
            words = _word_table(ordered, old, progress, lock)
            _write_generation(index_dir, ordered, report.skipped, words, lock, flat_max)
    except (OSError, sqlite3.Error) as exc:  # disk full, read-only folder, ...
        raise QabotError(f"cannot write the index at {index_dir}: {one_line(exc)}") from exc
    report.paragraphs = sum(len(p.paragraphs) for p in ordered)
    report.sentences = sum(len(x.sentences) for p in ordered for x in p.paragraphs)
    report.seconds = time.perf_counter() - started
    return report


def _manifest_for(
    parts: list[DocPart], skipped: list[SkippedFile], checksums: dict[str, str]
) -> Manifest:
    from qabot.ingest.embedding import DIMENSION, model_id

    return Manifest(
        format_version=FORMAT_VERSION,
        model=model_id(),
        dimension=DIMENSION,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        files={p.entry.name: p.entry for p in parts},
        skipped=list(skipped),
        paragraphs=sum(len(p.paragraphs) for p in parts),
        sentences=sum(len(x.sentences) for p in parts for x in p.paragraphs),
        checksums=checksums,
    )


def _word_table(
    parts: list[DocPart], old: CorpusIndex | None, progress: Progress | None, lock: IndexLock
) -> tuple[list[str], np.ndarray]:
    """Every content word of the corpus with its vector: words the old index had are copied,
    new ones embedded (~1 ms a word: about a second for the 821 words of the seeds)."""
    from qabot.ingest.embedding import DIMENSION, embed

    words = sorted(
        {w for part in parts for p in part.paragraphs for w in tokens.content_words(p.text)}
    )
    known = old.words if old is not None else {}
    new = [w for w in words if w not in known]
    fresh = embed_batches(new, embed, progress, lock, stage="words")
    vectors = np.zeros((len(words), DIMENSION), np.float32)
    rows = {w: i for i, w in enumerate(new)}
    for i, w in enumerate(words):
        vectors[i] = fresh[rows[w]] if w in rows else old.word_vectors[known[w]]  # type: ignore[union-attr]
    return words, vectors


def _write_generation(
    index_dir: Path,
    parts: list[DocPart],
    skipped: list[SkippedFile],
    words: tuple[list[str], np.ndarray],
    lock: IndexLock,
    flat_max: int | None = None,
) -> None:
    """Write a generation beside the live one, then switch ``CURRENT`` to it."""
    import faiss

    from qabot.ingest.embedding import DIMENSION

    # sortable by time, unique per process: "20260123-101112-123456789-4242"
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9:09d}-{os.getpid()}"
    tmp = index_dir / f"{TMP_PREFIX}{name}"
    tmp.mkdir(parents=True)
    lock.stage("writing", checkpoint=False)
    try:
        paragraphs = [p for part in parts for p in part.paragraphs]
        terms = [t for part in parts for t in part.terms]
        empty = np.zeros((0, DIMENSION), np.float32)
        p_vecs = np.concatenate([empty, *(part.paragraph_vectors for part in parts)])
        s_vecs = np.concatenate([empty, *(part.sentence_vectors for part in parts)])
        offsets = np.zeros(len(paragraphs) + 1, dtype=np.int64)
        np.cumsum([len(p.sentences) for p in paragraphs], out=offsets[1:])
        # what the first question would otherwise build: ~500 s at a million paragraphs
        bm25 = BM25Matrix(terms) if any(terms) else None
        storage.write_corpus(
            tmp / "corpus.sqlite",
            paragraphs,
            terms,
            words[0],
            tokens.vocabulary(p.text for p in paragraphs),
            bm25.vocabulary if bm25 else (),
            {part.entry.name: part.text for part in parts if part.text is not None},
        )
        lock.stage("writing")
        files = list(DATA_FILES)
        limit = qabot_vectors.FLAT_MAX if flat_max is None else flat_max
        faiss.write_index(qabot_vectors.build(p_vecs, limit), str(tmp / "paragraphs.faiss"))
        if len(s_vecs) > limit:  # below it the retriever scans sentences.npy
            faiss.write_index(qabot_vectors.build(s_vecs, limit), str(tmp / SENTENCE_INDEX))
            files.append(SENTENCE_INDEX)
        arrays = {
            "sentences.npy": s_vecs.astype(np.float32, copy=False),
            "sentence_offsets.npy": offsets,
            "words.npy": words[1].astype(np.float32, copy=False),
        }
        if bm25 is not None:
            arrays.update((f"bm25_{k}.npy", v) for k, v in bm25.arrays().items())
            files += BM25_FILES
        for data_file, array in arrays.items():
            storage.write_array(tmp / data_file, array)
        for data_file in files:
            fsync(tmp / data_file)
        checksums = {data_file: sha256_file(tmp / data_file) for data_file in files}
        atomic_write(tmp / "manifest.json", _manifest_for(parts, skipped, checksums).to_json())
        generation = index_dir / f"{GEN_PREFIX}{name}"
        os.rename(tmp, generation)
        fsync(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    lock.stage("sealed")  # complete and durable, not yet live: the moment before the switch
    try:
        previous = current_generation(index_dir)
    except QabotError:
        previous = None
    atomic_write(index_dir / CURRENT, generation.name + "\n")
    lock.stage("switched")
    # Keep the generation just replaced (a reader may still be loading it); drop older ones.
    keep = {generation.name} | ({previous.name} if previous else set())
    sweep(index_dir, keep)


def _rewrite_manifest(old: CorpusIndex, parts: list[DocPart]) -> None:
    """Record new mtimes of unchanged files (same checksums, so readers are unaffected)."""
    manifest = _manifest_for(parts, old.manifest.skipped, old.manifest.checksums)
    manifest.created = old.manifest.created
    atomic_write(old.directory / "manifest.json", manifest.to_json())
