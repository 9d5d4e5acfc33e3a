"""Reaching Milvus: a server or cluster by its URI, or Milvus Lite started here for the user.

``lite:DIR`` starts Milvus Lite (the ``milvus-lite`` package: an embedded server) with its
data in ``DIR``, on 127.0.0.1 only (it binds every interface unless told) and a free port,
and stops it by its process id when qabot is done. Any other URI (``http://host:19530``,
a cluster's proxy) is used as it is. Failures to reach it are one line, never a traceback.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    """A Milvus Lite process this qabot started; ``stop`` ends it by its process id."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: Path
    stopped: bool = field(default=False)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_lite(data_dir: Path, wait_seconds: float = START_SECONDS) -> LiteServer:
    """Start Milvus Lite on loopback with its data in ``data_dir``, and wait until it answers."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QabotError(f"cannot use {data_dir} for Milvus Lite's data: {exc.strerror}") from exc
    fd, name = tempfile.mkstemp(prefix="milvus-lite-", suffix=".log")
    log = Path(name)
    port = free_port()
    command = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, start_new_session=True
        )
    except OSError as exc:
        raise QabotError(f"cannot start Milvus Lite: {exc.strerror}") from exc
    finally:
        os.close(fd)
    server = LiteServer(process, port, data_dir, log)
    deadline = time.monotonic() + wait_seconds
    while True:
        if process.poll() is not None:
            raise QabotError(f"Milvus Lite stopped at start: {_last_line(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                break
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise QabotError(f"Milvus Lite did not start within {wait_seconds:.0f} s") from None
            time.sleep(0.1)
    return server


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][:200] if lines else "no message"


class Connection:
    """A client for a URI, and the Milvus Lite server it started, if any (closed together)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
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
            self.close()
            raise

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
