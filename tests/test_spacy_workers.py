"""spaCy in worker processes: the same annotations as here, in order, and nothing left running
(starts spaCy processes: slow)."""

import itertools
import os
import signal
from pathlib import Path

import pytest

from qabot.ingest import annotation
from qabot.ingest.cleaning import clean
from qabot.ingest.loading import read_document, scan
from qabot.ingest.spacy_workers import TASK_TEXTS, annotate_in_workers
from qabot.records import Document
from tests.processes import children

pytestmark = pytest.mark.slow

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _cleaned() -> list[tuple[list, str]]:
    docs = [d for d in map(read_document, scan(SEEDS)[0]) if isinstance(d, Document)]
    return [(clean(d), d.text) for d in docs]


def test_workers_annotate_as_this_process_does_in_order() -> None:
    paragraphs = itertools.chain.from_iterable(annotation.annotate_documents(_cleaned()))
    texts = [p.text[s.start - p.start : s.end - p.start] for p in paragraphs for s in p.sentences]
    assert len(texts) > 2 * TASK_TEXTS  # tasks dealt to both workers, read back in turn
    from_workers = list(itertools.chain.from_iterable(annotate_in_workers(texts, 2)))
    assert from_workers == annotation.mark(texts)
    assert any(m.entities for m in from_workers)


def test_documents_annotated_by_workers_match_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cleaned = _cleaned()
    here = annotation.annotate_documents(cleaned)
    monkeypatch.setattr(annotation, "WORKERS_FROM_CHARS", 0)
    assert annotation.annotate_documents(cleaned) == here


def test_a_killed_worker_leaves_the_rest_to_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    cleaned = _cleaned()
    here = annotation.annotate_documents(cleaned)
    monkeypatch.setattr(annotation, "WORKERS_FROM_CHARS", 0)
    killed: list[int] = []

    def kill_workers() -> None:
        if not killed:
            killed.extend(children())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    assert annotation.annotate_documents(cleaned, kill_workers) == here
    assert killed, "no worker process was running"


def test_stopping_early_stops_the_workers() -> None:
    texts = [block.text for blocks, _ in _cleaned() for block in blocks]
    stream = annotate_in_workers(texts, 2)
    next(stream)
    workers = children()
    assert len(workers) == 2
    stream.close()
    assert not workers & children()


def test_a_cancelled_annotation_stops_the_workers_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chat cancels an update by raising from its progress callback."""
    monkeypatch.setattr(annotation, "WORKERS_FROM_CHARS", 0)
    before = children()
    seen: list[int] = []

    def cancel() -> None:
        seen.extend(children() - before)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        annotation.annotate_documents(_cleaned(), cancel)
    assert len(seen) == 2
    assert not set(seen) & children()
