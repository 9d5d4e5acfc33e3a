"""Training groups: one question over several passage windows, with its targets.

A group is what the reader sees for one question at answer time: some passages, maybe one
holding the answer. Its loss normalises start and end scores over *all* its windows at once
(shared normalisation, Clark & Gardner 2018), so scores mean the same across passages. The
target is the gold span (every gold answer in the window counts), or, for a group whose
passages do not hold the answer, the no-answer position ([CLS]) of any window. A group
without the answer may read the gold passage with the answer's sentences cut out: the
hardest "not here", a passage on the very topic of the question. Or it may ask a changed
question over the gold passage (``perturb``): a name or number swapped for one the passage
never mentions, as SQuAD 2.0's unanswerable questions are written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qabot.answer.reader_inputs import Window, WindowMaker, token_span
from qabot.train.examples import TrainQuestion


@dataclass(frozen=True)
class Plan:
    """Which question, and which of its passages, a group is made of."""

    question: int
    answerable: bool
    negatives: tuple[int, ...]
    answer_removed: bool = False  # also read the gold passage with its answer cut out
    perturbed: str = ""  # a changed question, asked of the gold passage, that it does not answer


@dataclass(frozen=True)
class Group:
    windows: list[Window]
    starts: list[tuple[int, int]]  # (window, position) of gold starts; [] = no answer
    ends: list[tuple[int, int]]

    @property
    def answerable(self) -> bool:
        return bool(self.starts)


def make_group(q: TrainQuestion, plan: Plan, maker: WindowMaker) -> Group | None:
    """The group a plan describes; None when the gold span fits no window."""
    negatives = [q.negatives[i] for i in plan.negatives]
    if plan.answer_removed:
        rest = q.without_answer()
        if rest is None:
            raise ValueError(f"question {q.id} has no passage without its answer")
        negatives.insert(0, rest)
    if plan.perturbed:
        negatives.insert(0, q.context)
    question = plan.perturbed or q.question
    texts = [question, *([q.context] if plan.answerable else []), *negatives]
    encs = maker.encode(texts)
    q_ids = encs[0].ids[: maker.config.max_question_tokens]
    windows: list[Window] = []
    starts: list[tuple[int, int]] = []
    ends: list[tuple[int, int]] = []
    rest = encs[1:]
    if plan.answerable:
        gold = rest[0]
        first = token_span(gold.offsets, *q.answers[0])
        if first is None:
            return None
        found = maker.passage_windows(q_ids, 0, gold.ids, gold.offsets, only=first)
        if not found:
            return None
        w = found[0]
        for a, b in q.answers:
            if w.offsets[0][0] <= a and b <= w.offsets[-1][1]:
                span = token_span(w.offsets, a, b)
                if span is not None:
                    starts.append((0, w.first + span[0]))
                    ends.append((0, w.first + span[1]))
        windows.append(w)
        rest = rest[1:]
    for k, enc in enumerate(rest, start=len(windows)):
        if enc.ids:
            windows.append(maker.passage_windows(q_ids, k, enc.ids, enc.offsets)[0])
    if not windows:
        return None
    return Group(windows, sorted(set(starts)), sorted(set(ends)))


@dataclass(frozen=True)
class Batch:
    """Padded arrays for a list of groups."""

    ids: np.ndarray  # [rows, width] int64
    type_ids: np.ndarray
    mask: np.ndarray  # attention mask
    allowed: np.ndarray  # bool: may start or end an answer
    groups: list[tuple[int, int, list[int], list[int]]]  # rows [r0, r1), flat targets

    @property
    def rows(self) -> int:
        return int(self.ids.shape[0])


def collate(groups: list[Group]) -> Batch:
    windows = [w for g in groups for w in g.windows]
    width = max(len(w.ids) for w in windows)
    ids = np.zeros((len(windows), width), dtype=np.int64)
    type_ids = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    allowed = np.zeros((len(windows), width), dtype=bool)
    for r, w in enumerate(windows):
        n = len(w.ids)
        ids[r, :n] = w.ids
        type_ids[r, :n] = w.type_ids
        mask[r, :n] = 1
        allowed[r, 0] = True
        allowed[r, w.first : w.first + w.passage_tokens] = True
    spec = []
    r0 = 0
    for g in groups:
        r1 = r0 + len(g.windows)
        if g.answerable:
            s = [k * width + pos for k, pos in g.starts]
            e = [k * width + pos for k, pos in g.ends]
        else:
            s = e = [k * width for k in range(len(g.windows))]
        spec.append((r0, r1, s, e))
        r0 = r1
    return Batch(ids, type_ids, mask, allowed, spec)
