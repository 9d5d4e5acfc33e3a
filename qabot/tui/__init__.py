"""The Textual chat (``qabot`` / ``qabot chat``): a thin shell over ``qabot.api.QABot``."""

from __future__ import annotations

from pathlib import Path


def run(seeds_dir: Path | str = "seeds", index_dir: Path | str = "index") -> None:
    """Open the chat; imported lazily so the CLI's other commands never pay for Textual."""
    from qabot.tui.app import QabotApp

    QabotApp(seeds_dir, index_dir).run()
