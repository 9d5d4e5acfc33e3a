"""The rules that set the reader's thresholds on held-out questions."""

from __future__ import annotations

import numpy as np

from qabot.answer.reader_inputs import Reading, SpanScore
from qabot.train.calibrate import (
    FALSE_ABSTENTION,
    FALSE_CONFLICT,
    FINE,
    abstain_margin,
    conflict_logp,
    has_rival,
)

PASSAGES = ["The bridge opened in 1932.", "The bridge opened in 1958."]


def _reading(rival_logp: float) -> tuple[Reading, list[str]]:
    """The best answer "1932" in the first passage, a rival "1958" in the second."""
    best = SpanScore(0, 21, 25, -0.5)
    other = SpanScore(1, 21, 25, rival_logp)
    return Reading([best, other], -6.0), PASSAGES


def test_the_abstain_margin_refuses_at_most_the_allowed_share() -> None:
    margins = np.random.default_rng(0).normal(2.0, 3.0, size=2000)
    tau = abstain_margin(margins)
    assert np.mean(margins < tau) <= FALSE_ABSTENTION
    # the highest such margin: the next one up refuses more
    above = np.min(margins[margins > tau])
    assert np.mean(margins < above) > FALSE_ABSTENTION


def test_the_conflict_threshold_is_the_lowest_that_keeps_false_rivals_rare() -> None:
    rivals = np.random.default_rng(1).uniform(-12.0, -1.0, size=400)
    readings = [_reading(float(x)) for x in rivals]
    t = conflict_logp(readings)

    def rate(x: float) -> float:
        return float(np.mean([has_rival(r, p, x) for r, p in readings]))

    assert rate(t) <= FALSE_CONFLICT < rate(t - FINE)
    # with these readings, a rival shows exactly when it reaches the threshold
    assert rate(t) == np.mean(rivals >= t)


def test_no_rival_is_found_in_readings_without_one() -> None:
    readings = [(Reading([SpanScore(0, 21, 25, -0.5)], -6.0), PASSAGES)] * 10
    assert not any(has_rival(r, p, -20.0) for r, p in readings)
    assert conflict_logp(readings) <= -14.0
