"""Evaluation: read a question set, ask every question through ``QABot.ask``, score, compare.

The question set is JSON Lines (format in ``shared/README.md``). Scoring is split so that
each part can be checked by hand: ``judge`` turns one question and qabot's result into a
``Judgement`` (plain facts: rank of the first right answer, EM/F1, ...), ``summarize`` turns
judgements into ``Metrics``. Answer matching uses the official SQuAD normalisation
(lower case, ASCII punctuation and articles removed, whitespace collapsed).

Retrieval-only benchmarks (SciFact) are scored with ``evaluate_retrieval``: nDCG@10 and
recall@100 of documents, a document ranking where its best paragraph ranks.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import string
import subprocess
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qabot.errors import QabotError
from qabot.records import AskResult, Progress

if TYPE_CHECKING:
    from qabot.api import QABot
    from qabot.index.model import CorpusIndex
    from qabot.search.retrieval import Retriever

TYPES = (
    "factoid",
    "list",
    "numeric",
    "date",
    "why",
    "conflict",
    "unanswerable",
    "followup",
    "misspelled",
)
RECALL_KS = (1, 3, 5, 10)  # over result.evidence, the top paragraphs in retrieval order
HIT_KS = (1, 3)


# --------------------------------------------------------------------------- question sets


@dataclass(frozen=True)
class Support:
    """A verbatim quote of a corpus file that supports the gold answer."""

    doc: str
    quote: str
    start: int | None = None  # known offset (SQuAD); otherwise every occurrence counts


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    type: str
    answers: tuple[str, ...]
    support: tuple[Support, ...] = ()
    history: tuple[str, ...] = ()
    conflict_note: str = ""

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"

    @property
    def gold_docs(self) -> list[str]:
        return list(dict.fromkeys(s.doc for s in self.support))


def _text_list(record: dict[str, Any], key: str, required: bool) -> tuple[str, ...]:
    if key not in record:
        if required:
            raise ValueError(f'missing field "{key}"')
        return ()
    value = record[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f'"{key}" must be a list of strings')
    return tuple(value)


def parse_question(line: str) -> EvalQuestion:
    """One line of a question set; ``ValueError`` says what is wrong with it."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    for key in ("id", "question", "type"):
        if key not in record:
            raise ValueError(f'missing field "{key}"')
        if not isinstance(record[key], str) or not record[key].strip():
            raise ValueError(f'"{key}" must be a non-empty string')
    if record["type"] not in TYPES:
        raise ValueError(f'unknown type "{record["type"]}" (one of: {", ".join(TYPES)})')
    answers = _text_list(record, "answers", required=True)
    if record["type"] == "unanswerable" and answers:
        raise ValueError('an "unanswerable" question must have empty "answers"')
    if record["type"] != "unanswerable" and not answers:
        raise ValueError(f'a "{record["type"]}" question needs at least one answer')
    support = record.get("support", [])
    if not isinstance(support, list) or not all(
        isinstance(s, dict) and isinstance(s.get("doc"), str) and isinstance(s.get("quote"), str)
        for s in support
    ):
        raise ValueError('"support" must be a list of {"doc": string, "quote": string}')
    note = record.get("conflict_note", "")
    if not isinstance(note, str):
        raise ValueError('"conflict_note" must be a string')
    return EvalQuestion(
        id=record["id"],
        question=record["question"],
        type=record["type"],
        answers=answers,
        support=tuple(Support(s["doc"], s["quote"]) for s in support),
        history=_text_list(record, "history", required=False),
        conflict_note=note,
    )


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read a JSON Lines question set; any fault is a one-line ``QabotError`` with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QabotError(f"question set not found: {path}") from None
    except IsADirectoryError:
        raise QabotError(f"question set is a folder, not a file: {path}") from None
    except UnicodeDecodeError:
        raise QabotError(f"question set is not UTF-8 text: {path}") from None
    except OSError as exc:
        raise QabotError(f"cannot read {path}: {exc.strerror or exc}") from None
    questions: list[EvalQuestion] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            question = parse_question(line)
        except ValueError as exc:
            raise QabotError(f"{path}, line {number}: {exc}") from None
        if question.id in seen:
            raise QabotError(
                f'{path}, line {number}: id "{question.id}" is already used on line '
                f"{seen[question.id]}"
            )
        seen[question.id] = number
        questions.append(question)
    if not questions:
        raise QabotError(f"{path}: no questions in the file")
    return questions


# --------------------------------------------------------------------------- answer matching


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """The official SQuAD v1.1 normalisation: lower case, no punctuation/articles/extra space."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Iterable[str]) -> float:
    norm = normalize_answer(prediction)
    return float(any(norm == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: Iterable[str]) -> float:
    """Best SQuAD token F1 of ``prediction`` against any gold answer."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        ref = normalize_answer(gold).split()
        same = sum((Counter(pred) & Counter(ref)).values())
        if same:
            precision, recall = same / len(pred), same / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _word_bounds(text: str) -> str:
    """Non-ASCII punctuation as spaces: the official normalisation keeps it, so a curly quote
    or a dash glued to a word (``Netanyahu,”``) would hide that word from ``contains_answer``."""
    return "".join(
        " " if ord(ch) > 127 and unicodedata.category(ch).startswith("P") else ch for ch in text
    )


def contains_answer(span: str, golds: Iterable[str]) -> bool:
    """A gold answer occurs in ``span`` as whole normalised words (SQuAD normalisation, and
    non-ASCII punctuation counts as a word boundary)."""
    haystack = f" {normalize_answer(_word_bounds(span))} "
    return any(
        (needle := normalize_answer(_word_bounds(g))) and f" {needle} " in haystack for g in golds
    )


# --------------------------------------------------------------------------- judging


class CorpusView:
    """File texts and sentence bounds of the indexed corpus, for checking cited spans."""

    def __init__(self, seeds_dir: Path, index: CorpusIndex) -> None:
        self.seeds_dir = seeds_dir
        self._texts: dict[str, str | None] = {}
        bounds: dict[str, list[tuple[int, int]]] = {}
        for p in index.paragraphs:
            bounds.setdefault(p.doc, []).extend((s.start, s.end) for s in p.sentences)
        self._sentences = {doc: sorted(b) for doc, b in bounds.items()}
        self._starts = {doc: [s for s, _ in b] for doc, b in self._sentences.items()}

    def text(self, doc: str) -> str | None:
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


# --------------------------------------------------------------------------- summaries


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


# --------------------------------------------------------------------------- running


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
) -> list[Prediction]:
    """Ask each question exactly as the chat would (follow-ups with their history).

    Ctrl+C stops early and keeps the answers so far: a long benchmark still reports something.
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
                raise QabotError(f"question {q.id}: {exc}") from None
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
    predictions = ask_all(bot, questions, progress, on_prediction)
    if len(predictions) < len(questions):
        notes.append(
            f"INTERRUPTED: only the first {len(predictions)} of {len(questions)} questions"
        )
    judgements = [judge(p.question, p.result, p.latency_ms, corpus) for p in predictions]
    return report(name, judgements, notes)


# --------------------------------------------------------------------------- retrieval only


@dataclass(frozen=True)
class RetrievalQuery:
    """A retrieval-only question: its text and the ids of its relevant documents."""

    id: str
    text: str
    relevant: frozenset[str]


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


def ndcg_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k (as BEIR's pytrec_eval with graded qrels of 1)."""
    rel = set(relevant)
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return dcg / ideal if ideal else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    rel = set(relevant)
    return len(rel & set(ranked[:k])) / len(rel) if rel else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    rel = set(relevant)
    return next((1.0 / i for i, d in enumerate(ranked[:k], 1) if d in rel), 0.0)


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
        paragraphs=len(index.paragraphs),
        modes=results,
        run=run_info(),
    )


# --------------------------------------------------------------------------- output


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
