"""Hybrid retrieval on the real seeds (loads the encoder: slow)."""

from __future__ import annotations

import faiss
import pytest

from qabot.ingest.embedding import embed
from qabot.search import vectors
from qabot.search.retrieval import Query, Retriever, RetrieverConfig

pytestmark = pytest.mark.slow


def test_sentences_are_searched_by_an_index_chosen_by_size(bot, dev_questions):
    """Above ``sentence_flat_max`` sentences the dense step searches IVF-SQ8, not a flat scan
    of every sentence; on the dev questions it finds the same first paragraph as the exact
    scan."""
    flat = bot.retriever
    assert isinstance(flat.sentence_vectors, faiss.IndexFlatIP)
    n_sentences = bot.index.sentence_vectors.shape[0]
    approximate = Retriever(bot.index, RetrieverConfig(sentence_flat_max=n_sentences // 2))
    assert vectors.describe(approximate.sentence_vectors).startswith("IVF")
    same = total = 0
    for item in dev_questions:
        if not item.get("support"):
            continue
        vector = embed([item["question"]])[0]
        query = Query(flat.analyze(item["question"]), vector)
        total += 1
        first = flat.search(query, 1)[0].paragraph_id
        same += first == approximate.search(query, 1)[0].paragraph_id
    assert total >= 10 and same >= total - 1
