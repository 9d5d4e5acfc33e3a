"""Other formats read in a child process: the same documents as in process, a hard time
limit per file, and a child that dies costs at most its file (starts Python processes)."""

import os
import signal
import time
from pathlib import Path

import pytest

from qabot.ingest.extract_process import FileReader
from qabot.ingest.loading import read_document, scan
from qabot.records import Document, SkippedFile
from tests import documents
from tests.processes import children

pytestmark = pytest.mark.slow


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "report.pdf").write_bytes(
        documents.pdf([["The convoy reached Rafah on Friday."], ["Talks resume in Cairo."]])
    )
    (tmp_path / "notes.docx").write_bytes(documents.docx(["Gallant met Austin.", "Aid rose."]))
    (tmp_path / "page.html").write_bytes(
        documents.html("Aid", ["Forty trucks of flour crossed into Gaza on Friday morning."] * 3)
    )
    (tmp_path / "memo.md").write_text("# Memo\n\nThe **ceasefire** talks [resume](x.html).\n")
    (tmp_path / "plain.txt").write_text("A plain text file about the talks.\n")
    (tmp_path / "scan.pdf").write_bytes(documents.blank_pdf())
    return tmp_path


def test_the_child_reads_every_format_as_this_process_does(folder: Path) -> None:
    stats = scan(folder)[0]
    with FileReader() as reader:
        found = [reader.read(stat) for stat in stats]
    assert found == [read_document(stat) for stat in stats]
    assert sum(isinstance(f, Document) for f in found) == 5
    assert [f.name for f in found if isinstance(f, SkippedFile)] == ["scan.pdf"]


def test_a_file_past_the_time_limit_is_skipped_and_the_next_one_read(folder: Path) -> None:
    stats = {s.name: s for s in scan(folder)[0]}
    with FileReader(seconds=1.0) as reader:
        assert isinstance(reader.read(stats["memo.md"]), Document)  # the child is up
        (child,) = children()
        os.kill(child, signal.SIGSTOP)  # it can answer nothing now, however fast the machine
        given_up = reader.read(stats["report.pdf"])
        assert given_up == SkippedFile("report.pdf", "given up after 1 s extracting its text")
        assert child not in children()  # stopped by its process id
        assert reader.read(stats["notes.docx"]) == read_document(stats["notes.docx"])


def _wait_until_dead(pid: int) -> None:
    """Until the process has exited (a zombie its parent has not reaped yet)."""
    for _ in range(500):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not die")


def test_a_child_that_died_is_replaced_for_the_next_file(folder: Path) -> None:
    stats = {s.name: s for s in scan(folder)[0]}
    with FileReader() as reader:
        assert isinstance(reader.read(stats["memo.md"]), Document)
        (child,) = children()
        os.kill(child, signal.SIGKILL)
        _wait_until_dead(child)
        assert reader.read(stats["page.html"]) == read_document(stats["page.html"])


def test_plain_text_is_read_here_and_closing_stops_the_child(folder: Path) -> None:
    stats = {s.name: s for s in scan(folder)[0]}

    before = children()
    with FileReader() as reader:
        assert isinstance(reader.read(stats["plain.txt"]), Document)
        assert children() == before  # no child for plain text
        reader.read(stats["memo.md"])
        started = children() - before
        assert len(started) == 1
    assert not started & children()


def test_a_module_in_the_current_folder_does_not_shadow_the_childs(
    folder: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's folder may hold a json.py or qabot.py: the child imports its own."""
    here = tmp_path_factory.mktemp("cwd")
    (here / "json.py").write_text("raise SystemExit('the wrong json')\n")
    (here / "qabot.py").write_text("raise SystemExit('the wrong qabot')\n")
    monkeypatch.chdir(here)
    memo = next(s for s in scan(folder)[0] if s.name == "memo.md")
    with FileReader() as reader:
        assert reader.read(memo) == read_document(memo)
