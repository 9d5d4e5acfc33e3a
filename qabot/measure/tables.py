"""What ``qabot eval`` prints: a run as a text table, and its difference to an earlier run
(``--compare``, from that run's ``--json`` output).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qabot.errors import QabotError
from qabot.measure.reports import EvalReport, RetrievalReport

_ROWS: list[tuple[str, str, str]] = [
    # (field, label, format): "%" shows a share as a percentage
    ("questions", "questions", "n"),
    ("hit_at_1", "answer hit@1", "%"),
    ("hit_at_3", "answer hit@3", "%"),
    ("exact_match", "short answer EM", "%"),
    ("f1", "short answer F1", "%"),
    ("short_answer_rate", "has short answer", "%"),
    ("support_hit", "support hit", "%"),
    ("abstain_precision", "abstain precision", "%"),
    ("abstain_recall", "abstain recall", "%"),
    ("false_abstention", "false abstentions", "%"),
    ("conflict_detection", "conflicts flagged", "%"),
    ("false_conflict", "false conflicts", "%"),
    ("citation_validity", "citations valid", "%"),
    ("recall_at_1", "doc recall@1", "%"),
    ("recall_at_3", "doc recall@3", "%"),
    ("recall_at_5", "doc recall@5", "%"),
    ("recall_at_10", "doc recall@10", "%"),
    ("mrr", "doc MRR", "f"),
    ("latency_p50_ms", "latency p50 ms", "ms"),
    ("latency_p95_ms", "latency p95 ms", "ms"),
]


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "n":
        return str(value)
    if kind == "%":
        return f"{100 * value:.1f}"
    if kind == "ms":
        return f"{value:.0f}"
    return f"{value:.3f}"


def format_report(rep: EvalReport) -> str:
    """A plain-text table: one row per metric, columns overall and per question type."""
    columns = [("all", rep.overall), *rep.by_type.items()]
    widths = [max(6, len(name) + 1) for name, _ in columns]
    head = "".join(f"{n:>{w}}" for (n, _), w in zip(columns, widths, strict=True))
    lines = [f"{rep.name} (shares in %)", f"{'':<18}{head}"]
    for name, label, kind in _ROWS:
        cells = [_cell(getattr(m, name), kind) for _, m in columns]
        if all(c == "–" for c in cells):
            continue
        lines.append(
            f"{label:<18}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))
        )
    if rep.overall.spans_invalid:
        lines.append(
            f"INVALID CITATIONS: {rep.overall.spans_invalid} (e.g. {rep.invalid_spans[0]})"
        )
    lines += [f"note: {n}" for n in rep.notes]
    return "\n".join(lines)


def format_retrieval(rep: RetrievalReport) -> str:
    lines = [
        f"{rep.name}: {rep.documents} documents ({rep.paragraphs} paragraphs), "
        f"{next(iter(rep.modes.values())).queries if rep.modes else 0} queries",
        f"{'mode':<8}{'nDCG@10':>9}{'R@100':>8}{'R@10':>8}{'MRR@10':>8}{'p50 ms':>8}",
    ]
    for mode, m in rep.modes.items():
        lines.append(
            f"{mode:<8}{m.ndcg_at_10:>9.4f}{m.recall_at_100:>8.4f}{m.recall_at_10:>8.4f}"
            f"{m.mrr_at_10:>8.4f}{m.latency_p50_ms:>8.0f}"
        )
    lines += [f"note: {n}" for n in rep.notes]
    return "\n".join(lines)


@dataclass(frozen=True)
class Delta:
    key: str
    old: float
    new: float


def _numbers(data: Any, prefix: str = "") -> dict[str, float]:
    if isinstance(data, dict):
        out: dict[str, float] = {}
        for key, value in data.items():
            if key in ("run", "notes", "invalid_spans"):
                continue
            out.update(_numbers(value, f"{prefix}{key}."))
        return out
    if isinstance(data, bool) or not isinstance(data, int | float):
        return {}
    return {prefix.rstrip("."): float(data)}


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Delta]:
    """Every number present in both runs' JSON, in the new run's order."""
    before = _numbers(old)
    return [Delta(k, before[k], v) for k, v in _numbers(new).items() if k in before]


def load_run(path: Path) -> dict[str, Any]:
    """An earlier ``qabot eval --json`` output."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QabotError(f"earlier run not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise QabotError(
            f"{path} is not the JSON of an earlier `qabot eval --json`: {exc}"
        ) from None
    except RecursionError:
        raise QabotError(
            f"{path} is not the JSON of an earlier `qabot eval --json`: nested too deeply"
        ) from None
    if not isinstance(data, dict):
        raise QabotError(f"{path} is not the JSON of an earlier `qabot eval --json`")
    return data


def format_comparison(deltas: Sequence[Delta]) -> str:
    """Old, new and difference: every overall number, per-type ones only where they moved
    (per-type latencies always move a little, so they are left to the JSON)."""
    if not deltas:
        return "compare: no metric in common with the earlier run"
    lines = [f"{'metric':<40}{'old':>10}{'new':>10}{'change':>10}"]
    for d in deltas:
        if d.key.startswith("by_type.") and (d.old == d.new or "latency" in d.key):
            continue
        lines.append(f"{d.key:<40}{d.old:>10.4g}{d.new:>10.4g}{d.new - d.old:>+10.4g}")
    return "\n".join(lines)
