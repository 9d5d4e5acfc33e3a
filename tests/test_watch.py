"""Watching the seeds: a file written is answerable within seconds, one removed is no longer
cited, without a restart; by the library, by ``qabot index --watch``."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from qabot.api import QABot
from qabot.errors import QabotError
from qabot.index import watch as watch_module

pytestmark = pytest.mark.slow

FACT = (
    "The Zorblat Lantern Festival was founded in 1987 by the glassmaker Mira Quell in the "
    "harbour town of Osterhaven, which has hosted it every June since then.\n"
)
QUESTION = "Who founded the Zorblat Lantern Festival?"
WAIT = 60.0  # seconds: a bound for a loaded machine, not a speed requirement


def _next(outcomes: queue.Queue, want: str) -> object:
    """The next outcome whose changes include ``want`` ("added", "removed")."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            outcome = outcomes.get(timeout=1.0)
        except queue.Empty:
            continue
        assert not isinstance(outcome, QabotError), outcome
        if getattr(outcome, want):
            return outcome
    raise AssertionError(f"no update with files {want} within {WAIT} s")


@pytest.fixture
def watched(seeds_copy: Path, tmp_path: Path) -> Iterator[tuple[QABot, queue.Queue]]:
    bot = QABot(seeds_copy, tmp_path / "index")
    stop = threading.Event()
    outcomes: queue.Queue = queue.Queue()

    def watch() -> None:
        for outcome in bot.watch(stop):
            outcomes.put(outcome)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    time.sleep(0.5)  # the watch is set up before the first write
    yield bot, outcomes
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()  # stopping the watch ends it


def test_a_seed_written_is_answered_from_and_a_removed_one_no_longer_cited(watched) -> None:
    bot, outcomes = watched
    assert not any("Mira Quell" in a.text for a in bot.ask(QUESTION).answers)
    new = bot.seeds_dir / "zorblat.txt"
    new.write_text(FACT, encoding="utf-8")
    assert _next(outcomes, "added").added == ["zorblat.txt"]
    answer = bot.ask(QUESTION).answers[0]
    assert answer.doc == "zorblat.txt" and "Mira Quell" in answer.text
    new.unlink()
    assert _next(outcomes, "removed").removed == ["zorblat.txt"]
    result = bot.ask(QUESTION)
    assert all(c.doc != "zorblat.txt" for a in result.answers for c in a.citations)
    assert all(e.doc != "zorblat.txt" for e in result.evidence)


def _watching(
    seeds: Path, polling: bool = False
) -> tuple[threading.Event, queue.Queue, threading.Thread]:
    stop = threading.Event()
    seen: queue.Queue = queue.Queue()

    def watch() -> None:
        try:
            for names in watch_module.seed_changes(seeds, stop, polling=polling):
                seen.put(names)
        except Exception as exc:  # what would end the watch: the test says it
            seen.put(exc)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    time.sleep(0.5)  # the watch is set up before the first write
    return stop, seen, thread


def test_a_file_is_reported_once_it_holds_still_and_hidden_files_are_not_watched(
    seeds_copy: Path,
) -> None:
    stop, seen, thread = _watching(seeds_copy)
    (seeds_copy / ".draft.txt").write_text(FACT, encoding="utf-8")
    (seeds_copy / "notes.txt~").write_text(FACT, encoding="utf-8")  # an editor's backup
    with (seeds_copy / "slow.txt").open("w", encoding="utf-8") as fh:
        for _ in range(10):  # 3 s of writes, each sooner after the last than the settle time
            fh.write(FACT)
            fh.flush()
            time.sleep(0.3)
    assert seen.empty()  # nothing was reported while the file was still being written
    assert seen.get(timeout=WAIT) == ["slow.txt"]
    time.sleep(2.5)  # long enough for a second report, were there one
    stop.set()
    thread.join(timeout=10)
    assert list(seen.queue) == [] and not thread.is_alive()


def test_a_polling_watch_reports_files_written_and_removed(seeds_copy: Path) -> None:
    """Where the system cannot watch the folder, the watch looks at it every second."""
    stop, seen, thread = _watching(seeds_copy, polling=True)
    (seeds_copy / "polled.txt").write_text(FACT, encoding="utf-8")
    assert seen.get(timeout=WAIT) == ["polled.txt"]
    (seeds_copy / "polled.txt").unlink()
    assert seen.get(timeout=WAIT) == ["polled.txt"]
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_seed_removed_is_reported_though_the_watch_never_saw_it_written(
    seeds_copy: Path,
) -> None:
    stop, seen, thread = _watching(seeds_copy)
    first = sorted(seeds_copy.iterdir())[0]
    first.unlink()
    assert seen.get(timeout=WAIT) == [first.name]
    stop.set()
    thread.join(timeout=10)


def test_a_file_name_the_watcher_cannot_read_does_not_end_the_watch(seeds_copy: Path) -> None:
    stop, seen, thread = _watching(seeds_copy)
    fd = os.open(os.fsencode(seeds_copy) + b"/bad\xff.txt", os.O_CREAT | os.O_WRONLY)
    os.write(fd, FACT.encode())
    os.close(fd)
    time.sleep(2.0)
    (seeds_copy / "ok.txt").write_text(FACT, encoding="utf-8")
    reports: list = []
    names: set[str] = set()
    deadline = time.monotonic() + WAIT
    while "ok.txt" not in names:
        assert time.monotonic() < deadline, reports
        reports.append(seen.get(timeout=WAIT))
        assert not isinstance(reports[-1], Exception), reports
        names.update(reports[-1])
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


# A child inherits an ignored SIGINT (as a test run may have it), and Python then never
# turns Ctrl+C into KeyboardInterrupt: the child puts Python's handler back itself. Not with
# Popen's preexec_fn, which forks the test process: gRPC (the Milvus tests load it) runs
# fork handlers there that log to stderr, the child's too, ahead of the line a test expects.
_CLI = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'qabot'; from qabot.cli import main; main()"
)


@contextmanager
def _qabot(seeds: Path, index: Path, *args: str) -> Iterator[subprocess.Popen]:
    """``qabot ARGS`` in a process of its own on ``seeds``, its standard streams piped;
    killed if it is still running when the test is done with it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CLI, *args, "--seeds", str(seeds), "--index", str(index)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)


def test_index_watch_prints_each_update_and_stops_on_ctrl_c(seeds_copy: Path, tmp_path: Path):
    with _qabot(seeds_copy, tmp_path / "index", "index", "--watch") as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("indexed: 5 added")
        time.sleep(1.0)  # the first index is written; the watch starts right after it
        (seeds_copy / "zorblat.txt").write_text(FACT, encoding="utf-8")
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert lines[0].startswith("indexed: 1 added, 0 changed, 0 removed, 5 unchanged")
        assert lines[1].strip() == "added zorblat.txt"
        answer = QABot(seeds_copy, tmp_path / "index", refresh=False).ask(QUESTION).answers[0]
        assert answer.doc == "zorblat.txt"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)  # a bound for a loaded machine
    assert proc.returncode == 0, err
    assert err.strip().splitlines()[-1] == "stopped watching"


def test_the_line_chat_answers_from_a_file_written_while_it_is_open(seeds_copy: Path, tmp_path):
    with _qabot(seeds_copy, tmp_path / "index", "chat", "--plain") as proc:
        assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
        assert proc.stdout.readline().startswith("qabot: 5 documents")
        time.sleep(1.0)  # the watch starts right after the banner
        (seeds_copy / "zorblat.txt").write_text(FACT, encoding="utf-8")
        said = proc.stderr.readline()
        assert said.startswith("(index: 1 added") and "added zorblat.txt" in said
        out, _ = proc.communicate(QUESTION + "\n", timeout=120)
    assert proc.returncode == 0
    assert "Mira Quell" in out and "[1] zorblat.txt" in out
