"""Milvus at one corpus size, beside the local index: Milvus Lite started on loopback, a
collection of qabot's schema filled with the same derived vectors and BM25 term lists as the
local suites use (paragraph rows only, no sentence rows), then insert rate, dense recall@10
against exact, and search latency: dense top 10, BM25 top 50 (every query term weighted 1),
and both top-50s sent at once on two threads, as ``MilvusRetriever`` sends them (without
its grouping by paragraph and its filter of replaced ids, which this corpus has none of)."""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from qabot.measure.speed.corpora import RealData, derived_paragraphs, derived_vectors
from qabot.measure.speed.table import Row
from qabot.measure.speed.timing import size_name

BATCH = 2_000
QUERIES = 100


def _percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


def bench_milvus(real: RealData, n: int, rows: list[Row], out: dict) -> None:
    """Milvus Lite at ``n`` paragraph rows; ``out`` holds the local suites' figures."""
    from qabot.milvus import store
    from qabot.milvus.publish import bm25_part
    from qabot.milvus.server import client, start_lite
    from qabot.search import tokens

    name = size_name(n)
    x = derived_vectors(real.sentence_vectors, n, seed=n)  # the vector suite's vectors
    corpus = derived_paragraphs(real.paragraphs[:2067], n, seed=n)  # and BM25's term lists
    avgdl = sum(map(len, corpus)) / n
    queries = [t for t in (tokens.terms(qq) for qq in real.questions) if t]
    with tempfile.TemporaryDirectory(prefix="qabot-bench-milvus-") as folder:
        server = start_lite(Path(folder))
        try:
            c = client(server.uri)
            schema, params = store.paragraph_schema(c, x.shape[1], n)
            c.create_collection("bench", schema=schema, index_params=params)
            kind, _, nprobe = store.dense_index(n)
            t0 = time.perf_counter()
            for lo in range(0, n, BATCH):
                c.insert("bench", [store.row(i, -1, "", x[i], bm25_part(corpus[i], avgdl))
                                   for i in range(lo, min(n, lo + BATCH))])  # fmt: skip
            c.flush("bench")
            inserted = time.perf_counter() - t0
            c.load_collection("bench")  # builds the indexes
            loaded = time.perf_counter() - t0
            del corpus
            dense = {"metric_type": "IP", **({"params": {"nprobe": nprobe}} if nprobe else {})}
            found, dense_ms, bm25_ms, both_ms = _searches(c, real, queries, dense)
        finally:
            server.stop()
    truth = _exact(x, real.question_vectors[:QUERIES])
    recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))
    d50, d95 = _percentiles(dense_ms)
    b50, b95 = _percentiles(bm25_ms)
    h50, h95 = _percentiles(both_ms)
    label = f"{kind}" + (f" nprobe={nprobe}" if nprobe else "")
    local = out.get("vector_ms")
    rows += [
        Row(name, "Milvus Lite insert rate (paragraph rows: vector + BM25 weights)", "", None,
            n / inserted, "rows/s"),
        Row(name, "Milvus Lite insert + flush + index build", "qabot local vector index build",
            out.get("vector_build"), loaded, "s"),
        Row(name, f"Milvus Lite dense top-10 p50 ({label})", "qabot local vector search",
            local, d50, "ms", (local / d50) if local else None),
        Row(name, f"Milvus Lite dense top-10 p95 ({label})", "", None, d95, "ms"),
        Row(name, "Milvus Lite dense recall@10 vs exact", "qabot local index",
            out.get("vector_recall"), recall, "", None, ">= 0.95", recall >= 0.95),
        Row(name, "Milvus Lite BM25 top-50 p50", "", None, b50, "ms"),
        Row(name, "Milvus Lite BM25 top-50 p95", "", None, b95, "ms"),
        Row(name, "Milvus Lite hybrid (dense + BM25 top-50 at once, RRF) p50",
            "qabot local hybrid core", out.get("hybrid_ms"), h50, "ms"),
        Row(name, "Milvus Lite hybrid p95", "", None, h95, "ms"),
    ]  # fmt: skip


def _searches(
    c: Any, real: RealData, queries: list[list[str]], dense: dict[str, Any]
) -> tuple[list[list[int]], list[float], list[float], list[float]]:
    """Each query's dense top 10, and the latency of dense, BM25 and both at once."""
    from qabot.milvus import store

    def dense_search(v: np.ndarray, k: int) -> list[int]:
        hits = c.search("bench", data=[v.tolist()], anns_field="dense", limit=k,
                        search_params=dense, output_fields=["pid"])[0]  # fmt: skip
        return [int(h["entity"]["pid"]) for h in hits]

    def bm25_search(terms: list[str]) -> list[int]:
        sparse = {store.term_id(t): 1.0 for t in terms}
        hits = c.search("bench", data=[sparse], anns_field="sparse", limit=50,
                        search_params={"metric_type": "IP"}, output_fields=["pid"])[0]  # fmt: skip
        return [int(h["entity"]["pid"]) for h in hits]

    vectors = real.question_vectors[:QUERIES]
    found, dense_ms, bm25_ms, both_ms = [], [], [], []
    for v in vectors:
        t0 = time.perf_counter()
        found.append(dense_search(v, 10))
        dense_ms.append((time.perf_counter() - t0) * 1000)
    for i in range(len(vectors)):
        t0 = time.perf_counter()
        bm25_search(queries[i % len(queries)])
        bm25_ms.append((time.perf_counter() - t0) * 1000)
    with ThreadPoolExecutor(2) as pool:
        for i, v in enumerate(vectors):
            t0 = time.perf_counter()
            a = pool.submit(dense_search, v, 50)
            b = pool.submit(bm25_search, queries[i % len(queries)])
            a.result(), b.result()
            both_ms.append((time.perf_counter() - t0) * 1000)
    return found, dense_ms, bm25_ms, both_ms


def _exact(x: np.ndarray, q: np.ndarray) -> list[list[int]]:
    scores = q @ x.T
    return [np.argsort(-s, kind="stable")[:10].tolist() for s in scores]
