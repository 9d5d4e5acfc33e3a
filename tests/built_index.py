"""An index of the real seeds and one of the seeds plus a new file, and what each answers:
the ground truth that the fault, hostile-input and offline tests compare against."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from qabot.api import QABot
from qabot.index.build import update_index

from .conftest import SEEDS

QUESTIONS = [
    "Who is Israel's defense minister?",
    "How much humanitarian aid has the US pledged to Gaza?",
    "How long a truce with Hamas has the U.S. been pressing Israel to accept?",
    "Which VOA reporters contributed to the article on the Israeli–US diplomatic spat?",
]
EXTRA = (
    "# Water deliveries in the north\n\n"
    "The Dunmore water board said on Monday that 12 tankers delivered drinking water to "
    "three northern villages after the pipeline broke.\n"
)


def signature(bot: QABot) -> list[tuple]:
    """What "answers the same" means: the same quotes, from the same places, or abstention."""
    out = []
    for q in QUESTIONS:
        r = bot.ask(q)
        out.append((r.abstained, tuple((a.text, a.doc, a.start, a.end) for a in r.answers)))
    return out


def answers(index_dir: Path) -> list[tuple]:
    return signature(QABot(SEEDS, index_dir, refresh=False))


@dataclass
class Built:
    seeds: Path  # the real seeds
    new_seeds: Path  # the real seeds plus extra.md
    index: Path  # built from ``seeds``
    old_answers: list[tuple]
    new_answers: list[tuple]


def build(root: Path) -> Built:
    """Index the seeds and the seeds plus ``EXTRA`` under ``root``, and ask both."""
    seeds, new_seeds = root / "seeds", root / "new_seeds"
    shutil.copytree(SEEDS, seeds)
    shutil.copytree(SEEDS, new_seeds)
    (new_seeds / "extra.md").write_text(EXTRA, encoding="utf-8")
    update_index(seeds, root / "index")
    update_index(new_seeds, root / "new_index")
    return Built(
        seeds, new_seeds, root / "index", answers(root / "index"), answers(root / "new_index")
    )


def copy_index(built: Built, target: Path) -> Path:
    shutil.copytree(built.index, target)
    return target
