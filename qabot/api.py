"""The one library entry point: the CLI, the chat and the evaluation runner all call ``ask``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qabot.answer import conversation
from qabot.answer.answering import Answerer
from qabot.answer.conversation import clean_question
from qabot.errors import QabotError
from qabot.index.build import update_index
from qabot.index.load import is_stale, load_index
from qabot.index.model import CorpusIndex, IndexReport
from qabot.records import AskResult, Evidence, Hit, Progress
from qabot.search.retrieval import Query, Retriever

NO_WORDS = "the question has no words to look for (only punctuation, symbols or common words)"
REFERENT_LABELS = frozenset({"PERSON", "ORG", "GPE", "NORP"})
MAX_EVIDENCE = 10  # every paragraph the answerer read, so each citation has its scores
DEFAULT_SEEDS = Path("seeds")
DEFAULT_INDEX = Path("index")


class QABot:
    """A loaded corpus, ready to answer. Building it indexes the seeds if needed."""

    def __init__(
        self,
        seeds_dir: Path | str = DEFAULT_SEEDS,
        index_dir: Path | str = DEFAULT_INDEX,
        *,
        refresh: bool = True,
        progress: Progress | None = None,
        index: CorpusIndex | None = None,
    ) -> None:
        """``index``: answer from this index, already loaded or made in memory, and touch
        no seeds folder (the bench's synthetic million-paragraph corpora have none)."""
        self.seeds_dir = Path(seeds_dir)
        self.index_dir = Path(index_dir)
        self.report: IndexReport | None = None
        started = time.perf_counter()
        if index is not None:
            self.index = index
        elif refresh:
            self.index, self.report = open_index(self.seeds_dir, self.index_dir, progress=progress)
        else:
            self.index = load_index(self.index_dir)
        self.retriever = Retriever(self.index)
        self.answerer = Answerer(self.index, self.retriever)
        self.load_ms = (time.perf_counter() - started) * 1000

    def ask(self, question: str, history: Sequence[str] = ()) -> AskResult:
        from qabot.ingest.embedding import embed

        t0 = time.perf_counter()
        text = clean_question(question)
        # an earlier question with no words to look for ("?!") cannot be leaned on
        earlier = [
            q
            for q in (clean_question(h) for h in history if h and h.strip())
            if self.retriever.analyze(q)
        ]
        referents: tuple[str, ...] = ()
        if earlier and conversation.leans_back(text):
            referents = self._named_by(earlier[-1])
        turn = conversation.resolve(text, earlier, referents)

        words = self.retriever.analyze(turn.question)
        if not words and not turn.context:
            # "?!", "👍", "the": nothing to look for; any quote would be a guess
            return AskResult(
                question=text,
                resolved_question=turn.resolved,
                answers=[],
                abstained=True,
                conflict=False,
                evidence=[],
                timings_ms={"total": round((time.perf_counter() - t0) * 1000, 2)},
                note=NO_WORDS,
            )
        context = turn.retrieval_context
        vectors = embed([turn.question, context] if context else [turn.question])
        qvec = vectors[0]
        if context:
            weight = conversation.CONTEXT_WEIGHT * (1.5 if turn.leans_back else 1.0)
            own = {qw.word for qw in words}
            words += [qw for qw in self.retriever.analyze(context, weight) if qw.word not in own]
            qvec = qvec + weight * vectors[1]
            qvec = (qvec / np.linalg.norm(qvec)).astype(np.float32)
        query = Query(words, qvec)
        t1 = time.perf_counter()

        hits = self.retriever.search(query, k=max(MAX_EVIDENCE, 10))
        t2 = time.perf_counter()
        # What a follow-up leans on (the earlier question, the name its answer gave) is what
        # the question is about, never its answer.
        about = (turn.context, *turn.referents) if turn.leans_back else ()
        candidates = self.answerer.candidates(hits, query, turn.question, about)
        answers, abstained, conflict, note = self.answerer.answer(candidates, turn.question)
        t3 = time.perf_counter()

        evidence = [self._evidence(h) for h in hits[:MAX_EVIDENCE]]
        return AskResult(
            question=text,
            resolved_question=turn.resolved,
            answers=answers,
            abstained=abstained,
            conflict=conflict,
            evidence=evidence,
            timings_ms={
                "embed": round((t1 - t0) * 1000, 2),
                "retrieve": round((t2 - t1) * 1000, 2),
                "answer": round((t3 - t2) * 1000, 2),
                "total": round((t3 - t0) * 1000, 2),
            },
            note=note,
        )

    def retrieve(self, question: str, k: int = MAX_EVIDENCE) -> list[Evidence]:
        """The paragraphs retrieval ranks highest for ``question`` read on its own, best first."""
        from qabot.ingest.embedding import embed

        text = clean_question(question)
        vector = embed([text])[0]
        hits = self.retriever.search(Query(self.retriever.analyze(text), vector), k=k)
        return [self._evidence(h) for h in hits]

    def _evidence(self, hit: Hit) -> Evidence:
        p = self.index.paragraphs[hit.paragraph_id]
        return Evidence(
            p.doc,
            self.index.title(p.doc),
            p.number,
            p.start,
            p.end,
            p.text,
            round(hit.fused, 6),
            round(hit.bm25, 4),
            round(hit.dense, 4),
            hit.bm25_rank,
            hit.dense_rank,
        )

    def _named_by(self, question: str) -> tuple[str, ...]:
        """The name the answer to an earlier question gave ("Yoav Gallant" for "Who is
        Israel's defense minister?"), so that "he" in a follow-up can be looked for by name.

        The earlier question is answered again on its own: history holds questions only, and
        the answer it gets is the one the user saw (``ask`` is deterministic).
        """
        result = self.ask(question)
        if result.abstained or not result.answers:
            return ()
        short = result.answers[0].short_answer
        return (short.text,) if short is not None and short.label in REFERENT_LABELS else ()


def open_index(
    seeds_dir: Path, index_dir: Path, *, progress: Progress | None = None
) -> tuple[CorpusIndex, IndexReport | None]:
    """Load the index, building it when there is none (or it is unusable) and refreshing it
    when the seeds changed. The seeds are the source of truth, so rebuilding loses nothing.

    Returns the index and the report of the indexing work done (None when none was needed).
    """
    if not seeds_dir.is_dir():
        raise QabotError(
            f"seeds path is not a folder: {seeds_dir}"
            if seeds_dir.exists()
            else f"seeds folder not found: {seeds_dir}"
        )
    try:
        index = load_index(index_dir)
        if not is_stale(seeds_dir, index.manifest):
            return index, None
    except QabotError:
        pass  # missing or unusable: update_index rebuilds it and says why
    report = update_index(seeds_dir, index_dir, progress=progress)
    return load_index(index_dir), report


_BOTS: dict[tuple[Path, Path], QABot] = {}


def ask(
    question: str,
    history: Sequence[str] = (),
    *,
    seeds_dir: Path | str = DEFAULT_SEEDS,
    index_dir: Path | str = DEFAULT_INDEX,
) -> AskResult:
    """Answer ``question`` from the corpus in ``seeds_dir`` (indexed into ``index_dir``)."""
    key = (Path(seeds_dir).resolve(), Path(index_dir).resolve())
    bot = _BOTS.get(key)
    if bot is None or (bot.seeds_dir.is_dir() and is_stale(bot.seeds_dir, bot.index.manifest)):
        bot = _BOTS[key] = QABot(seeds_dir, index_dir)
    return bot.ask(question, history)
