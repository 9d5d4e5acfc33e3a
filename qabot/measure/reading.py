"""The reader alone: each question read with its gold paragraph and nothing else (SQuAD's
reading-comprehension setting), scored by SQuAD's exact match and F1 of the best span.

No retrieval and no abstention: this measures the span model, the number published readers
report, apart from the pipeline around it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qabot.errors import QabotError
from qabot.ingest.loading import read_file_text
from qabot.measure.metrics import exact_match, token_f1
from qabot.measure.questions import EvalQuestion
from qabot.measure.reports import run_info
from qabot.records import Progress

if TYPE_CHECKING:
    from qabot.answer.reader import Reader


@dataclass
class ReadingReport:
    name: str
    questions: int
    exact_match: float  # percent
    f1: float  # percent
    questions_per_second: float
    notes: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=run_info)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": "reader alone, gold paragraph given",
            "questions": self.questions,
            "exact_match": self.exact_match,
            "f1": self.f1,
            "questions_per_second": self.questions_per_second,
            "notes": self.notes,
            "run": self.run,
        }


def evaluate_reader(
    reader: Reader,
    questions: Sequence[EvalQuestion],
    seeds_dir: Path,
    name: str,
    progress: Progress | None = None,
) -> ReadingReport:
    """Read each answerable question with the file of its first supporting quote."""
    asked = [q for q in questions if q.answers and q.support]
    if not asked:
        raise QabotError(f"{name}: no answerable question with a supporting passage")
    texts: dict[str, str] = {}
    em = f1 = 0.0
    started = time.perf_counter()
    for n, q in enumerate(asked):
        doc = q.support[0].doc
        if doc not in texts:
            texts[doc] = read_file_text(seeds_dir, doc)
        reading = reader.read(q.question, [texts[doc]])
        best = reading.spans[0] if reading.spans else None
        text = texts[doc][best.start : best.end] if best else ""
        em += exact_match(text, q.answers)
        f1 += token_f1(text, q.answers)
        if progress is not None:
            progress("reading", n + 1, len(asked))
    seconds = time.perf_counter() - started
    return ReadingReport(
        name,
        len(asked),
        round(100 * em / len(asked), 2),
        round(100 * f1 / len(asked), 2),
        round(len(asked) / seconds, 1),
    )


def format_reading(report: ReadingReport) -> str:
    lines = [
        f"{report.name}: the reader alone, gold paragraph given ({report.questions:,} questions)",
        f"  exact match {report.exact_match:.2f}   F1 {report.f1:.2f}   "
        f"{report.questions_per_second:.1f} questions/s",
        *(f"  {n}" for n in report.notes),
        f"  run {report.run.get('date')} on {report.run.get('commit')}",
    ]
    return "\n".join(lines)
