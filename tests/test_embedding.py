"""The ONNX encoders agree with sentence-transformers (the reference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qabot import embedding

pytestmark = pytest.mark.slow

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _seed_texts() -> list[str]:
    from qabot.cleaning import clean
    from qabot.loading import Document, read_document, scan

    texts: list[str] = []
    for stat in scan(SEEDS)[0]:
        doc = read_document(stat)
        assert isinstance(doc, Document)
        texts.extend(doc.text[b.start : b.end] for b in clean(doc))
    return texts


ONNX = pytest.mark.skipif(embedding.backend() == "torch", reason="onnxruntime not installed")


@ONNX
@pytest.mark.parametrize("kind", ["onnx", "int8"])
def test_onnx_matches_sentence_transformers_on_the_seeds(
    kind: str, dev_questions: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(embedding.ENCODER_ENV, kind)
    texts = _seed_texts()[:120] + [q["question"] for q in dev_questions]
    want = embedding._model().encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    got = embedding.embed(texts)
    assert got.shape == (len(texts), embedding.DIMENSION) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-4)
    cosine = np.sum(want * got, axis=1)
    assert cosine.mean() >= embedding.MIN_COSINE[kind]
    assert cosine.min() >= (0.9999 if kind == "onnx" else 0.97)


def test_the_float32_encoder_shares_the_model_id_and_int8_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = {}
    for kind in embedding.ENCODERS:
        monkeypatch.setenv(embedding.ENCODER_ENV, kind)
        ids[kind] = embedding.model_id()
    assert ids["torch"] == ids["onnx"] or embedding.backend() == "torch"
    assert ids["int8"] != ids["torch"] or embedding.backend() == "torch"
    monkeypatch.setenv(embedding.ENCODER_ENV, "fp16")
    with pytest.raises(embedding.QabotError):
        embedding.backend()


@ONNX
@pytest.mark.parametrize("kind", ["onnx", "int8"])
def test_padding_to_the_longest_barely_moves_a_vector(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # int8 activations are scaled per batch, so a batch's padding may nudge a vector a little
    monkeypatch.setenv(embedding.ENCODER_ENV, kind)
    short = "Who is Israel's defense minister?"
    alone = embedding.embed([short])
    padded = embedding.embed([short, "A much longer paragraph " * 40])
    assert float(alone[0] @ padded[0]) >= (0.9999 if kind == "onnx" else 0.99)


def test_torch_backend_is_sentence_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(embedding.ENCODER_ENV, "torch")
    assert embedding.backend() == "torch"
    assert not embedding.model_id().endswith(embedding.ONNX_TAG)
    texts = ["The United States pledged $100 million in humanitarian aid to Gaza."]
    want = embedding._model().encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(embedding.embed(texts), want, atol=1e-6)


@ONNX
def test_a_damaged_cached_model_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = embedding._built_onnx() or embedding.build_onnx()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = embedding.onnx_dir()
    folder.mkdir(parents=True)
    for name in ("model.onnx", "check.json"):
        (folder / name).write_bytes((built.parent / name).read_bytes())
    assert embedding._built_onnx() == folder / "model.onnx"
    data = bytearray((folder / "model.onnx").read_bytes())
    data[1000] ^= 0xFF  # one flipped byte
    (folder / "model.onnx").write_bytes(bytes(data))
    assert embedding._built_onnx() is None  # checksum differs: it would be rebuilt
