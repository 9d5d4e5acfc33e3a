"""The trained reader, run without torch: it finds the answer span in retrieved passages, or
says that none of them holds one.

qabot ships only what fine-tuning changed (``qabot/data/reader/reader.safetensors``, float16)
and the reader's settings and calibrated thresholds (``reader.json``); the word and position
embeddings come from the packaged all-MiniLM-L6-v2. At first use the two are put together,
converted for CTranslate2 (int8, as the encoder) and kept in the cache, keyed by the shipped
weights' hash; the start/end head runs in NumPy. How it was trained: ``qabot.train`` and the
model card beside the weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from qabot.answer.reader_inputs import NEG, Reading, Window, WindowConfig, WindowMaker, decode
from qabot.errors import QabotError
from qabot.paths import cache_dir

READER_ENV = "QABOT_READER"  # a folder with reader.safetensors and reader.json, for trying one
WEIGHTS = "reader.safetensors"
SETTINGS = "reader.json"
HEAD = "qa_outputs"
COMPUTE = "int8"
DEFAULT_PASSAGES = 5  # paragraphs read for a question, unless the settings say otherwise
TOKENIZER_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


@dataclass(frozen=True)
class Thresholds:
    """Set on held-out training questions (``qabot.train.calibrate``), never on evaluation sets."""

    abstain_margin: float = 0.0  # answer when the best span beats no-answer by this (log-odds)
    conflict_logp: float = -1.0  # a rival answer this probable (log) is a confident one


@dataclass(frozen=True)
class ReaderSettings:
    window: WindowConfig
    thresholds: Thresholds
    base: str  # the packaged model the weights were trained on
    passages: int = DEFAULT_PASSAGES  # paragraphs read a question: what the thresholds fit

    @staticmethod
    def read(path: Path) -> ReaderSettings:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ReaderSettings(
            WindowConfig(**data["window"]),
            Thresholds(**data.get("thresholds", {})),
            data["base"],
            int(data.get("passages", DEFAULT_PASSAGES)),
        )


def shipped_folder() -> Path:
    if os.environ.get(READER_ENV):
        return Path(os.environ[READER_ENV])
    return Path(str(resources.files("qabot").joinpath("data/reader")))


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _cache_dir(digest: str) -> Path:
    return cache_dir("models", f"reader-{digest[:16]}-ct2-{COMPUTE}")


def assemble(weights: Path, out: Path) -> None:
    """A complete BertModel folder: the packaged model with the reader's weights in place."""
    from safetensors.numpy import load_file, save_file

    from qabot.ingest.embedding import model_path

    base = model_path()
    tensors = load_file(str(base / "model.safetensors"))
    for name, value in load_file(str(weights)).items():
        if not name.startswith(f"{HEAD}."):
            if name not in tensors:
                raise QabotError(f"reader weights name {name}, which the base model lacks")
            tensors[name] = value.astype(np.float32)
    tensors = {k: v for k, v in tensors.items() if not k.startswith("pooler.")}
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "model.safetensors"))
    for name in TOKENIZER_FILES:
        if (base / name).is_file():
            shutil.copy(base / name, out / name)


def _complete(model: Path) -> bool:
    return (model / "model.bin").is_file() and (model / "head.npz").is_file()


def build(folder: Path) -> Path:
    """Convert the reader in ``folder`` for CTranslate2 once; returns the cached model.

    Converting loads transformers and torch (seconds, once per set of weights); answering
    from the cached model needs neither."""
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise QabotError(f"reader weights not found: {weights}; run `qabot train-reader`")
    target = _cache_dir(_sha256(weights))
    if _complete(target):
        return target
    import logging

    import ctranslate2
    from safetensors.numpy import load_file

    from qabot.ingest.embedding import offline

    offline()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        assemble(weights, tmp / "hf")
        logging.disable(logging.WARNING)
        try:
            converter = ctranslate2.converters.TransformersConverter(str(tmp / "hf"))
            converter.convert(str(tmp / "model"), quantization=COMPUTE, force=True)
        finally:
            logging.disable(logging.NOTSET)
        shipped = load_file(str(weights))
        np.savez(
            tmp / "model" / "head.npz",
            weight=shipped[f"{HEAD}.weight"].astype(np.float32),
            bias=shipped[f"{HEAD}.bias"].astype(np.float32),
        )
        if not _complete(target):
            shutil.rmtree(target, ignore_errors=True)
            try:
                os.rename(tmp / "model", target)
            except OSError:
                if not _complete(target):  # another process may have put it there first
                    raise
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise QabotError(f"cannot build the reader in {target}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class Reader:
    """Reads passages for a question: spans scored over all of them at once, and no-answer."""

    def __init__(self, folder: Path | None = None, workers: int = 0) -> None:
        import ctranslate2

        from qabot.ingest.embedding import usable_cores

        folder = folder or shipped_folder()
        settings_file = folder / SETTINGS
        if not settings_file.is_file():
            raise QabotError(f"reader settings not found: {settings_file}")
        self.settings = ReaderSettings.read(settings_file)
        model = build(folder)
        self.workers = workers or usable_cores()
        try:
            self.model = ctranslate2.Encoder(
                str(model),
                device="cpu",
                compute_type=COMPUTE,
                inter_threads=self.workers,
                intra_threads=1,
            )
            with np.load(model / "head.npz", allow_pickle=False) as head:
                self.weight = head["weight"]
                self.bias = head["bias"]
        except (RuntimeError, ValueError, OSError) as exc:
            raise QabotError(f"cannot load the reader from {model}: {exc}") from exc
        self.maker = WindowMaker(self.settings.window)

    @property
    def thresholds(self) -> Thresholds:
        return self.settings.thresholds

    def logits(self, windows: list[Window]) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits of each window, padded with NEG to the longest."""
        width = max(len(w.ids) for w in windows)
        start = np.full((len(windows), width), NEG, dtype=np.float32)
        end = start.copy()
        order = sorted(range(len(windows)), key=lambda k: -len(windows[k].ids))
        per = max(1, -(-len(order) // self.workers))
        batches = [order[i : i + per] for i in range(0, len(order), per)]

        def run(rows: list[int]) -> np.ndarray:
            out = self.model.forward_batch(
                [windows[k].ids for k in rows],
                token_type_ids=[windows[k].type_ids for k in rows],
            )
            return np.asarray(out.last_hidden_state, dtype=np.float32)

        if len(batches) == 1:
            results = [run(batches[0])]
        else:
            with ThreadPoolExecutor(len(batches)) as pool:
                results = list(pool.map(run, batches))
        for rows, hidden in zip(batches, results, strict=True):
            scores = hidden @ self.weight.T + self.bias  # [rows, tokens, 2]
            for r, k in enumerate(rows):
                n = len(windows[k].ids)
                start[k, :n] = scores[r, :n, 0]
                end[k, :n] = scores[r, :n, 1]
        return start, end

    def read(self, question: str, passages: list[str]) -> Reading:
        windows = self.maker.windows(question, passages)
        if not windows:
            return Reading([], 0.0)
        start, end = self.logits(windows)
        return decode(windows, start, end, self.settings.window)


@cache
def shipped_reader() -> Reader:
    return Reader()


def reader_folder_digest(folder: Path | None = None) -> str:
    """The shipped weights' hash: what a cached conversion is keyed by."""
    return _sha256((folder or shipped_folder()) / WEIGHTS)


def load_settings(folder: Path | None = None) -> dict[str, Any]:
    return json.loads(((folder or shipped_folder()) / SETTINGS).read_text(encoding="utf-8"))
