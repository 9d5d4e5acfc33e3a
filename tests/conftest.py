"""Shared fixtures: the real seeds, and one index of them built once per test session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DEV_SET = ROOT / "prompts" / "dev_qa.jsonl"


@pytest.fixture(scope="session")
def dev_questions() -> list[dict]:
    return [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    """A private copy of the seeds that a test may change."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture(scope="session")
def bot(tmp_path_factory: pytest.TempPathFactory):
    """A QABot over the real seeds (read in place), indexed into a temporary folder."""
    from qabot.api import QABot

    return QABot(SEEDS, tmp_path_factory.mktemp("index"))


def seed_paragraph_texts() -> list[str]:
    """The clean paragraphs of the seeds, in file order: real texts for the encoders."""
    from qabot.ingest.cleaning import clean
    from qabot.ingest.loading import Document, read_document, scan

    texts: list[str] = []
    for stat in scan(SEEDS)[0]:
        doc = read_document(stat)
        assert isinstance(doc, Document)
        texts.extend(doc.text[b.start : b.end] for b in clean(doc))
    return texts


def file_text(seeds: Path, name: str) -> str:
    from qabot.ingest.loading import read_file_text

    return read_file_text(seeds, name)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory):
    """The seeds and the seeds plus one new file, each indexed, with what each answers."""
    from .built_index import build

    return build(tmp_path_factory.mktemp("built"))
