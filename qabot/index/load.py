"""Loading a generation: every file verified against the sealed manifest before it is parsed;
and whether the seeds changed since."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np

from qabot.errors import QabotError
from qabot.index import storage
from qabot.index.model import (
    BM25_FILES,
    CURRENT,
    DATA_FILES,
    FORMAT_VERSION,
    GEN_PREFIX,
    SENTENCE_INDEX,
    CorpusIndex,
    FileEntry,
    Manifest,
    one_line,
    seal,
)
from qabot.ingest.loading import FileStat, file_sha256, scan
from qabot.search import vectors as qabot_vectors
from qabot.search.bm25 import BM25Matrix

# --------------------------------------------------------------------------- loading


def current_generation(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    if pointer.is_dir():
        raise QabotError(f"index at {index_dir} is corrupt: {CURRENT} is a folder, not a pointer")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise QabotError(f"index at {index_dir} is unreadable: {one_line(exc)}") from exc
    if not name.startswith(GEN_PREFIX) or "/" in name or "\\" in name or len(name) > 200:
        raise QabotError(f"index at {index_dir} is corrupt: bad {CURRENT} pointer")
    return index_dir / name


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:  # streamed; hashlib lets go of the GIL: files hash in parallel
        return hashlib.file_digest(fh, "sha256").hexdigest()


def read_manifest(generation: Path) -> Manifest:
    """The generation's manifest, checked: readable, sealed, this format, this model."""
    where = f"index at {generation.parent}"
    try:
        text = (generation / "manifest.json").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise QabotError(f"{where} is corrupt: manifest missing") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise QabotError(f"{where} is unreadable: manifest: {one_line(exc)}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise QabotError(f"{where} is corrupt: unreadable manifest") from exc
    if not isinstance(data, dict):
        raise QabotError(f"{where} is corrupt: unreadable manifest")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise QabotError(f"{where} has format {version!r}, this qabot reads {FORMAT_VERSION}")
    if data.get("seal") != seal(data):
        raise QabotError(f"{where} is corrupt: manifest was edited or damaged (seal mismatch)")
    try:
        manifest = Manifest.from_json(text)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise QabotError(f"{where} is corrupt: unreadable manifest") from exc
    from qabot.ingest.embedding import DIMENSION, model_id

    if manifest.model != model_id() or manifest.dimension != DIMENSION:
        raise QabotError(
            f"{where} was built with {manifest.model} ({manifest.dimension}d), "
            f"this qabot uses {model_id()} ({DIMENSION}d)"
        )
    return manifest


def load_index(index_dir: Path) -> CorpusIndex:
    """Load the live index, verifying it against its manifest; raise QabotError if unusable.

    A rebuild may switch ``CURRENT`` (and sweep the generation being read) while we read:
    then the failure is not corruption, so read the new generation instead.
    """
    for attempt in range(3):
        generation = current_generation(index_dir)
        if generation is None:
            raise QabotError(f"no index at {index_dir}; run `qabot index`")
        try:
            return _load_generation(index_dir, generation)
        except QabotError:
            if attempt == 2 or current_generation(index_dir) == generation:
                raise
    raise AssertionError("unreachable")


def _verify(index_dir: Path, path: Path, expected: str | None) -> None:
    """Check a data file against its manifest checksum, streaming (the large ones are then
    read by row later, not held whole). Generations are immutable once written, so what is
    read after the check is what was checked."""
    try:
        digest = sha256_file(path)
    except FileNotFoundError as exc:
        raise QabotError(f"index at {index_dir} is corrupt: {path.name} missing") from exc
    except OSError as exc:
        raise QabotError(
            f"index at {index_dir} is unreadable: {path.name}: {one_line(exc)}"
        ) from exc
    if digest != expected:
        raise QabotError(f"index at {index_dir} is corrupt: {path.name} fails its checksum")


def _verify_all(index_dir: Path, generation: Path, manifest: Manifest, names: list[str]) -> None:
    """Verify the data files on all cores, largest first: at 1M paragraphs hashing ~6 GB was
    most of loading, and the vector files are about half of it, so two cores halve it. A
    failure stops the files not yet started; the failure reported is that of the earliest
    bad file in ``names``, as when they were checked one by one."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    from qabot.ingest.embedding import usable_cores

    def size(name: str) -> int:
        try:
            return (generation / name).stat().st_size
        except OSError:
            return -1  # missing or unreadable: first, so that _verify says so at once

    sizes = {name: size(name) for name in names}
    pool = ThreadPoolExecutor(min(len(names), usable_cores()))
    try:
        jobs = {
            name: pool.submit(_verify, index_dir, generation / name, manifest.checksums.get(name))
            for name in sorted(names, key=lambda n: (sizes[n] >= 0, -sizes[n]))
        }
        wait(jobs.values(), return_when=FIRST_EXCEPTION)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for name in names:
        job = jobs[name]
        if job.cancelled():  # stopped by a later file's failure: it may be the one to name
            _verify(index_dir, generation / name, manifest.checksums.get(name))
        elif job.exception() is not None:
            raise job.exception()  # type: ignore[misc]


def _load_generation(index_dir: Path, generation: Path) -> CorpusIndex:
    import faiss

    if not generation.is_dir():
        raise QabotError(f"index at {index_dir} is corrupt: {CURRENT} names a missing folder")
    manifest = read_manifest(generation)
    present = set(manifest.checksums)
    optional = (set(BM25_FILES) if present & set(BM25_FILES) else set()) | (
        {SENTENCE_INDEX} & present
    )
    _verify_all(index_dir, generation, manifest, [*DATA_FILES, *sorted(optional)])
    corrupt = f"index at {index_dir} is corrupt"
    try:
        table = storage.ParagraphTable(generation / "corpus.sqlite")
        vectors = qabot_vectors.prepare(faiss.read_index(str(generation / "paragraphs.faiss")))
        sentence_vectors = storage.NpyRows(generation / "sentences.npy")
        offsets = storage.read_array(generation / "sentence_offsets.npy")
        word_vectors = storage.NpyRows(generation / "words.npy")
        words = [w for (w,) in table.column("words", "word")]
        vocabulary = dict(table.column("vocabulary", "word, stem"))
        bm25 = None
        if optional & set(BM25_FILES):
            idf, indptr = (storage.read_array(generation / f) for f in BM25_FILES[:2])
            indices, data = (storage.NpyRows(generation / f) for f in BM25_FILES[2:])
            bm25 = BM25Matrix.from_arrays(
                [t for (t,) in table.column("bm25_terms", "term")],
                idf,
                indptr,
                indices,  # type: ignore[arg-type]  # read by row: what a query needs
                data,  # type: ignore[arg-type]
                corpus_size=len(table),
            )
        sentence_search = None
        if SENTENCE_INDEX in optional:
            path = str(generation / SENTENCE_INDEX)
            sentence_search = qabot_vectors.prepare(faiss.read_index(path))
        docs = set(table.doc_ranges)
    except (sqlite3.Error, RuntimeError, ValueError, TypeError, KeyError, OSError) as exc:
        raise QabotError(f"{corrupt}: {one_line(exc)}") from exc
    n = len(table)
    if (
        vectors.ntotal != n
        or vectors.d != manifest.dimension
        or n != manifest.paragraphs
        or offsets.dtype != np.int64
        or offsets.shape != (n + 1,)
        or int(offsets[-1]) != manifest.sentences
        or sentence_vectors.dtype != np.float32
        or sentence_vectors.shape != (manifest.sentences, manifest.dimension)
        or not docs <= set(manifest.files)
        or word_vectors.dtype != np.float32
        or word_vectors.shape != (len(words), manifest.dimension)
        or (sentence_search is not None and sentence_search.ntotal != manifest.sentences)
        or (sentence_search is not None and sentence_search.d != manifest.dimension)
        or int(offsets[0]) != 0
        or bool(np.any(np.diff(offsets) < 0))
        or (bm25 is None) != (not vocabulary)  # both empty when no paragraph has a word
    ):
        raise QabotError(f"{corrupt}: counts disagree with the manifest")
    return CorpusIndex(
        generation,
        manifest,
        table,
        vectors,
        sentence_vectors,
        offsets,
        storage.TermsView(table),
        {w: i for i, w in enumerate(words)},
        word_vectors,
        bm25,
        vocabulary,
        sentence_search,
    )


# --------------------------------------------------------------------------- staleness


def unchanged_by_stat(stat: FileStat, entry: FileEntry | None) -> bool:
    return entry is not None and entry.size == stat.size and entry.mtime_ns == stat.mtime_ns


def is_stale(seeds_dir: Path, manifest: Manifest) -> bool:
    """True when the seeds folder no longer matches what the index was built from.

    Costs a ``stat`` per file; a file is hashed only when its size or mtime moved.
    """
    stats, unlisted = scan(seeds_dir)
    indexed_or_skipped = set(manifest.files) | {s.name for s in manifest.skipped}
    if {s.name for s in stats} | {s.name for s in unlisted} != indexed_or_skipped:
        return True
    for stat in stats:
        entry = manifest.files.get(stat.name)
        if entry is None:  # a skipped file: cheap to re-check on the next index
            continue
        if unchanged_by_stat(stat, entry):
            continue
        if file_sha256(stat) != entry.sha256:
            return True
    return False
