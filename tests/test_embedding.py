"""The CTranslate2 encoders agree with sentence-transformers (the reference)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from qabot.ingest import embedding

from .conftest import seed_paragraph_texts

pytestmark = pytest.mark.slow


CT2 = pytest.mark.skipif(embedding.backend() == "torch", reason="ctranslate2 not installed")


@CT2
@pytest.mark.parametrize("kind", ["float32", "int8"])
def test_the_encoders_match_sentence_transformers_on_the_seeds(
    kind: str, dev_questions: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(embedding.ENCODER_ENV, kind)
    texts = seed_paragraph_texts()[:120] + [q["question"] for q in dev_questions]
    want = embedding._model().encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    got = embedding.embed(texts)
    assert got.shape == (len(texts), embedding.DIMENSION) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-4)
    cosine = np.sum(want * got, axis=1)
    assert cosine.mean() >= embedding.MIN_COSINE[kind]
    assert cosine.min() >= (0.9999 if kind == "float32" else 0.98)


@CT2
def test_a_paragraph_longer_than_the_model_reads_is_cut_as_sentence_transformers_cuts_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 256 tokens is the model's limit: both must read the same first 256, and no more (the
    # float32 encoder computes what sentence-transformers does, so any other cut shows)
    monkeypatch.setenv(embedding.ENCODER_ENV, "float32")
    long = " ".join(f"The minister said item {i} would be discussed." for i in range(80))
    want = embedding._model().encode([long], normalize_embeddings=True)
    assert float(embedding.embed([long])[0] @ want[0]) >= 0.9999


def test_the_float32_encoder_shares_the_model_id_and_int8_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = {}
    for kind in embedding.ENCODERS:
        monkeypatch.setenv(embedding.ENCODER_ENV, kind)
        ids[kind] = embedding.model_id()
    assert ids["torch"] == ids["float32"] or embedding.backend() == "torch"
    assert ids["int8"] != ids["torch"] or embedding.backend() == "torch"
    monkeypatch.setenv(embedding.ENCODER_ENV, "fp16")
    with pytest.raises(embedding.QabotError, match="one of float32, int8, torch"):
        embedding.backend()
    monkeypatch.setenv(embedding.ENCODER_ENV, "onnx")  # the float32 encoder's former name
    assert embedding.backend() in ("float32", "torch")


@CT2
@pytest.mark.parametrize("kind", ["float32", "int8"])
def test_a_vector_does_not_depend_on_the_texts_embedded_with_it(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before batches held one token length, int8 moved a text padded to a much longer
    # neighbour (here: a 146-token seed paragraph batched with the 256-token text, cosine
    # 0.9986 to itself alone). An index updated file by file must hold the vectors a full
    # rebuild would compute.
    monkeypatch.setenv(embedding.ENCODER_ENV, kind)
    paragraphs = seed_paragraph_texts()[:40]
    texts = [" ".join(paragraphs[:12]), *paragraphs]  # the first one is cut at 256 tokens
    batched = embedding.embed(texts)
    alone = np.vstack([embedding.embed([t]) for t in texts])
    reversed_ = embedding.embed(texts[::-1])[::-1]
    for other in (alone, reversed_):
        assert np.sum(batched * other, axis=1).min() >= 0.999999


def test_torch_backend_is_sentence_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(embedding.ENCODER_ENV, "torch")
    assert embedding.backend() == "torch"
    assert not embedding.model_id().endswith(embedding.INT8_TAG)
    texts = ["The United States pledged $100 million in humanitarian aid to Gaza."]
    want = embedding._model().encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(embedding.embed(texts), want, atol=1e-6)


@CT2
def test_a_damaged_cached_model_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = embedding._built("float32") or embedding.build_model("float32")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = embedding.model_dir("float32")
    folder.mkdir(parents=True)
    for item in built.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    assert embedding._built("float32") == folder
    data = bytearray((folder / "model.bin").read_bytes())
    data[1000] ^= 0xFF  # one flipped byte
    (folder / "model.bin").write_bytes(bytes(data))
    assert embedding._built("float32") is None  # checksum differs: it would be rebuilt
    (folder / "model.bin").write_bytes(built.joinpath("model.bin").read_bytes())
    (folder / "vocabulary.json").write_text("[]", encoding="utf-8")  # the vocabulary too
    assert embedding._built("float32") is None


@CT2
def test_the_model_is_built_where_none_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    old_export = embedding.model_dir("int8").parent / "all-MiniLM-L6-v2-0.1.0-onnx-int8"
    old_export.mkdir(parents=True)
    (old_export / "model.onnx").write_bytes(b"an ONNX export of an earlier qabot")
    name = embedding.model_dir("int8").name
    killed = old_export.parent / f".{name}-killed"  # a build killed two hours ago
    (killed / "model").mkdir(parents=True)
    os.utime(killed, (time.time() - 7200,) * 2)
    running = old_export.parent / f".{name}-running"  # another build, still working
    running.mkdir()
    folder = embedding.build_model("int8")
    assert not killed.exists() and running.is_dir()
    running.rmdir()
    # a build killed before this one finished: found by the next process that loads the model
    (killed / "model").mkdir(parents=True)
    os.utime(killed, (time.time() - 7200,) * 2)
    assert embedding._checked_model.__wrapped__("int8") == folder and not killed.exists()
    assert folder == embedding.model_dir("int8") and embedding._built("int8") == folder
    check = json.loads((folder / "check.json").read_text(encoding="utf-8"))
    assert check["cosine"] >= embedding.MIN_COSINE["int8"]
    # int8 weights: a quarter of the float32 file, give or take the embeddings' table
    assert (folder / "model.bin").stat().st_size < 40e6
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no leftovers
    assert not old_export.exists()  # nothing reads it any more
