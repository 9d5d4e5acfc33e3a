"""How answers look on screen, as Textual ``Content`` built from plain strings.

Corpus text is never parsed as markup: every piece goes through ``safe`` and into
``Content.assemble`` as a plain string, so ``[bold]`` in an article is shown as typed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from textual.content import Content

from qabot.present import citations
from qabot.present.citations import in_file
from qabot.present.display import safe
from qabot.records import Answer, AskResult, Evidence, Location, ShortAnswer

SPAN_STYLE = "bold reverse"
SHORT_STYLE = "bold underline"
EXCERPT_CHARS = 220


@dataclass
class Span(Location):
    """A place in the corpus the user can select, read in the evidence panel and open."""

    short: ShortAnswer | None = None  # emphasised inside the span
    is_answer: bool = True  # False for "closest evidence" shown with an abstention


@dataclass(frozen=True)
class Source:
    """A numbered source line under an answer: [n] title — file ¶p chars a–b."""

    number: int
    span: Span


def sources(result: AskResult) -> list[list[Source]]:
    """The numbered sources of each answer (or of the closest evidence when abstaining),
    numbered as in the CLI and the Markdown export (``qabot.present.citations``)."""
    return [[Source(s.number, _span(s)) for s in group] for group in citations.sources(result)]


def _span(source: citations.Source) -> Span:
    """The place a source points to; the answer's own span carries its short answer."""
    p, answer = source.place, source.answer
    if answer is None:
        return Span(
            p.doc, p.title, p.paragraph, p.start, p.end, p.text, locator=p.locator, is_answer=False
        )
    own = p.start == answer.start and p.doc == answer.doc
    short = answer.short_answer if own else None
    return Span(p.doc, p.title, p.paragraph, p.start, p.end, p.text, short, locator=p.locator)


def marked(text: str, base: int, start: int, end: int, short: ShortAnswer | None) -> Content:
    """``text`` (which begins at document offset ``base``) with ``start:end`` highlighted and
    the short answer inside it emphasised."""
    points = [start, end] + ([short.start, short.end] if short is not None else [])
    cuts = sorted({0, len(text), *(max(0, min(len(text), x - base)) for x in points)})
    parts: list[str | tuple[str, str]] = []
    for a, b in itertools.pairwise(cuts):
        piece = safe(text[a:b])
        style = []
        if start - base <= a and b <= end - base and start < end:
            style.append(SPAN_STYLE)
        if short is not None and short.start - base <= a and b <= short.end - base:
            style.append(SHORT_STYLE)
        parts.append((piece, " ".join(style)) if style else piece)
    return Content.assemble(*parts)


def quote(answer: Answer, number: int) -> Content:
    """The answer line of the chat: the short answer first, then the quoted sentence."""
    head: list[str | tuple[str, str]] = [(f"{number}. ", "bold")]
    if answer.short_answer is not None:
        head += [(safe(answer.short_answer.text), "bold $accent"), "  "]
    body = marked(answer.text, answer.start, answer.start, answer.start, answer.short_answer)
    return Content.assemble(*head, "“", body, "”", (f"  score {answer.score:.2f}", "dim"))


def location(span: Span, gap: str = " ") -> str:
    """Where a span is: file (shown safely), paragraph, characters, and page of a PDF."""
    where = f"{safe(span.doc)}{gap}¶{span.paragraph}{gap}chars {span.start}–{span.end}"
    return where + in_file(span)


def source_line(source: Source) -> Content:
    s = source.span
    where = location(s)
    if s.is_answer:
        return Content.assemble(
            (f"[{source.number}] ", "bold"), safe(s.title), (f"  {where}", "dim")
        )
    excerpt = s.text[:EXCERPT_CHARS] + ("…" if len(s.text) > EXCERPT_CHARS else "")
    return Content.assemble(
        (f"[{source.number}] ", "bold"),
        safe(s.title),
        (f"  {where}\n", "dim"),
        safe(excerpt),
    )


def scores_line(evidence: Evidence | None) -> Content:
    if evidence is None:
        return Content.styled("retrieval scores: not among the retrieved paragraphs", "dim")

    def rank(r: int | None) -> str:
        return f"#{r}" if r is not None else "not ranked"

    return Content.assemble(
        ("BM25 ", "bold"),
        f"{evidence.bm25:.2f} ({rank(evidence.bm25_rank)})   ",
        ("dense ", "bold"),
        f"{evidence.dense:.3f} ({rank(evidence.dense_rank)})   ",
        ("fused ", "bold"),
        f"{evidence.fused:.4f} (RRF)",
    )


def find_evidence(result: AskResult, span: Span) -> Evidence | None:
    """The retrieved paragraph that holds ``span``, with its scores."""
    for ev in result.evidence:
        if ev.doc == span.doc and ev.start <= span.start and span.end <= ev.end:
            return ev
    return None


def local_time(stamp: str) -> str:
    """An ISO time from the manifest as the user's local "YYYY-MM-DD HH:MM"."""
    try:
        return (
            datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").astimezone().strftime("%Y-%m-%d %H:%M")
        )
    except ValueError:
        return stamp
