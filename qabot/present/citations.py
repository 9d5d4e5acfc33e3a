"""How the sources of a turn are numbered: one rule for the CLI, the chat and the export.

Numbers run through the whole turn: [1] [2] under the first answer, [3] under the second.
When the corpus does not answer, the closest evidence is numbered instead, one piece a group.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from qabot.present.display import safe
from qabot.records import Answer, AskResult, Location

CLOSEST_EVIDENCE = 3  # retrieved paragraphs shown when the corpus does not answer


@dataclass(frozen=True)
class Source:
    """A numbered source: ``[number]`` and the place in the corpus it points to."""

    number: int
    place: Location  # a Citation of ``answer``, or an Evidence paragraph when abstaining
    answer: Answer | None = None  # None: closest evidence, shown as such, not as an answer

    @property
    def is_answer(self) -> bool:
        return self.answer is not None


def sources(result: AskResult) -> list[list[Source]]:
    """The numbered sources of each answer, in the order of ``result.answers``; when the
    corpus does not answer, the closest evidence, one group for each piece."""
    if result.abstained:
        closest = result.evidence[:CLOSEST_EVIDENCE]
        return [[Source(n, ev)] for n, ev in enumerate(closest, 1)]
    numbers = itertools.count(1)
    return [[Source(next(numbers), c, a) for c in a.citations] for a in result.answers]


def in_file(place: Location) -> str:
    """ " (page 3)" where a place of a PDF or Word file is in the file itself; else empty."""
    return f" ({safe(place.locator)})" if place.locator else ""
