"""Hostile input, on the real seeds: messy seeds folders and strange questions are skipped
with a reason, or answered, never a crash; corpus text reaches the terminal inert."""

from __future__ import annotations

import codecs
import json
import os
import shutil
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from qabot.api import QABot
from qabot.cli import main
from qabot.errors import QabotError
from qabot.index.load import is_stale, load_index

from .built_index import Built, copy_index, signature
from .conftest import SEEDS, file_text

pytestmark = pytest.mark.slow

# --------------------------------------------------------------------------- bad seeds


def messy_seeds(root: Path) -> dict[str, str]:
    """A seeds folder with every kind of trouble; returns name -> expected outcome
    ("indexed" or a fragment of the skip reason)."""
    root.mkdir()
    real = sorted(SEEDS.iterdir())
    expected: dict[str, str] = {}

    def put(name: str, data: bytes, outcome: str) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[name] = outcome
        return path

    # the real articles, under nested folders and awkward names
    put("news/2024 march/Gaza report 1.txt", real[0].read_bytes(), "indexed")
    put("news/ünïcödé/état-major – 2.txt", real[1].read_bytes(), "indexed")
    put("deep/a/b/c/d/e/3.md", real[2].read_bytes(), "indexed")
    put("spaces in name.txt", real[3].read_bytes(), "indexed")
    put(
        "BOM and CRLF.txt",
        b"\xef\xbb\xbf" + real[4].read_bytes().replace(b"\n", b"\r\n"),
        "indexed",
    )
    put("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64), "binary file")
    put("late nul.txt", b"A" * 9000 + b"\x00" + b"B" * 10, "binary file")
    put("latin-1.txt", "Le ministre a déclaré".encode("latin-1"), "not UTF-8 text")
    put("utf-16.txt", "Hello there".encode("utf-16"), "UTF-16 text (save it as UTF-8)")
    put("utf-16-be.txt", codecs.BOM_UTF16_BE + "Hi".encode("utf-16-be"), "UTF-16 text")
    put("empty.txt", b"", "empty file")
    put("blank.md", b" \n\t\n  \r\n", "empty file")
    big = put("huge.txt", b"", "too large (100 MB; limit 50 MB)")
    os.truncate(big, 100 * 1024 * 1024)  # sparse: instant, takes no disk
    os.symlink("loop-b.txt", root / "loop-a.txt")
    os.symlink("loop-a.txt", root / "loop-b.txt")
    expected["loop-a.txt"] = expected["loop-b.txt"] = "cannot stat"
    os.symlink("nowhere.txt", root / "dangling.txt")
    expected["dangling.txt"] = "cannot stat"
    os.symlink(".", root / "self-loop")
    expected["self-loop/"] = "symlinked folder"
    os.mkfifo(root / "pipe.txt")  # reading it would block forever
    expected["pipe.txt"] = "not a regular file"
    put("folder.txt/inside.txt", b"A note inside a folder whose name ends in .txt.", "indexed")
    bad_name = os.fsencode(root) + b"/caf\xe9.txt"
    with open(bad_name, "wb") as fh:
        fh.write(b"Readable text, unreadable name.")
    expected["caf\\xe9.txt"] = "file name is not valid UTF-8"
    put("evil\x1b[2J\n.txt", b"Text behind a name that clears the screen.", "control characters")
    expected["evil\\x1b[2J\\x0a.txt"] = expected.pop("evil\x1b[2J\n.txt")
    put(".hidden.txt", b"never read", "ignored")
    put("picture.png", b"\x89PNG", "ignored")
    locked = put("no permission.txt", b"Secret text nobody may read.", "permission denied")
    locked.chmod(0)
    closed = root / "closed folder"
    put("closed folder/inside.txt", b"Text in a folder nobody may list.", "ignored")
    closed.chmod(0)
    expected["closed folder/"] = "cannot read folder"
    if os.geteuid() == 0:  # root reads and lists anything: the file is simply indexed
        expected["no permission.txt"] = "indexed"
        expected.pop("closed folder/")
        expected["closed folder/inside.txt"] = "indexed"
    return expected


def test_messy_seeds_folder(built: Built, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    expected = messy_seeds(seeds)
    index_dir = tmp_path / "index"
    try:
        result = CliRunner().invoke(
            main, ["index", "--seeds", str(seeds), "--index", str(index_dir)]
        )
        again = CliRunner().invoke(
            main, ["index", "--seeds", str(seeds), "--index", str(index_dir)]
        )
        stale = is_stale(seeds, load_index(index_dir).manifest)
    finally:
        (seeds / "no permission.txt").chmod(0o644)
        (seeds / "closed folder").chmod(0o755)
    assert result.exit_code == 0, result.output
    assert b"\x1b" not in result.stdout_bytes
    index = load_index(index_dir)
    skipped = {s.name: s.reason for s in index.manifest.skipped}
    for name, outcome in expected.items():
        if outcome == "indexed":
            assert name in index.manifest.files, name
        elif outcome == "ignored":
            assert name not in index.manifest.files and name not in skipped
        else:
            assert outcome in skipped[name], (name, skipped.get(name))
            assert f"skipped {name}: {skipped[name]}" in result.stdout
    assert set(index.manifest.files) == {n for n, o in expected.items() if o == "indexed"}
    # the articles answer as they do in the clean folder, quoting exact text
    bot = QABot(seeds, index_dir, refresh=False)
    for (abstained, quotes), (old_abstained, old_quotes) in zip(
        signature(bot), built.old_answers, strict=True
    ):
        assert abstained == old_abstained
        assert quotes[:1] == () or quotes[0][0] == old_quotes[0][0]  # the same best quote
        for text, doc, start, end in quotes:
            assert file_text(seeds, doc)[start:end] == text
    # a messy folder is not "always stale": the second run has nothing to do
    assert again.exit_code == 0 and "0 texts embedded" in again.stdout
    assert not stale


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "error: seeds folder not found"),
        (lambda p: p.mkdir(), "error: no readable documents in"),
        (lambda p: p.write_text("a file", encoding="utf-8"), "error: seeds path is not a folder"),
        (
            lambda p: (p.mkdir(), (p / "x.txt").write_bytes(b"\x00bin")),
            "error: no readable documents in",
        ),
    ],
    ids=["missing", "empty", "a file", "only bad files"],
)
def test_unusable_seeds_folder_is_one_line(make, message: str, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    make(seeds)
    for command in (["index"], ["ask", "Who?"]):
        result = CliRunner().invoke(
            main, [*command, "--seeds", str(seeds), "--index", str(tmp_path / "index")]
        )
        assert result.exit_code == 1
        assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
        assert "Traceback" not in result.output


# --------------------------------------------------------------------------- bad questions

QUESTION_CASES = {
    "empty": "",
    "whitespace": " \t\n\r ",
    "1 MB": "x" * 1_000_000,
    "1 MB of words": "Who is the defense minister? " * 40_000,
    "control characters": "Who\x00 is\x07 Israel's\x1b[31m defense\x9b minister?\x1b[0m",
    "only punctuation": "?!?... ;;; ---",
    "Chinese": "以色列国防部长是谁？",
    "Arabic": "من هو وزير الدفاع الإسرائيلي؟",
    "emoji": "🚀🔥💣❓",
    "emoji and words": "👉 Who is Israel's defense minister? 🤔",
    "lone surrogate": "Who is \ud800 Gallant?",
    "right-to-left override": "\u202eWho is Israel's defense minister?",
    "zero-width": "Who\u200b is\u200d Gallant\ufeff?",
    "combining marks": "Gallant" + "\u0301" * 900,
    "just under the limit": "Gaza aid ceasefire Rafah " * 39,
    "stopwords": "who is it that was there",
}


@pytest.mark.parametrize("case", QUESTION_CASES)
def test_strange_questions(case: str, bot: QABot) -> None:
    question = QUESTION_CASES[case]
    huge = len(question) > 100_000
    if huge:  # memory stays bounded: the text is refused before anything is built from it
        tracemalloc.start()
    outcomes: list[str] = []
    for history in ([], [question[:500], "Who is Gallant?"]):
        try:
            result = bot.ask(question, history=history)
        except QabotError as exc:
            message = str(exc)
            assert message and "\n" not in message and len(message) < 200
            outcomes.append(message)
            continue
        for answer in result.answers:
            assert file_text(SEEDS, answer.doc)[answer.start : answer.end] == answer.text
        assert result.answers or result.abstained
        assert "\x1b" not in result.question and "\x00" not in result.question
        outcomes.append("abstained: " + result.note if result.abstained else "answered")
    if huge:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 16 * 1024 * 1024, f"{peak / 1e6:.0f} MB"
    first = outcomes[0]
    if case in ("empty", "whitespace"):
        assert first == "question is empty"
    elif huge:
        assert first.startswith("question is too long")
    elif case in ("only punctuation", "emoji", "stopwords"):
        assert first.startswith("abstained: the question has no words")
    else:
        assert not first.startswith("question"), first


def test_strange_questions_on_the_command_line(built: Built, tmp_path: Path) -> None:
    index_dir = copy_index(built, tmp_path / "index")
    args = ["--seeds", str(built.seeds), "--index", str(index_dir)]
    for question in ("🚀🔥💣", "?!?", "以色列国防部长是谁？", "x" * 100_001, "   "):
        result = CliRunner().invoke(main, ["ask", question, *args])
        assert "Traceback" not in result.output
        if result.exit_code:
            assert result.exit_code == 1 and result.stderr.count("\n") == 1
        else:
            assert result.stdout.startswith("Q: ")


# --------------------------------------------------------------------------- terminal


def test_corpus_text_reaches_the_terminal_inert(built: Built, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(built.seeds, seeds)
    hostile = (
        "# Monitor report\n\n"
        "The ceasefire monitor \x1b[31mZebulon Quarry\x1b[0m counted [bold]forty-two[/bold] "
        "violations on Tuesday.\x07 The report \x9b2J was filed in [link=http://x]Geneva[/link].\n"
    )
    (seeds / "hostile.txt").write_text(hostile, encoding="utf-8")
    args = ["--seeds", str(seeds), "--index", str(tmp_path / "index")]
    question = "How many violations did the ceasefire monitor count?"
    plain = CliRunner().invoke(main, ["ask", question, *args])
    assert plain.exit_code == 0, plain.output
    out = plain.stdout_bytes
    assert b"\x1b" not in out and b"\x07" not in out and "\x9b".encode() not in out
    assert "\\x1b[31mZebulon Quarry\\x1b[0m" in plain.stdout
    assert "[bold]forty-two[/bold]" in plain.stdout  # shown, not interpreted as markup

    as_json = CliRunner().invoke(main, ["ask", question, "--json", *args])
    assert b"\x1b" not in as_json.stdout_bytes and "\x9b".encode() not in as_json.stdout_bytes
    data = json.loads(as_json.stdout)  # still exact: the escapes are JSON's, not lost
    # answered or not, the hostile paragraph is quoted (as an answer or as evidence)
    quoted = [q for q in data["answers"] + data["evidence"] if q["doc"] == "hostile.txt"]
    assert quoted and all(hostile[q["start"] : q["end"]] == q["text"] for q in quoted)
    assert any("\x1b[31mZebulon" in q["text"] for q in quoted)
