"""The one library door: the CLI, the chat and the evaluation runner go through ``QABot``.

Asking, retrieving, indexing the seeds, reading a cited file and describing the index all
happen here, so that the shells over it import nothing of the pipeline stages. Importing it
is cheap (the chat paints before anything heavy loads): the stages load when first used.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from qabot.answer import answerers, conversation
from qabot.answer.conversation import clean_question
from qabot.errors import QabotError
from qabot.records import AskResult, Evidence, IndexSummary, Progress

if TYPE_CHECKING:
    from qabot.answer.answering import Answerer
    from qabot.answer.extraction import SpanAnswerer
    from qabot.index.model import CorpusIndex, IndexReport
    from qabot.milvus import MilvusBackend
    from qabot.search.retrieval import Retriever

__all__ = [
    "DEFAULT_INDEX",
    "DEFAULT_SEEDS",
    "IndexReport",
    "IndexSummary",
    "QABot",
    "ask",
    "clean_question",
    "open_index",
    "seed_changes",
]

NO_WORDS = "the question has no words to look for (only punctuation, symbols or common words)"
REFERENT_LABELS = frozenset({"PERSON", "ORG", "GPE", "NORP"})
MAX_EVIDENCE = 10  # every paragraph the answerer read, so each citation has its scores
ANSWERER_ENV = "QABOT_ANSWERER"
ANSWERERS = ("reader", "sentences")
DEFAULT_ANSWERER = "sentences"  # the reader abstains too often yet (docs/EVALUATION.md)
BACKEND_ENV = "QABOT_BACKEND"
DEFAULT_SEEDS = Path("seeds")
DEFAULT_INDEX = Path("index")


@dataclass
class _Loaded:
    """An index with the retriever and answerer over it: swapped in as one, so that a
    question being answered while the index is refreshed reads one index throughout.

    The answerer is made at the first question: retrieval alone (``retrieve``, SciFact,
    training's negatives) never loads the reader.
    """

    index: CorpusIndex
    retriever: Retriever
    kind: str  # which answerer: one of ANSWERERS
    made: Answerer | SpanAnswerer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def answerer(self) -> Answerer | SpanAnswerer:
        if self.made is None:
            with self.lock:
                if self.made is None:
                    self.made = answerers.make(self.index, self.retriever, self.kind)
        return self.made


class QABot:
    """A corpus ready to answer, and the one door to its index.

    By default building it loads the index, indexing the seeds first when there is no usable
    index or the seeds changed (``report`` then says what was done). ``refresh=False`` loads
    the index as it is on disk. ``lazy=True`` reads nothing yet: ``refresh`` or ``rebuild``
    then index without loading the result (what ``qabot index`` does), and the index is
    loaded by ``load`` or at first use. ``index``: answer from this index, already loaded or
    made in memory, and touch no seeds folder (the bench's synthetic million-paragraph
    corpora have none). ``answerer``: ``sentences`` (the sentence scorer, the default) or
    ``reader`` (the trained span reader); else ``$QABOT_ANSWERER``. ``backend``: ``local``
    or ``milvus`` (else ``$QABOT_BACKEND``) at ``milvus_uri`` (else ``$QABOT_MILVUS_URI``;
    ``lite:DIR`` starts Milvus Lite, which ``close`` stops); ``publish``: indexing may
    publish the seeds there (else it only asks, once Milvus holds the corpus).
    """

    def __init__(
        self,
        seeds_dir: Path | str = DEFAULT_SEEDS,
        index_dir: Path | str = DEFAULT_INDEX,
        *,
        refresh: bool = True,
        progress: Progress | None = None,
        index: CorpusIndex | None = None,
        lazy: bool = False,
        answerer: str | None = None,
        backend: str | MilvusBackend | None = None,
        milvus_uri: str | None = None,
        publish: bool = False,
    ) -> None:
        self.seeds_dir = Path(seeds_dir)
        from qabot.milvus import backend_named

        kind = backend or (index is None and os.environ.get(BACKEND_ENV)) or "local"
        self._milvus: MilvusBackend | None = backend_named(kind, milvus_uri, publish)
        self.backend = "milvus" if self._milvus else "local"
        self.answerer_kind = answerer or os.environ.get(ANSWERER_ENV) or DEFAULT_ANSWERER
        if self.answerer_kind not in ANSWERERS:
            raise QabotError(
                f"the answerer is one of {', '.join(ANSWERERS)}, not {self.answerer_kind!r}"
            )
        self.index_dir = Path(index_dir)
        self.report: IndexReport | None = None  # the indexing work this bot last did
        self._loaded: _Loaded | None = None
        self._loading = threading.Lock()
        started = time.perf_counter()
        if index is not None:
            self._use(index)
        elif lazy:
            pass
        elif refresh and self._milvus is not None:  # publishes only a corpus Milvus lacks
            index, self.report = self._milvus.open_index(self.seeds_dir, self.index_dir, progress)
            self._use(index)
        elif refresh:
            index, self.report = open_index(self.seeds_dir, self.index_dir, progress=progress)
            self._use(index)
        else:
            self.load()
        self.load_ms = (time.perf_counter() - started) * 1000

    # ------------------------------------------------------------------ the index

    @property
    def index(self) -> CorpusIndex:
        return self._state().index

    @property
    def retriever(self) -> Retriever:
        return self._state().retriever

    @property
    def answerer(self) -> Answerer | SpanAnswerer:
        return self._state().answerer

    @answerer.setter
    def answerer(self, answerer: Answerer | SpanAnswerer) -> None:
        """Answer with another answerer over the same index (one configured otherwise), until
        the index is loaded again."""
        state = self._state()
        self.answerer_kind = answerer.kind
        self._loaded = replace(state, kind=answerer.kind, made=answerer, lock=threading.Lock())

    @property
    def loaded(self) -> bool:
        """Whether an index is loaded (a lazy bot loads one at first use)."""
        return self._loaded is not None

    def load(self) -> None:
        """Load the index as it is on disk, without indexing: QabotError when there is
        none or it is unusable."""
        from qabot.index.load import load_index

        self._use(self._milvus.open() if self._milvus else load_index(self.index_dir))

    def refresh(self, *, progress: Progress | None = None) -> IndexReport:
        """Index the new, changed and removed seeds (only those) and answer from the new
        index from then on; returns what was done.

        An index that cannot be read is rebuilt from the seeds, and the report says why.
        Until the new index is complete this bot answers from the old one, which stays valid
        on disk. A bot with no index loaded yet indexes without loading the result.
        """
        return self._update(rebuild=False, progress=progress)

    def rebuild(self, *, progress: Progress | None = None) -> IndexReport:
        """As ``refresh``, but every seed is read and indexed again from scratch."""
        return self._update(rebuild=True, progress=progress)

    def is_stale(self) -> bool:
        """True when the seeds folder no longer matches the index this bot answers from (a
        ``stat`` per file; a file is read only when its size or time moved). Never on Milvus,
        whose corpus ``qabot index`` publishes: not this bot's seeds."""
        from qabot.index.load import is_stale

        return self._milvus is None and is_stale(self.seeds_dir, self.index.manifest)

    def summary(self) -> IndexSummary:
        """What the index this bot answers from holds, and when it was built."""
        index = self.index
        m = index.manifest
        return IndexSummary(
            documents=len(m.files),
            paragraphs=index.paragraph_count,
            sentences=m.sentences,
            skipped=len(m.skipped),
            built=m.created,
            index_dir=self.index_dir,
            stale=index.stale,
        )

    def document_text(self, doc: str) -> str:
        """The text of the seed file ``doc`` as qabot reads it: the string that citation and
        evidence offsets index into (``text[c.start:c.end] == c.text`` while the file is as
        it was indexed). For a file that is not plain text (PDF, HTML, Word, Markdown) that
        is the text extracted from it, kept in the index.

        QabotError when ``doc`` is not a name inside the seeds folder, or the file cannot
        be read or is no longer UTF-8 (the message is the underlying error's).
        """
        name = PurePosixPath(doc)
        if not doc or name.is_absolute() or ".." in name.parts:
            raise QabotError(f"not a file of the seeds folder: {doc!r}")
        from qabot.ingest.loading import read_file_text

        extracted = self.index.extracted_text(doc)
        if extracted is not None:  # a PDF, a web page, ...: the text kept at index time
            return extracted
        try:
            return read_file_text(self.seeds_dir, doc)
        except (OSError, ValueError) as exc:  # ValueError: no longer valid UTF-8
            raise QabotError(str(exc)) from exc

    def warm_up(self) -> None:
        """Load the question encoder now (seconds, once a process), so that the first
        question does not wait for it."""
        from qabot.ingest.embedding import embed

        embed(["qabot"])

    def close(self) -> None:
        """Stop what this bot started (a Milvus Lite server)."""
        if self._milvus is not None:
            self._milvus.close()

    def _use(self, index: CorpusIndex) -> None:
        from qabot.search.retrieval import Retriever

        retriever = self._milvus.retriever(index) if self._milvus else Retriever(index)
        self._loaded = _Loaded(index, retriever, self.answerer_kind)

    def _state(self, fresh: bool = False) -> _Loaded:
        """What answers now; ``fresh``: first reopen a Milvus corpus a publish replaced."""
        state = self._loaded
        if fresh and state is not None and self._milvus and self._milvus.moved(state.index):
            with self._loading:  # one reload for questions at once; never over a newer one
                if self._loaded is state:
                    self.load()
            state = self._loaded
        if state is None:
            with self._loading:  # two first questions at once load the index once
                if self._loaded is None:
                    self.load()
            state = self._loaded
            assert state is not None
        return state

    def watch(
        self, stop: threading.Event | None = None, *, progress: Progress | None = None
    ) -> Iterator[IndexReport | QabotError]:
        """Index the seeds each time they change, a moment after the writes settle, until
        ``stop`` is set (or Ctrl+C): yields what each update did, or why it failed (the
        index it could not replace keeps answering, and watching goes on). A watch that
        cannot go on yields why, and ends."""
        try:
            for _ in seed_changes(self.seeds_dir, stop or threading.Event()):
                try:
                    yield self.refresh(progress=progress)
                except QabotError as exc:
                    yield exc
        except QabotError as exc:
            yield exc

    def _update(self, *, rebuild: bool, progress: Progress | None) -> IndexReport:
        from qabot.index.build import update_index

        update = self._milvus.update if self._milvus is not None else update_index
        report = update(self.seeds_dir, self.index_dir, rebuild=rebuild, progress=progress)
        if self._loaded is not None:
            self.load()
        self.report = report
        return report

    # ------------------------------------------------------------------ answering

    def ask(self, question: str, history: Sequence[str] = ()) -> AskResult:
        """Answer ``question`` with exact, cited quotes of the corpus, or abstain.

        ``history``: the earlier questions of the conversation, oldest first, which a
        follow-up ("And what did he say?") leans on.
        """
        import numpy as np

        from qabot.ingest.embedding import embed
        from qabot.search.retrieval import Query, evidence_of

        t0 = time.perf_counter()
        text = clean_question(question)
        state = self._state(fresh=True)
        retriever, answerer = state.retriever, state.answerer
        # an earlier question with no words to look for ("?!") cannot be leaned on
        earlier = [
            q
            for q in (
                clean_question(h, f"history entry {k}")
                for k, h in enumerate(history, 1)
                if h and h.strip()
            )
            if retriever.analyze(q)
        ]
        referents: tuple[str, ...] = ()
        if earlier and conversation.leans_back(text):
            referents = self._named_by(earlier[-1])
        turn = conversation.resolve(text, earlier, referents)

        words = retriever.analyze(turn.question)
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
                stale=state.index.stale,
            )
        context = turn.retrieval_context
        vectors = embed([turn.question, context] if context else [turn.question])
        qvec = vectors[0]
        if context:
            weight = conversation.CONTEXT_WEIGHT * (1.5 if turn.leans_back else 1.0)
            own = {qw.word for qw in words}
            words += [qw for qw in retriever.analyze(context, weight) if qw.word not in own]
            qvec = qvec + weight * vectors[1]
            qvec = (qvec / np.linalg.norm(qvec)).astype(np.float32)
        query = Query(words, qvec)
        t1 = time.perf_counter()

        hits = retriever.search(query, k=MAX_EVIDENCE)
        t2 = time.perf_counter()
        # What a follow-up leans on (the earlier question, the name its answer gave) is what
        # the question is about, never its answer.
        about = (turn.context, *turn.referents) if turn.leans_back else ()
        found = answerer.respond(hits, query, turn.question, about)
        t3 = time.perf_counter()

        evidence = [evidence_of(state.index, h) for h in hits]
        for answer in found.answers:
            answer.locator = state.index.locator(answer.doc, answer.start)
            for c in answer.citations:
                c.locator = state.index.locator(c.doc, c.start)
        return AskResult(
            question=text,
            resolved_question=turn.resolved,
            answers=found.answers,
            abstained=found.abstained,
            conflict=found.conflict,
            evidence=evidence,
            timings_ms={
                "embed": round((t1 - t0) * 1000, 2),
                "retrieve": round((t2 - t1) * 1000, 2),
                "answer": round((t3 - t2) * 1000, 2),
                "total": round((t3 - t0) * 1000, 2),
            },
            note=found.note,
            stale=state.index.stale,
        )

    def retrieve(self, question: str, k: int = MAX_EVIDENCE) -> list[Evidence]:
        """The paragraphs retrieval ranks highest for ``question`` read on its own, best first."""
        from qabot.ingest.embedding import embed
        from qabot.search.retrieval import Query, evidence_of

        text = clean_question(question)
        vector = embed([text])[0]
        state = self._state(fresh=True)
        hits = state.retriever.search(Query(state.retriever.analyze(text), vector), k=k)
        return [evidence_of(state.index, h) for h in hits]

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
    """The index, built, refreshed or stale as ``qabot.index.ready.open_index`` says."""
    from qabot.index.ready import open_index as ready

    return ready(seeds_dir, index_dir, progress=progress)


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
    if bot is None or (bot.seeds_dir.is_dir() and bot.is_stale()):
        bot = _BOTS[key] = QABot(seeds_dir, index_dir)
    return bot.ask(question, history)


def __getattr__(name: str) -> Any:
    """``IndexReport`` (what ``refresh`` returns) without importing the index stage up front."""
    if name == "IndexReport":
        from qabot.index.model import IndexReport

        return IndexReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def seed_changes(seeds_dir: Path | str, stop: threading.Event) -> Iterator[list[str]]:
    """The names of the seeds touched by each burst of writes, once it has settled, until
    ``stop`` is set: what the chat watches, to index them (``qabot.index.watch``)."""
    from qabot.index import watch

    return watch.seed_changes(Path(seeds_dir), stop)
