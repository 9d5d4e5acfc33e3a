"""Where the public benchmark data is read from, and where prepared corpora are cached.

The data folder is a setting: an explicit folder (``qabot eval --data``, ``qabot bench
--data``), else ``$QABOT_BENCHMARKS``, else ``shared/benchmarks`` beside the checkout. Both
the accuracy benchmarks (``public_sets``) and the speed bench's real texts read it here.
"""

from __future__ import annotations

import os
from pathlib import Path

from qabot.paths import cache_dir

SHARED = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"
SOURCES = {
    "squad": Path("squad-v1.1-dev/dev-v1.1.json.gz"),
    "squad2": Path("squad-v2.0-dev-cs224n-half/dev-v2.0-cs224n.json.gz"),
    "scifact": Path("beir-scifact"),
}


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/qabot/bench``, else ``~/.cache/qabot/bench``."""
    return cache_dir("bench")


def data_root(data: Path | None = None) -> Path:
    """Where the benchmark files are: ``data`` when given, else ``$QABOT_BENCHMARKS``, else
    ``shared/benchmarks`` beside the checkout (found from the package, or from the current
    folder when installed)."""
    if data is not None:
        return data
    if os.environ.get("QABOT_BENCHMARKS"):
        return Path(os.environ["QABOT_BENCHMARKS"])
    beside_cwd = Path.cwd().resolve().parent / "shared" / "benchmarks"
    return SHARED if SHARED.is_dir() or not beside_cwd.is_dir() else beside_cwd


def source(name: str, data: Path | None = None) -> Path:
    """The file (SQuAD) or folder (SciFact) of benchmark ``name`` in the data folder."""
    return data_root(data) / SOURCES[name]
