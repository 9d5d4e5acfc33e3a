"""Turned questions (``perturb.turn``): real SQuADShifts questions with a word swapped for an
opposite their passage never uses, or a negation put in, so that the passage no longer
answers them. Entity swaps, which need spaCy, are tested in test_train.py."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import replace

import numpy as np
import pytest

from qabot.train.examples import SETS, TrainQuestion, data_root
from qabot.train.perturb import DENIED, OPPOSITES, negated, opposites, turn, turned_questions

_NEGATION = re.compile(r"\b(?:not|no|never|none|nor|without|cannot)\b|n[’']t\b", re.I)


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)}


@pytest.fixture(scope="module")
def questions() -> list[TrainQuestion]:
    """The questions of the first five new-Wikipedia articles, with their gold spans."""
    with gzip.open(data_root() / SETS["new_wiki"], "rt", encoding="utf-8") as fh:
        articles = json.load(fh)["data"][:5]
    out = []
    for article in articles:
        for par in article["paragraphs"]:
            for qa in par["qas"]:
                a = qa["answers"][0]
                span = (a["answer_start"], a["answer_start"] + len(a["text"]))
                out.append(
                    TrainQuestion(
                        qa["id"], "new_wiki", qa["question"], par["context"], (span,), (), False
                    )
                )
    return out


def _one_word_changed(old: str, new: str) -> tuple[str, str]:
    """The word of ``old`` that ``new`` replaces, and what replaces it."""
    a = 0
    while a < min(len(old), len(new)) and old[a] == new[a]:
        a += 1
    while a > 0 and old[a - 1].isalpha():
        a -= 1
    b = 0
    while b < min(len(old), len(new)) - a and old[-1 - b] == new[-1 - b]:
        b += 1
    while b > 0 and old[len(old) - b].isalpha():
        b -= 1
    return old[a : len(old) - b], new[a : len(new) - b]


def test_a_turned_question_denies_or_reverses_what_its_passage_says(questions) -> None:
    turned = turned_questions(questions)
    assert turned == turned_questions(questions)  # the same draw every time
    assert sum(t is not None for t in turned) >= len(questions) // 2
    kinds = set()
    for q, t in zip(questions, turned, strict=True):
        if t is None:
            continue
        old, new = _one_word_changed(q.question, t)
        if DENIED.get(old.lower()) == new:
            kinds.add("negation")
            # nothing was denied before, in the question or where the passage answers it
            assert not _NEGATION.search(q.question), q.question
            assert not _NEGATION.search(q.answer_sentences()), q.answer_sentences()
            assert not q.question.startswith(old)  # a yes/no question stays as it is
            assert not opposites(q)  # an opposite, where there is one, comes first
        else:
            kinds.add("opposite")
            assert OPPOSITES[old.lower()] == new.lower(), (q.question, t)
            assert new.lower() not in _words(q.context)
    assert kinds == {"negation", "opposite"}


def test_an_opposite_the_passage_uses_is_no_turn(questions) -> None:
    q = next(q for q in questions if opposites(q))
    for _, _, new in opposites(q):
        said = replace(q, context=q.context + f" It was the {new} one.")
        assert new.lower() not in {n.lower() for _, _, n in opposites(said)}


def test_a_question_that_denies_already_is_not_negated(questions) -> None:
    q = next(q for q in questions if negated(q) is not None)
    a, b = q.answers[0]
    # the sentence that answers it now denies something
    moved = replace(q, context=q.context[:a] + "never " + q.context[a:], answers=((a + 6, b + 6),))
    assert negated(moved) is None
    assert negated(replace(q, question=q.question.rstrip("?") + " or not?")) is None


def test_idioms_keep_their_words() -> None:
    q = TrainQuestion(
        "x",
        "amazon",
        "What type of spoons are no longer used?",
        "Wooden spoons went out of fashion when steel ones came in.",
        ((0, 13),),
        (),
        False,
    )
    assert opposites(q) == []
    assert turn(q, np.random.default_rng(0)) is None  # and it already denies: not negated


def test_an_opposite_keeps_the_capital_of_the_word_it_replaces() -> None:
    q = TrainQuestion(
        "x",
        "new_wiki",
        "Northern Ireland's capital is which city?",
        "Belfast is the capital of Northern Ireland.",
        ((0, 7),),
        (),
        False,
    )
    assert turn(q, np.random.default_rng(0)) == "Southern Ireland's capital is which city?"
