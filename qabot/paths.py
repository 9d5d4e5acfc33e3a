"""Where qabot keeps what it can rebuild: converted models, benchmark indexes, training runs."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/qabot/...``, else ``~/.cache/qabot/...`` (the XDG rule)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base, "qabot", *parts)
