"""Public benchmarks turned into qabot corpora and question sets.

Each benchmark becomes a seeds folder that qabot indexes like any other corpus, so the
numbers measure the real pipeline (cleaning, spaCy sentences, hybrid retrieval, answerer):

* ``squad`` — SQuAD v1.1 dev as a *closed corpus*: each of its 2,067 paragraphs is one file
  ``NN_<article>/PPP.txt`` holding exactly the paragraph's text, so SQuAD's ``answer_start``
  offsets are file offsets and the gold paragraph is the gold document. 10,570 questions.
* ``squad2`` — the CS224N half of SQuAD 2.0 dev, laid out the same way (646 paragraphs);
  ``is_impossible`` questions become ``unanswerable``.
* ``scifact`` — BEIR SciFact: each abstract is one file ``<doc-id>.txt`` with the title
  and the text in one block ("title\\ntext", as Anserini's "flat" setting concatenates
  them); retrieval only, scored on the 300 test queries.

The source files are read from the data folder ``locations.data_root`` names (``--data``,
``$QABOT_BENCHMARKS`` or ``shared/benchmarks`` beside the checkout). Prepared folders are
cached (``~/.cache/qabot/bench/<name>`` by default) and reused; a marker file written last
says a folder is complete. ``limit`` keeps the first N questions and, to keep quick runs
quick, only part of the corpus (see ``prepare``): limited runs are for smoke tests, not for
comparison with published numbers.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from qabot.errors import QabotError
from qabot.measure import locations
from qabot.measure.questions import EvalQuestion, RetrievalQuery, Support
from qabot.measure.reading import ReadingReport, evaluate_reader
from qabot.measure.reports import EvalReport, RetrievalReport
from qabot.measure.runner import Prediction, evaluate, evaluate_retrieval
from qabot.records import Progress

BENCHMARKS = tuple(locations.SOURCES)  # squad, squad2, scifact
COMPLETE = ".complete"  # hidden: the loader ignores it
SCIFACT_DISTRACTORS_PER_QUERY = 20  # corpus docs kept per question in a --limit run


@dataclass(frozen=True)
class Benchmark:
    """A prepared benchmark: a seeds folder, where its index goes, and its questions."""

    name: str
    seeds_dir: Path
    index_dir: Path
    questions: list[EvalQuestion]  # QA benchmarks (squad, squad2)
    queries: list[RetrievalQuery]  # retrieval benchmarks (scifact)
    documents: int


def prepare(
    name: str, cache: Path | None = None, limit: int | None = None, data: Path | None = None
) -> Benchmark:
    """Write (or reuse) the benchmark's seeds folder and read its questions, from the data
    folder ``data`` (``locations.data_root`` when None).

    With ``limit``, SQuAD keeps the first ``limit`` questions and only the articles they come
    from (whole articles, so other paragraphs still compete); SciFact keeps the first
    ``limit`` test queries, their relevant abstracts and the first
    ``SCIFACT_DISTRACTORS_PER_QUERY * limit`` abstracts of the corpus.
    """
    if name not in BENCHMARKS:
        raise QabotError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    if limit is not None and limit < 1:
        raise QabotError("--limit must be at least 1")
    source = locations.source(name, data)
    if not source.exists():
        raise QabotError(f"benchmark data not found: {source}")
    slice_name = name if limit is None else f"{name}-limit{limit}"
    folder = (cache or locations.default_cache()) / slice_name
    if name == "scifact":
        files, queries = _scifact(source, limit)
        questions: list[EvalQuestion] = []
    else:
        files, questions = _squad(source, limit)
        queries = []
    seeds = folder / "seeds"
    _write_seeds(seeds, files)
    return Benchmark(name, seeds, folder / "index", questions, queries, len(files))


def _write_seeds(seeds: Path, files: dict[str, str]) -> None:
    """Write the files once; a folder with its completion marker is reused as it is."""
    marker = seeds / COMPLETE
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == str(len(files)):
        return
    if seeds.exists():
        shutil.rmtree(seeds)
    for name, text in files.items():
        path = seeds / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
    marker.write_text(f"{len(files)}\n", encoding="utf-8")


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", title).strip("_")[:60] or "article"


def _squad(path: Path, limit: int | None) -> tuple[dict[str, str], list[EvalQuestion]]:
    """One file per paragraph (its exact text), and the questions in dataset order."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    files: dict[str, str] = {}
    questions: list[EvalQuestion] = []
    for a, article in enumerate(data):
        if limit is not None and len(questions) >= limit:
            break
        for p, paragraph in enumerate(article["paragraphs"]):
            doc = f"{a:02d}_{_slug(article['title'])}/{p:03d}.txt"
            context = paragraph["context"]
            files[doc] = context
            for qa in paragraph["qas"]:
                if limit is not None and len(questions) >= limit:
                    continue  # keep the rest of the article's paragraphs as distractors
                golds = [] if qa.get("is_impossible") else qa["answers"]
                questions.append(
                    EvalQuestion(
                        id=qa["id"],
                        question=qa["question"],
                        type="unanswerable" if qa.get("is_impossible") else "factoid",
                        answers=tuple(dict.fromkeys(g["text"] for g in golds)),
                        support=tuple(
                            dict.fromkeys(Support(doc, g["text"], g["answer_start"]) for g in golds)
                        ),
                    )
                )
    return files, questions


def _jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _scifact(folder: Path, limit: int | None) -> tuple[dict[str, str], list[RetrievalQuery]]:
    """One file per abstract ("title\\ntext": one block) and the test queries with qrels."""
    relevant: dict[str, set[str]] = {}
    with (folder / "qrels" / "test.tsv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if int(row["score"]) > 0:
                relevant.setdefault(row["query-id"], set()).add(row["corpus-id"])
    queries = [
        RetrievalQuery(q["_id"], q["text"], frozenset(relevant[q["_id"]]))
        for q in _jsonl(folder / "queries.jsonl")
        if q["_id"] in relevant
    ]
    corpus = list(_jsonl(folder / "corpus.jsonl.gz"))
    if limit is not None:
        queries = queries[:limit]
        keep = {d for q in queries for d in q.relevant}
        keep |= {doc["_id"] for doc in corpus[: SCIFACT_DISTRACTORS_PER_QUERY * limit]}
        corpus = [doc for doc in corpus if doc["_id"] in keep]
    files = {
        f"{doc['_id']}.txt": "\n".join(t for t in (doc["title"].strip(), doc["text"].strip()) if t)
        + "\n"
        for doc in corpus
    }
    return files, queries


def doc_id(name: str) -> str:
    """SciFact document id of a seeds file name."""
    return name.removesuffix(".txt")


LAYOUT = {
    "squad": "one file per SQuAD paragraph, exactly its text",
    "squad2": "one file per SQuAD 2.0 paragraph, exactly its text",
    "scifact": "one file per abstract: title and text as one block",
}


def run(
    name: str,
    cache: Path | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
    on_prediction: Callable[[Prediction], None] | None = None,
    data: Path | None = None,
) -> EvalReport | RetrievalReport:
    """Prepare (or reuse) the benchmark's corpus and index from the data folder ``data``,
    then evaluate qabot on it.

    QA benchmarks go through ``QABot.ask`` like any question set; SciFact scores the
    retriever alone in each mode (BM25, dense, hybrid).
    """
    from qabot.api import QABot
    from qabot.search.retrieval import MODES

    bench = prepare(name, cache, limit, data)
    if os.environ.get("QABOT_BACKEND") == "milvus":  # under its own alias, never the user's
        from qabot.milvus import MilvusBackend

        backend = MilvusBackend(None, f"qabot_bench_{name}", publish=True)
        bot = QABot(bench.seeds_dir, bench.index_dir, backend=backend, lazy=True)
        bot.refresh(progress=progress)
        bot.load()
    else:
        bot = QABot(bench.seeds_dir, bench.index_dir, progress=progress)
    title = name if limit is None else f"{name} (--limit {limit}: not comparable)"
    rep: EvalReport | RetrievalReport
    if bench.queries:
        rep = evaluate_retrieval(bot.retriever, bench.queries, title, MODES, doc_id, progress)
    else:
        rep = evaluate(bot, bench.questions, title, progress, on_prediction)
    empty = sum(1 for f in bot.index.manifest.files.values() if f.paragraphs == 0)
    skipped = len(bot.index.manifest.skipped)
    rep.notes.insert(
        0,
        f"corpus: {bench.documents} files ({LAYOUT[name]}); {bot.index.manifest.paragraphs} "
        f"indexed paragraphs; {empty} files left no text after cleaning, {skipped} skipped; "
        f"cache {bench.seeds_dir.parent}",
    )
    return rep


def read_alone(
    name: str,
    cache: Path | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
    data: Path | None = None,
) -> ReadingReport:
    """The shipped reader alone on a SQuAD set: each answerable question read with its gold
    paragraph (one file of the benchmark's seeds), no retrieval, no abstention."""
    from qabot.answer.reader import reader_folder_digest, shipped_reader

    if name == "scifact":
        raise QabotError("scifact has no answers to read; --reader-alone is for squad, squad2")
    bench = prepare(name, cache, limit, data)
    title = name if limit is None else f"{name} (--limit {limit}: not comparable)"
    rep = evaluate_reader(shipped_reader(), bench.questions, bench.seeds_dir, title, progress)
    rep.run["reader_sha256"] = reader_folder_digest()[:16]
    if name == "squad2":
        rep.notes.append("answerable questions only: not comparable with SQuAD 2.0 EM/F1")
    return rep
