"""Indexing a real corpus end to end, beside its floor: the encoder alone on the same texts.

The corpus is SQuAD v1.1 dev's 48 Wikipedia articles, each written as a file of its
paragraphs. ``qabot index`` runs in a process of its own, as a user runs it (its model
loading included); the floor is this process's encoder embedding exactly the texts that
index embedded (the paragraphs' sentences, then the word table's words), warm, in the calls
indexing makes. The gap between them is everything indexing does besides embedding:
reading, cleaning, spaCy, BM25, writing.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qabot.measure import locations
from qabot.measure.speed.table import Row

FIRST_WORDS_PER_SECOND = 2_900  # the first measurement of this row, on a 2-core machine
_WORD = re.compile(r"\w+")


def write_articles(target: Path, articles: int | None = None, data: Path | None = None) -> int:
    """SQuAD v1.1 dev's articles (the first ``articles``) as files under ``target``, a
    blank line between paragraphs; returns the words written."""
    with gzip.open(locations.source("squad", data), "rt", encoding="utf-8") as fh:
        squad = json.load(fh)["data"][:articles]
    target.mkdir(parents=True, exist_ok=True)
    words = 0
    for i, article in enumerate(squad):
        text = "\n\n".join(p["context"].strip() for p in article["paragraphs"]) + "\n"
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", article["title"])[:40]
        (target / f"{i:03d}_{name}.txt").write_text(text, encoding="utf-8")
        words += len(_WORD.findall(text))
    return words


def bench_indexing(rows: list[Row], articles: int | None = None, data: Path | None = None) -> None:
    """Time ``qabot index`` on the articles, then the encoder alone on what it embedded."""
    from qabot.index.embed_texts import EMBED_CALL_TEXTS, embedded_texts
    from qabot.index.load import load_index
    from qabot.ingest import embedding

    with tempfile.TemporaryDirectory(prefix="qabot-bench-index-") as tmp:
        seeds, index_dir = Path(tmp) / "seeds", Path(tmp) / "index"
        words = write_articles(seeds, articles, data)
        command = [sys.executable, "-m", "qabot.cli", "index", "--seeds", str(seeds)]
        t0 = time.perf_counter()
        done = subprocess.run(
            [*command, "--index", str(index_dir)], capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(f"qabot index failed: {done.stderr.strip()[-300:]}")
        index = load_index(index_dir)
        texts = embedded_texts(index.paragraphs)
        vocabulary = list(index.words)
        files = len(index.manifest.files)
        del index
    encoder = embedding._encoder(embedding.DEFAULT_ENCODER)
    encoder.encode(texts[:64])  # warm: the model is loaded, as it is in a running index
    t0 = time.perf_counter()
    for some in (texts, vocabulary):  # as indexing hands them over: like lengths together
        some.sort(key=len, reverse=True)
        for lo in range(0, len(some), EMBED_CALL_TEXTS):
            encoder.encode(some[lo : lo + EMBED_CALL_TEXTS])
    floor = time.perf_counter() - t0
    what = (
        f"{files} SQuAD v1.1 dev articles, {words:,} words; {len(texts):,} texts and "
        f"{len(vocabulary):,} words embedded"
    )
    rows.append(
        Row("squad", f"index a real corpus ({what}): qabot index, end to end",
            "the encoder alone on the same texts", floor, seconds, "s", seconds / floor,
            "<= 1.5x the encoder", seconds <= 1.5 * floor)
    )  # fmt: skip
    rate = words / seconds
    rows.append(
        Row("squad", "index a real corpus: words a second", "the first measurement",
            FIRST_WORDS_PER_SECOND, rate, "words/s", rate / FIRST_WORDS_PER_SECOND,
            f">= {3 * FIRST_WORDS_PER_SECOND:,} words/s (3x)",
            rate >= 3 * FIRST_WORDS_PER_SECOND)
    )  # fmt: skip
