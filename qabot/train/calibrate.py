"""The reader's thresholds, set on held-out training questions only.

Each held-out question is read twice, as qabot reads at answer time (``passages`` passages):
with its gold passage among retrieved negatives (it should answer), and with the negatives
alone (the corpus does not answer: it should abstain).

* ``abstain_margin``: the margin (best span over no-answer, log-odds) that maximises
  SQuAD 2.0's F1 over both readings: an answer scores its F1, a right abstention 1.
* ``conflict_logp``: held-out questions have one answer, so any second fact the reader
  finds in another passage is a false conflict; the threshold keeps those to
  ``FALSE_CONFLICT`` of the answered questions.

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

FALSE_CONFLICT = 0.02


@dataclass(frozen=True)
class Calibration:
    thresholds: Thresholds
    report: dict[str, float]


def _rival_logp(reading: Reading, passages: list[str]) -> float:
    found = facts.group(reading.spans, passages, float("-inf"))
    other = facts.rival(found, [str(k) for k in range(len(passages))], float("-inf"))
    return other.logp if other is not None else float("-inf")


def calibrate(
    reader: Reader,
    held: list[TrainQuestion],
    passages: int,
    say: Callable[[str], None] = print,
) -> Calibration:
    margins_ans, f1s, margins_none, rivals = [], [], [], []
    for n, q in enumerate(held):
        golds = [q.context[a:b] for a, b in q.answers]
        with_gold = [q.context, *q.negatives[: passages - 1]]
        r = reader.read(q.question, with_gold)
        best = r.spans[0] if r.spans else None
        margins_ans.append(r.margin)
        f1s.append(f1(with_gold[best.passage][best.start : best.end], golds) if best else 0.0)
        rivals.append(_rival_logp(r, with_gold))
        if q.negatives:
            margins_none.append(reader.read(q.question, list(q.negatives[:passages])).margin)
        if (n + 1) % 200 == 0:
            say(f"calibrating: {n + 1}/{len(held)} held-out questions read")
    m_ans, m_none = np.array(margins_ans), np.array(margins_none)
    f1_arr = np.array(f1s)
    candidates = np.unique(np.concatenate([m_ans, m_none, [np.inf]]))
    best_tau, best_score = 0.0, -1.0
    for tau in candidates[np.isfinite(candidates)]:
        score = (np.sum(f1_arr * (m_ans >= tau)) + np.sum(m_none < tau)) / (
            len(m_ans) + len(m_none)
        )
        if score > best_score:
            best_tau, best_score = float(tau), float(score)
    answered = m_ans >= best_tau
    rival_arr = np.array(rivals)[answered]
    finite = rival_arr[np.isfinite(rival_arr)]
    conflict = float(np.quantile(rival_arr, 1 - FALSE_CONFLICT)) if len(finite) else 0.0
    if not np.isfinite(conflict):
        conflict = float(np.max(finite)) if len(finite) else 0.0
    thresholds = Thresholds(abstain_margin=round(best_tau, 4), conflict_logp=round(conflict, 4))
    report = {
        "held_out_questions": len(held),
        "f1_answered_or_abstained": round(100 * best_score, 2),
        "f1_gold_among_negatives": round(100 * float(np.mean(f1_arr)), 2),
        "false_abstention": round(100 * float(np.mean(~answered)), 2),
        "abstain_recall": round(100 * float(np.mean(m_none < best_tau)), 2),
        "false_conflict": round(100 * float(np.mean(rival_arr >= conflict)), 2),
        "synthetic_conflicts_caught": round(
            100 * _synthetic_conflicts(reader, held, passages, thresholds), 2
        ),
    }
    return Calibration(thresholds, report)


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
        if r.margin < thresholds.abstain_margin:
            tried += 1
            continue
        tried += 1
        caught += int(_rival_logp(r, texts) >= thresholds.conflict_logp)
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
