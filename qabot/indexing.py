"""Build, update, persist and load the hybrid index.

On disk (no pickle anywhere)::

    index/
      CURRENT              name of the live generation folder (switched atomically)
      .lock                held while a rebuild runs
      gen-<time>-<pid>/
        manifest.json      format, model, dimension, source files (sha256, size), checksums
        corpus.sqlite      documents, paragraphs (text, BM25 terms), sentences, entities
        paragraphs.faiss   unit vectors of paragraphs, IndexFlatIP (cosine)
        sentences.npy      unit vectors of sentences, float32, row = sentence id

A rebuild writes a new generation beside the live one and then replaces ``CURRENT``, so a
rebuild killed at any moment leaves the previous index loadable. Only new or changed
files are cleaned, annotated and embedded; everything else is copied from the old index.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qabot import tokens
from qabot.errors import QabotError
from qabot.loading import FileStat, read_document, scan
from qabot.records import Document, Entity, Paragraph, Sentence, SkippedFile

FORMAT_VERSION = 1
CURRENT = "CURRENT"
LOCK = ".lock"
DATA_FILES = ("corpus.sqlite", "paragraphs.faiss", "sentences.npy")

# progress(stage, done, total): stage is "reading", "annotating" or "embedding"
Progress = Callable[[str, int, int], None]


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

    def to_json(self) -> str:
        data = asdict(self)
        data["files"] = [asdict(f) for f in self.files.values()]
        return json.dumps(data, indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        files = {f["name"]: FileEntry(**f) for f in data["files"]}
        skipped = [SkippedFile(**s) for s in data["skipped"]]
        return cls(**{**data, "files": files, "skipped": skipped})


@dataclass
class CorpusIndex:
    """A loaded index: everything retrieval and answering need, in memory."""

    directory: Path
    manifest: Manifest
    paragraphs: list[Paragraph]  # paragraph id == position
    paragraph_vectors: Any  # faiss.IndexFlatIP
    sentence_vectors: np.ndarray
    sentence_offsets: np.ndarray  # first sentence row of paragraph i; length n+1
    paragraph_terms: list[list[str]]

    def title(self, doc: str) -> str:
        entry = self.manifest.files.get(doc)
        return entry.title if entry else doc

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
    except OSError as exc:
        raise QabotError(f"index at {index_dir} is unreadable: {exc.strerror or exc}") from exc
    if not name or "/" in name or name.startswith("."):
        raise QabotError(f"index at {index_dir} is corrupt: bad {CURRENT} pointer")
    return index_dir / name


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(generation: Path) -> Manifest:
    try:
        manifest = Manifest.from_json((generation / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise QabotError(f"index at {generation.parent} is corrupt: manifest missing") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise QabotError(f"index at {generation.parent} is corrupt: unreadable manifest") from exc
    from qabot.embedding import DIMENSION, model_id

    if manifest.format_version != FORMAT_VERSION:
        raise QabotError(
            f"index at {generation.parent} has format {manifest.format_version}, "
            f"this qabot reads {FORMAT_VERSION}"
        )
    if manifest.model != model_id() or manifest.dimension != DIMENSION:
        raise QabotError(
            f"index at {generation.parent} was built with {manifest.model} "
            f"({manifest.dimension}d), this qabot uses {model_id()}"
        )
    return manifest


def load_index(index_dir: Path) -> CorpusIndex:
    """Load the live index, verifying it against its manifest; raise QabotError if unusable."""
    import faiss

    generation = current_generation(index_dir)
    if generation is None:
        raise QabotError(f"no index at {index_dir}; run `qabot index`")
    manifest = read_manifest(generation)
    for name in DATA_FILES:
        path = generation / name
        if not path.is_file():
            raise QabotError(f"index at {index_dir} is corrupt: {name} missing")
        if _sha256_file(path) != manifest.checksums.get(name):
            raise QabotError(f"index at {index_dir} is corrupt: {name} fails its checksum")
    try:
        paragraphs, terms = _read_sqlite(generation / "corpus.sqlite")
        vectors = faiss.read_index(str(generation / "paragraphs.faiss"))
        sentence_vectors = np.load(generation / "sentences.npy", allow_pickle=False)
    except (sqlite3.Error, RuntimeError, ValueError, OSError) as exc:
        raise QabotError(f"index at {index_dir} is corrupt: {exc}") from exc
    offsets = np.zeros(len(paragraphs) + 1, dtype=np.int64)
    np.cumsum([len(p.sentences) for p in paragraphs], out=offsets[1:])
    if (
        vectors.ntotal != len(paragraphs)
        or sentence_vectors.shape != (int(offsets[-1]), manifest.dimension)
        or len(paragraphs) != manifest.paragraphs
    ):
        raise QabotError(f"index at {index_dir} is corrupt: counts disagree with the manifest")
    return CorpusIndex(generation, manifest, paragraphs, vectors, sentence_vectors, offsets, terms)


def _read_sqlite(path: Path) -> tuple[list[Paragraph], list[list[str]]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        sentences: dict[int, list[Sentence]] = {}
        for pid, start, end in con.execute(
            "SELECT paragraph, start, end FROM sentences ORDER BY id"
        ):
            sentences.setdefault(pid, []).append(Sentence(start, end))
        entities: dict[int, list[Entity]] = {}
        for pid, start, end, label in con.execute(
            "SELECT paragraph, start, end, label FROM entities ORDER BY paragraph, start"
        ):
            entities.setdefault(pid, []).append(Entity(start, end, label))
        paragraphs: list[Paragraph] = []
        terms: list[list[str]] = []
        for pid, doc, number, start, end, kind, text, pterms in con.execute(
            "SELECT id, doc, number, start, end, kind, text, terms FROM paragraphs ORDER BY id"
        ):
            if pid != len(paragraphs):
                raise ValueError("paragraph ids are not contiguous")
            paragraphs.append(
                Paragraph(
                    doc,
                    number,
                    start,
                    end,
                    text,
                    kind,
                    tuple(sentences.get(pid, ())),
                    tuple(entities.get(pid, ())),
                )
            )
            terms.append(json.loads(pterms))
        return paragraphs, terms
    finally:
        con.close()


# --------------------------------------------------------------------------- staleness


def _unchanged_by_stat(stat: FileStat, entry: FileEntry | None) -> bool:
    return entry is not None and entry.size == stat.size and entry.mtime_ns == stat.mtime_ns


def is_stale(seeds_dir: Path, manifest: Manifest) -> bool:
    """True when the seeds folder no longer matches what the index was built from.

    Costs a ``stat`` per file; a file is hashed only when its size or mtime moved.
    """
    stats, _ = scan(seeds_dir)
    indexed_or_skipped = set(manifest.files) | {s.name for s in manifest.skipped}
    if {s.name for s in stats} != indexed_or_skipped:
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


# --------------------------------------------------------------------------- building


@contextlib.contextmanager
def index_lock(index_dir: Path, wait_seconds: float = 120.0) -> Iterator[None]:
    """Hold the index's rebuild lock; a second rebuild waits, then refuses."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fh = (index_dir / LOCK).open("a+")
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise QabotError(
                        f"another qabot is rebuilding the index at {index_dir}; try again later"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        fh.close()


@dataclass
class _DocPart:
    """One document's share of a new index: its paragraphs and their vectors."""

    entry: FileEntry
    paragraphs: list[Paragraph]
    terms: list[list[str]]  # BM25 terms of each paragraph
    paragraph_vectors: np.ndarray
    sentence_vectors: np.ndarray


def _parts_from_index(index: CorpusIndex) -> dict[str, _DocPart]:
    """Split a loaded index back into per-document parts, so unchanged files can be reused."""
    n = len(index.paragraphs)
    all_vectors = index.paragraph_vectors.reconstruct_n(0, n) if n else np.zeros((0, 0))
    by_doc: dict[str, list[int]] = {}
    for pid, p in enumerate(index.paragraphs):
        by_doc.setdefault(p.doc, []).append(pid)
    parts: dict[str, _DocPart] = {}
    for name, entry in index.manifest.files.items():
        ids = by_doc.get(name, [])
        rows = [
            r
            for pid in ids
            for r in range(index.sentence_offsets[pid], index.sentence_offsets[pid + 1])
        ]
        parts[name] = _DocPart(
            entry,
            [index.paragraphs[i] for i in ids],
            [index.paragraph_terms[i] for i in ids],
            all_vectors[ids] if ids else np.zeros((0, index.manifest.dimension), np.float32),
            index.sentence_vectors[rows]
            if rows
            else np.zeros((0, index.manifest.dimension), np.float32),
        )
    return parts


def _process(documents: list[Document], progress: Progress | None) -> dict[str, _DocPart]:
    """Clean, annotate and embed new or changed documents."""
    from qabot.annotation import annotate
    from qabot.cleaning import clean, title_of
    from qabot.embedding import DIMENSION, embed

    cleaned = [(doc, clean(doc)) for doc in documents]
    total_blocks = sum(len(blocks) for _, blocks in cleaned)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress("annotating", done, total_blocks)

    annotated = [(doc, blocks, annotate(blocks, doc.text, tick)) for doc, blocks in cleaned]

    # Embed every paragraph, and every sentence that is not a whole paragraph by itself.
    texts: list[str] = []
    for _, _, paragraphs in annotated:
        for p in paragraphs:
            texts.append(p.text)
            if len(p.sentences) > 1:
                texts.extend(p.text[s.start - p.start : s.end - p.start] for s in p.sentences)
    vectors = _embed_batches(texts, embed, progress)

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


def _embed_batches(
    texts: list[str], embed: Callable[[list[str]], np.ndarray], progress: Progress | None
) -> np.ndarray:
    batch = 256
    out: list[np.ndarray] = []
    for i in range(0, len(texts), batch):
        out.append(embed(texts[i : i + batch]))
        if progress:
            progress("embedding", min(i + batch, len(texts)), len(texts))
    from qabot.embedding import DIMENSION

    return np.concatenate(out) if out else np.zeros((0, DIMENSION), np.float32)


def update_index(
    seeds_dir: Path,
    index_dir: Path,
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> IndexReport:
    """Bring the index at ``index_dir`` in line with ``seeds_dir``; see the module docstring."""
    started = time.perf_counter()
    with index_lock(index_dir):
        report = IndexReport()
        old: CorpusIndex | None = None
        if rebuild:
            report.rebuilt_reason = "--rebuild"
        else:
            try:
                old = load_index(index_dir)
            except QabotError as exc:
                if current_generation(index_dir) is not None:
                    report.rebuilt_reason = str(exc)
        stats, report.skipped = scan(seeds_dir)
        old_files = old.manifest.files if old else {}
        reusable = _parts_from_index(old) if old else {}

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
            new_parts = _process(to_process, progress)
            report.embedded = sum(
                len(p.paragraphs)
                + sum(len(x.sentences) for x in p.paragraphs if len(x.sentences) > 1)
                for p in new_parts.values()
            )
            parts.update(new_parts)

        ordered = [parts[s.name] for s in stats if s.name in parts]
        skipped_changed = old is None or [asdict(s) for s in report.skipped] != [
            asdict(s) for s in old.manifest.skipped
        ]
        if old is not None and not report.touched and not skipped_changed:
            if mtime_only:
                _rewrite_manifest(old, ordered)
        else:
            _write_generation(index_dir, ordered, report.skipped)
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


def _write_generation(index_dir: Path, parts: list[_DocPart], skipped: list[SkippedFile]) -> None:
    import faiss

    from qabot.embedding import DIMENSION

    generation = (
        index_dir
        / f"gen-{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    )
    generation.mkdir(parents=True)
    paragraphs = [p for part in parts for p in part.paragraphs]
    p_vecs = (
        np.concatenate([part.paragraph_vectors for part in parts])
        if parts
        else np.zeros((0, DIMENSION))
    )
    s_vecs = (
        np.concatenate([part.sentence_vectors for part in parts])
        if parts
        else np.zeros((0, DIMENSION))
    )

    _write_sqlite(
        generation / "corpus.sqlite", paragraphs, [t for part in parts for t in part.terms]
    )
    flat = faiss.IndexFlatIP(DIMENSION)
    flat.add(np.ascontiguousarray(p_vecs, dtype=np.float32))
    faiss.write_index(flat, str(generation / "paragraphs.faiss"))
    with (generation / "sentences.npy").open("wb") as fh:
        np.save(fh, np.ascontiguousarray(s_vecs, dtype=np.float32), allow_pickle=False)

    checksums = {name: _sha256_file(generation / name) for name in DATA_FILES}
    _atomic_write(generation / "manifest.json", _manifest_for(parts, skipped, checksums).to_json())
    for name in DATA_FILES:
        _fsync(generation / name)
    _fsync(generation)
    previous = current_generation(index_dir) if (index_dir / CURRENT).exists() else None
    _atomic_write(index_dir / CURRENT, generation.name + "\n")
    # Keep the generation just replaced (a reader may still be loading it); drop older ones.
    for stale in index_dir.glob("gen-*"):
        if stale not in (generation, previous):
            shutil.rmtree(stale, ignore_errors=True)


def _rewrite_manifest(old: CorpusIndex, parts: list[_DocPart]) -> None:
    manifest = _manifest_for(parts, old.manifest.skipped, old.manifest.checksums)
    manifest.created = old.manifest.created
    _atomic_write(old.directory / "manifest.json", manifest.to_json())


def _write_sqlite(path: Path, paragraphs: list[Paragraph], terms: list[list[str]]) -> None:
    con = sqlite3.connect(path)
    try:
        con.executescript(
            """
            CREATE TABLE paragraphs (id INTEGER PRIMARY KEY, doc TEXT NOT NULL, number INTEGER,
                start INTEGER, end INTEGER, kind TEXT, text TEXT, terms TEXT);
            CREATE TABLE sentences (id INTEGER PRIMARY KEY, paragraph INTEGER, start INTEGER,
                end INTEGER);
            CREATE TABLE entities (paragraph INTEGER, start INTEGER, end INTEGER, label TEXT);
            """
        )
        for pid, (p, p_terms) in enumerate(zip(paragraphs, terms, strict=True)):
            con.execute(
                "INSERT INTO paragraphs VALUES (?,?,?,?,?,?,?,?)",
                (
                    pid,
                    p.doc,
                    p.number,
                    p.start,
                    p.end,
                    p.kind,
                    p.text,
                    json.dumps(p_terms),
                ),
            )
            con.executemany(
                "INSERT INTO sentences (paragraph, start, end) VALUES (?,?,?)",
                [(pid, s.start, s.end) for s in p.sentences],
            )
            con.executemany(
                "INSERT INTO entities VALUES (?,?,?,?)",
                [(pid, e.start, e.end, e.label) for e in p.entities],
            )
        con.commit()
    finally:
        con.close()


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
