"""`qabot bench` pieces on tiny inputs: derived corpora, rows, table, probes, errors (no
timings asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qabot.cli import main
from qabot.index.build import write_index
from qabot.index.load import load_index
from qabot.measure.speed import asking, corpora, encoding, indexing, search, table, timing
from qabot.measure.speed.table import Row

from .conftest import DEV_SET, seed_paragraph_texts


def _fake_real(n: int = 300, d: int = 384) -> corpora.RealData:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n + 20, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    paragraphs = [
        "Israel's defense minister Yoav Gallant met Lloyd Austin on Tuesday in Washington.",
        "The United States pledged $100 million in humanitarian aid to Gaza.",
        "Officials said a convoy of 40 trucks reached Rafah on Friday.",
    ]
    return corpora.RealData(
        ["s"] * n, ["Who met Austin?", "How much aid?"], paragraphs, x[:n], x[n:]
    )


def test_sizes_parse_and_print() -> None:
    assert [timing.parse_size(s) for s in ("10k", "100K", "1M", "2500", "1_000")] == [
        10_000,
        100_000,
        1_000_000,
        2500,
        1000,
    ]
    assert [timing.size_name(n) for n in (10_000, 1_000_000, 2500)] == ["10k", "1M", "2500"]


def test_derived_vectors_are_unit_and_like_the_real_ones() -> None:
    real = _fake_real().sentence_vectors
    x = corpora.derived_vectors(real, 1000, seed=1)
    assert x.shape == (1000, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    # each derived vector stays close to some real vector (it is made from one)
    assert np.median((x @ real.T).max(axis=1)) > 0.5
    np.testing.assert_array_equal(x, corpora.derived_vectors(real, 1000, seed=1))


def test_derived_paragraphs_use_real_terms_and_lengths() -> None:
    real = _fake_real()
    docs = corpora.derived_paragraphs(real.paragraphs, 200, seed=3)
    from qabot.search import tokens

    vocab = {t for p in real.paragraphs for t in tokens.terms(p)}
    lengths = {len(tokens.terms(p)) for p in real.paragraphs}
    assert len(docs) == 200 and all(set(d) <= vocab and len(d) in lengths for d in docs)


def test_vector_bm25_and_hybrid_rows_on_a_small_corpus() -> None:
    real = _fake_real()
    rows: list[Row] = []
    out: dict = {}
    index = search.bench_vectors(real, 2000, rows, out)
    bm25 = search.bench_bm25(real, 2000, rows, out)
    assert bm25.engine.corpus_size == 2000 and bm25.queries  # what the hybrid core reuses
    search.bench_hybrid(real, 2000, index, bm25, rows, out)
    by_measure = {r.measure: r for r in rows}
    assert by_measure["hybrid retrieval core (BM25 + vectors + RRF)"].qabot > 0
    assert by_measure["vector recall@10 vs exact"].qabot == 1.0  # flat at this size: exact
    assert by_measure["BM25 largest score difference to rank-bm25"].qabot == 0.0
    for engine, target in (("qabot's exact path (BLAS, all cores)", "<= 1.25"),
                           ("faiss flat (1 thread)", "")):  # fmt: skip
        scan = by_measure[f"exact scan: {engine} / floor, best of each, interleaved"]
        assert scan.base and scan.qabot and scan.ratio == scan.qabot / scan.base
        assert scan.target == target  # the target is on the path qabot searches
    assert all(r.size == "2k" for r in rows)
    result = {
        "meta": {
            "date": "d",
            "cpus": 2,
            "load_before": (0.1, 0, 0),
            "load_after": (0.2, 0, 0),
            "seconds": 1.0,
            "peak_rss_bytes": 2**30,
            "real_vectors": 300,
            "real_queries": 20,
        },
        "rows": [r.__dict__ for r in rows],
    }
    text = table.table(result)
    assert text.startswith("| size | measure |") and "vector recall@10" in text
    json.dumps(result)  # the --json form serialises


def test_bad_sizes_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    for sizes in ("ten", "10"):
        res = runner.invoke(main, ["bench", "--sizes", sizes, "--seeds", str(tmp_path)])
        assert res.exit_code == 1 and res.output.startswith("error: --sizes")
    res = runner.invoke(main, ["bench", "--sizes", "10k", "--seeds", str(tmp_path / "none")])
    assert res.exit_code == 1 and "seeds folder not found" in res.output


@pytest.mark.parametrize("text", ["", "k"])
def test_parse_size_rejects_junk(text: str) -> None:
    with pytest.raises(ValueError):
        timing.parse_size(text)


def test_the_paint_probe_times_a_real_chat_process(tmp_path: Path) -> None:
    """The probe starts the real chat on the seeds and returns when it has painted (a chat
    that crashed at start-up would raise here); the time itself is the bench's business."""
    seeds = Path(__file__).resolve().parent.parent / "seeds"
    seconds = asking.paint_seconds(seeds, tmp_path / "index", repeat=1)
    assert 0 < seconds < 120


def test_bench_reads_real_texts_from_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --data first, then $QABOT_BENCHMARKS; a folder without the files is a one-line error
    # before anything is measured
    empty, elsewhere = tmp_path / "empty", tmp_path / "elsewhere"
    empty.mkdir()
    seeds = Path(__file__).resolve().parent.parent / "seeds"
    monkeypatch.setenv("QABOT_BENCHMARKS", str(elsewhere))
    runner = CliRunner()
    for extra, folder in (([], elsewhere), (["--data", str(empty)], empty)):
        res = runner.invoke(main, ["bench", "--sizes", "10k", "--seeds", str(seeds), *extra])
        assert res.exit_code == 1
        want = folder / "squad-v1.1-dev" / "dev-v1.1.json.gz"
        assert res.stderr == f"error: benchmark data not found: {want}\n"
    assert corpora.real_sources(empty) == (
        want,
        empty / "beir-scifact" / "corpus.jsonl.gz",
    )


@pytest.mark.slow
def test_the_ask_probe_reports_a_loaded_index(bot) -> None:
    """The probe a fresh process runs loads the index, asks, and prints one JSON object."""
    import subprocess
    import sys

    questions = [json.loads(line)["question"] for line in DEV_SET.read_text().splitlines()]
    done = subprocess.run(
        [sys.executable, "-m", asking.ASK_PROBE, str(bot.index_dir), json.dumps(questions[:9])],
        capture_output=True,
        text=True,
        check=True,
    )
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["p95"] >= probe["p50"] > 0 and probe["load_s"] > 0 and probe["rss"] > 0
    assert probe["vocabulary"] == len(bot.retriever.vocabulary)
    assert probe["stages"]  # median ms of each stage of `ask`
    # the other answerer, timed over the same loaded index
    (other,) = probe["other_answerers"].values()
    assert other["p95"] >= other["p50"] > 0


@pytest.mark.slow
def test_a_synthetic_index_answers_like_a_real_one(tmp_path: Path) -> None:
    """The warm-ask rows answer from a synthetic in-memory index through the real ``ask``:
    here with the IVF index large corpora get, and with citations that match the text."""
    from qabot.api import QABot
    from qabot.search import vectors

    sentences = [
        "Israel's defense minister Yoav Gallant met Lloyd Austin on Tuesday in Washington.",
        "The United States pledged $100 million in humanitarian aid to Gaza.",
        "Officials said a convoy of 40 trucks reached Rafah on Friday.",
        "The Normans conquered England in 1066 after the Battle of Hastings.",
        "Super Bowl 50 was played at Levi's Stadium in Santa Clara, California.",
    ]
    base = _fake_real(len(sentences))
    real = corpora.RealData(sentences, base.questions, sentences * 4, base.sentence_vectors,
                          base.question_vectors)  # fmt: skip
    pool = corpora.synthetic_pool(real)
    index = corpora.synthetic_index(real, pool, 3000, flat_max=1000)
    assert vectors.describe(index.paragraph_vectors).startswith("IVF")
    assert len(index.paragraphs) == 3000 and len(index.words) > len(pool.words)
    result = QABot(index=index).ask("Who did Yoav Gallant meet in Washington?")
    assert result.evidence and not result.abstained
    for e in result.evidence:
        p = next(p for p in index.paragraphs if p.doc == e.doc and p.number == e.paragraph)
        assert p.text == e.text

    # Written as `qabot index` writes (BM25, vocabulary and sentence IVF stored) and loaded
    # back, it answers the same way.
    write_index(tmp_path / "index", index, flat_max=1000)
    loaded = load_index(tmp_path / "index")
    assert loaded.sentence_search is not None and loaded.bm25 is not None
    again = QABot(index=loaded).ask("Who did Yoav Gallant meet in Washington?")
    assert [a.text for a in again.answers] == [a.text for a in result.answers]
    assert "Lloyd Austin" in again.answers[0].text


@pytest.mark.slow
def test_embedding_rows_compare_both_encoders_with_sentence_transformers(
    dev_questions: list[dict],
) -> None:
    # the dev set's questions as sentences and the seeds' paragraphs; rates are reported,
    # never asserted (noisy machines)
    sentences = [q["question"] for q in dev_questions]
    real = corpora.RealData(
        sentences, [], seed_paragraph_texts(), np.zeros((0, 384)), np.zeros((0, 384))
    )
    rows: list[Row] = []
    encoding.bench_embedding(real, rows, n_texts=20, n_paragraphs=12)
    by = {r.measure: r for r in rows}
    for what in ("", " on paragraphs", " on an index's texts"):
        cosine = f"embedding mean cosine to sentence-transformers{what}: CTranslate2"
        assert by[f"{cosine} float32"].qabot >= 0.9999
        assert by[f"{cosine} int8 (default)"].qabot >= 0.99
    throughput = [r for r in rows if r.measure.startswith("embedding throughput")]
    assert len(throughput) == 6 and all(r.base > 0 and r.qabot > 0 for r in throughput)
    assert all(r.baseline.startswith("torch, ") for r in throughput)


@pytest.mark.slow
def test_the_reader_row_times_real_questions_over_real_paragraphs(
    dev_questions: list[dict],
) -> None:
    questions = [q["question"] for q in dev_questions]
    real = corpora.RealData(
        [], questions, seed_paragraph_texts(), np.zeros((0, 384)), np.zeros((0, 384))
    )
    rows: list[Row] = []
    encoding.bench_reader(real, rows, n_questions=4)
    (row,) = rows
    assert row.unit == "paragraphs/s" and row.base > 0 and row.qabot > 0


@pytest.mark.slow
def test_the_indexing_row_times_qabot_index_on_real_articles_beside_the_encoder() -> None:
    rows: list[Row] = []
    indexing.bench_indexing(rows, articles=2)
    whole, rate = rows
    assert whole.measure.startswith("index a real corpus (2 SQuAD v1.1 dev articles, ")
    assert whole.unit == "s" and whole.base > 0 and whole.qabot > whole.base  # it embeds too
    assert rate.unit == "words/s" and rate.qabot > 0


def test_milvus_rows_stand_beside_the_local_ones_on_a_small_corpus() -> None:
    """Milvus Lite filled with the local suites' vectors and term lists: exact at this size
    (FLAT), each latency beside the local figure the earlier suites left in ``out``."""
    from qabot.measure.speed.milvus import bench_milvus

    real = _fake_real()
    rows: list[Row] = []
    out: dict = {}
    index = search.bench_vectors(real, 2000, rows, out)
    bm25 = search.bench_bm25(real, 2000, rows, out)
    search.bench_hybrid(real, 2000, index, bm25, rows, out)
    local = len(rows)
    bench_milvus(real, 2000, rows, out)
    milvus = {r.measure: r for r in rows[local:]}
    assert all(m.startswith("Milvus Lite") for m in milvus) and len(milvus) == 9
    assert milvus["Milvus Lite dense recall@10 vs exact"].qabot == 1.0
    assert milvus["Milvus Lite dense top-10 p50 (FLAT)"].base == out["vector_ms"]
    hybrid = milvus["Milvus Lite hybrid (dense + BM25 top-50 at once, RRF) p50"]
    assert hybrid.base == out["hybrid_ms"] and hybrid.qabot > 0
    assert milvus["Milvus Lite insert rate (paragraph rows: vector + BM25 weights)"].qabot > 0
