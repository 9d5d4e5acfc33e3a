"""Running a question set: every question through ``QABot.ask`` exactly as the chat asks it,
judged and reported (``evaluate``); and the retriever alone on retrieval-only benchmarks
(``evaluate_retrieval``: nDCG@10 and recall@100 of documents, a document ranking where its
best paragraph ranks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from qabot.errors import QabotError
from qabot.measure.judge import CorpusView, judge
from qabot.measure.metrics import ndcg_at_k, recall_at_k, reciprocal_rank
from qabot.measure.questions import EvalQuestion, RetrievalQuery
from qabot.measure.reports import (
    EvalReport,
    RetrievalMetrics,
    RetrievalReport,
    report,
    run_info,
)
from qabot.records import AskResult, Progress

if TYPE_CHECKING:
    from qabot.api import QABot
    from qabot.search.retrieval import Retriever


@dataclass
class Prediction:
    """qabot's result for one question of the set, and how long it took."""

    question: EvalQuestion
    result: AskResult
    latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        """One line of ``--predictions``: the answers are those of ``qabot ask --json``."""
        return {
            "id": self.question.id,
            "question": self.question.question,
            "answers": self.result.to_dict()["answers"],
            "abstained": self.result.abstained,
            "conflict": self.result.conflict,
            "latency_ms": round(self.latency_ms, 2),
        }


def ask_all(
    bot: QABot,
    questions: Sequence[EvalQuestion],
    progress: Progress | None = None,
    on_prediction: Callable[[Prediction], None] | None = None,
    refused: list[str] | None = None,
) -> list[Prediction]:
    """Ask each question exactly as the chat would (follow-ups with their history).

    A question that ``ask`` refuses (empty once cleaned, too long) is added to ``refused``
    as "id: why" and the run goes on. Ctrl+C stops early and keeps the answers so far: a
    long benchmark still reports something.
    """
    from qabot.ingest.embedding import embed

    embed(["warm-up"])  # load the model first, so the first question's latency is its own
    out: list[Prediction] = []
    try:
        for i, q in enumerate(questions, 1):
            started = time.perf_counter()
            try:
                result = bot.ask(q.question, q.history)
            except QabotError as exc:
                if refused is None:
                    raise QabotError(f"question {q.id}: {exc}") from None
                refused.append(f"{q.id}: {exc}")
            else:
                prediction = Prediction(q, result, (time.perf_counter() - started) * 1000)
                out.append(prediction)
                if on_prediction:
                    on_prediction(prediction)
            if progress:
                progress("questions", i, len(questions))
    except KeyboardInterrupt:
        pass  # report what was answered; the caller says it was interrupted
    return out


def evaluate(
    bot: QABot,
    questions: Sequence[EvalQuestion],
    name: str,
    progress: Progress | None = None,
    on_prediction: Callable[[Prediction], None] | None = None,
) -> EvalReport:
    """Run the question set through ``bot`` and score it."""
    corpus = CorpusView(bot.seeds_dir, bot.index)
    notes = []
    missing = [
        f"{q.id}: {s.doc}"
        for q in questions
        for s in q.support
        if s.start is None and not corpus.gold_spans(s)
    ]
    if missing:
        notes.append(
            f"{len(missing)} gold quotes not found in the corpus (first: {missing[0]}); "
            "is this the question set of these seeds?"
        )
    refused: list[str] = []
    predictions = ask_all(bot, questions, progress, on_prediction, refused)
    if refused:
        notes.append(
            f"{len(refused)} questions refused by ask and left out of the scores "
            f"(first: {refused[0]})"
        )
    if len(predictions) + len(refused) < len(questions):
        asked = len(predictions) + len(refused)
        notes.append(f"INTERRUPTED: only the first {asked} of {len(questions)} questions")
    judgements = [judge(p.question, p.result, p.latency_ms, corpus) for p in predictions]
    rep = report(name, judgements, notes)
    rep.run["answerer"] = bot.answerer_kind
    return rep


def rank_documents(
    retriever: Retriever, queries: Sequence[RetrievalQuery], mode: str, depth: int = 100
) -> list[tuple[list[str], float]]:
    """Documents ranked for each query (a document ranks where its best paragraph ranks)."""
    from qabot.ingest.embedding import embed
    from qabot.search.retrieval import Query

    vectors = embed([q.text for q in queries])
    paragraphs = retriever.index.paragraphs
    out: list[tuple[list[str], float]] = []
    for q, vector in zip(queries, vectors, strict=True):
        started = time.perf_counter()
        query = Query(retriever.analyze(q.text), vector)
        docs: list[str] = []
        for hit in retriever.rank(query, 3 * depth, mode):
            doc = paragraphs[hit.paragraph_id].doc
            if doc not in docs:
                docs.append(doc)
                if len(docs) == depth:
                    break
        out.append((docs, (time.perf_counter() - started) * 1000))
    return out


def evaluate_retrieval(
    retriever: Retriever,
    queries: Sequence[RetrievalQuery],
    name: str,
    modes: Sequence[str],
    doc_id: Callable[[str], str],
    progress: Progress | None = None,
) -> RetrievalReport:
    """nDCG@10, recall@100/@10 and MRR@10 of the retriever alone, in each mode."""
    results: dict[str, RetrievalMetrics] = {}
    for i, mode in enumerate(modes, 1):
        ranked = rank_documents(retriever, queries, mode)
        ids = [[doc_id(d) for d in docs] for docs, _ in ranked]
        pairs = [(r, q.relevant) for r, q in zip(ids, queries, strict=True)]
        results[mode] = RetrievalMetrics(
            queries=len(queries),
            ndcg_at_10=float(np.mean([ndcg_at_k(r, rel) for r, rel in pairs])),
            recall_at_100=float(np.mean([recall_at_k(r, rel, 100) for r, rel in pairs])),
            recall_at_10=float(np.mean([recall_at_k(r, rel, 10) for r, rel in pairs])),
            mrr_at_10=float(np.mean([reciprocal_rank(r, rel) for r, rel in pairs])),
            latency_p50_ms=float(np.percentile([ms for _, ms in ranked], 50)),
        )
        if progress:
            progress("modes", i, len(modes))
    index = retriever.index
    return RetrievalReport(
        name,
        documents=len(index.manifest.files),
        paragraphs=index.paragraph_count,
        modes=results,
        run=run_info(),
    )
