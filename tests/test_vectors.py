"""The paragraph vector index: flat below the threshold, IVF-SQ8 above, faiss format only."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from qabot.search import vectors


def _unit(n: int, d: int = 384, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, d)).astype(np.float32)
    x = centres[rng.integers(0, 50, n)] + 0.3 * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_small_corpora_get_the_exact_index() -> None:
    x = _unit(500)
    index = vectors.build(x)
    assert isinstance(index, faiss.IndexFlatIP) and vectors.describe(index) == "Flat"
    sims, ids = vectors.search(index, x[:1], 5)
    assert ids[0, 0] == 0 and sims[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_large_corpora_get_ivf_sq8_that_survives_a_round_trip() -> None:
    x = _unit(6000)
    index = vectors.build(x, flat_max=1000)
    assert vectors.describe(index).startswith("IVF")
    data = faiss.serialize_index(index)  # faiss's own format, as the index folder stores it
    loaded = vectors.prepare(faiss.deserialize_index(data))
    assert loaded.ntotal == 6000 and loaded.d == 384
    # reconstruct (needed by fusion and incremental rebuilds) gives the vector back, 8-bit
    back = loaded.reconstruct_n(0, 100)
    cos = np.sum(back * x[:100], axis=1) / np.linalg.norm(back, axis=1)
    assert cos.min() > 0.999
    exact = faiss.IndexFlatIP(384)
    exact.add(x)
    queries = _unit(50, seed=1)
    _, want = exact.search(queries, 10)
    got = np.vstack([vectors.search(loaded, q[None], 10)[1] for q in queries])
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want, strict=True)])
    assert recall >= 0.9


def test_ivf_cells_hold_what_faiss_would_put_there() -> None:
    # qabot assigns cells with NumPy's BLAS (faster than faiss's own add); the lists must be
    # the ones index.add would have made: each vector in its nearest centroid's cell
    x = _unit(6000)
    index = vectors.build(x, flat_max=100)  # kept: the extracted view does not own it
    ivf = faiss.extract_index_ivf(index)
    _, cells = ivf.quantizer.search(x, 1)
    for cell in range(ivf.nlist):
        ids = faiss.rev_swig_ptr(ivf.invlists.get_ids(cell), ivf.invlists.list_size(cell))
        np.testing.assert_array_equal(np.sort(ids), np.flatnonzero(cells[:, 0] == cell))


def test_nlist_keeps_enough_training_vectors_per_cell() -> None:
    assert vectors.nlist_for(1_000_000) == 2048
    assert vectors.nlist_for(300_000) == 512
    assert vectors.nlist_for(100) == 2
    for n in (50, 1000, 10_000, 250_000):
        assert n // vectors.nlist_for(n) >= vectors.TRAIN_PER_CELL


@pytest.mark.slow
def test_an_index_built_with_ivf_loads_and_answers(seeds_copy: Path, tmp_path: Path) -> None:
    from qabot.api import QABot
    from qabot.index.build import update_index

    update_index(seeds_copy, tmp_path / "index", flat_max=10)
    bot = QABot(seeds_copy, tmp_path / "index")
    assert bot.report is None  # built above: nothing left to index
    assert vectors.describe(bot.index.paragraph_vectors).startswith("IVF")
    result = bot.ask("How much humanitarian aid has the US pledged to Gaza?")
    assert result.evidence
    # an incremental update reuses the stored (quantised) vectors of unchanged files
    (seeds_copy / "extra.md").write_text("# Note\n\nA convoy of 40 trucks arrived.\n")
    report = update_index(seeds_copy, tmp_path / "index", flat_max=10)
    assert report.added == ["extra.md"]
    again = QABot(seeds_copy, tmp_path / "index")
    assert vectors.describe(again.index.paragraph_vectors).startswith("IVF")
    assert again.index.paragraph_vectors.ntotal == len(again.index.paragraphs)


def test_building_sets_its_threads_and_searching_puts_the_count_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the OpenMP thread count is per calling thread: a single-query search must not leave it
    # at one (a build there ran k-means on one core), and a build runs on build_threads()
    x = _unit(2_000)
    faiss.omp_set_num_threads(2)
    vectors.search(vectors.build(x, flat_max=100), x[:1], 5)  # IVF: faiss on one thread
    assert faiss.omp_get_max_threads() == 2
    seen: list[int] = []
    real_set = faiss.omp_set_num_threads

    def recorded(n: int) -> None:
        seen.append(n)
        real_set(n)

    monkeypatch.setattr(vectors, "build_threads", lambda: 3)
    monkeypatch.setattr(faiss, "omp_set_num_threads", recorded)
    faiss.omp_set_num_threads(1)
    vectors.build(x, flat_max=100)
    assert seen == [1, 3, 1] and faiss.omp_get_max_threads() == 1
    real_set(2)  # as the other tests found this thread


def test_build_threads_follow_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from qabot.ingest.embedding import usable_cores

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert vectors.build_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert vectors.build_threads() == usable_cores()


@pytest.mark.slow
def _same_order_but_ties(ids: np.ndarray, want: np.ndarray, scores: np.ndarray) -> None:
    """The same ids in the same order, except among scores equal to float rounding: the
    BLAS product and faiss's scan add in different orders, so near-ties may swap."""
    for i in np.flatnonzero(ids != want):
        near = np.abs(scores - scores[i]) <= 1e-5
        assert ids[i] in want[near], (i, ids[i], want[near])


def test_a_single_query_on_the_exact_index_gives_faiss_its_own_answer(
    bot, dev_questions: list[dict]
) -> None:
    # one BLAS product over faiss's memory in place of faiss's one-core scan: the same ids in
    # the same order, the same scores to float rounding, the same padding past the vectors
    from qabot.ingest.embedding import embed

    queries = embed([q["question"] for q in dev_questions])
    for index in (bot.index.paragraph_vectors, bot.retriever.sentence_vectors):
        assert isinstance(index, faiss.IndexFlatIP)
        n = index.ntotal
        for q in queries:
            for k in (1, 10, n, n + 5):
                want_sims, want_ids = index.search(q[None], k)
                sims, ids = vectors.search(index, q[None], k)
                np.testing.assert_allclose(sims, want_sims, rtol=1e-5, atol=1e-6)
                _same_order_but_ties(ids[0], want_ids[0], want_sims[0])
    loaded = faiss.deserialize_index(faiss.serialize_index(bot.index.paragraph_vectors))
    np.testing.assert_array_equal(
        vectors.search(loaded, queries[:1], 10)[1], loaded.search(queries[:1], 10)[1]
    )


def test_equal_scores_come_in_id_order_at_the_cut_off_too() -> None:
    # a story copied into two files gives two equal vectors: the exact path must pick and
    # order them by id wherever the k-th place falls among them, and drop NaN rows as faiss does
    x = np.repeat(_unit(40, seed=3), 5, axis=0)  # rows 5i .. 5i+4 are equal
    index = vectors.build(x)
    for row in (0, 150, 195):
        for k in (1, 3, 5, 7, 13):
            sims, ids = vectors.search(index, x[row : row + 1], k)
            best = row // 5 * 5
            assert ids[0, : min(k, 5)].tolist() == list(range(best, best + min(k, 5)))
            assert np.all(np.diff(sims[0]) <= 0)
            tied = sims[0, 1:] == sims[0, :-1]  # then other groups' rows: equal ones in id order
            assert np.all(ids[0, 1:][tied] > ids[0, :-1][tied])
    y = x[:4].copy()
    y[1] = np.nan
    sims, ids = vectors.search(vectors.build(y), y[:1], 4)
    assert ids[0].tolist() == [0, 2, 3, -1] and sims[0, 3] == -np.finfo(np.float32).max
