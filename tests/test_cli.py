"""The CLI in-process (click's CliRunner) on the real seeds; errors are one line."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qabot.cli import main, safe

from .conftest import file_text

pytestmark = pytest.mark.slow


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_ask_json_on_the_seeds(seeds_copy: Path, tmp_path: Path) -> None:
    result = run(
        "ask",
        "Who is Israel's defense minister?",
        "--json",
        "--seeds",
        str(seeds_copy),
        "--index",
        str(tmp_path / "index"),
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"question", "answers", "abstained", "conflict", "evidence", "timings_ms"}
    top = data["answers"][0]
    assert set(top) >= {"text", "doc", "start", "end", "score", "context", "citations"}
    assert file_text(seeds_copy, top["doc"])[top["start"] : top["end"]] == top["text"]
    assert top["short_answer"]["text"] == "Yoav Gallant"
    # the keys keep their order: a consumer may read the output by position
    assert list(data) == [
        "question",
        "resolved_question",
        "answers",
        "abstained",
        "conflict",
        "evidence",
        "timings_ms",
        "note",
        "stale",
    ]
    place = ["doc", "title", "paragraph", "start", "end", "text", "locator"]
    assert list(top["citations"][0]) == [*place, "score"]
    assert list(data["evidence"][0]) == [
        *place,
        *("fused", "bm25", "dense", "bm25_rank", "dense_rank"),
    ]


def test_index_then_ask_with_history(seeds_copy: Path, tmp_path: Path) -> None:
    idx = str(tmp_path / "index")
    first = run("index", "--seeds", str(seeds_copy), "--index", idx)
    assert first.exit_code == 0 and "5 added" in first.output
    second = run("index", "--seeds", str(seeds_copy), "--index", idx)
    assert "5 unchanged" in second.output and "0 texts embedded" in second.output
    result = run(
        "ask",
        "And what did he say about aid?",
        "--history",
        "How did Austin describe casualties?",
        "--seeds",
        str(seeds_copy),
        "--index",
        idx,
    )
    assert result.exit_code == 0
    assert "too low" in result.output and "[1]" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", ""], "error: question is empty"),
        (["ask", "Who?", "--seeds", "/nonexistent/seeds"], "error: seeds folder not found"),
        (["index", "--seeds", "/nonexistent/seeds"], "error: seeds folder not found"),
    ],
)
def test_errors_are_one_line(
    args: list[str], message: str, seeds_copy: Path, tmp_path: Path
) -> None:
    if "--seeds" not in args:
        args = [*args, "--seeds", str(seeds_copy), "--index", str(tmp_path / "index")]
    result = run(*args)
    assert result.exit_code == 1
    assert result.stderr.strip() == result.stderr.strip().splitlines()[0]
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.output


def test_unreadable_index_is_rebuilt_by_ask(seeds_copy: Path, tmp_path: Path) -> None:
    idx = tmp_path / "index"
    assert run("index", "--seeds", str(seeds_copy), "--index", str(idx)).exit_code == 0
    (idx / "CURRENT").write_text("gen-missing\n", encoding="utf-8")
    result = run(
        "ask", "Who is Israel's defense minister?", "--seeds", str(seeds_copy), "--index", str(idx)
    )
    assert result.exit_code == 0 and "Yoav Gallant" in result.stdout


def test_escape_sequences_are_shown_inert() -> None:
    assert safe("a\x1b[31mred\x07") == "a\\x1b[31mred\\x07"


def test_a_file_name_with_a_bidi_control_is_shown_inert_in_abstentions_and_json(
    seeds_copy: Path, tmp_path: Path
) -> None:
    # the article that is the closest evidence for a question the seeds do not answer
    source = seeds_copy / "000_816a538e2e2ec7f8.txt"
    source.rename(seeds_copy / "000_\u202etxt.exe.txt")
    question = "When did Netanyahu publish the video accusing the U.S. of holding back weapons?"
    where = ["--seeds", str(seeds_copy), "--index", str(tmp_path / "index")]
    shown = run("ask", question, *where)
    assert shown.exit_code == 0, shown.output
    assert "does not answer" in shown.stdout
    assert "000_\\u202etxt.exe.txt" in shown.stdout and "\u202e" not in shown.stdout
    as_json = run("ask", question, "--json", *where)
    assert "\u202e" not in as_json.stdout
    data = json.loads(as_json.stdout)  # the escape reads back as the file's real name
    assert "000_\u202etxt.exe.txt" in {e["doc"] for e in data["evidence"]}


def test_a_bad_history_entry_is_named(seeds_copy: Path, tmp_path: Path) -> None:
    where = ["--seeds", str(seeds_copy), "--index", str(tmp_path / "index")]
    empty = run(
        "ask", "And what did he say?", "--history", "Who met Austin?", "--history", " ", *where
    )
    assert empty.exit_code == 1 and empty.stderr.startswith("error: history entry 2 is empty")
    long = run("ask", "And what did he say?", "--history", "x" * 5000, *where)
    assert long.exit_code == 1 and long.stderr.startswith("error: history entry 1 is too long")
