"""Questions changed so that their own passage no longer answers them.

SQuAD 2.0's unanswerable questions are written against the very paragraph they are asked
of, most often by putting another name, place or date in a question the paragraph would
answer. A reader that has seen only answerable questions over their gold passage learns
that its gold passage always answers; one that has also seen "Who founded Oracle in 1985?"
over a passage saying 1977 learns to check what the question pins down.

A question is changed by swapping one named entity that it shares with its passage for an
entity of the same kind (spaCy's label: a person for a person, a date for a date) that
another training question names and the passage never mentions. The swap is drawn from a
seeded generator, so a batch plan that holds a changed question is the same on every run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from qabot.train.examples import TrainQuestion

TRIES = 8  # draws from the pool before a spot is given up on


@dataclass(frozen=True)
class Swaps:
    """For each question, the entities it shares with its passage; and every such entity
    by label, sorted, to draw replacements from."""

    spots: tuple[tuple[tuple[int, int, str], ...], ...]
    pool: dict[str, tuple[str, ...]]

    def can_perturb(self, k: int) -> bool:
        return bool(self.spots[k])

    def perturb(self, k: int, q: TrainQuestion, rng: np.random.Generator) -> str | None:
        """Question ``k`` (``q``) with one of its entities swapped for one of the same
        label that its passage does not hold; None when none can be swapped."""
        spots = self.spots[k]
        lowered = q.context.lower()
        for i in rng.permutation(len(spots)).tolist():
            a, b, label = spots[i]
            old = q.question[a:b]
            pool = self.pool.get(label, ())
            for _ in range(TRIES if len(pool) > 1 else 0):
                new = pool[int(rng.integers(len(pool)))]
                if new.lower() not in lowered and new.lower() != old.lower():
                    if q.question[:a].lower().endswith("the ") and new.lower().startswith("the "):
                        new = new[4:]
                    return q.question[:a] + new + q.question[b:]
        return None


_CACHE: dict[str, Swaps] = {}


def swaps(questions: list[TrainQuestion]) -> Swaps:
    """The swaps of ``questions`` (spaCy reads each question once a process)."""
    key = hashlib.sha256("\0".join(q.id + q.question for q in questions).encode()).hexdigest()
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = _find(questions)
    return _CACHE[key]


def _find(questions: list[TrainQuestion]) -> Swaps:
    from qabot.ingest.annotation import entities_of

    spots = []
    found: dict[str, set[str]] = {}
    for q, ents in zip(questions, entities_of([q.question for q in questions]), strict=True):
        shared = []
        for e in ents:
            text = q.question[e.start : e.end]
            # not the question's first word; not "half" or "one" (more idiom than number)
            if e.label == "CARDINAL" and not any(ch.isdigit() for ch in text):
                continue
            if e.start > 0 and text.lower() in q.context.lower():
                shared.append((e.start, e.end, e.label))
                found.setdefault(e.label, set()).add(text)
        spots.append(tuple(shared))
    return Swaps(tuple(spots), {label: tuple(sorted(s)) for label, s in found.items()})


def perturbed_questions(held: list[TrainQuestion]) -> list[str | None]:
    """Each held-out question changed so that its gold passage does not answer it (None
    where it cannot be), the same on every call: what the held-out checks refuse."""
    found = swaps(held)
    return [found.perturb(k, q, np.random.default_rng([7, k])) for k, q in enumerate(held)]
