"""The reader's thresholds, set on held-out training questions only.

Each held-out question is read as qabot reads at answer time (``passages`` passages): with
its gold passage among retrieved negatives (it should answer), with the negatives alone
(the corpus does not answer: it should abstain), and with the gold passage cut of its
answer's sentences beside the negatives (it should abstain too: the hardest case, a passage
on the very topic that does not answer), and changed so that a name or number of the question
is one its gold passage never mentions, or turned (a word swapped for its opposite, or a
negation put in; ``perturb.turn``): it should abstain (SQuAD 2.0's kinds of question).

* ``abstain_margin``: the highest margin (best span over no-answer, log-odds) at which the
  reader still answers all but ``FALSE_ABSTENTION`` of the questions whose gold passage it
  reads. A bound on refusing answerable questions, not the margin that maximises SQuAD
  2.0's F1: that optimum sits where a third of answerable questions are refused, which is
  not a bot people keep asking.
* ``conflict_logp``: held-out questions have one answer, so a rival fact the reader finds
  in another passage is a false conflict. The threshold is the lowest log-probability at
  which answered questions show a rival no more than ``FALSE_CONFLICT`` of the time,
  found by grouping spans exactly as answering does (``facts.find``), each passage taken
  as its own document (the strict case: answering needs a rival from another document).

Synthetic conflicts (the gold passage beside a copy with another answer put in the
answer's place) measure how many real disagreements that threshold still catches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qabot.answer import facts
from qabot.answer.reader import Reader, Thresholds
from qabot.answer.reader_inputs import Reading
from qabot.measure.metrics import normalize_answer as normalize
from qabot.measure.metrics import token_f1 as f1
from qabot.train.examples import TrainQuestion
from qabot.train.perturb import perturbed_questions, turned_questions

FALSE_ABSTENTION = 0.10
FALSE_CONFLICT = 0.02
COARSE, FINE = 0.25, 0.05  # steps of the search for conflict_logp (log-probability)
LOWEST = -15.0


@dataclass(frozen=True)
class Calibration:
    thresholds: Thresholds
    report: dict[str, float]


def has_rival(reading: Reading, passages: list[str], confident: float) -> bool:
    """Whether answering at ``confident`` would show a rival fact (a conflict)."""
    docs = [str(k) for k in range(len(passages))]
    return facts.find(reading.spans, passages, docs, confident)[1] is not None


def abstain_margin(answerable: np.ndarray) -> float:
    """The highest margin below which at most ``FALSE_ABSTENTION`` of ``answerable``
    margins fall."""
    ordered = np.sort(answerable)
    return float(ordered[min(len(ordered) - 1, int(FALSE_ABSTENTION * len(ordered)))])


def conflict_logp(readings: list[tuple[Reading, list[str]]]) -> float:
    """The lowest log-probability, scanned down from 0, before which rivals show on more
    than ``FALSE_CONFLICT`` of ``readings`` (coarse steps, then fine ones)."""

    def rate(t: float) -> float:
        return float(np.mean([has_rival(r, texts, t) for r, texts in readings]))

    if not readings:
        return 0.0
    good = 0.0
    for step in (COARSE, FINE):
        t = good - step
        while t >= LOWEST and rate(t) <= FALSE_CONFLICT:
            good, t = t, t - step
        if t < LOWEST:
            break
    return round(good, 4)


def calibrate(
    reader: Reader,
    held: list[TrainQuestion],
    passages: int,
    say: Callable[[str], None] = print,
) -> Calibration:
    margins_ans, f1s, margins_none, margins_cut, margins_changed = [], [], [], [], []
    margins_turned: list[float] = []
    readings: list[tuple[Reading, list[str]]] = []
    kinds = zip(perturbed_questions(held), turned_questions(held), strict=True)
    for n, (q, (changed, turned)) in enumerate(zip(held, kinds, strict=True)):
        golds = [q.context[a:b] for a, b in q.answers]
        with_gold = [q.context, *q.negatives[: passages - 1]]
        r = reader.read(q.question, with_gold)
        best = r.spans[0] if r.spans else None
        margins_ans.append(r.margin)
        f1s.append(f1(with_gold[best.passage][best.start : best.end], golds) if best else 0.0)
        readings.append((r, with_gold))
        if q.negatives:
            margins_none.append(reader.read(q.question, list(q.negatives[:passages])).margin)
        rest = q.without_answer()
        if rest is not None:
            cut = [rest, *q.negatives[: passages - 1]]
            margins_cut.append(reader.read(q.question, cut).margin)
        if changed is not None:
            margins_changed.append(reader.read(changed, with_gold).margin)
        if turned is not None:
            margins_turned.append(reader.read(turned, with_gold).margin)
        if (n + 1) % 200 == 0:
            say(f"calibrating: {n + 1}/{len(held)} held-out questions read")
    m_ans, m_none = np.array(margins_ans), np.array(margins_none)
    f1_arr = np.array(f1s)
    tau = abstain_margin(m_ans)
    answered = m_ans >= tau
    kept = [x for x, a in zip(readings, answered, strict=True) if a]
    confident = conflict_logp(kept)
    thresholds = Thresholds(abstain_margin=round(tau, 4), conflict_logp=confident)
    rivals = [has_rival(r, texts, confident) for r, texts in kept]
    squad2 = (np.sum(f1_arr * answered) + np.sum(m_none < tau)) / (len(m_ans) + len(m_none))
    report = {
        "held_out_questions": len(held),
        "f1_answered_or_abstained": round(100 * float(squad2), 2),
        "f1_gold_among_negatives": round(100 * float(np.mean(f1_arr)), 2),
        "false_abstention": round(100 * float(np.mean(~answered)), 2),
        "abstain_recall": round(100 * float(np.mean(m_none < tau)), 2),
        "abstain_recall_answer_removed": _below(margins_cut, tau),
        "abstain_recall_perturbed": _below(margins_changed, tau),
        "abstain_recall_turned": _below(margins_turned, tau),
        "false_conflict": round(100 * float(np.mean(rivals)), 2) if rivals else 0.0,
        "synthetic_conflicts_caught": round(
            100 * _synthetic_conflicts(reader, held, passages, thresholds), 2
        ),
    }
    return Calibration(thresholds, report)


def _below(margins: list[float], tau: float) -> float:
    """Percent of ``margins`` below ``tau`` (abstained on); 0 when there are none."""
    return round(100 * float(np.mean(np.array(margins) < tau)), 2) if margins else 0.0


def _synthetic_conflicts(
    reader: Reader, held: list[TrainQuestion], passages: int, thresholds: Thresholds
) -> float:
    """Share of made-up disagreements flagged: the gold passage and a copy of it whose
    answer is replaced by another held-out question's answer of the same shape."""
    pool: dict[str, list[str]] = {}
    for q in held:
        a, b = q.answers[0]
        pool.setdefault(_shape(q.context[a:b]), []).append(q.context[a:b])
    rng = np.random.default_rng(7)
    caught = tried = 0
    for q in held[:300]:
        a, b = q.answers[0]
        answer = q.context[a:b]
        others = [x for x in pool.get(_shape(answer), []) if normalize(x) != normalize(answer)]
        if not others:
            continue
        other = others[int(rng.integers(len(others)))]
        changed = q.context[:a] + other + q.context[b:]
        texts = [q.context, changed, *q.negatives[: passages - 2]]
        r = reader.read(q.question, texts)
        tried += 1
        if r.margin >= thresholds.abstain_margin:
            caught += int(has_rival(r, texts, thresholds.conflict_logp))
    return caught / tried if tried else 0.0


def _shape(text: str) -> str:
    """A coarse kind of answer: a number, a capitalised name, or a phrase, by length."""
    words = text.split()
    if any(ch.isdigit() for ch in text):
        kind = "num"
    elif all(w[:1].isupper() for w in words):
        kind = "name"
    else:
        kind = "phrase"
    return f"{kind}{min(len(words), 4)}"
