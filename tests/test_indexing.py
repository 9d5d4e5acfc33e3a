"""Incremental, atomic, checked index builds over the real seeds (loads the models: slow)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qabot.errors import QabotError
from qabot.index.build import update_index
from qabot.index.load import current_generation, load_index
from qabot.index.model import CURRENT, FORMAT_VERSION

pytestmark = pytest.mark.slow


def test_incremental_add_change_remove(seeds_copy: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    first = update_index(seeds_copy, index_dir)
    assert len(first.added) == 5 and first.embedded > 0

    again = update_index(seeds_copy, index_dir)
    assert len(again.unchanged) == 5 and again.embedded == 0 and not again.touched

    (seeds_copy / "extra.md").write_text(
        "# Aid convoy\n\nA convoy of 40 trucks reached Gaza on Friday, officials said.\n",
        encoding="utf-8",
    )
    doc = seeds_copy / "001_855e4c39f93db307.txt"
    doc.write_text(
        doc.read_text(encoding="utf-8") + "\n\nA new closing paragraph was added.\n",
        encoding="utf-8",
    )
    (seeds_copy / "004_5b45645508210cee.txt").unlink()
    report = update_index(seeds_copy, index_dir)
    assert report.added == ["extra.md"]
    assert report.changed == ["001_855e4c39f93db307.txt"]
    assert report.removed == ["004_5b45645508210cee.txt"]
    assert len(report.unchanged) == 3
    index = load_index(index_dir)
    assert set(index.manifest.files) == {
        "000_816a538e2e2ec7f8.txt",
        "001_855e4c39f93db307.txt",
        "002_0ad39d4ce61657fb.txt",
        "003_62429cb743f4ab61.txt",
        "extra.md",
    }
    assert not any(p.doc.startswith("004") for p in index.paragraphs)
    assert any("40 trucks" in p.text for p in index.paragraphs)


def test_every_corpus_word_is_embedded_once_and_kept(seeds_copy: Path, tmp_path: Path) -> None:
    """The word table holds each content word of the corpus with the encoder's vector; an
    update copies the words it had and embeds only the new ones."""
    from qabot.ingest.embedding import embed
    from qabot.search import tokens

    index_dir = tmp_path / "index"
    update_index(seeds_copy, index_dir)
    first = load_index(index_dir)
    wanted = {w for p in first.paragraphs for w in tokens.content_words(p.text)}
    assert set(first.words) == wanted and len(wanted) > 500
    sample = ["gallant", "ceasefire", "humanitarian", "washington"]
    fresh = embed(sample)
    for word, vector in zip(sample, fresh, strict=True):
        assert float(first.word_vectors[first.words[word]] @ vector) > 0.9999

    (seeds_copy / "extra.md").write_text(
        "# Convoy\n\nA zeppelin convoy reached Gaza on Friday, officials said.\n",
        encoding="utf-8",
    )
    update_index(seeds_copy, index_dir)
    second = load_index(index_dir)
    assert "zeppelin" in second.words and "zeppelin" not in first.words
    for word in sample:  # copied, not re-embedded
        old, new = first.word_vectors[first.words[word]], second.word_vectors[second.words[word]]
        assert np.array_equal(old, new)


@pytest.mark.parametrize("call", [None, 100])
def test_paragraphs_and_sentences_have_the_encoders_vectors(
    seeds_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: int | None
) -> None:
    """Each paragraph and each sentence has the encoder's vector of its own text, however
    indexing batched them, in one call or several (a one-sentence paragraph's vector serves
    as its sentence's)."""
    from qabot.index import embed_texts
    from qabot.ingest.embedding import embed

    if call is not None:
        monkeypatch.setattr(embed_texts, "EMBED_CALL_TEXTS", call)
    index_dir = tmp_path / "index"
    update_index(seeds_copy, index_dir)
    index = load_index(index_dir)
    row = 0
    several = 0
    for pid, p in enumerate(index.paragraphs):
        texts = [p.text[s.start - p.start : s.end - p.start] for s in p.sentences]
        mine = np.asarray(index.sentence_vectors[np.arange(row, row + len(texts))])
        row += len(texts)
        assert np.allclose(mine, embed(texts), atol=1e-5)
        vector = index.paragraph_vectors.reconstruct(pid)
        assert np.allclose(vector, embed([p.text])[0], atol=1e-5)
        several += len(texts) > 1
    assert row == index.sentence_vectors.shape[0] and several > 10


def test_touch_without_change_does_no_embedding(seeds_copy: Path, tmp_path: Path) -> None:
    update_index(seeds_copy, tmp_path / "index")
    before = current_generation(tmp_path / "index")
    f = seeds_copy / "002_0ad39d4ce61657fb.txt"
    f.write_bytes(f.read_bytes())  # new mtime, same bytes
    report = update_index(seeds_copy, tmp_path / "index")
    assert report.embedded == 0 and not report.touched
    assert current_generation(tmp_path / "index") == before


def test_manifest_records_sources_and_model(seeds_copy: Path, tmp_path: Path) -> None:
    import hashlib

    update_index(seeds_copy, tmp_path / "index")
    generation = current_generation(tmp_path / "index")
    manifest = json.loads((generation / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION and manifest["dimension"] == 384
    assert "all-MiniLM-L6-v2" in manifest["model"]
    for entry in manifest["files"]:
        data = (seeds_copy / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["size"] == len(data)
    # vectors load without pickle
    assert np.load(generation / "sentences.npy", allow_pickle=False).shape[1] == 384


def test_corrupt_index_is_detected_and_rebuilt(seeds_copy: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    update_index(seeds_copy, index_dir)
    generation = current_generation(index_dir)
    with (generation / "sentences.npy").open("r+b") as fh:
        fh.seek(200)
        fh.write(b"garbage")
    with pytest.raises(QabotError, match="corrupt"):
        load_index(index_dir)
    report = update_index(seeds_copy, index_dir)
    assert "corrupt" in report.rebuilt_reason
    assert len(load_index(index_dir).manifest.files) == 5


def test_with_several_files_damaged_the_first_in_order_is_named(
    seeds_copy: Path, tmp_path: Path
) -> None:
    # the files are hashed in parallel, largest first; what is reported must not depend on it
    index_dir = tmp_path / "index"
    update_index(seeds_copy, index_dir)
    generation = current_generation(index_dir)
    (generation / "words.npy").unlink()
    with (generation / "sentences.npy").open("r+b") as fh:
        fh.seek(200)
        fh.write(b"garbage")
    with pytest.raises(QabotError, match=r"sentences\.npy fails its checksum"):
        load_index(index_dir)  # sentences.npy comes before words.npy in DATA_FILES
    (generation / "sentences.npy").unlink()
    with pytest.raises(QabotError, match=r"corrupt: sentences\.npy missing"):
        load_index(index_dir)


def test_missing_index_and_bad_pointer(tmp_path: Path) -> None:
    with pytest.raises(QabotError, match="no index"):
        load_index(tmp_path)
    (tmp_path / CURRENT).write_text("../../etc\n", encoding="utf-8")
    with pytest.raises(QabotError, match="corrupt"):
        load_index(tmp_path)


def test_interrupted_rebuild_leaves_the_old_index(seeds_copy: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    update_index(seeds_copy, index_dir)
    old = current_generation(index_dir)
    # what a rebuild killed before its switch leaves behind: a half-written generation
    half = index_dir / "gen-99999999999999-1-1"
    shutil.copytree(old, half)
    (half / "manifest.json").unlink()
    assert load_index(index_dir).directory == old
    (seeds_copy / "new.txt").write_text("Fresh text about a ceasefire vote.", encoding="utf-8")
    report = update_index(seeds_copy, index_dir)
    assert report.added == ["new.txt"] and not half.exists()


def test_empty_corpus_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "blank.txt").write_text("", encoding="utf-8")
    with pytest.raises(QabotError, match="no readable"):
        update_index(tmp_path / "seeds", tmp_path / "index")


def test_second_rebuild_is_refused_in_one_line_naming_the_holder(tmp_path: Path) -> None:
    import os

    from qabot.index.generations import index_lock

    with index_lock(tmp_path) as lock:
        lock.stage("embedding", checkpoint=False)
        with pytest.raises(QabotError) as refused, index_lock(tmp_path, wait_seconds=0.3):
            pass
    assert str(refused.value) == (
        f"another qabot (pid {os.getpid()}, embedding) is rebuilding the index at {tmp_path}; "
        "try again when it finishes"
    )
    with index_lock(tmp_path, wait_seconds=0):  # released: the next one gets it at once
        pass
