"""Encoder suite: index-time embedding throughput of qabot's CTranslate2 encoders beside
sentence-transformers (torch), with their mean cosine to it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from qabot.measure.speed.corpora import RealData
from qabot.measure.speed.table import Row


def bench_embedding(
    real: RealData, rows: list[Row], n_texts: int = 512, n_paragraphs: int = 128
) -> None:
    """Index-time encoder throughput: sentence-transformers (torch, at its default batch of 32
    or at 8, on one thread or on as many as qabot's encoder uses, whichever is fastest)
    beside qabot's CTranslate2 encoders, with their cosine to it. Each rate is the best of two
    passes over the same real texts: sentences; paragraphs (spread over SQuAD and SciFact),
    which are longer; and what indexing those paragraphs embeds (each paragraph, annotated
    as an index annotates it, and its sentences), the mix an index build runs."""
    import torch

    from qabot.index.embed_texts import embedded_texts
    from qabot.ingest import embedding
    from qabot.ingest.annotation import annotate_documents
    from qabot.records import Block

    model = embedding._model()  # the sentence-transformers model: the reference
    encoders = {kind: embedding._encoder(kind) for kind in ("float32", "int8")}
    threads = encoders["float32"].workers
    step = max(1, len(real.paragraphs) // max(1, n_paragraphs))
    paragraphs = real.paragraphs[::step][:n_paragraphs]
    annotated = annotate_documents([([Block("p", 0, len(t), t, "body")], t) for t in paragraphs])
    sets = [
        ("", real.sentences[:n_texts]),
        (" on paragraphs", paragraphs),
        (" on an index's texts", embedded_texts(p for doc in annotated for p in doc)),
    ]

    def best_rate(encode: Callable[[list[str]], Any], texts: list[str]) -> tuple[float, np.ndarray]:
        encode(texts[:64])  # warm-up
        rates, vectors = [], None
        for _ in range(2):
            t0 = time.perf_counter()
            vectors = encode(texts)
            rates.append(len(texts) / (time.perf_counter() - t0))
        return max(rates), np.asarray(vectors)

    for what, texts in sets:
        if not texts:
            continue
        # torch's best of one thread and all of qabot's (on a busy machine its second
        # thread spin-waits and torch falls far behind, which would flatter qabot), at its
        # default batch of 32 and at 8 (faster for it here, as smaller batches are for ours)
        before = torch.get_num_threads()
        ref_rate, ref, base = 0.0, np.zeros(0), "torch"
        try:
            for n in sorted({1, threads}):
                torch.set_num_threads(n)
                for size in (32, 8):
                    rate, vectors = best_rate(
                        lambda x, b=size: model.encode(x, batch_size=b, normalize_embeddings=True),
                        texts,
                    )
                    if rate > ref_rate:
                        threads_used = f"{n} thread{'s' * (n > 1)}"
                        ref_rate, ref, base = rate, vectors, f"torch, {threads_used}, batch {size}"
        finally:
            torch.set_num_threads(before)
        for kind, encoder in encoders.items():
            rate, ours = best_rate(encoder.encode, texts)
            cos = float(np.mean(np.sum(ref * ours, axis=1)))
            label = f"CTranslate2 {kind}" + (
                " (default)" if kind == embedding.DEFAULT_ENCODER else ""
            )
            rows += [
                Row("-", f"embedding throughput{what}: {label} / sentence-transformers", base,
                    ref_rate, rate, "texts/s", rate / ref_rate, ">= 2.5x", rate / ref_rate >= 2.5),
                Row("-", f"embedding mean cosine to sentence-transformers{what}: {label}",
                    "torch", 1.0, cos, "", None, ">= 0.99", cos >= 0.99),
            ]  # fmt: skip


def bench_reader(real: RealData, rows: list[Row], n_questions: int = 48) -> None:
    """The reader's throughput, paragraphs read a second as answering reads them (one
    question over its ``passages`` paragraphs at a time), beside qabot's encoder embedding
    the same paragraphs: the reader runs a model of the same size over longer inputs."""
    from qabot.answer.reader import shipped_reader
    from qabot.ingest import embedding

    reader = shipped_reader()
    k = reader.settings.passages
    questions = real.questions[:n_questions]
    groups = [real.paragraphs[i * k : (i + 1) * k] for i in range(len(questions))]
    if not questions or not all(groups):
        return
    reader.read(questions[0], groups[0])  # warm-up: the converted model is loaded
    t0 = time.perf_counter()
    for q, g in zip(questions, groups, strict=True):
        reader.read(q, g)
    rate = len(questions) * k / (time.perf_counter() - t0)
    encoder = embedding._encoder(embedding.DEFAULT_ENCODER)
    texts = [p for g in groups for p in g]
    encoder.encode(texts[:16])
    t0 = time.perf_counter()
    encoder.encode(texts)
    base = len(texts) / (time.perf_counter() - t0)
    rows.append(
        Row("-", f"reader throughput, {k} paragraphs a question / the encoder on them",
            f"CTranslate2 {embedding.DEFAULT_ENCODER} encoder", base, rate, "paragraphs/s",
            rate / base)
    )  # fmt: skip
