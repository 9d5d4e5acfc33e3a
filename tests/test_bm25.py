"""The sparse BM25 engine reproduces rank-bm25's BM25Okapi scores (the definition)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from qabot.ingest.cleaning import clean
from qabot.ingest.loading import Document, read_document, scan
from qabot.search import tokens
from qabot.search.bm25 import BM25Matrix

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _seed_terms() -> list[list[str]]:
    stats, _ = scan(SEEDS)
    out: list[list[str]] = []
    for stat in stats:
        doc = read_document(stat)
        assert isinstance(doc, Document)
        out.extend(tokens.terms(doc.text[b.start : b.end]) for b in clean(doc))
    return out


def _assert_same(corpus: list[list[str]], queries: list[list[str]]) -> None:
    ref = BM25Okapi(corpus)
    ours = BM25Matrix(corpus)
    assert ours.idf == ref.idf  # same terms, same floats, epsilon floor included
    assert ours.avgdl == ref.avgdl
    for q in queries:
        np.testing.assert_array_equal(ours.get_scores(q), ref.get_scores(q))


def test_equals_rank_bm25_on_the_seeds() -> None:
    corpus = _seed_terms()
    assert len(corpus) > 50
    vocab = sorted({t for d in corpus for t in d})
    rng = random.Random(5)
    queries = [tokens.terms(q) for q in ("Who is Israel's defense minister?", "aid to Gaza")]
    queries += [rng.sample(vocab, rng.randint(1, 6)) for _ in range(30)]
    queries += [["gallant", "gallant", "not-a-term"], []]
    _assert_same(corpus, queries)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_rank_bm25_on_a_random_corpus(seed: int) -> None:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(300)]
    # Zipf-like: a few terms are in more than half the documents (negative idf -> epsilon)
    weights = [1.0 / (i + 1) ** 1.1 for i in range(len(vocab))]
    corpus = [rng.choices(vocab, weights, k=rng.randint(0, 40)) for _ in range(700)]
    corpus[3] = []
    queries = [rng.choices(vocab, weights, k=rng.randint(1, 8)) for _ in range(40)]
    _assert_same(corpus, queries)
    ref = BM25Okapi(corpus)
    assert ref.epsilon * ref.average_idf in ref.idf.values()  # the floor was exercised


def test_weighted_scores_sum_weighted_term_scores() -> None:
    corpus = [["a", "b"], ["b", "c", "c"], ["d"], ["a", "d", "d", "e"]]
    ref, ours = BM25Okapi(corpus), BM25Matrix(corpus)
    want = 0.5 * ref.get_scores(["c"]) + ref.get_scores(["d"])
    np.testing.assert_allclose(ours.weighted_scores({"c": 0.5, "d": 1.0, "zz": 1.0}), want)


def test_the_matrix_is_a_scipy_csr_matrix_of_term_weights() -> None:
    corpus = [["a", "b"], ["b", "c", "c"], ["d"], ["a", "d", "d", "e"]]
    ref, ours = BM25Okapi(corpus), BM25Matrix(corpus)
    matrix = ours.to_scipy()
    for term, tid in ours.vocabulary.items():
        row = np.asarray(matrix[tid].todense()).ravel()
        np.testing.assert_array_equal(row, ref.get_scores([term]))
