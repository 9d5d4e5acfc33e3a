"""A fresh process that loads an index from disk, as ``qabot ask`` or the chat would, and
answers questions; it prints one JSON object (read by ``asking.bench_ask_at``).

    python -m qabot.measure.speed.ask_probe INDEX_DIR QUESTIONS_JSON

Its memory is measured after the encoder is loaded, so what it reports is what the index
costs. The first question is timed alone, the next five warm up, the rest are timed; then
the same questions again with each other answerer over the same loaded index.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from qabot.api import ANSWERERS, QABot
from qabot.index.load import load_index
from qabot.ingest.embedding import embed
from qabot.measure.speed.timing import rss_bytes


def main(argv: list[str]) -> None:
    index_dir, questions = Path(argv[0]), json.loads(argv[1])
    embed([questions[0]])
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    bot = QABot(index=load_index(index_dir))
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    bot.ask(questions[0])
    first = time.perf_counter() - t0
    for q in questions[1:6]:
        bot.ask(q)
    times, stages = timed(bot, questions[6:])
    grown, rss = rss_bytes() - rss0, rss_bytes()
    others = {}
    for kind in ANSWERERS:
        if kind != bot.answerer_kind:
            other = QABot(index=bot.index, answerer=kind)
            for q in questions[1:6]:
                other.ask(q)
            t, _ = timed(other, questions[6:])
            others[kind] = {"p50": float(np.percentile(t, 50)), "p95": float(np.percentile(t, 95))}
    print(
        json.dumps(
            {
                "load_s": load,
                "first_s": first,
                "answerer": bot.answerer_kind,
                "p50": float(np.percentile(times, 50)),
                "p95": float(np.percentile(times, 95)),
                "grown": grown,
                "rss": rss,
                "stages": {k: float(np.median(v)) for k, v in stages.items()},
                "vocabulary": len(bot.retriever.vocabulary),
                "other_answerers": others,
            }
        )
    )


def timed(bot: QABot, questions: list[str]) -> tuple[list[float], dict[str, list[float]]]:
    """Milliseconds each question took, and each stage's milliseconds."""
    times: list[float] = []
    stages: dict[str, list[float]] = {}
    for q in questions:
        t0 = time.perf_counter()
        result = bot.ask(q)
        times.append((time.perf_counter() - t0) * 1000)
        for k, v in result.timings_ms.items():
            stages.setdefault(k, []).append(v)
    return times, stages


if __name__ == "__main__":
    main(sys.argv[1:])
