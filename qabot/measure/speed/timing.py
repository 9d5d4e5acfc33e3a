"""Clocks and gauges for the speed bench: median and best-of timings, the memory-bandwidth
floor of a scan, resident memory, and corpus sizes as people write them (``10k``, ``1M``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np


def parse_size(text: str) -> int:
    """``10k`` -> 10000, ``1M`` -> 1000000, ``2500`` -> 2500."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def size_name(n: int) -> str:
    """``10000`` -> ``10k``, ``1000000`` -> ``1M``; other sizes as digits."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``fn()`` over ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def read_once(x: np.ndarray) -> float:
    """Seconds one thread takes to stream ``x`` once: the fastest of three reductions."""
    flat = x.reshape(-1)
    best = float("inf")
    for reduce in (
        lambda: np.add.reduce(flat),
        lambda: np.bitwise_or.reduce(flat.view(np.int32)),
        lambda: np.maximum.reduce(flat),
    ):
        t0 = time.perf_counter()
        reduce()
        best = min(best, time.perf_counter() - t0)
    return best


def floor_and_scan(x: np.ndarray, scan: Callable[[], object], rounds: int) -> tuple[float, float]:
    """(read floor, scan) seconds, each the best of ``rounds`` taken in turn.

    Interleaved and compared best to best: on a shared machine the load moves within
    seconds, and a floor taken before the scan (or a median against a minimum) measured the
    neighbours, not faiss (1.17x in one run, 1.49x in the next).
    """
    read_once(x)
    scan()
    floor = best = float("inf")
    for _ in range(rounds):
        floor = min(floor, read_once(x))
        t0 = time.perf_counter()
        scan()
        best = min(best, time.perf_counter() - t0)
    return floor, best


def rss_bytes() -> int:
    """Resident memory of this process now (Linux), for the growth an index causes."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
