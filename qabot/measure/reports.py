"""Reports: judgements averaged into ``Metrics``, overall and per question type
(``EvalReport``), the retrieval-only report (``RetrievalReport``), and when and on which
commit a run was made.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qabot.measure.judge import RECALL_KS, Judgement
from qabot.measure.questions import TYPES

HIT_KS = (1, 3)


@dataclass
class Metrics:
    """Averages over a group of questions; None where the group has nothing to measure."""

    questions: int
    answerable: int
    hit_at_1: float | None = None
    hit_at_3: float | None = None
    exact_match: float | None = None  # short answer (else the sentence) vs the gold answers
    f1: float | None = None
    short_answer_rate: float | None = None
    support_hit: float | None = None
    abstain_precision: float | None = None  # "unanswerable" is the positive class
    abstain_recall: float | None = None
    false_abstention: float | None = None  # share of answerable questions abstained on
    conflict_detection: float | None = None  # share of "conflict" questions flagged
    false_conflict: float | None = None  # share of other questions flagged
    citation_validity: float | None = None
    recall_at_1: float | None = None
    recall_at_3: float | None = None
    recall_at_5: float | None = None
    recall_at_10: float | None = None
    mrr: float | None = None  # of the first gold-document paragraph among the evidence
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    spans_checked: int = 0
    spans_invalid: int = 0


def _mean(values: Sequence[float | bool]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def summarize(judgements: Sequence[Judgement]) -> Metrics:
    answerable = [j for j in judgements if j.answerable]
    unanswerable = [j for j in judgements if not j.answerable]
    abstained = [j for j in judgements if j.abstained]
    conflicts = [j for j in judgements if j.type == "conflict"]
    others = [j for j in judgements if j.type != "conflict"]
    supported = [j for j in judgements if j.support_hit is not None]
    with_docs = [j for j in judgements if j.doc_recall is not None]
    spans = sum(j.spans for j in judgements)
    invalid = sum(len(j.bad_spans) for j in judgements)
    latency = [j.latency_ms for j in judgements]
    m = Metrics(questions=len(judgements), answerable=len(answerable))
    for k in HIT_KS:
        setattr(
            m,
            f"hit_at_{k}",
            _mean([j.hit_rank is not None and j.hit_rank <= k for j in answerable]),
        )
    m.exact_match = _mean([j.exact for j in answerable if j.exact is not None])
    m.f1 = _mean([j.f1 for j in answerable if j.f1 is not None])
    m.short_answer_rate = _mean([j.short for j in answerable])
    m.support_hit = _mean([bool(j.support_hit) for j in supported])
    if abstained and unanswerable:
        m.abstain_precision = sum(not j.answerable for j in abstained) / len(abstained)
    elif unanswerable:
        m.abstain_precision = None  # never abstained: precision undefined
    m.abstain_recall = _mean([j.abstained for j in unanswerable])
    m.false_abstention = _mean([j.abstained for j in answerable])
    m.conflict_detection = _mean([j.conflict for j in conflicts])
    m.false_conflict = _mean([j.conflict for j in others])
    m.citation_validity = (spans - invalid) / spans if spans else None
    for i, k in enumerate(RECALL_KS):
        setattr(m, f"recall_at_{k}", _mean([j.doc_recall[i] for j in with_docs if j.doc_recall]))
    m.mrr = _mean([1.0 / j.doc_rank if j.doc_rank else 0.0 for j in with_docs])
    if latency:
        m.latency_p50_ms = float(np.percentile(latency, 50))
        m.latency_p95_ms = float(np.percentile(latency, 95))
    m.spans_checked, m.spans_invalid = spans, invalid
    return m


@dataclass
class EvalReport:
    """Metrics overall and per question type, with what was run."""

    name: str
    overall: Metrics
    by_type: dict[str, Metrics]
    invalid_spans: list[str] = field(default_factory=list)  # the first few, for debugging
    notes: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def report(name: str, judgements: Sequence[Judgement], notes: Sequence[str] = ()) -> EvalReport:
    types = [t for t in TYPES if any(j.type == t for j in judgements)]
    return EvalReport(
        name=name,
        overall=summarize(judgements),
        by_type={t: summarize([j for j in judgements if j.type == t]) for t in types},
        invalid_spans=[b for j in judgements for b in j.bad_spans][:20],
        notes=list(notes),
        run=run_info(),
    )


def run_info() -> dict[str, Any]:
    """When and on which commit a run was made (for docs/EVALUATION.md)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit or None}


@dataclass
class RetrievalMetrics:
    queries: int
    ndcg_at_10: float
    recall_at_100: float
    recall_at_10: float
    mrr_at_10: float
    latency_p50_ms: float


@dataclass
class RetrievalReport:
    name: str
    documents: int
    paragraphs: int
    modes: dict[str, RetrievalMetrics]
    notes: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
