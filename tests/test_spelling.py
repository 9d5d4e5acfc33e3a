"""Spelling variants from the bucketed vocabulary equal a scan of every word."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from qabot.search import tokens
from qabot.search.spelling import Spelling

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
VOCABULARY = list(
    dict.fromkeys(w for f in sorted(SEEDS.iterdir()) for w in tokens.words(f.read_text()))
)
SPELLING = Spelling(VOCABULARY)


def scan(word: str, max_edits: int, limit: int = 8) -> list[tuple[str, int]]:
    """The definition: every alphabetic vocabulary word but ``word`` within ``max_edits``
    (one edit when the first letter differs), nearest first, then in vocabulary order."""
    found = []
    for i, cand in enumerate(VOCABULARY):
        if not cand.isalpha() or cand == word:
            continue
        dist = Levenshtein.distance(word, cand)
        if dist <= max_edits and (cand[0] == word[0] or dist <= 1):
            found.append((dist, i, cand))
    return [(cand, dist) for dist, _, cand in sorted(found)[:limit]]


def _typo(word: str, rng: np.random.Generator) -> str:
    """One or two random edits anywhere, the first letter included."""
    for _ in range(int(rng.integers(1, 3))):
        i = int(rng.integers(0, len(word) + 1))
        c = "abcdefghijklmnopqrstuvwxyz"[int(rng.integers(0, 26))]
        kind = int(rng.integers(0, 3))
        word = word[:i] + c + word[i:] if kind == 0 else word[:i] + c + word[i + 1 :]
        if kind == 2 and len(word) > 1:
            word = word[:i] + word[i + 1 :]
    return word or "x"


def test_the_seeds_words_and_their_typos_match_the_full_scan() -> None:
    rng = np.random.default_rng(7)
    words = [w for w in VOCABULARY if w.isalpha() and len(w) >= 4]
    assert len(words) > 500
    checked = with_variants = 0
    for word in words[:400] + [_typo(w, rng) for w in words[:600]]:
        for max_edits in (1, 2):
            got = SPELLING.near(word, max_edits)
            assert got == scan(word, max_edits), word
            checked += 1
            with_variants += bool(got)
    assert with_variants > checked // 4  # the cases are not all empty


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="gazrfhiulstne", min_size=1, max_size=9), st.integers(1, 2))
def test_any_word_matches_the_full_scan(word: str, max_edits: int) -> None:
    assert SPELLING.near(word, max_edits) == scan(word, max_edits)
