"""Build, update, persist and load the hybrid index.

On disk (no pickle anywhere)::

    index/
      CURRENT              name of the live generation folder (switched atomically)
      .lock                flock held while a rebuild runs; says which pid and stage
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

A rebuild writes a new generation in ``tmp-*``, fsyncs it, renames it to ``gen-*`` and then
replaces ``CURRENT`` (write a temp file, fsync, rename): a rebuild killed at any moment leaves
the previous index loadable, and the next run sweeps what it left. Readers take no lock: they
read ``CURRENT`` once and every file from that one immutable generation, each verified
against the manifest before it is parsed, so they see the old index or the new, never a mix.
Only new or changed files are cleaned, annotated and embedded; everything else is copied
from the old index. What the files hold and how they are read: ``qabot.storage``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from qabot import storage, tokens
from qabot import vectors as qabot_vectors
from qabot.bm25 import BM25Matrix
from qabot.errors import QabotError
from qabot.loading import FileStat, read_document, scan
from qabot.records import Document, Paragraph, SkippedFile

FORMAT_VERSION = 4  # 2: sealed manifest, generations renamed into place; 3: word vectors;
# 4: search structures stored (BM25, vocabulary, sentence IVF), large arrays read by row
CURRENT = "CURRENT"
LOCK = ".lock"
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

# progress(stage, done, total): stage is "reading", "annotating", "embedding" or "words"
Progress = Callable[[str, int, int], None]


def _one_line(exc: BaseException) -> str:
    """An exception's message squeezed onto one line (sqlite and faiss messages may wrap)."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(text.split())[:300] or type(exc).__name__


def _seal(data: dict[str, Any]) -> str:
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
        data["seal"] = _seal(data)
        return json.dumps(data, indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        files = {f["name"]: FileEntry(**f) for f in data["files"]}
        skipped = [SkippedFile(**s) for s in data["skipped"]]
        return cls(**{**data, "files": files, "skipped": skipped})


@dataclass
class CorpusIndex:
    """A loaded index: everything retrieval and answering need.

    Loaded from disk, paragraphs are read from SQLite on demand and the large arrays by
    row (``qabot.storage``); the search structures were built at index time. An
    index made in memory (tests, ``qabot bench``) may hold plain lists and leave ``bm25``,
    ``vocabulary`` and ``sentence_search`` to be built by the retriever at first use.
    """

    directory: Path
    manifest: Manifest
    paragraphs: Sequence[Paragraph]  # paragraph id == position
    paragraph_vectors: Any  # faiss index: IndexFlatIP, or IVF-SQ8 when large (qabot.vectors)
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

    def title(self, doc: str) -> str:
        entry = self.manifest.files.get(doc)
        return entry.title if entry else doc

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


# --------------------------------------------------------------------------- loading


def current_generation(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise QabotError(f"index at {index_dir} is unreadable: {_one_line(exc)}") from exc
    if not name.startswith(GEN_PREFIX) or "/" in name or "\\" in name or len(name) > 200:
        raise QabotError(f"index at {index_dir} is corrupt: bad {CURRENT} pointer")
    return index_dir / name


def _sha256_file(path: Path) -> str:
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
        raise QabotError(f"{where} is unreadable: manifest: {_one_line(exc)}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise QabotError(f"{where} is corrupt: unreadable manifest") from exc
    if not isinstance(data, dict):
        raise QabotError(f"{where} is corrupt: unreadable manifest")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise QabotError(f"{where} has format {version!r}, this qabot reads {FORMAT_VERSION}")
    if data.get("seal") != _seal(data):
        raise QabotError(f"{where} is corrupt: manifest was edited or damaged (seal mismatch)")
    try:
        manifest = Manifest.from_json(text)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise QabotError(f"{where} is corrupt: unreadable manifest") from exc
    from qabot.embedding import DIMENSION, model_id

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
        digest = _sha256_file(path)
    except FileNotFoundError as exc:
        raise QabotError(f"index at {index_dir} is corrupt: {path.name} missing") from exc
    except OSError as exc:
        raise QabotError(
            f"index at {index_dir} is unreadable: {path.name}: {_one_line(exc)}"
        ) from exc
    if digest != expected:
        raise QabotError(f"index at {index_dir} is corrupt: {path.name} fails its checksum")


def _verify_all(index_dir: Path, generation: Path, manifest: Manifest, names: list[str]) -> None:
    """Verify the data files on all cores, largest first: at 1M paragraphs hashing ~6 GB was
    most of loading, and the vector files are about half of it, so two cores halve it. A
    failure stops the files not yet started; the failure reported is that of the earliest
    bad file in ``names``, as when they were checked one by one."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    from qabot.embedding import usable_cores

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
        raise QabotError(f"{corrupt}: {_one_line(exc)}") from exc
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


def _unchanged_by_stat(stat: FileStat, entry: FileEntry | None) -> bool:
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
        if _unchanged_by_stat(stat, entry):
            continue
        doc = read_document(stat)
        if not isinstance(doc, Document) or doc.sha256 != entry.sha256:
            return True
    return False


# --------------------------------------------------------------------------- the lock


class IndexLock:
    """The held rebuild lock. Its file says who holds it and how far it got, for the
    message a second rebuild prints, and (with ``QABOT_FAILPOINT``) for the fault tests.

    The lock is an ``flock``: the kernel drops it when its holder dies, even by SIGKILL, so
    a killed rebuild never leaves a stale lock behind.
    """

    def __init__(self, fh: Any) -> None:
        self._fh = fh

    def stage(self, name: str, *, checkpoint: bool = True) -> None:
        """Say which stage the rebuild is in; at a checkpoint (inside the stage, work done
        and work left) the failpoint of that name, if set, stops the process."""
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"pid {os.getpid()} {name}\n")
        self._fh.flush()
        if checkpoint and os.environ.get(FAILPOINT_ENV) == name:
            os.kill(os.getpid(), signal.SIGSTOP)


def _holder(index_dir: Path) -> str:
    try:
        text = (index_dir / LOCK).read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return "another qabot"
    if len(text) >= 3 and text[0] == "pid":
        return f"another qabot (pid {text[1]}, {text[2]})"
    return "another qabot"


@contextlib.contextmanager
def index_lock(index_dir: Path, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[IndexLock]:
    """Hold the index's rebuild lock; a second rebuild waits, then refuses in one line."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fh = (index_dir / LOCK).open("a+", encoding="utf-8")
    except OSError as exc:
        raise QabotError(f"cannot write the index at {index_dir}: {_one_line(exc)}") from exc
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise QabotError(
                        f"{_holder(index_dir)} is rebuilding the index at {index_dir}; "
                        "try again when it finishes"
                    ) from None
                time.sleep(0.2)
        lock = IndexLock(fh)
        lock.stage("locked", checkpoint=False)
        yield lock
        lock.stage("done", checkpoint=False)
    finally:
        fh.close()


def _check_index_dir(index_dir: Path) -> None:
    """Refuse to write an index into a folder that holds something else."""
    if index_dir.exists() and not index_dir.is_dir():
        raise QabotError(f"index path is not a folder: {index_dir}")
    if not index_dir.is_dir():
        return
    names = [p.name for p in index_dir.iterdir()]
    ours = any(n in (CURRENT, LOCK) or n.startswith((GEN_PREFIX, TMP_PREFIX)) for n in names)
    if not ours and any(not n.startswith(".") for n in names):
        raise QabotError(
            f"index folder {index_dir} is not empty and holds no qabot index; "
            "choose another --index"
        )


def _sweep(index_dir: Path, keep: set[str]) -> list[str]:
    """Remove what interrupted runs left: ``tmp-*`` folders, temp files, and generations
    other than those in ``keep``. Called only while holding the lock."""
    removed: list[str] = []
    for entry in sorted(index_dir.iterdir()):
        name = entry.name
        old_generation = name.startswith(GEN_PREFIX) and name not in keep
        temp_file = name.startswith(".") and name.endswith(".tmp")
        if not (old_generation or temp_file or name.startswith(TMP_PREFIX)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
        removed.append(name)
    return removed


def _sweep_leftovers(index_dir: Path) -> list[str]:
    """At the start of a run: keep the live generation and the newest other one (a reader
    may still be loading the generation a recent rebuild replaced)."""
    try:
        live = current_generation(index_dir)
    except QabotError:
        live = None
    others = sorted(
        p.name for p in index_dir.glob(f"{GEN_PREFIX}*") if live is None or p.name != live.name
    )
    keep = {live.name} if live else set()
    keep.update(others[-1:])
    removed = _sweep(index_dir, keep)
    if live is not None and live.is_dir():  # a manifest rewrite killed halfway
        for tmp in live.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()
    return [n for n in removed if n.startswith((GEN_PREFIX, TMP_PREFIX))]


# --------------------------------------------------------------------------- building


@dataclass
class _DocPart:
    """One document's share of a new index: its paragraphs and their vectors."""

    entry: FileEntry
    paragraphs: list[Paragraph]
    terms: list[list[str]]  # BM25 terms of each paragraph
    paragraph_vectors: np.ndarray
    sentence_vectors: np.ndarray


def _parts_from_index(index: CorpusIndex) -> dict[str, _DocPart]:
    """Split a loaded index back into per-document parts, so unchanged files can be reused.

    From an IVF-SQ8 index (large corpora) the vectors come back 8-bit quantised: close to
    the originals (cosine > 0.999), and re-encoding them does not drift further.
    """
    n = len(index.paragraphs)
    all_vectors = index.paragraph_vectors.reconstruct_n(0, n) if n else np.zeros((0, 0))
    # read in one pass each: from SQLite, one query per paragraph would dominate at 1M
    paragraphs, terms = list(index.paragraphs), list(index.paragraph_terms)
    offsets = index.sentence_offsets
    parts: dict[str, _DocPart] = {}
    for name, entry in index.manifest.files.items():
        ids = index.doc_paragraphs.get(name, [])
        rows: slice | list[int]
        if ids and ids[-1] - ids[0] + 1 == len(ids):  # contiguous, as written: one read
            rows = slice(int(offsets[ids[0]]), int(offsets[ids[-1] + 1]))
        else:
            rows = [r for pid in ids for r in range(offsets[pid], offsets[pid + 1])]
        parts[name] = _DocPart(
            entry,
            [paragraphs[i] for i in ids],
            [terms[i] for i in ids],
            all_vectors[list(ids)] if ids else np.zeros((0, index.manifest.dimension), np.float32),
            np.array(index.sentence_vectors[rows], dtype=np.float32).reshape(
                -1, index.manifest.dimension
            ),
        )
    return parts


def _process(
    documents: list[Document], progress: Progress | None, lock: IndexLock
) -> dict[str, _DocPart]:
    """Clean, annotate and embed new or changed documents."""
    from qabot.annotation import annotate_documents
    from qabot.cleaning import clean, title_of
    from qabot.embedding import DIMENSION, embed

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
    annotations = annotate_documents([(blocks, doc.text) for doc, blocks in cleaned], tick)
    annotated = [
        (doc, blocks, paragraphs)
        for (doc, blocks), paragraphs in zip(cleaned, annotations, strict=True)
    ]

    texts = embedded_texts(p for _, _, paragraphs in annotated for p in paragraphs)
    vectors = _embed_batches(texts, embed, progress, lock)

    parts: dict[str, _DocPart] = {}
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
            doc.name, doc.sha256, doc.size, doc.mtime_ns, title_of(doc, blocks), len(paragraphs)
        )
        parts[doc.name] = _DocPart(
            entry,
            paragraphs,
            [tokens.terms(p.text) for p in paragraphs],
            np.array(p_vecs, dtype=np.float32).reshape(-1, DIMENSION),
            np.array(s_vecs, dtype=np.float32).reshape(-1, DIMENSION),
        )
    return parts


def embedded_texts(paragraphs: Iterable[Paragraph]) -> list[str]:
    """What an index embeds, in order: each paragraph, then each of its sentences when it
    has more than one (a one-sentence paragraph's vector serves as its sentence's)."""
    texts: list[str] = []
    for p in paragraphs:
        texts.append(p.text)
        if len(p.sentences) > 1:
            texts.extend(p.text[s.start - p.start : s.end - p.start] for s in p.sentences)
    return texts


def _embed_batches(
    texts: list[str],
    embed: Callable[[list[str]], np.ndarray],
    progress: Progress | None,
    lock: IndexLock,
    stage: str = "embedding",
) -> np.ndarray:
    """Embed in batches of similar length, longest first, for progress reports between them.

    The encoder splits each batch of 256 into batches of one token length; sorting the whole
    list by length puts texts of like length into each batch of 256, so those are fuller
    (with the earlier padding encoders it made SciFact's build ~30% faster).
    """
    from qabot.embedding import DIMENSION

    batch = 256
    out = np.zeros((len(texts), DIMENSION), np.float32)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    lock.stage(stage, checkpoint=False)  # loading the model is part of it
    if progress and texts:  # likewise before the model loads
        progress(stage, 0, len(texts))
    for lo in range(0, len(texts), batch):
        rows = order[lo : lo + batch]
        out[rows] = embed([texts[i] for i in rows])
        if lo == 0:
            lock.stage(stage)
        if progress:
            progress(stage, min(lo + batch, len(texts)), len(texts))
    return out


def update_index(
    seeds_dir: Path,
    index_dir: Path,
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    wait_seconds: float = LOCK_WAIT_SECONDS,
) -> IndexReport:
    """Bring the index at ``index_dir`` in line with ``seeds_dir``; see the module docstring.

    A second rebuild of the same index waits up to ``wait_seconds`` for the first, then
    raises QabotError. Disk errors (full, read-only) are one-line QabotErrors too.
    """
    _check_index_dir(index_dir)
    with index_lock(index_dir, wait_seconds) as lock:
        return _update_locked(seeds_dir, index_dir, rebuild, progress, lock)


def write_index(index_dir: Path, index: CorpusIndex) -> None:
    """Write an index made in memory as the live generation of ``index_dir``, the way
    ``update_index`` writes one (``qabot bench`` loads its synthetic archives from disk)."""
    _check_index_dir(index_dir)
    with index_lock(index_dir) as lock:
        parts = list(_parts_from_index(index).values())
        words = sorted(index.words, key=index.words.__getitem__)
        rows = np.array([index.words[w] for w in words], dtype=np.int64)
        _write_generation(index_dir, parts, [], (words, index.word_vectors[rows]), lock)


def _update_locked(
    seeds_dir: Path,
    index_dir: Path,
    rebuild: bool,
    progress: Progress | None,
    lock: IndexLock,
) -> IndexReport:
    started = time.perf_counter()
    report = IndexReport()
    report.swept = _sweep_leftovers(index_dir)
    old: CorpusIndex | None = None
    if rebuild:
        report.rebuilt_reason = "--rebuild"
    else:
        try:
            old = load_index(index_dir)
        except QabotError as exc:
            if (index_dir / CURRENT).exists():
                report.rebuilt_reason = str(exc)
    stats, report.skipped = scan(seeds_dir)
    old_files = old.manifest.files if old else {}
    reusable = _parts_from_index(old) if old else {}

    lock.stage("reading")
    parts: dict[str, _DocPart] = {}
    to_process: list[Document] = []
    mtime_only = False
    for i, stat in enumerate(stats):
        if progress:
            progress("reading", i + 1, len(stats))
        entry = old_files.get(stat.name)
        if _unchanged_by_stat(stat, entry):
            parts[stat.name] = reusable[stat.name]
            report.unchanged.append(stat.name)
            continue
        doc = read_document(stat)
        if isinstance(doc, SkippedFile):
            report.skipped.append(doc)
            continue
        if entry is not None and entry.sha256 == doc.sha256:
            part = reusable[stat.name]
            part.entry = FileEntry(**{**asdict(part.entry), "mtime_ns": doc.mtime_ns})
            parts[stat.name] = part
            report.unchanged.append(stat.name)
            mtime_only = True
            continue
        (report.changed if entry is not None else report.added).append(stat.name)
        to_process.append(doc)
    # gone from the folder, or now unreadable: either way no longer in the index
    report.removed = sorted(set(old_files) - set(parts) - {d.name for d in to_process})

    if not stats or (not to_process and not parts):
        skipped = "; ".join(f"{s.name}: {s.reason}" for s in report.skipped[:3])
        raise QabotError(
            f"no readable .txt or .md files in {seeds_dir}"
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
            _write_generation(index_dir, ordered, report.skipped, words, lock)
    except (OSError, sqlite3.Error) as exc:  # disk full, read-only folder, ...
        raise QabotError(f"cannot write the index at {index_dir}: {_one_line(exc)}") from exc
    report.paragraphs = sum(len(p.paragraphs) for p in ordered)
    report.sentences = sum(len(x.sentences) for p in ordered for x in p.paragraphs)
    report.seconds = time.perf_counter() - started
    return report


def _manifest_for(
    parts: list[_DocPart], skipped: list[SkippedFile], checksums: dict[str, str]
) -> Manifest:
    from qabot.embedding import DIMENSION, model_id

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
    parts: list[_DocPart], old: CorpusIndex | None, progress: Progress | None, lock: IndexLock
) -> tuple[list[str], np.ndarray]:
    """Every content word of the corpus with its vector: words the old index had are copied,
    new ones embedded (~1 ms a word: about a second for the 821 words of the seeds)."""
    from qabot.embedding import DIMENSION, embed

    words = sorted(
        {w for part in parts for p in part.paragraphs for w in tokens.content_words(p.text)}
    )
    known = old.words if old is not None else {}
    new = [w for w in words if w not in known]
    fresh = _embed_batches(new, embed, progress, lock, stage="words")
    vectors = np.zeros((len(words), DIMENSION), np.float32)
    rows = {w: i for i, w in enumerate(new)}
    for i, w in enumerate(words):
        vectors[i] = fresh[rows[w]] if w in rows else old.word_vectors[known[w]]  # type: ignore[union-attr]
    return words, vectors


def _write_generation(
    index_dir: Path,
    parts: list[_DocPart],
    skipped: list[SkippedFile],
    words: tuple[list[str], np.ndarray],
    lock: IndexLock,
) -> None:
    """Write a generation beside the live one, then switch ``CURRENT`` to it."""
    import faiss

    from qabot.embedding import DIMENSION

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
        )
        lock.stage("writing")
        files = list(DATA_FILES)
        faiss.write_index(qabot_vectors.build(p_vecs), str(tmp / "paragraphs.faiss"))
        if len(s_vecs) > qabot_vectors.FLAT_MAX:  # below it the retriever scans sentences.npy
            faiss.write_index(qabot_vectors.build(s_vecs), str(tmp / SENTENCE_INDEX))
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
            _fsync(tmp / data_file)
        checksums = {data_file: _sha256_file(tmp / data_file) for data_file in files}
        _atomic_write(tmp / "manifest.json", _manifest_for(parts, skipped, checksums).to_json())
        generation = index_dir / f"{GEN_PREFIX}{name}"
        os.rename(tmp, generation)
        _fsync(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    lock.stage("sealed")  # complete and durable, not yet live: the moment before the switch
    try:
        previous = current_generation(index_dir)
    except QabotError:
        previous = None
    _atomic_write(index_dir / CURRENT, generation.name + "\n")
    lock.stage("switched")
    # Keep the generation just replaced (a reader may still be loading it); drop older ones.
    keep = {generation.name} | ({previous.name} if previous else set())
    _sweep(index_dir, keep)


def _rewrite_manifest(old: CorpusIndex, parts: list[_DocPart]) -> None:
    """Record new mtimes of unchanged files (same checksums, so readers are unaffected)."""
    manifest = _manifest_for(parts, old.manifest.skipped, old.manifest.checksums)
    manifest.created = old.manifest.created
    _atomic_write(old.directory / "manifest.json", manifest.to_json())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)
