"""The data the speed bench measures on: real texts and their embeddings, and synthetic
corpora derived from them (vectors, BM25 term lists, whole in-memory indexes).

Real texts come from SQuAD v1.1 dev and BEIR SciFact in the benchmark data folder
(``qabot.measure.locations``); their embeddings are computed once with qabot's encoder and
cached.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qabot.measure import locations
from qabot.search import tokens

REAL_SENTENCES = 6000
REAL_QUESTIONS = 400
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“])")


@dataclass
class RealData:
    """Real texts and their embeddings: what synthetic corpora are derived from."""

    sentences: list[str]
    questions: list[str]
    paragraphs: list[str]
    sentence_vectors: np.ndarray  # float32, unit rows
    question_vectors: np.ndarray


def real_sources(data: Path | None = None) -> tuple[Path, Path]:
    """The files real texts are read from: SQuAD v1.1 dev and SciFact's corpus, in the data
    folder ``data`` (``locations.data_root`` when None)."""
    scifact = locations.source("scifact", data) / "corpus.jsonl.gz"
    return locations.source("squad", data), scifact


def real_texts(
    n_sentences: int = REAL_SENTENCES,
    n_questions: int = REAL_QUESTIONS,
    data: Path | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """Sentences, questions and paragraphs from SQuAD v1.1 dev and SciFact, in a fixed order,
    read from ``real_sources(data)``."""
    squad_file, scifact_file = real_sources(data)
    with gzip.open(squad_file, "rt", encoding="utf-8") as fh:
        squad = json.load(fh)
    paragraphs: list[str] = []
    questions: list[str] = []
    for article in squad["data"]:
        for p in article["paragraphs"]:
            paragraphs.append(p["context"])
            questions.extend(qa["question"] for qa in p["qas"][:1])
    with gzip.open(scifact_file, "rt", encoding="utf-8") as fh:
        paragraphs.extend(json.loads(line)["text"] for line in fh if line.strip())
    sentences = [s for p in paragraphs for s in _SENTENCE_END.split(p) if len(s) > 20]
    rng = np.random.default_rng(0)
    chosen = sorted(rng.choice(len(sentences), min(n_sentences, len(sentences)), replace=False))
    q_idx = sorted(rng.choice(len(questions), min(n_questions, len(questions)), replace=False))
    return [sentences[i] for i in chosen], [questions[i] for i in q_idx], paragraphs


def real_data(
    n_sentences: int = REAL_SENTENCES,
    n_questions: int = REAL_QUESTIONS,
    data: Path | None = None,
) -> RealData:
    """Real texts with their embeddings (computed once with qabot's encoder, then cached)."""
    from qabot.ingest.embedding import DIMENSION, embed, model_id

    sentences, questions, paragraphs = real_texts(n_sentences, n_questions, data)
    tag = re.sub(r"[^A-Za-z0-9.=-]+", "_", model_id())
    path = locations.default_cache() / f"vectors-{tag}-{len(sentences)}-{len(questions)}.npy"
    try:
        vectors = np.load(path, allow_pickle=False)
        if vectors.shape != (len(sentences) + len(questions), DIMENSION):
            raise ValueError("stale cache")
    except (OSError, ValueError):
        vectors = embed(sentences + questions)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, vectors, allow_pickle=False)
        tmp.replace(path)
    return RealData(
        sentences, questions, paragraphs, vectors[: len(sentences)], vectors[len(sentences) :]
    )


def derived_vectors(
    real: np.ndarray, n: int, seed: int = 0, noise: float = 0.5, base: np.ndarray | None = None
) -> np.ndarray:
    """``n`` unit vectors shaped like ``real``: a real vector (row ``base[i]`` if given,
    else a random one), a share of another, and noise with the real vectors' covariance
    (Gaussian-weighted sums of 4 centred real vectors), so the index sees real anisotropy,
    not tidy synthetic clusters."""
    rng = np.random.default_rng(seed)
    centred = (real - real.mean(axis=0)).astype(np.float32)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    step = 100_000
    for lo in range(0, n, step):
        m = min(step, n - lo)
        share = rng.uniform(0.0, 0.5, (m, 1)).astype(np.float32)
        first = base[lo : lo + m] if base is not None else rng.integers(0, len(real), m)
        v = real[first] + share * real[rng.integers(0, len(real), m)]
        for _ in range(4):  # sum of 4 with N(0, 1/4) weights: covariance of ``real``
            g = rng.standard_normal((m, 1), dtype=np.float32) * np.float32(noise / 2)
            v += g * centred[rng.integers(0, len(real), m)]
        out[lo : lo + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def derived_paragraphs(paragraphs: list[str], n: int, seed: int = 0) -> list[list[str]]:
    """``n`` BM25 term lists with real lengths and real term frequencies."""
    rng = np.random.default_rng(seed)
    real_terms = [tokens.terms(p) for p in paragraphs]
    lengths = np.array([len(t) for t in real_terms if t])
    vocab, counts = np.unique([t for ts in real_terms for t in ts], return_counts=True)
    probs = counts / counts.sum()
    n_len = rng.choice(lengths, n)
    flat = rng.choice(len(vocab), int(n_len.sum()), p=probs)
    words = np.array(vocab.tolist(), dtype=object)[flat]  # references to shared strings
    ends = np.cumsum(n_len)
    starts = ends - n_len
    return [words[s:e].tolist() for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]


def heaps_vocabulary(paragraphs: list[str], n: int) -> int:
    """Distinct words a corpus of ``n`` paragraphs like ``paragraphs`` would hold: Heaps' law
    (V grows as size^beta), with beta fitted on the first half and the whole of them."""
    half = len(paragraphs) // 2
    v_half = len({w for p in paragraphs[:half] for w in tokens.words(p)})
    v_all = len({w for p in paragraphs for w in tokens.words(p)})
    beta = math.log(v_all / v_half) / math.log(len(paragraphs) / half)
    return int(v_all * (n / len(paragraphs)) ** beta)


def pseudo_words(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct made-up names ("Kovarenti"): the rare words a big archive has."""
    rng = np.random.default_rng(seed)
    onsets = [*list("bcdfghjklmnprstvz"), "br", "ch", "gr", "st", "tr", "sh", "kl"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou", "ea"]
    out: set[str] = set()
    while len(out) < count:
        m = count - len(out)
        syllables = rng.integers(2, 5, m)
        for k in syllables:
            o = rng.integers(0, len(onsets), k)
            v = rng.integers(0, len(vowels), k)
            out.add("".join(onsets[a] + vowels[b] for a, b in zip(o, v, strict=True)).title())
    return sorted(out)[:count]


@dataclass
class Pool:
    """The real sentences synthetic paragraphs are made of, annotated once per bench run."""

    entities: list[tuple[Any, ...]]  # spaCy entities of each sentence
    terms: list[list[str]]  # BM25 terms of each sentence
    words: list[str]  # their content words, sorted
    word_vectors: np.ndarray  # embedded with qabot's encoder, one row per word


def synthetic_pool(real: RealData) -> Pool:
    from qabot.ingest.annotation import entities_of
    from qabot.ingest.embedding import embed

    words = sorted({w for t in real.sentences for w in tokens.content_words(t)})
    return Pool(
        entities_of(real.sentences),
        [tokens.terms(t) for t in real.sentences],
        words,
        embed(words),
    )


def synthetic_index(
    real: RealData, pool: Pool, n: int, seed: int = 0, flat_max: int | None = None
) -> Any:
    """A ``CorpusIndex`` of ``n`` paragraphs, in memory, shaped like a news archive.

    Each paragraph is 1-3 real sentences (mean 2, as in the seeds), with spaCy's entities,
    and ends with two made-up names so that the vocabulary has the size Heaps' law gives a
    real corpus of ``n`` paragraphs (the fuzzy spelling step scans it for every question).
    Sentence vectors are derived from the real sentences' vectors; a paragraph's vector is
    the normalised sum of its sentences'. Ten paragraphs make a document.
    """
    from qabot.index.model import FORMAT_VERSION, CorpusIndex, FileEntry, Manifest
    from qabot.ingest.embedding import DIMENSION, model_id
    from qabot.records import Entity, Paragraph, Sentence
    from qabot.search import vectors

    rng = np.random.default_rng(seed)
    sentences, pool_entities, pool_terms = real.sentences, pool.entities, pool.terms
    names = pseudo_words(max(2, heaps_vocabulary(real.paragraphs, n) - len(pool.words)), seed)
    name_of = rng.permutation(max(2 * n, len(names))) % len(names)
    counts = rng.integers(1, 4, n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    chosen = rng.integers(0, len(sentences), int(offsets[-1]))
    paragraphs: list[Paragraph] = []
    terms: list[list[str]] = []
    files: dict[str, FileEntry] = {}
    start = 0
    for i in range(n):
        doc = f"syn-{i // 10:07d}.txt"
        if i % 10 == 0:
            start = 0
        tail = f" ({names[name_of[2 * i]]} {names[name_of[2 * i + 1]]})"
        parts, spans, ents, p_terms = [], [], [], []
        at = start
        for j in chosen[offsets[i] : offsets[i + 1]]:
            parts.append(sentences[j])
            spans.append(Sentence(at, at + len(sentences[j])))
            ents += [Entity(at + e.start, at + e.end, e.label) for e in pool_entities[j]]
            p_terms += pool_terms[j]
            at += len(sentences[j]) + 1
        text = " ".join(parts) + tail
        spans[-1] = Sentence(spans[-1].start, start + len(text))
        p_terms += tokens.terms(tail)
        paragraphs.append(
            Paragraph(doc, i % 10, start, start + len(text), text, "paragraph", tuple(spans),
                      tuple(ents))
        )  # fmt: skip
        terms.append(p_terms)
        start += len(text) + 2
        if i % 10 == 9 or i == n - 1:
            files[doc] = FileEntry(doc, "", start, 0, f"Synthetic document {i // 10}", i % 10 + 1)
    s_vecs = derived_vectors(real.sentence_vectors, len(chosen), seed=seed, base=chosen)
    p_vecs = np.add.reduceat(s_vecs, offsets[:-1], axis=0)
    p_vecs /= np.linalg.norm(p_vecs, axis=1, keepdims=True)
    manifest = Manifest(
        FORMAT_VERSION, model_id(), DIMENSION, "synthetic", files, [], n, len(chosen), {}
    )
    # the names' vectors: derived from real word vectors, as the sentences' are
    folded = [tokens.words(name)[0] for name in names]
    word_vectors = np.concatenate(
        [pool.word_vectors, derived_vectors(pool.word_vectors, len(folded), seed=seed)]
    )
    words = {w: i for i, w in enumerate([*pool.words, *folded])}
    p_index = vectors.prepare(vectors.build(p_vecs, flat_max))
    return CorpusIndex(
        Path("synthetic"), manifest, paragraphs, p_index, s_vecs,
        offsets, terms,
        words, word_vectors,
    )  # fmt: skip
