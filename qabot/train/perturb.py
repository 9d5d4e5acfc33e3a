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

A question is *turned* (``turn``) by SQuAD 2.0's next most common kinds: a negation put in
("In what year wasn't the bridge built?") where neither the question nor the sentence that
answers it denies anything, or a word swapped for its opposite ("last" for "first",
"smallest" for "largest") that the passage never uses. Either way the question stays on
the passage's very topic, and the passage no longer answers it. The rules are coarse: a
passage may deny something in another sentence, and a swap may leave a question its passage
still answers ("before he was ennobled") or one no person would write ("an beginning").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

from qabot.train.examples import TrainQuestion

TRIES = 8  # draws from the pool before a spot is given up on

# an auxiliary and its denial; a question's first word is left alone (a yes/no question)
DENIED = {
    "is": "isn't", "are": "aren't", "was": "wasn't", "were": "weren't", "do": "don't",
    "does": "doesn't", "did": "didn't", "can": "can't", "could": "couldn't", "will": "won't",
    "would": "wouldn't", "has": "hasn't", "have": "haven't", "had": "hadn't",
    "should": "shouldn't",
}  # fmt: skip
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nobody|nothing|nor|neither|without|cannot)\b|n[’']t\b", re.I
)
# opposites whose swap leaves a question the passage cannot answer when it never uses the
# new word (no verbs such as won/lost, where "X defeated Y" answers both)
_PAIRS = (
    "first last", "largest smallest", "larger smaller", "biggest smallest", "highest lowest",
    "higher lower", "most least", "more less", "earliest latest", "earlier later",
    "before after", "oldest youngest", "older younger", "longest shortest", "longer shorter",
    "best worst", "better worse", "maximum minimum", "north south", "east west",
    "northern southern", "eastern western", "northernmost southernmost", "above below",
    "inside outside", "major minor", "positive negative", "strongest weakest",
    "fastest slowest", "increase decrease", "increased decreased", "increases decreases",
    "top bottom", "richest poorest", "private public", "male female", "men women",
    "ancient modern", "internal external", "imports exports", "heaviest lightest",
    "hottest coldest", "wettest driest", "deepest shallowest", "closest farthest",
    "common rare", "legal illegal", "successful unsuccessful", "popular unpopular",
    "minimum maximum", "beginning end", "start end", "entrance exit", "upper lower",
)  # fmt: skip
OPPOSITES: dict[str, str] = {}
for _pair in _PAIRS:
    _a, _b = _pair.split()
    OPPOSITES.setdefault(_a, _b)
    OPPOSITES.setdefault(_b, _a)
_WORD = re.compile(r"[A-Za-z]+")
_IDIOM = re.compile(r"\b(?:no|any)\s+$", re.I)


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


def negated(q: TrainQuestion) -> str | None:
    """``q``'s question with its first auxiliary after the first word denied ("did" ->
    "didn't"); None when the question or the sentences that answer it already deny
    something, or it has no such auxiliary."""
    if _NEGATION.search(q.question) or _NEGATION.search(q.answer_sentences()):
        return None
    for m in _WORD.finditer(q.question):
        word = m.group().lower()
        if m.start() > 0 and word in DENIED:
            return q.question[: m.start()] + DENIED[word] + q.question[m.end() :]
    return None


def opposites(q: TrainQuestion) -> list[tuple[int, int, str]]:
    """The words of ``q``'s question with an opposite its passage never uses: (start, end,
    the opposite, capitalised as the word was)."""
    used = {w.lower() for w in _WORD.findall(q.context)}
    out = []
    for m in _WORD.finditer(q.question):
        new = OPPOSITES.get(m.group().lower())
        idiom = _IDIOM.search(q.question[: m.start()])  # "no longer", "any more"
        if new is not None and new not in used and idiom is None:
            new = new.capitalize() if m.group()[0].isupper() else new
            out.append((m.start(), m.end(), new))
    return out


def turn(q: TrainQuestion, rng: np.random.Generator) -> str | None:
    """``q``'s question with a word swapped for its opposite (one drawn from ``rng`` where
    several have one), else negated; None when neither applies. Opposites come first: a
    question can be negated five times as often, and a reader that saw mostly negations
    would learn that "n't" means no answer."""
    swaps = opposites(q)
    if swaps:
        a, b, new = swaps[int(rng.integers(len(swaps)))]
        return q.question[:a] + new + q.question[b:]
    return negated(q)


def turned_questions(held: list[TrainQuestion]) -> list[str | None]:
    """Each held-out question turned (None where it cannot be), the same on every call."""
    return [turn(q, np.random.default_rng([11, k])) for k, q in enumerate(held)]
