"""Question sets: JSON Lines records (format in ``shared/README.md``) read and checked.

A QA question (``EvalQuestion``) carries its gold answers and, optionally, verbatim support
quotes; a retrieval-only question (``RetrievalQuery``, SciFact) carries the ids of its
relevant documents. Any fault in a file is a one-line ``QabotError`` naming its line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qabot.errors import QabotError

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


@dataclass(frozen=True)
class RetrievalQuery:
    """A retrieval-only question: its text and the ids of its relevant documents."""

    id: str
    text: str
    relevant: frozenset[str]


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
    except RecursionError:
        raise ValueError("not a question: JSON nested too deeply") from None
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
