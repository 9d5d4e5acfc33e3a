"""qabot's own helper processes (spaCy workers, the file extractor), started alike.

A helper is ``python -P -m qabot.<module>`` with this process's import path: ``-P`` keeps
the current folder off its path (a ``json.py`` or ``qabot.py`` there would be imported in
its place), and ``PYTHONPATH`` gives it the qabot this process runs, installed or not.
Helpers answer in JSON lines on their stdout, which a library's stray ``print`` must not
reach: ``answers`` hands a helper that stream and points ``sys.stdout`` at stderr.
"""

from __future__ import annotations

import os
import sys
from typing import IO


def command(module: str) -> list[str]:
    return [sys.executable, "-P", "-m", module]


def environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in sys.path if p)
    env.update(extra)
    return env


def answers() -> IO[str]:
    """In a helper: the stream its answers go to, now written by nothing else."""
    out = sys.stdout
    sys.stdout = sys.stderr
    return out
