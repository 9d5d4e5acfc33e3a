"""The speed bench's results: one ``Row`` per comparison, and the rows as a Markdown table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    """One comparison: a baseline and qabot side by side, at one corpus size (or none)."""

    size: str  # "10k", "1M", or "seeds" / "-" for size-free figures
    measure: str
    baseline: str  # what the baseline is
    base: float | None
    qabot: float | None
    unit: str
    ratio: float | None = None  # baseline / qabot, or as named in ``measure``
    target: str = ""
    met: bool | None = None


def _fmt(v: float | None) -> str:
    if v is None:
        return ""
    if v == 0 or abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.4f}" if abs(v) >= 1e-3 else f"{v:.2e}"


def table(result: dict) -> str:
    """The rows as one Markdown table."""
    head = "| size | measure | baseline | baseline value | qabot | unit | ratio | target | met |"
    lines = [head, "|---|---|---|---:|---:|---|---:|---|---|"]
    for r in result["rows"]:
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        ratio = "" if r["ratio"] is None else f"{_fmt(r['ratio'])}x"
        lines.append(
            f"| {r['size']} | {r['measure']} | {r['baseline']} | {_fmt(r['base'])} | "
            f"{_fmt(r['qabot'])} | {r['unit']} | {ratio} | {r['target']} | {met} |"
        )
    m = result["meta"]
    lines.append("")
    lines.append(
        f"{m['date']}, {m['cpus']} CPUs, load {m['load_before'][0]:.2f} before / "
        f"{m['load_after'][0]:.2f} after, {m['seconds']} s, peak RSS "
        f"{m['peak_rss_bytes'] / 2**30:.1f} GiB; {m['real_vectors']} real sentence vectors, "
        f"{m['real_queries']} real question vectors"
    )
    return "\n".join(lines)
