"""Evaluation: metrics against hand-computed cases, question-set format errors, real runs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from qabot.cli import main
from qabot.errors import QabotError
from qabot.measure.judge import CorpusView, Judgement, judge
from qabot.measure.metrics import (
    contains_answer,
    exact_match,
    ndcg_at_k,
    normalize_answer,
    recall_at_k,
    reciprocal_rank,
    token_f1,
)
from qabot.measure.questions import EvalQuestion, Support, load_questions
from qabot.measure.reports import summarize
from qabot.measure.tables import compare
from qabot.records import Answer, AskResult, Citation, Evidence, Paragraph, Sentence, ShortAnswer

from .conftest import DEV_SET, SEEDS

BENCHMARKS = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks"
needs_benchmarks = pytest.mark.skipif(
    not BENCHMARKS.is_dir(), reason="../shared/benchmarks is not here"
)


def run(*args: str):
    return CliRunner().invoke(main, list(args))


# --------------------------------------------------------------------------- answer matching


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("The Denver Broncos", "denver broncos"),  # article and case
        ("an apple, a day!", "apple day"),  # articles inside, punctuation
        ("  Super   Bowl\n50 ", "super bowl 50"),  # whitespace
        ("U.S.-Israel ties", "usisrael ties"),  # ASCII punctuation is deleted, not spaced
        ("Theatre and anatomy", "theatre and anatomy"),  # only whole-word articles
        ("VOA’s", "voa’s"),  # the official script keeps non-ASCII punctuation
    ],
)
def test_squad_normalisation(text: str, normal: str) -> None:
    assert normalize_answer(text) == normal


def test_exact_match_and_f1_by_hand() -> None:
    assert exact_match("Denver Broncos.", ["the denver broncos"]) == 1.0
    assert exact_match("Broncos", ["Denver Broncos"]) == 0.0
    # pred {denver, broncos, team} vs gold {denver, broncos}: P 2/3, R 1 -> F1 0.8
    assert token_f1("the Denver Broncos team", ["Denver Broncos"]) == pytest.approx(0.8)
    # the best gold counts: "Carolina Panthers" vs "Panthers" gives P 1/2, R 1 -> 2/3
    assert token_f1("Carolina Panthers", ["Broncos", "Panthers"]) == pytest.approx(2 / 3)
    assert token_f1("nothing shared", ["Broncos"]) == 0.0
    assert token_f1("", ["Broncos"]) == 0.0


def test_contains_answer_needs_whole_words() -> None:
    sentence = "The US has engaged with Egypt, Qatar, and other regional actors."
    assert contains_answer(sentence, ["Qatar"])
    assert contains_answer(sentence, ["the other regional actors"])
    assert not contains_answer(sentence, ["Egyp"])
    assert not contains_answer(sentence, ["the"])  # normalises to nothing: never a hit


def test_contains_answer_sees_words_beside_curly_quotes_and_dashes() -> None:
    # the dev set's own support quote for d018 holds its gold answer between curly quotes
    questions = {q.id: q for q in load_questions(DEV_SET)}
    d018 = questions["d018"]
    quote = d018.support[0].quote
    assert quote.startswith("“Biden") and "Netanyahu,”" in quote
    assert all(contains_answer(quote, [answer]) for answer in d018.answers)
    assert contains_answer("in Gaza—something U.S. sources deny", ["Gaza"])
    assert not contains_answer("“Biden is seeking to divide”", ["isolate Netanyahu"])


def test_ranking_metrics_by_hand() -> None:
    ranked = ["a", "b", "c", "d"]
    assert ndcg_at_k(ranked, {"b"}) == pytest.approx(1 / 1.584962500721156)  # 1/log2(3)
    # DCG 1 + 1/log2(4) = 1.5; ideal 1 + 1/log2(3) = 1.6309
    assert ndcg_at_k(ranked, {"a", "c"}) == pytest.approx(1.5 / 1.6309297535714575)
    assert ndcg_at_k(ranked, {"z"}) == 0.0
    assert recall_at_k(ranked, {"a", "d", "z"}, 3) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranked, {"c", "d"}) == pytest.approx(1 / 3)


def _judgement(**kw) -> Judgement:
    base = dict(
        id="q",
        type="factoid",
        answerable=True,
        abstained=False,
        conflict=False,
        hit_rank=None,
        exact=0.0,
        f1=0.0,
        short=False,
        support_hit=None,
        doc_rank=None,
        doc_recall=None,
        spans=1,
        bad_spans=(),
        latency_ms=10.0,
    )
    return Judgement(**{**base, **kw})


def test_summary_by_hand() -> None:
    js = [
        _judgement(hit_rank=1, exact=1.0, f1=1.0, doc_rank=1, doc_recall=(1.0, 1.0, 1.0, 1.0)),
        _judgement(hit_rank=3, f1=0.5, doc_rank=2, doc_recall=(0.0, 1.0, 1.0, 1.0), latency_ms=30),
        _judgement(type="conflict", conflict=True, abstained=True, exact=0.0, latency_ms=20),
        _judgement(type="unanswerable", answerable=False, abstained=True, exact=None, f1=None),
        _judgement(type="unanswerable", answerable=False, conflict=True, exact=None, f1=None),
    ]
    m = summarize(js)
    assert (m.questions, m.answerable) == (5, 3)
    assert m.hit_at_1 == pytest.approx(1 / 3) and m.hit_at_3 == pytest.approx(2 / 3)
    assert m.exact_match == pytest.approx(1 / 3) and m.f1 == pytest.approx(0.5)
    assert m.abstain_precision == pytest.approx(1 / 2)  # 2 abstentions, 1 on an unanswerable
    assert m.abstain_recall == pytest.approx(1 / 2)  # 1 of 2 unanswerable
    assert m.false_abstention == pytest.approx(1 / 3)
    assert m.conflict_detection == 1.0 and m.false_conflict == pytest.approx(1 / 4)
    assert m.recall_at_1 == pytest.approx(0.5) and m.recall_at_3 == 1.0
    assert m.mrr == pytest.approx((1 + 1 / 2) / 2)
    assert m.latency_p50_ms == 10.0
    assert m.support_hit is None and m.citation_validity == 1.0


def test_judge_checks_offsets_support_and_evidence(tmp_path: Path) -> None:
    text = "Intro line.\n\nGallant met Sullivan on Monday. He flew home."
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    (tmp_path / "b.txt").write_text("Other.", encoding="utf-8")
    s1, s2 = text.index("Gallant"), text.index("He flew")
    para = Paragraph(
        "a.txt",
        0,
        s1,
        len(text),
        text[s1:],
        "body",
        (Sentence(s1, s2 - 1), Sentence(s2, len(text))),
        (),
    )
    index = SimpleNamespace(paragraphs=[para], extracted_text=lambda doc: None)  # a text file
    corpus = CorpusView(tmp_path, index)  # type: ignore[arg-type]
    sentence = text[s1 : s2 - 1]
    mon = text.index("Monday")

    def result(start: int, cited: str) -> AskResult:
        answer = Answer(
            cited,
            "a.txt",
            start,
            start + len(cited),
            0.8,
            sentence,
            s1,
            s2 - 1,
            "t",
            0,
            ShortAnswer("Monday", mon, mon + 6, "DATE"),
            [Citation("a.txt", "t", 0, start, start + len(cited), cited, 0.8)],
        )
        evidence = [
            Evidence("b.txt", "t", 0, 0, 0, "", 0.1, 0, 0, 1, 1),
            Evidence("a.txt", "t", 0, s1, len(text), text[s1:], 0.1, 0, 0, 2, 2),
        ]
        return AskResult("q", "q", [answer], False, False, evidence, {})

    question = EvalQuestion(
        "d1",
        "When did Gallant meet Sullivan?",
        "date",
        ("Monday",),
        (Support("a.txt", "met Sullivan on Monday"),),
    )
    good = judge(question, result(s1, sentence), 5.0, corpus)
    assert (good.hit_rank, good.exact, good.f1, good.short) == (1, 1.0, 1.0, True)
    assert good.support_hit is True and good.bad_spans == ()
    assert good.doc_rank == 2 and good.doc_recall == (0.0, 1.0, 1.0, 1.0)

    # A span whose text does not match the file at its offsets is an invalid citation.
    bad = judge(question, result(s1 + 1, sentence), 5.0, corpus)
    assert any("answer 1:" in b for b in bad.bad_spans) and bad.hit_rank is None
    # The gold quote lies elsewhere: no support hit.
    elsewhere = EvalQuestion("d2", "q", "date", ("Monday",), (Support("a.txt", "Intro line"),))
    assert judge(elsewhere, result(s1, sentence), 5.0, corpus).support_hit is False


def test_compare_lines_up_numbers() -> None:
    old = {"overall": {"hit_at_1": 0.5, "mrr": None}, "run": {"commit": "abc"}}
    new = {"overall": {"hit_at_1": 0.75, "mrr": 0.9, "f1": 0.1}}
    (delta,) = compare(old, new)
    assert (delta.key, delta.old, delta.new) == ("overall.hit_at_1", 0.5, 0.75)


def test_an_earlier_run_that_is_not_one_is_a_clear_error(tmp_path: Path) -> None:
    from qabot.measure.tables import load_run

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(QabotError, match="nested too deeply"):
        load_run(deep)
    listed = tmp_path / "list.json"
    listed.write_text("[1]", encoding="utf-8")
    with pytest.raises(QabotError, match="not the JSON of an earlier"):
        load_run(listed)


# --------------------------------------------------------------------------- format errors


def test_dev_set_loads() -> None:
    questions = load_questions(DEV_SET)
    assert len(questions) == 20
    d017 = next(q for q in questions if q.id == "d017")
    assert d017.type == "followup" and len(d017.history) == 1


GOOD = {"id": "x1", "question": "Who?", "type": "factoid", "answers": ["A"], "support": []}


@pytest.mark.parametrize(
    ("second_line", "message"),
    [
        ('{"id": "x2", "question": "Who?"', "line 2: not valid JSON"),
        (
            json.dumps({k: v for k, v in GOOD.items() if k != "question"} | {"id": "x2"}),
            'line 2: missing field "question"',
        ),
        (json.dumps(GOOD | {"id": "x2", "answers": "A"}), 'line 2: "answers" must be a list'),
        (json.dumps(GOOD | {"id": "x2", "type": "riddle"}), 'line 2: unknown type "riddle"'),
        (json.dumps(GOOD | {"id": "x2", "question": 7}), 'line 2: "question" must be a non-empty'),
        (json.dumps(GOOD | {"id": "x2", "support": [{"doc": "a"}]}), 'line 2: "support" must be'),
        (json.dumps(GOOD | {"id": "x2", "history": "earlier"}), 'line 2: "history" must be'),
        (json.dumps(GOOD | {"id": "x2", "type": "unanswerable"}), 'line 2: an "unanswerable"'),
        (json.dumps(GOOD), 'line 2: id "x1" is already used on line 1'),
        ("[1, 2]", "line 2: expected a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "line 2: not a question: JSON nested too deeply"),
    ],
)
def test_format_errors_name_the_line(tmp_path: Path, second_line: str, message: str) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + second_line + "\n", encoding="utf-8")
    result = run("eval", str(path), "--seeds", str(SEEDS), "--index", str(tmp_path / "idx"))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert not (tmp_path / "idx").exists()  # refused before any indexing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "error: give a question set file or --benchmark"),
        (["missing.jsonl"], "error: question set not found: missing.jsonl"),
        (["--benchmark", "scifact", "--predictions", "p.jsonl"], "scifact is retrieval only"),
        (["prompts/dev_qa.jsonl", "--reader-alone"], "--reader-alone scores a --benchmark"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    result = run("eval", *args)
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


@pytest.mark.slow
def test_a_question_that_ask_refuses_is_noted_and_the_run_goes_on(bot, tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    rows = [
        GOOD | {"id": "blank", "question": "\u200b\u200b"},  # zero-width only: empty once cleaned
        GOOD | {"id": "long", "question": "why " * 400},
        GOOD | {"id": "real", "question": "Who is Israel's defense minister?"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pred = tmp_path / "pred.jsonl"
    args = ["eval", str(path), "--seeds", str(SEEDS), "--index", str(bot.index_dir)]
    result = run(*args, "--json", "--predictions", str(pred))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["overall"]["questions"] == 1
    assert any(
        "2 questions refused by ask" in n and "blank: question is empty" in n for n in data["notes"]
    ), data["notes"]
    assert [json.loads(line)["id"] for line in pred.read_text().splitlines()] == ["real"]


def test_empty_set_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    result = run("eval", str(path))
    assert result.exit_code == 1 and "no questions" in result.stderr


# --------------------------------------------------------------------------- benchmark data


@needs_benchmarks
def test_squad_slice_is_one_file_per_paragraph(tmp_path: Path) -> None:
    from qabot.measure.public_sets import prepare

    bench = prepare("squad", cache=tmp_path, limit=3)
    files = sorted(p for p in bench.seeds_dir.rglob("*.txt"))
    assert len(files) == 54  # the whole first article (Super_Bowl_50) stays as distractors
    assert [q.type for q in bench.questions] == ["factoid"] * 3
    for q in bench.questions:
        for s in q.support:
            text = (bench.seeds_dir / s.doc).read_text(encoding="utf-8")
            assert text[s.start : s.start + len(s.quote)] == s.quote
    again = prepare("squad", cache=tmp_path, limit=3)  # reused, not rewritten
    assert (
        again.seeds_dir == bench.seeds_dir
        and files[0].stat().st_mtime_ns
        == (bench.seeds_dir / files[0].relative_to(bench.seeds_dir)).stat().st_mtime_ns
    )


@needs_benchmarks
def test_scifact_slice_keeps_relevant_abstracts(tmp_path: Path) -> None:
    from qabot.measure.public_sets import prepare

    bench = prepare("scifact", cache=tmp_path, limit=2)
    names = {p.name.removesuffix(".txt") for p in bench.seeds_dir.glob("*.txt")}
    assert len(bench.queries) == 2 and all(q.relevant <= names for q in bench.queries)


def test_benchmark_data_folder_is_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --data first, then $QABOT_BENCHMARKS; a folder without the files is a one-line error
    # naming the file looked for, before anything is prepared or indexed
    empty, elsewhere = tmp_path / "empty", tmp_path / "elsewhere"
    empty.mkdir()
    want = Path("squad-v1.1-dev", "dev-v1.1.json.gz")
    args = ["eval", "--benchmark", "squad", "--limit", "1", "--cache", str(tmp_path / "cache")]
    monkeypatch.setenv("QABOT_BENCHMARKS", str(elsewhere))
    for extra, folder in (([], elsewhere), (["--data", str(empty)], empty)):
        result = run(*args, *extra)
        assert result.exit_code == 1
        assert result.stderr == f"error: benchmark data not found: {folder / want}\n"
    assert not (tmp_path / "cache").exists()
    result = run("eval", str(DEV_SET), "--data", str(empty))
    assert result.exit_code == 1 and "give --benchmark NAME" in result.stderr


@needs_benchmarks
def test_explicit_data_folder_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qabot.measure import locations
    from qabot.measure.public_sets import prepare

    monkeypatch.setenv("QABOT_BENCHMARKS", str(tmp_path / "missing"))
    assert locations.data_root() == tmp_path / "missing"
    bench = prepare("squad", cache=tmp_path, limit=1, data=BENCHMARKS)
    assert len(bench.questions) == 1 and bench.documents == 54
    monkeypatch.delenv("QABOT_BENCHMARKS")
    assert locations.data_root().resolve() == BENCHMARKS.resolve()  # the default


# --------------------------------------------------------------------------- real runs


@pytest.mark.slow
def test_retriever_rank_modes(bot) -> None:
    from qabot.ingest.embedding import embed
    from qabot.search.retrieval import Query

    text = "Who is Israel's defense minister?"
    vector = embed([text])[0]
    query = Query(bot.retriever.analyze(text), vector)
    assert bot.retriever.rank(query, 10, "hybrid") == bot.retriever.search(query, 10)
    bm25 = bot.retriever.rank(query, 20, "bm25")
    assert [h.bm25 for h in bm25] == sorted((h.bm25 for h in bm25), reverse=True)
    assert all(h.bm25 > 0 and h.dense_rank is None for h in bm25)
    dense = bot.retriever.rank(query, 20, "dense")
    assert len(dense) == 20 and [h.dense_rank for h in dense] == list(range(1, 21))


@pytest.mark.slow
def test_dev_set_through_the_cli(bot, tmp_path: Path) -> None:
    pred = tmp_path / "pred.jsonl"
    args = ["eval", str(DEV_SET), "--seeds", str(SEEDS), "--index", str(bot.index_dir)]
    result = run(*args, "--json", "--predictions", str(pred))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    overall = data["overall"]
    assert overall["questions"] == 20 and overall["citation_validity"] == 1.0
    # the dev set reports quality (docs/EVALUATION.md); here only what must hold on any run
    assert 0 <= overall["hit_at_1"] <= overall["hit_at_3"] <= 1
    assert overall["latency_p50_ms"] > 0
    assert set(data["by_type"]) == {
        "factoid",
        "list",
        "numeric",
        "date",
        "why",
        "conflict",
        "unanswerable",
        "followup",
        "misspelled",
    }
    lines = [json.loads(line) for line in pred.read_text(encoding="utf-8").splitlines()]
    assert [p["id"] for p in lines] == [f"d{i:03d}" for i in range(1, 21)]
    first = lines[0]
    assert set(first) == {"id", "question", "answers", "abstained", "conflict", "latency_ms"}
    assert {"text", "doc", "start", "end", "score"} <= set(first["answers"][0])

    old = tmp_path / "old.json"
    old.write_text(result.stdout, encoding="utf-8")
    table = run(*args, "--limit", "3", "--compare", str(old))
    assert table.exit_code == 0, table.output
    assert "answer hit@1" in table.stdout and "overall.questions" in table.stdout
    assert "20        3" in " ".join(table.stdout.split("overall.questions")[1].split()[:2]) or (
        "-17" in table.stdout
    )


@pytest.mark.slow
@needs_benchmarks
def test_tiny_benchmark_slices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QABOT_BENCHMARKS", str(tmp_path / "missing"))  # --data wins over it
    squad = run("eval", "--benchmark", "squad", "--limit", "3", "--cache", str(tmp_path), "--json",
                "--data", str(BENCHMARKS))  # fmt: skip
    assert squad.exit_code == 0, squad.output
    data = json.loads(squad.stdout)
    assert data["overall"]["questions"] == 3 and data["overall"]["citation_validity"] == 1.0
    assert data["overall"]["recall_at_5"] is not None and "not comparable" in data["name"]

    monkeypatch.setenv("QABOT_BENCHMARKS", str(BENCHMARKS))
    alone = run("eval", "--benchmark", "squad", "--limit", "3", "--cache", str(tmp_path),
                "--reader-alone", "--json")  # fmt: skip
    assert alone.exit_code == 0, alone.output
    data = json.loads(alone.stdout)
    assert data["questions"] == 3 and 0 <= data["exact_match"] <= data["f1"] <= 100
    assert data["mode"] == "reader alone, gold paragraph given"

    scifact = run("eval", "--benchmark", "scifact", "--limit", "1", "--cache", str(tmp_path))
    assert scifact.exit_code == 0, scifact.output
    for mode in ("bm25", "dense", "hybrid"):
        assert mode in scifact.stdout


@pytest.mark.slow
def test_interrupted_run_reports_what_it_has(bot) -> None:
    from qabot.measure.runner import evaluate

    questions = load_questions(DEV_SET)[:4]
    calls = []

    class Interrupting:
        seeds_dir, index, answerer_kind = bot.seeds_dir, bot.index, bot.answerer_kind

        def ask(self, question: str, history=()):
            calls.append(question)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return bot.ask(question, history)

    rep = evaluate(Interrupting(), questions, "dev")  # type: ignore[arg-type]
    assert rep.overall.questions == 2
    assert any("INTERRUPTED: only the first 2 of 4" in n for n in rep.notes)


@pytest.mark.slow
def test_a_question_ids_controls_are_shown_inert_in_the_report(bot, tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    rows = [
        GOOD | {"id": "a\u202eb\x9b31m", "question": "\u200b"},  # refused: named in a note
        GOOD | {"id": "real", "question": "Who is Israel's defense minister?"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["eval", str(path), "--seeds", str(SEEDS), "--index", str(bot.index_dir)]
    as_json, shown = run(*args, "--json"), run(*args)
    assert as_json.exit_code == 0 and shown.exit_code == 0, shown.output
    for out in (as_json.stdout, shown.stdout):
        assert "\u202e" not in out and "\x9b" not in out
    assert "a\\u202eb\\x9b31m" in shown.stdout
    # the escapes read back as the id itself
    assert any(
        "a\u202eb\x9b31m: question is empty" in n for n in json.loads(as_json.stdout)["notes"]
    )
