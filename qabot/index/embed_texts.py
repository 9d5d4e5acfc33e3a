"""What an index embeds, and how indexing hands it to the encoder: in large calls of like
lengths, with progress as batches finish, the encoder loading while spaCy runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future

import numpy as np

from qabot.index.generations import IndexLock
from qabot.records import Paragraph, Progress

# Texts per call of the encoder: its tokens are held at once (8,192 texts of at most 256
# tokens: ~2M ids), and its workers pace each other only at the end of a call.
EMBED_CALL_TEXTS = 8_192
TORCH_CALL_TEXTS = 256  # sentence-transformers reports only when a call ends
PROGRESS_TEXTS = 256  # report embedding progress at most this often


def load_beside(load: Callable[[], None]) -> Future[None]:
    """Run ``load`` on a daemon thread: a cancelled build does not wait for it (a first
    run converts the model, which cannot be stopped half way)."""
    from qabot.ingest.embedding import offline

    offline()  # the environment is set before other threads read it (spaCy's workers)
    loaded: Future[None] = Future()

    def run() -> None:
        try:
            load()
        except BaseException as exc:  # handed to the waiting thread, raised there
            loaded.set_exception(exc)
        else:
            loaded.set_result(None)

    threading.Thread(target=run, name="qabot-encoder-load", daemon=True).start()
    return loaded


def embedded_texts(paragraphs: Iterable[Paragraph]) -> list[str]:
    """What an index embeds, in order: each paragraph, then each of its sentences when it
    has more than one (a one-sentence paragraph's vector serves as its sentence's)."""
    texts: list[str] = []
    for p in paragraphs:
        texts.append(p.text)
        if len(p.sentences) > 1:
            texts.extend(p.text[s.start - p.start : s.end - p.start] for s in p.sentences)
    return texts


def embed_batches(
    texts: list[str],
    embed: Callable[..., np.ndarray],
    progress: Progress | None,
    lock: IndexLock,
    stage: str = "embedding",
) -> np.ndarray:
    """Embed in calls of ``EMBED_CALL_TEXTS`` texts, longest first, reporting progress as
    batches finish.

    The encoder batches texts of one token length; sorting the whole list by length puts
    texts of like length into each call, so its batches are fuller. Calls are large because
    the encoder's workers wait for each other at the end of one: the 22,625 words of SQuAD's
    48 dev articles took 6.25 s in calls of 256 and 4.68 s in one (another run shared the
    CPU).
    """
    from qabot.ingest.embedding import DIMENSION, backend

    out = np.zeros((len(texts), DIMENSION), np.float32)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    lock.stage(stage, checkpoint=False)  # loading the model is part of it
    if progress and texts:  # likewise before the model loads
        progress(stage, 0, len(texts))
    done = reported = 0

    def on_batch(n: int) -> None:
        nonlocal done, reported
        if done == 0:
            lock.stage(stage)
        done += n
        if progress and (done - reported >= PROGRESS_TEXTS or done == len(texts)):
            reported = done
            progress(stage, done, len(texts))

    call = EMBED_CALL_TEXTS if backend() != "torch" else TORCH_CALL_TEXTS
    for lo in range(0, len(texts), call):
        rows = order[lo : lo + call]
        out[rows] = embed([texts[i] for i in rows], on_batch=on_batch)
    return out
