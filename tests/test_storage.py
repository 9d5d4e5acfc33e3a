"""The generation's files read back: paragraphs from SQLite, stored BM25 and vocabulary, the
sentence IVF written above FLAT_MAX, on the real seeds."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from qabot.index import storage
from qabot.index.build import update_index
from qabot.index.load import current_generation, load_index
from qabot.index.model import SENTENCE_INDEX
from qabot.search import tokens
from qabot.search import vectors as qabot_vectors
from qabot.search.bm25 import BM25Matrix
from qabot.search.retrieval import Retriever

from .conftest import SEEDS, file_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("storage-index")
    update_index(SEEDS, folder)
    return folder


def test_paragraphs_read_from_sqlite_are_the_corpus_text(index_dir: Path) -> None:
    index = load_index(index_dir)
    table = index.paragraphs
    assert isinstance(table, storage.ParagraphTable)
    streamed = list(table)  # one pass in chunks, as an incremental update reads them
    assert len(streamed) == len(table) == index.manifest.paragraphs == 74
    assert [table[i] for i in range(len(table))] == streamed
    assert table[-1] == streamed[-1] and table[2:5] == streamed[2:5]
    with pytest.raises(IndexError):
        table[len(table)]
    for p in streamed:  # offsets are file offsets: the paragraph is the file's text there
        assert file_text(SEEDS, p.doc)[p.start : p.end] == p.text
        assert all(p.start <= s.start < s.end <= p.end for s in p.sentences)
    assert int(index.sentence_offsets[-1]) == sum(len(p.sentences) for p in streamed)
    ranges = index.doc_paragraphs
    assert {d: len(r) for d, r in ranges.items()} == {
        name: entry.paragraphs for name, entry in index.manifest.files.items() if entry.paragraphs
    }
    assert all(streamed[i].doc == doc for doc, r in ranges.items() for i in r)
    assert list(index.paragraph_terms) == [index.paragraph_terms[i] for i in range(len(table))]


def test_stored_bm25_and_vocabulary_equal_what_the_text_gives(index_dir: Path) -> None:
    index = load_index(index_dir)
    terms = list(index.paragraph_terms)
    assert isinstance(index.bm25.data, storage.NpyRows)  # read from disk, not rebuilt
    fresh = BM25Matrix(terms)
    assert index.bm25.idf == fresh.idf
    for query in (["gaza", "aid"], ["gallant", "defens", "minist"], ["nosuchterm"]):
        assert np.array_equal(index.bm25.get_scores(query), fresh.get_scores(query))
    # in order of first use, as built: spelling breaks ties between candidates by it
    assert list(index.vocabulary.items()) == list(
        tokens.vocabulary(p.text for p in index.paragraphs).items()
    )
    retriever = Retriever(index)
    assert retriever.bm25 is index.bm25 and retriever.vocabulary is index.vocabulary


def test_reads_from_many_threads_agree(index_dir: Path) -> None:
    table = load_index(index_dir).paragraphs
    want = list(table)
    errors: list[BaseException] = []

    def read(offset: int) -> None:
        try:
            for k in range(300):
                i = (offset + 7 * k) % len(want)
                assert table[i] == want[i]
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_many_sentences_get_a_stored_ivf_that_answers(tmp_path: Path, index_dir: Path) -> None:
    # The seeds have 148 sentences: with the threshold at 100 they take the large-corpus path.
    update_index(SEEDS, tmp_path / "index", flat_max=100)
    assert (current_generation(tmp_path / "index") / SENTENCE_INDEX).is_file()
    index = load_index(tmp_path / "index")
    assert qabot_vectors.describe(index.sentence_search).startswith("IVF")
    assert Retriever(index).sentence_vectors is index.sentence_search
    assert not (current_generation(index_dir) / SENTENCE_INDEX).exists()  # small: none stored

    from qabot.api import QABot

    result = QABot(SEEDS, tmp_path / "index").ask("Who is Israel's defense minister?")
    assert "Gallant" in result.answers[0].text


def test_rows_read_from_disk_equal_the_array(index_dir: Path, tmp_path: Path) -> None:
    path = current_generation(index_dir) / "sentences.npy"
    whole = np.load(path, allow_pickle=False)
    rows = storage.NpyRows(path)
    assert rows.shape == whole.shape and len(rows) == len(whole) and rows.dtype == whole.dtype
    assert np.array_equal(rows[5], whole[5]) and np.array_equal(rows[-1], whole[-1])
    assert np.array_equal(rows[10:20], whole[10:20]) and np.array_equal(rows[::7], whole[::7])
    assert np.array_equal(rows[[3, 0, 3]], whole[[3, 0, 3]])
    assert np.array_equal(np.asarray(rows), whole)
    with pytest.raises(IndexError):
        rows[len(whole)]

    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        storage.NpyRows(objects)
    short = tmp_path / "short.npy"
    short.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated"):
        storage.NpyRows(short)


def test_a_write_the_disk_cuts_short_is_named_as_such() -> None:
    from qabot.index.model import one_line

    with pytest.raises(OSError) as caught:  # /dev/full: every write fails as on a full disk
        np.zeros(1_000_000, np.float32).tofile("/dev/full")  # past any buffer
    assert one_line(caught.value).startswith("a write was cut short: is the disk full?")
