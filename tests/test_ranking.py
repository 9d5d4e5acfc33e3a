"""The ranking primitives: one top-k selection and reciprocal-rank fusion."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qabot.search.ranking import RRF_K, ranks, rrf, top_k
from qabot.search.retrieval import RetrieverConfig


def test_top_k_is_a_stable_sort_of_positive_scores() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=1000).astype(np.float64)  # many ties and zeros
    for k in (0, 1, 10, 50, 2000):
        want = [i for i in np.argsort(-scores, kind="stable") if scores[i] > 0][:k]
        got = top_k(scores, k)
        assert got.ids.tolist() == want
        np.testing.assert_array_equal(got.scores, scores[want])
        above = top_k(scores - 2, k, above=None)  # negative scores count when asked
        assert above.ids.tolist() == np.argsort(-scores, kind="stable")[:k].tolist()


def test_ranks_are_one_based_positions() -> None:
    assert ranks([7, 3, 9]) == {7: 1, 3: 2, 9: 3}
    assert ranks([]) == {}


def test_rrf_by_hand() -> None:
    # BM25 ranks 1, 2, 3; dense ranks 3, 4: paragraph 3 is in both lists
    fused = rrf([ranks([1, 2, 3]), ranks([3, 4])])
    assert fused == {
        1: 1 / 61,
        2: 1 / 62,
        3: 1 / 63 + 1 / 61,
        4: 1 / 62,
    }
    assert sorted(fused, key=fused.__getitem__, reverse=True)[:2] == [3, 1]
    assert rrf([ranks([5])], k=0) == {5: 1.0} and rrf([]) == {}


def test_rrf_sums_in_list_order_and_keys_in_set_union_order() -> None:
    # the same floats, summed in the same order, and the ids in the order of the union of
    # the two id sets: what a stable sort of equal scores depends on
    rng = np.random.default_rng(1)
    for _ in range(20):
        a = rng.choice(200, rng.integers(0, 60), replace=False).tolist()
        b = rng.choice(200, rng.integers(0, 60), replace=False).tolist()
        ra, rb = ranks(a), ranks(b)
        fused = rrf([ra, rb], RRF_K)
        want = [
            (pid, sum(1.0 / (RRF_K + r[pid]) for r in (ra, rb) if pid in r))
            for pid in set(ra) | set(rb)
        ]
        assert list(fused.items()) == want


def test_retriever_config_holds_the_tuned_constants() -> None:
    config = RetrieverConfig()
    assert (config.rrf_k, config.candidates, config.sentences_per_candidate) == (60, 50, 3)
    assert (config.fuzzy_min_length, config.one_edit_max_length) == (4, 6)
    assert (config.known_variant_weight, config.unknown_variant_weight) == (0.5, 0.9)
    assert config.sentence_flat_max is None  # the vector index's own threshold
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.rrf_k = 1  # type: ignore[misc]
