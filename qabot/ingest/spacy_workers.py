"""spaCy on every core: worker processes that annotate texts and answer in JSON lines.

spaCy runs on one core. A large batch of new text is split into tasks of ``TASK_TEXTS``
texts, dealt round-robin to one worker process per core, and read back in order, so the
caller sees one ordered stream as if it had run spaCy itself.

The workers are plain ``python -m qabot.ingest.spacy_workers`` processes
(``qabot.ingest.helpers``), not ``multiprocessing``'s: spawn re-imports the caller's main
module in every child, which a user's script without an ``if __name__ == "__main__"``
guard does not survive, and fork is unsafe in the chat, whose index updates run on one of
several threads. A worker that dies (killed, out of memory) ends the pool: the caller
annotates the rest itself. At most ``MAX_WORKERS`` run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import IO

from qabot.ingest import helpers
from qabot.records import Entity

TASK_TEXTS = 64  # texts a task: spaCy's batch size
MAX_WORKERS = 8  # each holds its own spaCy (~200 MB) and takes ~2 s to start


def _encode(marks: list) -> str:
    return json.dumps(
        [[list(m.sentences), [[e.start, e.end, e.label] for e in m.entities]] for m in marks]
    )


def decode(line: str) -> list:
    """A worker's answer line back into ``Marks`` records."""
    from qabot.ingest.annotation import Marks

    return [
        Marks(
            tuple((int(s), int(e), bool(v)) for s, e, v in sentences),
            tuple(Entity(int(s), int(e), str(label)) for s, e, label in entities),
        )
        for sentences, entities in json.loads(line)
    ]


def _feed(stream: IO[str], tasks: list[list[str]]) -> None:
    """Write one worker's tasks (a thread each: the pipe blocks while the worker is busy)."""
    try:
        for task in tasks:
            stream.write(json.dumps(task) + "\n")
            stream.flush()
        stream.close()
    except (BrokenPipeError, OSError, ValueError):  # the worker died or was stopped
        pass


def annotate_in_workers(texts: list[str], workers: int) -> Iterator[list]:
    """Yield ``Marks`` lists task by task, in order; stops early if a worker fails.

    Stopping the generator (the caller was cancelled) stops the workers by process id; so
    does any failure to start them, which leaves the caller to annotate everything itself.
    """
    tasks = [texts[lo : lo + TASK_TEXTS] for lo in range(0, len(texts), TASK_TEXTS)]
    threads = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    workers = min(workers, MAX_WORKERS, len(tasks))
    procs: list[subprocess.Popen[str]] = []
    feeders: list[threading.Thread] = []
    try:
        for w in range(workers):
            try:
                proc = helpers.start("qabot.ingest.spacy_workers", subprocess.DEVNULL, **threads)
            except OSError:  # no processes or file handles to spare
                return
            procs.append(proc)
            assert proc.stdin is not None
            mine = tasks[w::workers]
            feeder = threading.Thread(target=_feed, args=(proc.stdin, mine), daemon=True)
            feeder.start()
            feeders.append(feeder)
        for t in range(len(tasks)):
            stdout = procs[t % len(procs)].stdout
            assert stdout is not None
            line = stdout.readline()
            if not line:
                return
            try:
                marks = decode(line)
            except (ValueError, TypeError):
                return
            if len(marks) != len(tasks[t]):
                return
            yield marks
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        for feeder in feeders:
            feeder.join(timeout=5)


def serve(stdin: IO[str], stdout: IO[str]) -> None:
    """A worker: load spaCy, then answer each line (a JSON list of texts) with one line."""
    from qabot.ingest.annotation import mark, warm

    warm()
    for line in stdin:
        stdout.write(_encode(mark(json.loads(line))) + "\n")
        stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin, helpers.answers())
