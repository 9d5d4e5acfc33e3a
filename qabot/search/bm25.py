"""BM25Okapi as a SciPy sparse matrix: rank-bm25's scores, without its per-document loop.

rank-bm25's ``BM25Okapi`` stays the definition (k1=1.5, b=0.75, idf floored at
``epsilon * average idf`` for terms in more than half the documents). It scores every
document in Python for each query term, which takes most of a second at a million
paragraphs. Here each term's BM25 weight in each document is computed once, at index time,
into a term-major sparse matrix with the same float64 arithmetic in the same order, so a query
only adds the rows of its terms: the scores are rank-bm25's, bit for bit
(``tests/test_bm25.py``). The matrix is the three CSR arrays of a SciPy ``csr_matrix``
(``indptr``, ``indices``, ``data``), stored with the index (``qabot.index.storage``) and read back
as they were; a query needs nothing else, and not importing SciPy saves a cold ``qabot ask``
a quarter of a second.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain

import numpy as np

K1 = 1.5
B = 0.75
EPSILON = 0.25


class BM25Matrix:
    """BM25Okapi over tokenised documents; ``get_scores`` equals rank-bm25's."""

    def __init__(
        self,
        corpus: Sequence[Sequence[str]],
        k1: float = K1,
        b: float = B,
        epsilon: float = EPSILON,
    ) -> None:
        if not corpus:
            raise ValueError("BM25 needs at least one document")
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.corpus_size = len(corpus)
        # Term ids in order of first appearance: rank-bm25 sums its idfs in that order, and
        # the epsilon floor depends on that float sum.
        self.vocabulary: dict[str, int] = {}
        ids = np.fromiter(
            (self.vocabulary.setdefault(t, len(self.vocabulary)) for t in chain(*corpus)),
            dtype=np.int64,
        )
        doc_len = np.fromiter((len(d) for d in corpus), dtype=np.int64, count=len(corpus))
        self.avgdl = int(doc_len.sum()) / self.corpus_size
        n_terms = len(self.vocabulary)
        docs = np.repeat(np.arange(self.corpus_size, dtype=np.int64), doc_len)
        pairs, tf = np.unique(ids * self.corpus_size + docs, return_counts=True)
        term_of, doc_of = np.divmod(pairs, self.corpus_size)  # sorted by term, then doc
        df = np.bincount(term_of, minlength=n_terms)
        self.idf = _okapi_idf(list(self.vocabulary), df, self.corpus_size, epsilon)
        idf = np.fromiter(self.idf.values(), dtype=np.float64, count=n_terms)
        # rank-bm25: idf * (q_freq * (k1 + 1) / (q_freq + k1 * (1 - b + b * doc_len / avgdl)))
        dl = doc_len[doc_of]
        weights = idf[term_of] * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / self.avgdl)))
        # CSR, one row per term: row t is data[indptr[t]:indptr[t+1]] at docs indices[...]
        self.indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=self.indptr[1:])
        self.indices = doc_of.astype(np.int32)
        self.data = weights

    @classmethod
    def from_arrays(
        cls,
        terms: Sequence[str],
        idf: np.ndarray,
        indptr: np.ndarray,
        indices: np.ndarray,
        data: np.ndarray,
        corpus_size: int,
    ) -> BM25Matrix:
        """A matrix written at index time (``arrays``), read back as it was: the weights are
        not recomputed, so the scores stay rank-bm25's. ``indices`` and ``data`` may be any
        array-like with a dtype that slices to arrays (``storage.NpyRows`` reads them from
        disk). Only shapes, types and row order are checked: the rows are read when queried."""
        if not (
            indptr.ndim == 1
            and indptr.dtype.kind == "i"
            and len(idf) == len(terms) == len(indptr) - 1
            and int(indptr[0]) == 0
            and not bool(np.any(np.diff(indptr) < 0))
            and indices.dtype.kind == "i"
            and data.dtype == np.float64
            and len(indices) == len(data) == int(indptr[-1])
            and corpus_size > 0
        ):
            raise ValueError("BM25 arrays disagree in shape, type or order")
        self = cls.__new__(cls)
        self.k1, self.b, self.epsilon = K1, B, EPSILON
        self.corpus_size = corpus_size
        self.vocabulary = {t: i for i, t in enumerate(terms)}
        self.idf = dict(zip(terms, idf.tolist(), strict=True))
        self.indptr, self.indices, self.data = indptr, indices, data
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        """What ``from_arrays`` needs besides the terms (in ``vocabulary`` order)."""
        return {
            "idf": np.fromiter(self.idf.values(), dtype=np.float64, count=len(self.idf)),
            "indptr": self.indptr,
            "indices": self.indices,
            "data": self.data,
        }

    @property
    def nbytes(self) -> int:
        """Bytes of the score matrix (the vocabulary dict is extra)."""
        return int(self.data.nbytes + self.indices.nbytes + self.indptr.nbytes)

    def to_scipy(self) -> object:
        """The same matrix as a SciPy ``csr_matrix`` (terms x documents), for inspection."""
        from scipy import sparse

        shape = (len(self.vocabulary), self.corpus_size)
        return sparse.csr_matrix((self.data, self.indices, self.indptr), shape=shape)

    def get_scores(self, query: Iterable[str]) -> np.ndarray:
        """Every document's BM25 score for the query terms (repeats count again)."""
        return self.weighted_scores((t, 1.0) for t in query)

    def weighted_scores(
        self, terms: Iterable[tuple[str, float]] | Mapping[str, float]
    ) -> np.ndarray:
        """Sum of ``weight * get_scores([term])``: how retrieval counts spelling variants."""
        items = terms.items() if isinstance(terms, Mapping) else terms
        scores = np.zeros(self.corpus_size, dtype=np.float64)
        for term, weight in items:
            tid = self.vocabulary.get(term)
            if tid is None:
                continue
            lo, hi = self.indptr[tid], self.indptr[tid + 1]
            row = self.data[lo:hi]
            # doc ids within a row are unique, so fancy-index addition is exact
            scores[self.indices[lo:hi]] += row if weight == 1.0 else weight * row
        return scores


def _okapi_idf(words: list[str], df: np.ndarray, n: int, epsilon: float) -> dict[str, float]:
    """rank-bm25's BM25Okapi idf, same operations in the same order (``math.log``)."""
    idf: dict[str, float] = {}
    idf_sum = 0.0
    negative: list[str] = []
    for word, freq in zip(words, df.tolist(), strict=True):
        value = math.log(n - freq + 0.5) - math.log(freq + 0.5)
        idf[word] = value
        idf_sum += value
        if value < 0:
            negative.append(word)
    eps = epsilon * (idf_sum / len(idf))
    for word in negative:
        idf[word] = eps
    return idf
