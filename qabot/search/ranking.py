"""Ranking primitives shared by the retrievers: one top-k selection, one rank fusion.

``top_k`` picks the best scores of a BM25 score vector or of an exact vector scan with the
same rule (ties to the lower id, as a stable full sort would order them). ``rrf`` fuses
rankings by reciprocal rank: raw BM25 and cosine scores live on different scales, so only
each paragraph's rank in each list counts.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from functools import reduce
from typing import NamedTuple

import numpy as np

RRF_K = 60  # the usual reciprocal-rank constant: rank 1 weighs 1/61, rank 50 1/110


class TopK(NamedTuple):
    """Document ids, best first, and their scores."""

    ids: np.ndarray
    scores: np.ndarray


def top_k(scores: np.ndarray, k: int, above: float | None = 0.0) -> TopK:
    """The ``k`` best scores over ``above`` (every score when None), ties to the lower id
    (as a stable full sort would). BM25's zero means no match; the exact vector search
    passes None, which also spares it a filtered copy of every score."""
    ids = np.arange(len(scores)) if above is None else np.flatnonzero(scores > above)
    sub = scores if above is None else scores[ids]
    if len(ids) > k > 0:
        kth = np.partition(sub, len(sub) - k)[len(sub) - k]
        keep = np.flatnonzero(sub >= kth)
        ids, sub = ids[keep], sub[keep]
    order = np.argsort(-sub, kind="stable")[: max(k, 0)]
    return TopK(ids[order], sub[order])


def ranks(order: Iterable[int]) -> dict[int, int]:
    """Each id's 1-based rank in a best-first list of ids."""
    return {pid: r + 1 for r, pid in enumerate(order)}


def rrf(rankings: Sequence[Mapping[int, int]], k: int = RRF_K) -> dict[int, float]:
    """Reciprocal-rank fusion: each id's sum of ``1 / (k + rank)`` over the rankings that
    hold it (ranks as ``ranks`` gives them). Unsorted: the ids come in the iteration order of
    the union of the rankings' id sets, the same for the same rankings, so a stable sort of
    them orders equal scores the same way every time."""
    if not rankings:
        return {}
    ids: set[int] = reduce(operator.or_, (set(r) for r in rankings))
    return {pid: sum(1.0 / (k + r[pid]) for r in rankings if pid in r) for pid in ids}
