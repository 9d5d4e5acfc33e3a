"""A chat process that exits at its first paint and prints the seconds since its parent
started it (read by ``asking.paint_seconds``): Textual headless renders the same screens,
without a terminal to draw on.

    python -m qabot.measure.speed.paint_probe PARENT_START_TIME SEEDS_DIR INDEX_DIR

It imports no more than the chat does, so the time is the chat's own start-up.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from qabot.tui import app


class Probe(app.QabotApp):
    # the stylesheet beside the chat's module, not beside this one
    CSS_PATH = str(Path(app.__file__).with_name(app.QabotApp.CSS_PATH))
    started = 0.0  # the parent's time.time() when it started this process

    def on_mount(self) -> None:
        super().on_mount()
        self.call_after_refresh(self.painted)

    def painted(self) -> None:
        print(time.time() - self.started, flush=True)
        os._exit(0)  # not waiting for the index to load: only the paint is timed


def main(argv: list[str]) -> None:
    Probe.started = float(argv[0])
    Probe(argv[1], argv[2]).run(headless=True)


if __name__ == "__main__":
    main(sys.argv[1:])
