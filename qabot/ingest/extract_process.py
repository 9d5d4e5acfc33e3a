"""Files of other formats read in a child process, with a hard time limit per file.

A parser can hang on a hostile or pathological file (a PDF page whose content stream never
ends, HTML nested beyond reason), and in-process nothing stops it short of killing qabot.
So Markdown, HTML, PDF and Word files are read by one child process
(``python -m qabot.ingest.extract_process``), one file at a time. Past ``SECONDS_PER_FILE``
the child is killed by its process id, the file is skipped with that reason, and a new
child takes the next file; a child that dies (a crash in a C library, out of memory) costs
only its file. Plain text stays in this process: decoding it cannot hang.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import IO

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
        child = self._start()
        assert child.stdin is not None and child.stdout is not None
        request = {"name": stat.name, "path": str(stat.path), "size": stat.size}
        try:
            child.stdin.write(json.dumps({**request, "mtime_ns": stat.mtime_ns}) + "\n")
            child.stdin.flush()
        except OSError:
            self.close()
            return SkippedFile(stat.name, "the extractor stopped before reading it")
        ready, _, _ = select.select([child.stdout], [], [], self.seconds)
        if not ready:
            self.close()
            return SkippedFile(stat.name, f"given up after {self.seconds:g} s extracting its text")
        line = child.stdout.readline()
        if not line:
            self.close()
            return SkippedFile(stat.name, "the extractor stopped while reading it")
        return _from_json(stat, line)

    def _start(self) -> subprocess.Popen[str]:
        if self._child is None or self._child.poll() is not None:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "qabot.ingest.extract_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
            )
        return self._child

    def close(self) -> None:
        """Stop the child, by its process id."""
        child, self._child = self._child, None
        if child is None:
            return
        if child.poll() is None:
            child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


def serve(stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout) -> None:
    """The child: each line names a file; the answer is one line, its text or why not."""
    for line in stdin:
        request = json.loads(line)
        stat = FileStat(
            request["name"], Path(request["path"]), request["size"], request["mtime_ns"]
        )
        stdout.write(_to_json(read_document(stat)) + "\n")
        stdout.flush()


if __name__ == "__main__":
    serve()
