"""Reaching Milvus: a server or cluster by its URI, or Milvus Lite started here for the user.

``lite:DIR`` starts Milvus Lite (the ``milvus-lite`` package: an embedded server) with its
data in ``DIR``, on 127.0.0.1 only (it binds every interface unless told) and a free port,
and stops it by its process id when qabot is done. Its log is ``DIR/milvus-lite.log``, and
``DIR/qabot-lite.json`` records the running server (process id, port): Milvus Lite locks
its folder, so a second qabot on the same ``DIR`` is told which process holds it and the
URI to use instead. Any other URI (``http://host:19530``, a cluster's proxy) is used as it
is. One connection per URI is shared within a process. Failures to reach it are one line,
never a traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from qabot.errors import QabotError

LITE_PREFIX = "lite:"
START_SECONDS = 60.0  # Milvus Lite answers in about a second on a quiet machine
CONNECT_SECONDS = 10.0
STOP_SECONDS = 10.0


def client(uri: str, timeout: float = CONNECT_SECONDS) -> Any:
    """A ``MilvusClient`` for ``uri``; QabotError when nothing answers there."""
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    # pymilvus logs every failed call at ERROR with a traceback (its logging is configured at
    # its import); qabot reports failures itself, in one line
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("pymilvus")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)

    try:
        made = MilvusClient(uri=uri, timeout=timeout)
        made.list_collections(timeout=timeout)
    except (MilvusException, OSError, ValueError) as exc:
        raise QabotError(f"cannot reach Milvus at {uri}: {_reason(exc)}") from exc
    return made


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return " ".join(str(text).split())[:200] or type(exc).__name__


@dataclass
class LiteServer:
    """A Milvus Lite process; ``stop`` ends it by its process id if this qabot started it."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    stopped: bool = field(default=False)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / LOG

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGINT)  # Milvus Lite closes its data on SIGINT
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(OSError):
            (self.data_dir / RECORD).unlink()


LOG = "milvus-lite.log"
RECORD = "qabot-lite.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _running(data_dir: Path) -> tuple[int, int] | None:
    """The process id and port of a server another qabot started on ``data_dir``, if it
    still runs and answers."""
    try:
        record = json.loads((data_dir / RECORD).read_text(encoding="utf-8"))
        pid, port = int(record["pid"]), int(record["port"])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not any(b"milvus_lite" in part for part in cmdline) or str(data_dir).encode() not in cmdline:
        return None
    return (pid, port) if _answers(port) else None


def start_lite(data_dir: Path, wait_seconds: float = START_SECONDS) -> LiteServer:
    """Milvus Lite started on loopback with its data in ``data_dir``, once it answers."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QabotError(f"cannot use {data_dir} for Milvus Lite's data: {exc.strerror}") from exc
    running = _running(data_dir)
    if running is not None:
        pid, port = running
        raise QabotError(
            f"Milvus Lite's data in {data_dir} is in use by process {pid} (another qabot?): "
            f"use --milvus-uri http://127.0.0.1:{port} while it runs"
        )
    port = free_port()
    # SIGINT makes Milvus Lite close its data cleanly; a qabot started with SIGINT ignored
    # (a background job) would pass that on, so the handler is put back first
    start = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from milvus_lite.cmdline import main; sys.exit(main())"
    )
    command = [sys.executable, "-c", start, "server", "--data-dir", str(data_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    try:
        with (data_dir / LOG).open("wb") as log:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
    except OSError as exc:
        raise QabotError(f"cannot start Milvus Lite: {exc.strerror}") from exc
    server = LiteServer(process, port, data_dir)
    deadline = time.monotonic() + wait_seconds
    while not _answers(port):
        if process.poll() is not None:
            raise QabotError(f"Milvus Lite stopped at start: {_last_line(server.log)}")
        if time.monotonic() > deadline:
            server.stop()
            raise QabotError(f"Milvus Lite did not start within {wait_seconds:.0f} s")
        time.sleep(0.1)
    record = json.dumps({"pid": process.pid, "port": port})
    with contextlib.suppress(OSError):
        (data_dir / RECORD).write_text(record, encoding="utf-8")
    return server


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][:200] if lines else "no message"


class Connection:
    """A client for a URI, and the Milvus Lite server it started, if any. ``open`` shares one
    per URI within the process; the last ``close`` stops the server."""

    _shared: ClassVar[dict[str, Connection]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.users = 0
        self.server: LiteServer | None = None
        if uri.startswith(LITE_PREFIX):
            path = uri[len(LITE_PREFIX) :]
            if not path:
                raise QabotError("a lite: Milvus URI names a folder for its data: lite:DIR")
            self.server = start_lite(Path(path).expanduser().resolve())
            target = self.server.uri
        else:
            target = uri
        try:
            self.client = client(target)
        except QabotError:
            self.stop()
            raise

    @classmethod
    def open(cls, uri: str) -> Connection:
        with cls._lock:
            made = cls._shared.get(uri)
            if made and made.server and made.server.process.poll() is not None:
                made = None  # its Milvus Lite died: start another
            if made is None:
                made = cls._shared[uri] = cls(uri)
                atexit.register(made.stop)  # a Lite server never outlives qabot's exit
            made.users += 1
            return made

    def close(self) -> None:
        with self._lock:
            self.users -= 1
            if self.users > 0:
                return
            self._shared.pop(self.uri, None)
        self.stop()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
