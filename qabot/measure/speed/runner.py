"""Every speed suite in one run (``run``), and what ``qabot bench`` prints (``report``)."""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from qabot.errors import QabotError
from qabot.measure.speed.asking import bench_ask, bench_ask_at
from qabot.measure.speed.corpora import Pool, real_data, real_sources, synthetic_pool
from qabot.measure.speed.encoding import bench_embedding, bench_reader
from qabot.measure.speed.indexing import bench_indexing
from qabot.measure.speed.milvus import bench_milvus
from qabot.measure.speed.search import bench_bm25, bench_hybrid, bench_vectors
from qabot.measure.speed.table import Row, table
from qabot.measure.speed.timing import parse_size, size_name


def run(
    sizes: list[int],
    seeds: Path,
    progress: Callable[[str], None] | None = None,
    data: Path | None = None,
) -> dict:
    """Every measurement, in one process; returns ``{"rows": [...], "meta": {...}}``. Real
    texts come from the benchmark data folder ``data`` (``locations.data_root`` when None)."""

    def say(msg: str) -> None:
        if progress:
            progress(msg)

    started = time.time()
    rows: list[Row] = []
    meta: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "load_before": os.getloadavg(),
    }
    say("real embeddings")
    real = real_data(data=data)
    meta["real_vectors"] = len(real.sentence_vectors)
    meta["real_queries"] = len(real.question_vectors)
    say("embedding throughput")
    bench_embedding(real, rows)
    bench_reader(real, rows)
    say("index a real corpus")
    bench_indexing(rows, data=data)
    say("ask on the seeds")
    bench_ask(seeds, rows, meta)
    pool: Pool | None = None
    for n in sizes:
        out: dict = {}
        say(f"vectors at {size_name(n)}")
        index = bench_vectors(real, n, rows, out)
        gc.collect()
        say(f"BM25 at {size_name(n)}")
        bm25 = bench_bm25(real, n, rows, out)
        gc.collect()
        say(f"hybrid core at {size_name(n)}")
        bench_hybrid(real, n, index, bm25, rows, out)
        del index, bm25
        gc.collect()
        say(f"Milvus Lite at {size_name(n)}")
        bench_milvus(real, n, rows, out)
        gc.collect()
        say(f"ask at {size_name(n)}")
        pool = pool or synthetic_pool(real)
        bench_ask_at(real, pool, n, rows, out)
        gc.collect()
    meta["load_after"] = os.getloadavg()
    meta["seconds"] = round(time.time() - started, 1)
    meta["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"meta": meta, "rows": [asdict(r) for r in rows]}


def report(sizes: str, seeds: Path, as_json: bool = False, data: Path | None = None) -> str:
    """What ``qabot bench`` prints: the table, or one JSON object. Progress goes to stderr."""
    try:
        parsed = [parse_size(s) for s in sizes.split(",") if s.strip()]
    except ValueError as exc:
        raise QabotError(f"--sizes wants sizes such as 10k,100k,1M, not {sizes!r}") from exc
    if any(n < 1000 for n in parsed):
        raise QabotError("--sizes: each size must be at least 1000 paragraphs")
    if not seeds.is_dir():
        raise QabotError(f"seeds folder not found: {seeds}")
    for path in real_sources(data):
        if not path.is_file():
            raise QabotError(f"benchmark data not found: {path}")

    def say(msg: str) -> None:
        print(f"bench: {msg}", file=sys.stderr, flush=True)

    result = run(parsed, seeds, say, data)
    return json.dumps(result, indent=1) if as_json else table(result)
