"""Answers found by the trained reader: the span it reads in the retrieved passages, quoted
in the sentence that holds it, or an abstention when it finds none.

The reader scores every span of the best ``passages`` paragraphs and "no answer" under one
normalisation, so its numbers mean the same whatever the passages. Its two thresholds were
set on held-out training questions (``qabot.train.calibrate``): it answers when the best span
beats "no answer" by ``abstain_margin`` (log-odds), and an answer other than the best is a
confident one when its log-probability reaches ``conflict_logp``. Spans that name one thing
("Yoav Gallant", "Gallant") are one fact with several sources; two confident facts, each
stated only in documents that do not state the other, are a conflict.

A yes/no question has no span for an answer (the reader was trained on questions whose
answer is a phrase of the passage), so it goes to the sentence answerer, which quotes the
sentence that affirms or denies it and flags sources that disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from qabot.answer.answering import Answerer
from qabot.answer.facts import Fact, find, same_value
from qabot.answer.questions import YES_NO
from qabot.answer.reader import Reader
from qabot.answer.reader_inputs import SpanScore
from qabot.answer.scope import SourceScope, without_source
from qabot.index.model import CorpusIndex
from qabot.records import Answer, AnswerSet, Citation, Hit, Paragraph, ShortAnswer
from qabot.search import tokens
from qabot.search.retrieval import Query, Retriever


@dataclass(frozen=True)
class ExtractionConfig:
    max_answers: int = 3  # the best fact and confident others
    passages: int | None = None  # paragraphs read; None: what the reader was calibrated for


class SpanAnswerer:
    """Answers with the spans the reader finds in the top retrieved paragraphs."""

    kind = "reader"  # QABot(answerer=...) names it so

    def __init__(
        self,
        index: CorpusIndex,
        retriever: Retriever,
        reader: Reader,
        config: ExtractionConfig | None = None,
    ) -> None:
        self.index = index
        self.reader = reader
        self.polar = Answerer(index, retriever)  # answers yes/no questions
        self.config = config or ExtractionConfig()
        self.passages = self.config.passages or reader.settings.passages
        self.scope = SourceScope(index, retriever)

    def respond(
        self, hits: list[Hit], query: Query, question: str, about: Sequence[str] = ()
    ) -> AnswerSet:
        """Read the best paragraphs for ``question``. ``about``: what a follow-up leans on
        (the earlier question, then the names its answer gave): such a name is never an
        answer, so the reader's spans that are one of them are set aside before it decides."""
        if YES_NO.search(question):
            return self.polar.respond(hits, query, question, about)
        if not hits:
            return AnswerSet([], True, False, "nothing was retrieved for the question")
        paragraphs = self._passages(hits, question)
        texts = [p.text for p in paragraphs]
        reading = self.reader.read(without_source(question), texts)
        names = [n for n in about[1:] if n]
        spans = [
            s
            for s in reading.spans
            if not any(_names(texts[s.passage][s.start : s.end], n) for n in names)
        ]
        limits = self.reader.thresholds
        margin = spans[0].logp - reading.null_logp if spans else float("-inf")
        if margin < limits.abstain_margin:
            return AnswerSet(
                [],
                True,
                False,
                f"the reader finds no answer in the top {len(texts)} paragraphs "
                f"(margin {margin:.2f} < {limits.abstain_margin:.2f})",
            )
        facts, other = find(spans, texts, [p.doc for p in paragraphs], limits.conflict_logp)
        # the best fact, the rival it disagrees with (so that both versions are shown), then
        # other confident facts
        shown = [facts[0], *([other] if other else [])] + [
            f for f in facts[1:] if f is not other and f.logp >= limits.conflict_logp
        ]
        answers: list[Answer] = []  # one a quoted sentence, the most probable fact in it
        for f in shown:
            a = self._answer(f, paragraphs)
            if not any(a.doc == o.doc and a.start == o.start for o in answers):
                answers.append(a)
                if len(answers) == self.config.max_answers:
                    break
        return AnswerSet(answers, False, other is not None and len(answers) > 1)

    def _passages(self, hits: list[Hit], question: str) -> list[Paragraph]:
        """The top paragraphs by fused rank; those of a source the question names first."""
        found = [self.index.paragraphs[h.paragraph_id] for h in hits]
        scope = self.scope.weights(question)
        if scope:  # stable: fused rank within equal scope
            found.sort(key=lambda p: -scope.get(p.doc, 0.0))
        return found[: self.passages]

    def _answer(self, fact: Fact, paragraphs: list[Paragraph]) -> Answer:
        lead = fact.spans[0]
        p = paragraphs[lead.passage]
        first, last = _sentences_of(p, lead)
        start, end = _bounds(p, first, last)
        ctx_start, ctx_end = _bounds(p, max(0, first - 1), last + 1) if first >= 0 else (start, end)
        short_start, short_end = p.start + lead.start, p.start + lead.end
        label = next(
            (
                e.label
                for e in p.entities
                if e.start <= short_start
                and short_end <= e.end
                and 2 * (short_end - short_start) >= e.end - e.start
            ),
            "",
        )
        citations: list[Citation] = []
        seen: set[tuple[str, int]] = set()
        for span in fact.spans:
            q = paragraphs[span.passage]
            a, b = _bounds(q, *_sentences_of(q, span))
            if (q.doc, a) in seen:
                continue
            seen.add((q.doc, a))
            citations.append(
                Citation(
                    q.doc,
                    self.index.title(q.doc),
                    q.number,
                    a,
                    b,
                    q.text[a - q.start : b - q.start],
                    round(math.exp(span.logp), 4),
                )
            )
        return Answer(
            text=p.text[start - p.start : end - p.start],
            doc=p.doc,
            start=start,
            end=end,
            score=round(math.exp(fact.logp), 4),
            context=p.text[ctx_start - p.start : ctx_end - p.start],
            context_start=ctx_start,
            context_end=ctx_end,
            title=self.index.title(p.doc),
            paragraph=p.number,
            short_answer=ShortAnswer(p.text[lead.start : lead.end], short_start, short_end, label),
            citations=citations,
        )


def _sentences_of(p: Paragraph, span: SpanScore) -> tuple[int, int]:
    """The first and last sentence (numbers in ``p``) that ``span`` touches; (-1, -1) when
    none does (a paragraph without sentences is quoted whole)."""
    a, b = p.start + span.start, p.start + span.end
    inside = [k for k, s in enumerate(p.sentences) if s.start < b and a < s.end]
    return (inside[0], inside[-1]) if inside else (-1, -1)


def _bounds(p: Paragraph, first: int, last: int) -> tuple[int, int]:
    """Document offsets from sentence ``first`` to sentence ``last`` (clipped) of ``p``."""
    if first < 0 or not p.sentences:
        return p.start, p.end
    last = min(last, len(p.sentences) - 1)
    return p.sentences[first].start, p.sentences[last].end


def _names(text: str, name: str) -> bool:
    """Whether ``text`` names ``name``: a run of its words ("Gallant" of "Yoav Gallant") or
    a spelling of it ("Yov Gallant" in a misspelled article)."""
    part, whole = tokens.words(text), tokens.words(name)
    n = len(part)
    if n and any(whole[i : i + n] == part for i in range(len(whole) - n + 1)):
        return True
    return n > 0 and same_value(text, name)
