"""Each document's share of an index: what a rebuild copies from the old index for every
file that did not change, and writes together with the new ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qabot.index.model import CorpusIndex, FileEntry
from qabot.records import Paragraph


@dataclass
class DocPart:
    """One document's share of a new index: its paragraphs and their vectors."""

    entry: FileEntry
    paragraphs: list[Paragraph]
    terms: list[list[str]]  # BM25 terms of each paragraph
    paragraph_vectors: np.ndarray
    sentence_vectors: np.ndarray
    text: str | None = None  # the extracted text of a file that is not plain text


def parts_from_index(index: CorpusIndex) -> dict[str, DocPart]:
    """Split a loaded index back into per-document parts, so unchanged files can be reused.

    From an IVF-SQ8 index (large corpora) the vectors come back 8-bit quantised: close to
    the originals (cosine > 0.999), and re-encoding them does not drift further.
    """
    n = len(index.paragraphs)
    all_vectors = index.paragraph_vectors.reconstruct_n(0, n) if n else np.zeros((0, 0))
    # read in one pass each: from SQLite, one query per paragraph would dominate at 1M
    paragraphs, terms = list(index.paragraphs), list(index.paragraph_terms)
    offsets = index.sentence_offsets
    parts: dict[str, DocPart] = {}
    for name, entry in index.manifest.files.items():
        ids = index.doc_paragraphs.get(name, [])
        rows: slice | list[int]
        if ids and ids[-1] - ids[0] + 1 == len(ids):  # contiguous, as written: one read
            rows = slice(int(offsets[ids[0]]), int(offsets[ids[-1] + 1]))
        else:
            rows = [r for pid in ids for r in range(offsets[pid], offsets[pid + 1])]
        parts[name] = DocPart(
            entry,
            [paragraphs[i] for i in ids],
            [terms[i] for i in ids],
            all_vectors[list(ids)] if ids else np.zeros((0, index.manifest.dimension), np.float32),
            np.array(index.sentence_vectors[rows], dtype=np.float32).reshape(
                -1, index.manifest.dimension
            ),
            index.extracted_text(name),
        )
    return parts
