"""No network: ``index`` and ``ask`` in a process whose sockets refuse to connect (and in a
network namespace without interfaces where ``unshare`` is allowed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .built_index import QUESTIONS, Built

pytestmark = pytest.mark.slow

GUARD = """
import os, socket, sys
log = os.environ["QABOT_NET_LOG"]
def refuse(*args, **kwargs):
    with open(log, "a") as fh:
        fh.write(repr(args)[:300] + "\\n")
    raise OSError("network disabled by the test")
for name in ("connect", "connect_ex", "sendto", "sendmsg"):
    setattr(socket.socket, name, refuse)
socket.create_connection = socket.getaddrinfo = socket.gethostbyname = refuse
import atexit
atexit.register(lambda: print("HF_HUB_OFFLINE=" + os.environ.get("HF_HUB_OFFLINE", ""),
                              file=sys.stderr))
from qabot.cli import main
sys.argv[0] = "qabot"
main()
"""


def _network_namespace() -> list[str]:
    """``unshare -rn`` where this machine allows it: a namespace with no network at all."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"]
    return []


def test_index_and_ask_work_with_the_network_gone(built: Built, tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS")) and "proxy" not in k
    }
    env |= {
        "QABOT_NET_LOG": str(tmp_path / "net.log"),
        "HF_HOME": str(tmp_path / "empty-hf-home"),  # no cache to fall back on
    }
    jail = _network_namespace()
    args = ["--seeds", str(built.seeds), "--index", str(tmp_path / "index")]
    outputs = []
    for command in (["index", *args], ["ask", QUESTIONS[0], *args]):
        run = subprocess.run(
            [*jail, sys.executable, "-c", GUARD, *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        assert "HF_HUB_OFFLINE=1" in run.stderr  # qabot set it itself: the env had none
        outputs.append(run.stdout)
    assert "5 added" in outputs[0]
    assert "Yoav Gallant" in outputs[1]
    assert not (tmp_path / "net.log").exists(), (tmp_path / "net.log").read_text()
    print(f"\noffline run {'in a network namespace and ' if jail else ''}with sockets refusing")
