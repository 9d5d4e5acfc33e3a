"""The reader's training questions: SQuADShifts, each with its gold passage and the passages
qabot's own retrieval ranks highest for it that do not hold its answer (hard negatives).

Every set is indexed by qabot like any corpus (one file per paragraph, as the SQuAD
benchmarks are), so a negative is exactly what retrieval would hand the reader for that
question. A slice of the articles is held out, never trained on, for early stopping and for
every threshold the reader needs; its paragraphs are not used as negatives either.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from qabot.errors import QabotError
from qabot.measure.metrics import normalize_answer as normalize

SETS = {
    "new_wiki": "squadshifts/new_wiki_v1.0.json.gz",
    "reddit": "squadshifts/reddit_v1.0.json.gz",
    "amazon": "squadshifts/amazon_reviews_v1.0.json.gz",
}
# a sentence ends at . ! or ? (and any closing quotes or brackets) before white space
_SENTENCE_END = re.compile(r"[.!?][\"”’)\]]*\s+")
MIN_REST_CHARS = 100  # a passage cut down to less than this is no passage
HELD_OUT_PERCENT = 8  # of the articles (Reddit: of the paragraphs, it is one "article")
NEGATIVES = 6  # retrieved passages kept a question, best first
RETRIEVE = 12  # retrieval depth the negatives come from
FORMAT = 1


@dataclass(frozen=True)
class TrainQuestion:
    """A training question: its passage, the answer spans in it, and retrieved negatives."""

    id: str
    source: str  # the SQuADShifts set
    question: str
    context: str
    answers: tuple[tuple[int, int], ...]  # character spans in ``context``
    negatives: tuple[str, ...]
    held_out: bool

    def without_answer(self) -> str | None:
        """The passage with every sentence that holds a gold answer cut out: still on the
        question's topic, often naming things of the answer's kind, and no longer answering
        it (what SQuAD 2.0's unanswerable questions are like). None when too little is left
        or an answer still shows in what is."""
        rest = "".join(self._sentences(holding=False)).strip()
        text = normalize(rest)
        golds = {normalize(self.context[a:b]) for a, b in self.answers} - {""}
        if len(rest) < MIN_REST_CHARS or any(g in text for g in golds):
            return None
        return rest

    def answer_sentences(self) -> str:
        """The sentences of the passage that hold a gold answer."""
        return "".join(self._sentences(holding=True))

    def _sentences(self, holding: bool) -> list[str]:
        cuts = [0] + [m.end() for m in _SENTENCE_END.finditer(self.context)]
        cuts.append(len(self.context))
        return [
            self.context[a:b]
            for a, b in itertools.pairwise(cuts)
            if a < b and any(s < b and a < e for s, e in self.answers) == holding
        ]

    @staticmethod
    def from_dict(row: dict) -> TrainQuestion:
        return TrainQuestion(
            row["id"],
            row["source"],
            row["question"],
            row["context"],
            tuple((int(a), int(b)) for a, b in row["answers"]),
            tuple(row["negatives"]),
            bool(row["held_out"]),
        )


def data_root() -> Path:
    """``$QABOT_TRAIN``, else ``shared/train`` beside the checkout."""
    if os.environ.get("QABOT_TRAIN"):
        return Path(os.environ["QABOT_TRAIN"])
    return Path(__file__).resolve().parents[3] / "shared" / "train"


def _held_out(key: str) -> bool:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % 100 < HELD_OUT_PERCENT


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", title).strip("_")[:40] or "article"


@dataclass(frozen=True)
class _Paragraph:
    doc: str
    context: str
    qas: list[dict]
    held_out: bool


def _paragraphs(name: str, path: Path) -> list[_Paragraph]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    out = []
    for a, article in enumerate(data):
        for p, par in enumerate(article["paragraphs"]):
            key = f"{name}/{a}/{p}" if len(data) == 1 else f"{name}/{article['title']}"
            doc = f"{a:03d}_{_slug(article['title'])}/{p:04d}.txt"
            out.append(_Paragraph(doc, par["context"], par["qas"], _held_out(key)))
    return out


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def prepare(
    work: Path,
    root: Path | None = None,
    limit: int | None = None,
    say: Callable[[str], None] = print,
) -> list[TrainQuestion]:
    """Build (or reuse) the training questions under ``work``.

    ``limit`` keeps the first ``limit`` paragraphs of each set (for tests and smoke runs).
    """
    from qabot.api import QABot

    root = root or data_root()
    sources = {name: root / rel for name, rel in SETS.items()}
    for path in sources.values():
        if not path.is_file():
            raise QabotError(f"training data not found: {path}")
    from qabot.ingest.embedding import model_id

    stamp = {
        "format": FORMAT,
        "sources": {n: _sha256(p) for n, p in sources.items()},
        "retrieval_model": model_id(),
        "limit": limit,
        "held_out_percent": HELD_OUT_PERCENT,
    }
    folder = work / ("examples" if limit is None else f"examples-limit{limit}")
    out_file = folder / "questions.jsonl.gz"
    stamp_file = folder / "stamp.json"
    if (
        out_file.is_file()
        and stamp_file.is_file()
        and json.loads(stamp_file.read_text(encoding="utf-8")) == stamp
    ):
        return load(out_file)
    questions: list[TrainQuestion] = []
    for name, path in sources.items():
        paragraphs = _paragraphs(name, path)[:limit]
        seeds = folder / name / "seeds"
        for par in paragraphs:
            file = seeds / par.doc
            file.parent.mkdir(parents=True, exist_ok=True)
            if not file.is_file() or file.read_text(encoding="utf-8") != par.context:
                file.write_text(par.context, encoding="utf-8", newline="")
        say(f"{name}: indexing {len(paragraphs)} paragraphs")
        bot = QABot(seeds, folder / name / "index", backend="local")  # training is local
        held = {par.doc for par in paragraphs if par.held_out}
        n = sum(len(par.qas) for par in paragraphs)
        say(f"{name}: retrieving negatives for {n} questions")
        for par in paragraphs:
            for qa in par.qas:
                q = _question(bot, name, par, qa, held)
                if q is not None:
                    questions.append(q)
    _write(out_file, questions)
    stamp_file.write_text(json.dumps(stamp, indent=1), encoding="utf-8")
    return questions


def _question(bot, name: str, par: _Paragraph, qa: dict, held: set[str]) -> TrainQuestion | None:
    spans = []
    for ans in qa["answers"]:
        start = int(ans["answer_start"])
        end = start + len(ans["text"])
        if ans["text"].strip() and par.context[start:end] == ans["text"]:
            spans.append((start, end))
    spans = sorted(set(spans))
    if not spans or not qa["question"].strip():
        return None
    golds = {normalize(par.context[a:b]) for a, b in spans} - {""}
    negatives = []
    for ev in bot.retrieve(qa["question"], k=RETRIEVE):
        if ev.doc == par.doc or ev.doc in held:
            continue
        text = normalize(ev.text)
        if any(g in text for g in golds):  # it may hold the answer after all
            continue
        negatives.append(ev.text)
        if len(negatives) == NEGATIVES:
            break
    return TrainQuestion(
        qa["id"], name, qa["question"], par.context, tuple(spans), tuple(negatives), par.held_out
    )


def _write(path: Path, questions: list[TrainQuestion]) -> None:
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        for q in questions:
            fh.write(json.dumps(asdict(q), ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def load(path: Path) -> list[TrainQuestion]:
    return list(_rows(path))


def _rows(path: Path) -> Iterator[TrainQuestion]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield TrainQuestion.from_dict(json.loads(line))
