"""Files of other formats read in a child process, with a hard time limit per file.

A parser can hang on a hostile or pathological file (a PDF page whose content stream never
ends, HTML nested beyond reason), and in-process nothing stops it short of killing qabot.
So Markdown, HTML, PDF and Word files are read by one child process
(``python -m qabot.ingest.extract_process``), one file at a time. Past ``SECONDS_PER_FILE``
the child is killed by its process id, the file is skipped with that reason, and a new
child takes the next file; a child that dies (a crash in a C library, out of memory) costs
only its file, and says why when it can. Should no child start at all, files are read here,
without the limit. Plain text stays in this process: decoding it cannot hang.
"""

from __future__ import annotations

import json
import math
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO

from qabot.ingest import helpers
from qabot.ingest.formats import kind_of
from qabot.ingest.loading import FileStat, read_document
from qabot.records import Document, SkippedFile

SECONDS_PER_FILE = 60.0


def _to_json(found: Document | SkippedFile) -> str:
    if isinstance(found, SkippedFile):
        return json.dumps({"skipped": found.reason})
    return json.dumps(
        {
            "text": found.text,
            "sha256": found.sha256,
            "size": found.size,
            "kind": found.kind,
            "marks": list(found.marks),
            "unit": found.unit,
        }
    )


def _from_json(stat: FileStat, line: str) -> Document | SkippedFile:
    row = json.loads(line)
    if "skipped" in row:
        return SkippedFile(stat.name, str(row["skipped"]))
    return Document(
        stat.name,
        str(row["text"]),
        str(row["sha256"]),
        int(row["size"]),
        stat.mtime_ns,
        str(row["kind"]),
        tuple(int(m) for m in row["marks"]),
        str(row["unit"]),
    )


class FileReader:
    """``read_document`` for every file; other formats than plain text in the child."""

    def __init__(self, seconds: float = SECONDS_PER_FILE) -> None:
        self.seconds = seconds
        self._child: subprocess.Popen[str] | None = None
        self._errors: IO[bytes] | None = None  # the child's stderr, for why it stopped

    def __enter__(self) -> FileReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def read(self, stat: FileStat) -> Document | SkippedFile:
        if kind_of(stat.name) in (None, "text"):
            return read_document(stat)
        was_running = self._child is not None and self._child.poll() is None
        found = self._ask(stat)
        if found is None and was_running:  # it may have died after the file before: retry
            found = self._ask(stat)
        if found is None:
            return SkippedFile(stat.name, f"the extractor stopped while reading it{self._why()}")
        return found

    def _ask(self, stat: FileStat) -> Document | SkippedFile | None:
        """The child's answer for one file; None if it died without one."""
        try:
            child = self._start()
        except OSError:  # no process to spare: read it here, without the time limit
            return read_document(stat)
        assert child.stdin is not None and child.stdout is not None
        request = {"name": stat.name, "path": str(stat.path), "size": stat.size}
        try:
            child.stdin.write(
                json.dumps({**request, "mtime_ns": stat.mtime_ns, "seconds": self.seconds}) + "\n"
            )
            child.stdin.flush()
        except OSError:
            return None
        ready, _, _ = select.select([child.stdout], [], [], self.seconds)
        if not ready:
            self.close()
            return SkippedFile(stat.name, f"given up after {self.seconds:g} s extracting its text")
        line = child.stdout.readline()
        if not line:
            return None
        try:
            return _from_json(stat, line)
        except (ValueError, KeyError, TypeError):  # out of step with it: start afresh
            self.close()
            return SkippedFile(stat.name, "the extractor's answer could not be read")

    def _start(self) -> subprocess.Popen[str]:
        if self._child is None or self._child.poll() is not None:
            self.close()
            self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the child)
            self._child = helpers.start("qabot.ingest.extract_process", self._errors)
        return self._child

    def _why(self) -> str:
        """The last line the child wrote to stderr, if any, as ``: reason``."""
        if self._errors is None:
            return ""
        self._errors.seek(0)
        lines = self._errors.read().decode("utf-8", "replace").strip().splitlines()
        self.close()
        return f": {' '.join(lines[-1].split())[:200]}" if lines else ""

    def close(self) -> None:
        """Stop the child, by its process id."""
        child, self._child = self._child, None
        if child is not None:
            if child.poll() is None:
                child.kill()
            child.wait()
            for stream in (child.stdin, child.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
        errors, self._errors = self._errors, None
        if errors is not None:
            errors.close()


def serve(stdin: IO[str], stdout: IO[str]) -> None:
    """The child: each line names a file; the answer is one line, its text or why not.
    An alarm stops it past the time limit even if qabot is gone and cannot."""
    for line in stdin:
        request = json.loads(line)
        stat = FileStat(
            request["name"], Path(request["path"]), request["size"], request["mtime_ns"]
        )
        signal.alarm(math.ceil(request["seconds"]) + 1)
        found = read_document(stat)
        signal.alarm(0)
        stdout.write(_to_json(found) + "\n")
        stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin, helpers.answers())
