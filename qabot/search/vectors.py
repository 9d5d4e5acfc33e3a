"""The paragraph vector index: exact for small corpora, IVF-SQ8 for large ones.

Below ``FLAT_MAX`` vectors an exact ``IndexFlatIP`` scan costs a few milliseconds and is what
qabot uses. Above it a full scan is bound by memory bandwidth (1M x 384 float32 = 1.5 GB,
~60 ms a query on this kind of machine), so qabot builds an inverted file over k-means cells
with 8-bit scalar-quantised vectors (``IVF<nlist>,SQ8``, inner product): a quarter of the
memory, a fraction of a millisecond a query, recall@10 >= 0.95 against exact at the tuned
``nprobe`` (measured on vectors derived from real embeddings by ``qabot bench``; see
docs/PERFORMANCE.md). Stored in faiss's own format, never pickled.

A single query on the exact index is one BLAS matrix-vector product over faiss's own
memory (no copy), on every core: faiss's flat scan runs on one core at 1.2-1.6x the time one
core takes just to read the vectors, the product at 0.55-0.65x (100k and 1M, this kind of
machine; docs/PERFORMANCE.md). Other single queries run faiss on one OpenMP thread: on 2
cores the thread start-up costs more than the second core saves (a flat 1M scan took 56 ms
on 1 thread, 160 ms on 2). Building runs on every core this process may use (or
``OMP_NUM_THREADS``), whatever thread calls it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from qabot.search.ranking import top_k

FLAT_MAX = 100_000  # exact search up to here (~6 ms a scan); see docs/PERFORMANCE.md
NPROBE = 32  # cells visited per query: recall@10 0.969, 1.3 ms at IVF2048 over 1M vectors
TRAIN_PER_CELL = 40  # k-means training sample per cell (faiss warns below 39)
SEED = 1234
ASSIGN_SCORES = 1 << 25  # scores a block when assigning cells: 128 MiB, whatever the cells


def nlist_for(n: int) -> int:
    """Cells of the IVF index: about 1 per 500 vectors (IVF2048 at 1M: at nprobe 32 it
    scanned fewer codes than IVF1024 and found more of the true top 10), and never fewer
    than ``TRAIN_PER_CELL`` training vectors per cell."""
    cells = 1 << max(6, round(math.log2(max(n, 1) / 500)))
    return max(1, min(cells, n // TRAIN_PER_CELL))


@contextmanager
def _faiss_threads(n: int) -> Iterator[None]:
    """Run faiss on ``n`` OpenMP threads, then put the calling thread's count back: the count
    is per thread, and one left at 1 by a query made a later build there run on one core."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def build_threads() -> int:
    """``OMP_NUM_THREADS`` when set (a user's or a container's cap), else every usable core."""
    from qabot.ingest.embedding import usable_cores

    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0]))
    except ValueError:
        return usable_cores()


def build(vectors: np.ndarray, flat_max: int | None = None) -> Any:
    """The index qabot searches for ``vectors`` (unit rows, float32), filled, on
    ``build_threads()`` threads (IVF over 400k vectors: 22.7 s on one, 11.8 on two): exact
    up to ``flat_max`` vectors (``FLAT_MAX`` when None), IVF-SQ8 above."""
    import faiss
    from faiss.contrib.ivf_tools import add_preassigned

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = vectors.shape
    with _faiss_threads(build_threads()):
        if n <= (FLAT_MAX if flat_max is None else flat_max):
            index = faiss.IndexFlatIP(d)
            index.add(vectors)
            return index
        nlist = nlist_for(n)
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(SEED)
        sample = min(n, nlist * TRAIN_PER_CELL)
        index.train(vectors[np.sort(rng.choice(n, sample, replace=False))])
        add_preassigned(index, vectors, _nearest_cells(quantizer, vectors))
    index.nprobe = min(NPROBE, nlist)
    return index


def _nearest_cells(quantizer: Any, vectors: np.ndarray) -> np.ndarray:
    """Each vector's IVF cell, the centroid of largest inner product, as ``index.add`` would
    assign it up to float rounding, computed in blocks of NumPy BLAS products on every core:
    faiss's own assignment of 1M vectors to 2,048 cells took 29 s here (its bundled BLAS,
    ~30 GFLOP/s), this 7 s. The same cells for all of 100k derived vectors."""
    centroids = _flat_rows(quantizer)
    if centroids is None:
        raise TypeError(f"IVF cells need a flat inner-product quantizer, not {quantizer}")
    cells = np.empty(len(vectors), dtype=np.int64)
    step = max(1, ASSIGN_SCORES // max(1, len(centroids)))
    for lo in range(0, len(vectors), step):
        block = vectors[lo : lo + step]
        cells[lo : lo + len(block)] = np.argmax(block @ centroids.T, axis=1)
    return cells


def prepare(index: Any) -> Any:
    """Make a loaded index ready to search and to ``reconstruct`` (IVF needs a direct map)."""
    import faiss

    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:  # not an IVF index
        return index
    ivf.nprobe = min(max(ivf.nprobe, 1), ivf.nlist)
    ivf.make_direct_map()
    return index


def describe(index: Any) -> str:
    """A short name of the index kind, e.g. ``Flat`` or ``IVF2048,SQ8 nprobe=32``."""
    import faiss

    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:
        return "Flat"
    return f"IVF{ivf.nlist},SQ8 nprobe={ivf.nprobe}"


def search(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """What ``index.search`` returns. A single query on an exact index is a BLAS product;
    on another index it runs faiss on one OpenMP thread, and the calling thread's count is
    put back afterwards (see module doc)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if len(queries) != 1:
        return index.search(queries, k)
    rows = _flat_rows(index)
    if rows is not None:
        return _exact_search(rows, queries[0], k)
    with _faiss_threads(1):  # per calling thread: a background build keeps its own
        return index.search(queries, k)


def _flat_rows(index: Any) -> np.ndarray | None:
    """An exact inner-product index's vectors: a read-only NumPy view of faiss's memory,
    valid while the index lives and is not added to. None for any other index."""
    import faiss

    if not isinstance(index, faiss.IndexFlat) or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        return None
    n, d = index.ntotal, index.d
    if n == 0:
        return np.zeros((0, d), dtype=np.float32)
    rows = faiss.rev_swig_ptr(index.get_xb(), n * d).reshape(n, d)
    rows.flags.writeable = False
    return rows


def _exact_search(rows: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best inner products, shaped as faiss shapes them: best first, equal scores
    in id order (a story copied into two files has two equal vectors: the first file's
    comes first, at the cut-off too; faiss's own order of ties differs), padded with
    -FLT_MAX and id -1. A NaN score counts as no result, as in faiss."""
    scores = rows @ query
    scores[np.isnan(scores)] = -np.inf
    best = top_k(scores, k, above=None)
    found = best.scores > -np.inf
    n = int(found.sum())
    sims = np.full((1, max(k, 0)), -np.finfo(np.float32).max, dtype=np.float32)
    ids = np.full((1, max(k, 0)), -1, dtype=np.int64)
    sims[0, :n], ids[0, :n] = best.scores[found], best.ids[found]
    return sims, ids
