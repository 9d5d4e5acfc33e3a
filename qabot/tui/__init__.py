"""The Textual chat (``qabot`` / ``qabot chat``): a thin shell over ``qabot.api.QABot``."""

from __future__ import annotations

import os
from pathlib import Path


def history_path() -> Path:
    """Where the questions asked in the chat are kept for ↑ in later sessions."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "qabot" / "questions.jsonl"


def run(
    seeds_dir: Path | str = "seeds", index_dir: Path | str = "index", *, watch: bool = True
) -> int:
    """Open the chat and return its exit status (Textual's, e.g. 1 after a crash);
    ``watch``: index changes to the seeds as they happen.

    Imported lazily so the CLI's other commands never pay for Textual.
    """
    from qabot.tui.app import QabotApp

    app = QabotApp(seeds_dir, index_dir, history_file=history_path(), watch=watch)
    app.run()
    return app.return_code or 0
