"""Judging one answer: ``judge`` turns a question and qabot's result into a ``Judgement``,
plain facts about what the answer did (rank of the first right answer sentence, EM/F1,
support hit, where the gold documents came among the evidence, cited spans that do not match
the files). ``reports.summarize`` averages judgements.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qabot.measure.metrics import contains_answer, exact_match, token_f1
from qabot.measure.questions import EvalQuestion, Support
from qabot.records import AskResult

if TYPE_CHECKING:
    from qabot.index.model import CorpusIndex

RECALL_KS = (1, 3, 5, 10)  # over result.evidence, the top paragraphs in retrieval order


class CorpusView:
    """File texts and sentence bounds of the indexed corpus, for checking cited spans."""

    def __init__(self, seeds_dir: Path, index: CorpusIndex) -> None:
        self.seeds_dir = seeds_dir
        self._index = index
        self._texts: dict[str, str | None] = {}
        bounds: dict[str, list[tuple[int, int]]] = {}
        for p in index.paragraphs:
            bounds.setdefault(p.doc, []).extend((s.start, s.end) for s in p.sentences)
        self._sentences = {doc: sorted(b) for doc, b in bounds.items()}
        self._starts = {doc: [s for s, _ in b] for doc, b in self._sentences.items()}

    def text(self, doc: str) -> str | None:
        if doc not in self._texts and self._index.extracted_text(doc) is not None:
            self._texts[doc] = self._index.extracted_text(doc)
        if doc not in self._texts:
            from qabot.ingest.loading import read_file_text

            try:
                self._texts[doc] = read_file_text(self.seeds_dir, doc)
            except (OSError, UnicodeDecodeError):
                self._texts[doc] = None
        return self._texts[doc]

    def one_sentence(self, doc: str, start: int, end: int) -> bool:
        """The span lies inside one indexed sentence of ``doc``."""
        starts = self._starts.get(doc)
        if not starts:
            return False
        i = bisect.bisect_right(starts, start) - 1
        return i >= 0 and self._sentences[doc][i][1] >= end

    def gold_spans(self, support: Support) -> list[tuple[int, int]]:
        if support.start is not None:
            return [(support.start, support.start + len(support.quote))]
        text = self.text(support.doc) or ""
        spans, at = [], text.find(support.quote)
        while support.quote and at >= 0:
            spans.append((at, at + len(support.quote)))
            at = text.find(support.quote, at + 1)
        return spans


@dataclass(frozen=True)
class Judgement:
    """What one answer did, as plain facts; ``summarize`` averages them."""

    id: str
    type: str
    answerable: bool
    abstained: bool
    conflict: bool
    hit_rank: int | None  # 1-based rank of the first answer sentence holding a gold answer
    exact: float | None  # None for unanswerable questions
    f1: float | None
    short: bool  # the first answer carries a short answer
    support_hit: bool | None  # None when the question has no gold quote
    doc_rank: int | None  # 1-based evidence position of the first gold-document paragraph
    doc_recall: tuple[float, ...] | None  # share of gold documents in evidence[:k], RECALL_KS
    spans: int  # cited spans checked against the files
    bad_spans: tuple[str, ...]
    latency_ms: float


def _spans(result: AskResult) -> Iterable[tuple[str, str, int, int, str]]:
    """Every (what, doc, start, end, text) span that the result shows as corpus text."""
    for i, a in enumerate(result.answers, 1):
        yield f"answer {i}", a.doc, a.start, a.end, a.text
        yield f"answer {i} context", a.doc, a.context_start, a.context_end, a.context
        if a.short_answer:
            sa = a.short_answer
            yield f"answer {i} short answer", a.doc, sa.start, sa.end, sa.text
        for j, c in enumerate(a.citations, 1):
            yield f"answer {i} citation {j}", c.doc, c.start, c.end, c.text
    for i, e in enumerate(result.evidence, 1):
        yield f"evidence {i}", e.doc, e.start, e.end, e.text


def judge(
    question: EvalQuestion, result: AskResult, latency_ms: float, corpus: CorpusView
) -> Judgement:
    answers = [] if result.abstained else result.answers
    hit_rank = next(
        (
            rank
            for rank, a in enumerate(answers, 1)
            if corpus.one_sentence(a.doc, a.start, a.end)
            and contains_answer(a.text, question.answers)
        ),
        None,
    )
    exact = f1 = None
    if question.answerable:
        if answers:
            top = answers[0]
            predicted = top.short_answer.text if top.short_answer else top.text
            exact, f1 = (
                exact_match(predicted, question.answers),
                token_f1(predicted, question.answers),
            )
        else:
            exact = f1 = 0.0

    support_hit = None
    if question.support:
        cited = [(c.doc, c.start, c.end) for c in answers[0].citations] if answers else []
        if answers:
            cited.append((answers[0].doc, answers[0].start, answers[0].end))
        support_hit = any(
            doc == s.doc and start < g_end and g_start < end
            for s in question.support
            for g_start, g_end in corpus.gold_spans(s)
            for doc, start, end in cited
        )

    gold = set(question.gold_docs)
    doc_rank = doc_recall = None
    if gold:
        docs = [e.doc for e in result.evidence]
        doc_rank = next((i for i, d in enumerate(docs, 1) if d in gold), None)
        doc_recall = tuple(len(gold & set(docs[:k])) / len(gold) for k in RECALL_KS)

    spans, bad = 0, []
    for what, doc, start, end, text in _spans(result):
        spans += 1
        file_text = corpus.text(doc)
        if file_text is None or file_text[start:end] != text:
            bad.append(f"{question.id} {what}: {doc} [{start}:{end}]")
    return Judgement(
        id=question.id,
        type=question.type,
        answerable=question.answerable,
        abstained=result.abstained,
        conflict=result.conflict,
        hit_rank=hit_rank,
        exact=exact,
        f1=f1,
        short=bool(answers and answers[0].short_answer),
        support_hit=support_hit,
        doc_rank=doc_rank,
        doc_recall=doc_recall,
        spans=spans,
        bad_spans=tuple(bad),
        latency_ms=latency_ms,
    )
