"""qabot's own helper processes (spaCy workers, the file extractor), started alike.

A helper is ``python -P -m qabot.<module>`` with this process's import path: ``-P`` keeps
the current folder off its path (a ``json.py`` or ``qabot.py`` there would be imported in
its place), and ``PYTHONPATH`` gives it the qabot this process runs, installed or not.
Helpers answer in JSON lines on their stdout, which a library's stray ``print`` must not
reach: ``answers`` hands a helper that stream and points ``sys.stdout`` at stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import IO


def start(module: str, stderr: int | IO[bytes], **env: str) -> subprocess.Popen[str]:
    """Start helper ``module`` with text pipes for its stdin and stdout (UTF-8), ``stderr``
    where it says, and ``env`` added to this process's environment. Raises OSError when no
    process can be started."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in sys.path if p)
    environment.update(env)
    return subprocess.Popen(
        [sys.executable, "-P", "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        encoding="utf-8",
        env=environment,
    )


def answers() -> IO[str]:
    """In a helper: the stream its answers go to, now written by nothing else."""
    out = sys.stdout
    sys.stdout = sys.stderr
    return out
