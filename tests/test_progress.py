"""The progress bar of long runs on a terminal: each stage with its rate and time left."""

from __future__ import annotations

import io
import time

from rich.console import Console

from qabot.present.progress import progress_bar


def test_the_bar_shows_each_stage_with_its_rate_and_time_left() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140, color_system=None)
    with progress_bar(console) as progress:
        assert progress is not None
        for done in range(1, 6):
            progress("reading", done, 10)
            time.sleep(0.05)
        progress("embedding", 3, 7)
    frames = out.getvalue()  # every frame drawn, though the bar is gone once done
    assert "reading" in frames and "5/10" in frames
    assert " files/s" in frames and "0:00:0" in frames  # the rate, and the time left
    assert "embedding" in frames


def test_no_bar_when_the_output_is_not_a_terminal() -> None:
    with progress_bar() as progress:  # pytest's stderr is not a terminal
        assert progress is None
