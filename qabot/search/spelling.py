"""Corpus words within a few edits of a query word ("Galant" -> "gallant", "Austen" ->
"austin"), found without scanning the whole vocabulary.

A big archive has hundreds of thousands of distinct words, and a question has several words
to look up: a Levenshtein scan of all of them took ~13 ms a question at 16k words, so ~0.4 s at
a million paragraphs. Two facts make the scan small:

* a word whose first letter differs is only accepted one edit away, and such a word is one
  edit *at the front* (a different first letter, or one added or dropped there), so three
  exact look-ups find all of them;
* every other candidate shares the first letter, and is at most ``max_edits`` longer or
  shorter, so only those (first letter, length) buckets are scanned.
"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein


class Spelling:
    """The alphabetic words of a vocabulary, bucketed for ``near``."""

    def __init__(self, vocabulary: Iterable[str]) -> None:
        self.order: dict[str, int] = {}  # word -> position in the vocabulary (ties)
        self.by_head: dict[tuple[str, int], list[str]] = {}  # (first letter, length)
        self.by_tail: dict[str, list[str]] = {}  # word without its first letter
        for i, word in enumerate(vocabulary):
            if not word.isalpha() or word in self.order:
                continue
            self.order[word] = i
            self.by_head.setdefault((word[0], len(word)), []).append(word)
            self.by_tail.setdefault(word[1:], []).append(word)

    def near(self, word: str, max_edits: int, limit: int = 8) -> list[tuple[str, int]]:
        """Up to ``limit`` other alphabetic words at most ``max_edits`` edits from ``word``
        (one edit if the first letter differs), nearest first, then in vocabulary order."""
        if not word:
            return []
        found: dict[str, int] = {}
        for length in range(len(word) - max_edits, len(word) + max_edits + 1):
            bucket = self.by_head.get((word[0], length))
            if bucket:
                for cand, dist, _ in process.extract(
                    word, bucket, scorer=Levenshtein.distance, score_cutoff=max_edits, limit=None
                ):
                    found[cand] = int(dist)
        front = [*self.by_tail.get(word[1:], ()), *self.by_tail.get(word, ())]
        if word[1:] in self.order:
            front.append(word[1:])
        for cand in front:  # another first letter, or one added or dropped: one edit
            found.setdefault(cand, 1)
        found.pop(word, None)
        return sorted(found.items(), key=lambda item: (item[1], self.order[item[0]]))[:limit]
