"""An answer as plain text: what ``qabot ask`` and the line-by-line chat print."""

from __future__ import annotations

from qabot.present.citations import in_file, sources
from qabot.present.display import safe
from qabot.records import AskResult


def render(result: AskResult) -> str:
    """The answer for people: quotes, short answers and numbered citations."""
    out = [f"Q: {safe(result.question)}"]
    if result.resolved_question != result.question:
        out.append(f"   (read as: {safe(result.resolved_question)})")
    groups = sources(result)
    if result.abstained:
        out.append("The corpus does not answer this question. Closest evidence:")
        for (s,) in groups:
            ev = s.place
            out.append(
                f"  [{s.number}] {safe(ev.doc)} ¶{ev.paragraph} chars {ev.start}-{ev.end}"
                f"{in_file(ev)}: "
                f"{safe(ev.text[:240])}{'…' if len(ev.text) > 240 else ''}"
            )
        return "\n".join(out)
    if result.conflict:
        out.append("Sources disagree: each version is shown with its own source.")
    for i, (answer, group) in enumerate(zip(result.answers, groups, strict=True), 1):
        head = f"{i}. "
        if answer.short_answer:
            head += f"{safe(answer.short_answer.text)} — "
        out.append(f"{head}“{safe(answer.text)}”  (score {answer.score:.2f})")
        for s in group:
            c = s.place
            out.append(
                f"   [{s.number}] {safe(c.doc)} ¶{c.paragraph} chars {c.start}-{c.end}"
                f"{in_file(c)} — {safe(c.title)}"
            )
    return "\n".join(out)
