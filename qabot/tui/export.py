"""A chat as a Markdown file: every quote with the sources a reader needs to check it."""

from __future__ import annotations

from collections.abc import Sequence

from qabot.records import AskResult
from qabot.tui.views import sources


def _quoted(text: str) -> str:
    """Corpus text inside a Markdown blockquote, one ``>`` per line."""
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines() or [""])


def to_markdown(turns: Sequence[AskResult], *, title: str) -> str:
    lines = [f"# {title}", ""]
    for i, result in enumerate(turns, 1):
        lines += [f"## {i}. {result.question}", ""]
        if result.resolved_question != result.question:
            lines += [f"*Read as: {result.resolved_question}*", ""]
        groups = sources(result)
        if result.abstained:
            lines += ["**The corpus does not answer this question.**", ""]
            if result.note:
                lines += [f"*{result.note}*", ""]
            if groups:
                lines += ["Closest evidence (not an answer):", ""]
        elif result.conflict:
            lines += ["**Sources disagree**: each version is shown with its own source.", ""]
        for k, answer in enumerate(result.answers if not result.abstained else [], 1):
            short = f"**{answer.short_answer.text}** — " if answer.short_answer else ""
            marks = " ".join(f"[{s.number}]" for s in groups[k - 1])
            lines += [
                f"{k}. {short}{marks} (score {answer.score:.2f})",
                "",
                _quoted(answer.text),
                "",
            ]
        if any(groups):
            lines += ["Sources:", ""]
        for group in groups:
            for s in group:
                span = s.span
                lines.append(
                    f"- [{s.number}] {span.title} — `{span.doc}`, paragraph {span.paragraph}, "
                    f"characters {span.start}–{span.end}"
                )
                if not span.is_answer:
                    lines += ["", _quoted(span.text), ""]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
