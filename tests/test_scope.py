"""Which part of a question names its source, and so is left out of what the reader reads."""

from __future__ import annotations

import pytest

from qabot.answer.scope import without_source


@pytest.mark.parametrize(
    ("question", "read"),
    [
        ("Who met Sullivan, according to the AP report?", "Who met Sullivan?"),
        ("According to the arms-shipment article, what was held up?", "What was held up?"),
        ("In the Gantz article, who met Sullivan?", "Who met Sullivan?"),
        ("Who won, per the VOA story, and why?", "Who won, and why?"),
        ("What happened, according to the AP report.", "What happened."),
        (
            "Who met Sullivan, in the Gantz article, according to the AP report?",
            "Who met Sullivan?",
        ),
        ("Who, in the end, according to the AP report, won?", "Who, in the end, won?"),
    ],
)
def test_an_attribution_set_off_from_the_question_is_left_out(question: str, read: str) -> None:
    assert without_source(question) == read


@pytest.mark.parametrize(
    "question",
    [
        "What was found in the 2019 report?",  # the report is what it asks about
        "Who wrote the article on the spat?",
        "Which groups are named by the Annual Homeless Assessment Report?",
        "According to the UN report on famine, who starves?",
        "Who won according to the AP report and why?",  # not set off
        "Which figure is higher, in the UN report or the WHO report?",
        "What changed, in the 2023 report compared to the 2019 report?",
        "Who was killed, in the strike described in the Reuters report?",
        "In the Gantz article, who?",  # nothing would be left to ask
    ],
)
def test_a_source_the_question_is_about_stays(question: str) -> None:
    assert without_source(question) == question
