"""Search suites at one corpus size: vector search (qabot's index beside numpy, faiss flat
and the memory-bandwidth floor), BM25 (qabot's sparse engine beside rank-bm25), and the
hybrid core a question runs (both top-50s fused as ``Retriever`` fuses them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from qabot.measure.speed.corpora import RealData, derived_paragraphs, derived_vectors
from qabot.measure.speed.table import Row
from qabot.measure.speed.timing import floor_and_scan, size_name, timed
from qabot.search import ranking, tokens
from qabot.search.bm25 import BM25Matrix


def _recall(got: np.ndarray, want: np.ndarray) -> float:
    return float(
        np.mean([len(set(a[a >= 0]) & set(b)) / len(b) for a, b in zip(got, want, strict=True)])
    )


def bench_vectors(real: RealData, n: int, rows: list[Row], out: dict) -> Any:
    """Vector search at ``n``: the read floor; qabot's exact path, faiss flat (1 and 2
    threads) and numpy beside it; qabot's index for that size (exact, or IVF when large)."""
    import faiss

    from qabot.search import vectors

    name = size_name(n)
    x = derived_vectors(real.sentence_vectors, n, seed=n)
    q = real.question_vectors
    faiss.omp_set_num_threads(2)
    t0 = time.perf_counter()
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    flat_build = time.perf_counter() - t0
    _, truth = flat.search(q, 10)  # batched, exact: the ground truth
    t0 = time.perf_counter()
    ours = vectors.build(x)
    our_build = time.perf_counter() - t0
    kind = vectors.describe(ours)

    reps = max(3, min(50, 50_000_000 // n))
    qi = iter(range(10**9))

    def one(index: object) -> None:  # qabot's search: on the flat index, its exact path
        i = next(qi) % len(q)
        vectors.search(index, q[i : i + 1], 10)

    def faiss_one() -> None:  # faiss's own flat scan, on the threads set around it
        i = next(qi) % len(q)
        flat.search(q[i : i + 1], 10)

    faiss.omp_set_num_threads(1)
    rounds = max(5, min(reps, 20))
    floor_s, scan_s = floor_and_scan(x, lambda: one(flat), rounds)
    faiss_floor_s, faiss_scan_s = floor_and_scan(x, faiss_one, rounds)
    bw = x.nbytes / floor_s
    floor_ms, scan_ms = floor_s * 1000, scan_s * 1000

    def numpy_query() -> None:
        i = next(qi) % len(q)
        s = x @ q[i]
        top = np.argpartition(-s, 10)[:10]
        top[np.argsort(-s[top])]

    faiss.omp_set_num_threads(1)
    flat1 = timed(faiss_one, reps) * 1000
    ours_ms = timed(lambda: one(ours), max(reps, 100)) * 1000
    numpy_ms = timed(numpy_query, reps) * 1000
    faiss.omp_set_num_threads(2)
    flat2 = timed(lambda: flat.search(q[:1], 10), reps) * 1000
    faiss.omp_set_num_threads(1)
    got = np.vstack([vectors.search(ours, q[i : i + 1], 10)[1] for i in range(len(q))])
    recall = _recall(got, truth)
    flat_bytes = faiss.serialize_index(flat).nbytes
    our_bytes = flat_bytes if kind == "Flat" else faiss.serialize_index(ours).nbytes
    big = n >= 1_000_000
    rows += [
        Row(
            name,
            "memory-bandwidth floor of a full scan",
            f"{bw / 1e9:.1f} GB/s, 1 thread",
            None,
            floor_ms,
            "ms",
        ),
        Row(
            name,
            "exact scan: qabot's exact path (BLAS, all cores) / floor, best of each, interleaved",
            "floor",
            floor_ms,
            scan_ms,
            "ms",
            scan_ms / floor_ms,
            "<= 1.25",
            scan_ms / floor_ms <= 1.25,
        ),
        Row(
            name,
            "exact scan: faiss flat (1 thread) / floor, best of each, interleaved",
            "floor",
            faiss_floor_s * 1000,
            faiss_scan_s * 1000,
            "ms",
            faiss_scan_s / faiss_floor_s,
        ),
        Row(
            name,
            "faiss flat single query: 2 threads / 1 thread",
            "1 thread",
            flat1,
            flat2,
            "ms",
            flat2 / flat1,
        ),
        Row(
            name,
            f"vector search: numpy brute force / qabot ({kind})",
            "numpy",
            numpy_ms,
            ours_ms,
            "ms",
            numpy_ms / ours_ms,
        ),
        Row(
            name,
            f"vector search: faiss flat / qabot ({kind})",
            "faiss flat 1t",
            flat1,
            ours_ms,
            "ms",
            flat1 / ours_ms,
            "<= 2 ms at 1M" if big else "",
            ours_ms <= 2 if big else None,
        ),
        Row(
            name,
            "vector recall@10 vs exact",
            "exact",
            1.0,
            recall,
            "",
            None,
            ">= 0.95",
            recall >= 0.95,
        ),
        Row(
            name,
            "vector index build",
            "faiss flat",
            flat_build,
            our_build,
            "s",
            None,
            "<= 60 s at 1M" if big else "",
            our_build <= 60 if big else None,
        ),
        Row(
            name,
            "vector index bytes / paragraph",
            "faiss flat",
            flat_bytes / n,
            our_bytes / n,
            "B",
            flat_bytes / our_bytes,
        ),
    ]
    out.update(vector_kind=kind, vector_bytes=our_bytes, vector_ms=ours_ms)
    out.update(vector_recall=recall, vector_build=our_build)

    return ours


@dataclass(frozen=True)
class BM25Bench:
    """What the BM25 suite leaves for the hybrid one: the engine it built, the queries it ran."""

    engine: BM25Matrix
    queries: list[list[str]]


def bench_bm25(real: RealData, n: int, rows: list[Row], out: dict) -> BM25Bench:
    """BM25 at ``n``: rank-bm25's get_scores beside qabot's sparse engine, same scores."""
    from rank_bm25 import BM25Okapi

    name = size_name(n)
    corpus = derived_paragraphs(real.paragraphs[:2067], n, seed=n)
    queries = [t for t in (tokens.terms(qq) for qq in real.questions) if t]
    t0 = time.perf_counter()
    ours = BM25Matrix(corpus)
    our_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = BM25Okapi(corpus)
    ref_build = time.perf_counter() - t0
    del corpus
    n_ref = max(2, min(20, 2_000_000 // n))
    ref_times, diffs = [], []
    for query in queries[:n_ref]:
        t0 = time.perf_counter()
        want = ref.get_scores(query)
        want_top = np.argsort(-want, kind="stable")[:10]
        ref_times.append(time.perf_counter() - t0)
        diffs.append(float(np.max(np.abs(ours.get_scores(query) - want))))
        assert want_top is not None
    del ref
    qi = iter(range(10**9))

    def one() -> None:
        ranking.top_k(ours.get_scores(queries[next(qi) % len(queries)]), 10)

    our_ms = timed(one, 200) * 1000
    ref_ms = float(np.median(ref_times)) * 1000
    big = n >= 1_000_000
    rows += [
        Row(
            name,
            "BM25 top-10: rank-bm25 get_scores / qabot",
            "rank-bm25",
            ref_ms,
            our_ms,
            "ms",
            ref_ms / our_ms,
            ">= 100x, <= 10 ms at 1M" if big else ">= 100x",
            ref_ms / our_ms >= 100 and (our_ms <= 10 or not big),
        ),
        Row(
            name,
            "BM25 largest score difference to rank-bm25",
            "rank-bm25",
            0.0,
            max(diffs),
            "",
            None,
            "0",
            max(diffs) == 0.0,
        ),
        Row(name, "BM25 build", "rank-bm25", ref_build, our_build, "s", ref_build / our_build),
        Row(name, "BM25 matrix bytes / paragraph", "", None, ours.nbytes / n, "B"),
    ]
    out.update(bm25_bytes=ours.nbytes)
    return BM25Bench(ours, queries)


def bench_hybrid(
    real: RealData, n: int, index: Any, bm25: BM25Bench, rows: list[Row], out: dict
) -> None:
    """The retrieval core qabot runs per question: BM25 top-50, vector top-50, fused by
    ``ranking.rrf`` with ``Retriever``'s constants, as ``Retriever.search`` fuses them."""
    from qabot.search import vectors
    from qabot.search.retrieval import RetrieverConfig

    config = RetrieverConfig()
    depth, queries = config.candidates, bm25.queries
    qi = iter(range(10**9))

    def one() -> None:
        i = next(qi)
        b = ranking.top_k(bm25.engine.get_scores(queries[i % len(queries)]), depth).ids
        qv = real.question_vectors[i % len(real.question_vectors)]
        _, ids = vectors.search(index, qv[None], depth)
        ranks = (ranking.ranks(b.tolist()), ranking.ranks(ids[0].tolist()))
        fused = ranking.rrf(ranks, config.rrf_k)
        sorted(fused, key=fused.__getitem__, reverse=True)[:10]

    ms = timed(one, 100) * 1000
    out["hybrid_ms"] = ms
    state = out["vector_bytes"] + out["bm25_bytes"]
    rows += [
        Row(size_name(n), "hybrid retrieval core (BM25 + vectors + RRF)", "", None, ms, "ms"),
        Row(
            size_name(n),
            "retrieval state bytes / paragraph (vectors + BM25)",
            "",
            None,
            state / n,
            "B",
            None,
            "< 2 GB at 1M" if n >= 1_000_000 else "",
            state < 2e9 if n >= 1_000_000 else None,
        ),
    ]
