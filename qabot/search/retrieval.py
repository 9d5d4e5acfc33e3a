"""Hybrid paragraph retrieval: BM25Okapi and dense cosine, fused by reciprocal rank.

BM25 is rank-bm25's BM25Okapi, computed by the sparse engine of ``qabot.search.bm25`` (same scores,
without a Python loop over every paragraph). Raw BM25 and cosine scores live on different
scales, so they are fused by rank (``qabot.search.ranking.rrf``, k=60) and each hit keeps its
raw scores and ranks for display. Misspelled or variant names ("Galant", "Lloyd Austen",
"Rafa") are met by expanding query words to corpus words within a small edit distance, and
known nicknames ("Bibi") through a small alias table. The tuning constants are a
``RetrieverConfig``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

import numpy as np

from qabot.index.model import CorpusIndex
from qabot.records import Evidence, Hit
from qabot.search import ranking, tokens
from qabot.search import vectors as qabot_vectors
from qabot.search.bm25 import BM25Matrix
from qabot.search.spelling import Spelling

MODES = ("bm25", "dense", "hybrid")  # for ``Retriever.rank``


@dataclass(frozen=True)
class RetrieverConfig:
    """The retriever's tuning constants; the defaults are what qabot runs with."""

    rrf_k: int = ranking.RRF_K  # reciprocal-rank fusion constant
    candidates: int = 50  # paragraphs per retriever, before fusion
    sentences_per_candidate: int = 3  # sentence hits searched per paragraph candidate
    fuzzy_min_length: int = 4  # shorter query words get no spelling variants
    one_edit_max_length: int = 6  # words up to this long get 1 edit, longer ones 2
    known_variant_weight: float = 0.5  # of variants of a word the corpus has
    unknown_variant_weight: float = 0.9  # of variants of a word it lacks (a likely misspelling)
    sentence_flat_max: int | None = None  # exact sentence scan up to here (None: vectors')


@dataclass(frozen=True)
class QueryWord:
    """A content word of the question and the BM25 terms that count as it."""

    word: str  # folded surface form
    variants: dict[str, float]  # stem -> weight: its own stem, spelling variants, aliases
    weight: float  # 1 for the question's own words, less for words carried from history


@dataclass(frozen=True)
class Query:
    """What retrieval needs: the analysed words and a unit query vector."""

    words: list[QueryWord]
    vector: np.ndarray  # what retrieval searches with (blended with the chat's context)

    @property
    def own_words(self) -> list[QueryWord]:
        return [qw for qw in self.words if qw.weight >= 1.0]

    @property
    def terms(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for qw in self.words:
            for term, w in qw.variants.items():
                out[term] = max(out.get(term, 0.0), w)
        return out


def load_aliases() -> dict[str, list[str]]:
    """Nicknames and short forms that no edit distance finds (``qabot/data/aliases.json``)."""
    text = resources.files("qabot").joinpath("data/aliases.json").read_text(encoding="utf-8")
    data: dict[str, list[str]] = json.loads(text)
    return {tokens.fold(k): v for k, v in data.items() if not k.startswith("_")}


class Retriever:
    def __init__(self, index: CorpusIndex, config: RetrieverConfig | None = None) -> None:
        self.index = index
        self.config = config or RetrieverConfig()
        self.aliases = load_aliases()

    @cached_property
    def bm25(self) -> BM25Matrix | None:
        """Stored at index time; built here only for an index made in memory."""
        if self.index.vocabulary is not None:  # stored together: None = no paragraph has terms
            return self.index.bm25
        terms = self.index.paragraph_terms
        if not terms or not any(terms):
            return None
        return BM25Matrix(terms)

    @cached_property
    def vocabulary(self) -> dict[str, str]:
        """Corpus surface words (folded) -> their BM25 stem, for fuzzy expansion."""
        if self.index.vocabulary is not None:
            return self.index.vocabulary
        return tokens.vocabulary(p.text for p in self.index.paragraphs)

    @cached_property
    def spelling(self) -> Spelling:
        return Spelling(self.vocabulary)

    def idf(self, term: str) -> float:
        bm25 = self.bm25
        return max(bm25.idf.get(term, 0.0), 0.0) if bm25 else 0.0

    def analyze(self, text: str, weight: float = 1.0) -> list[QueryWord]:
        """Content words of ``text`` with their spelling variants and aliases in the corpus."""
        cfg = self.config
        out: dict[str, QueryWord] = {}
        for word in tokens.words(text):
            if word in tokens.STOPWORDS or word in out:
                continue
            variants = {tokens.stem(word): weight}
            for alias in self.aliases.get(word, []):
                for t in tokens.terms(alias):
                    variants[t] = weight
            if len(word) >= cfg.fuzzy_min_length and word.isalpha():
                known = word in self.vocabulary
                # a known word's variants count less: they may be other words
                share = cfg.known_variant_weight if known else cfg.unknown_variant_weight
                max_edits = 1 if len(word) <= cfg.one_edit_max_length else 2
                for cand, _ in self.spelling.near(word, max_edits):
                    if tokens.distinct(word, cand):  # "tuesday" is no misspelling of "thursday"
                        continue
                    variants.setdefault(self.vocabulary[cand], weight * share)
            out[word] = QueryWord(word, variants, weight)
        return list(out.values())

    def word_idf(self, qw: QueryWord) -> float:
        """IDF of a query word; a word the corpus never uses counts as the rarest."""
        bm25 = self.bm25
        if bm25 is None:
            return 1.0
        known = [bm25.idf[t] for t in qw.variants if t in bm25.idf]
        return max(max(known), 0.0) + 0.1 if known else self.max_idf

    @cached_property
    def max_idf(self) -> float:
        return (max(self.bm25.idf.values()) if self.bm25 and self.bm25.idf else 1.0) + 0.1

    @cached_property
    def sentence_vectors(self) -> Any:
        """The sentence vectors' search index, chosen by size as for paragraphs: an exact scan
        up to ``config.sentence_flat_max`` sentences (``vectors.FLAT_MAX`` by default), IVF-SQ8
        above (a flat scan of 3M sentences would cost ~0.2 s a question). The IVF is built at
        index time (~1 min a million); a flat one is a copy of the vectors, made here."""
        if self.index.sentence_search is not None:
            return self.index.sentence_search
        return qabot_vectors.build(self.index.sentence_vectors, self.config.sentence_flat_max)

    @cached_property
    def _sentence_paragraph(self) -> np.ndarray:
        return np.repeat(
            np.arange(len(self.index.paragraphs)), np.diff(self.index.sentence_offsets)
        )

    def docs_with(self, term: str) -> set[str]:
        """Documents with BM25 term ``term`` in their text: its row lists the paragraphs that
        have it, rather than a scan of every paragraph's terms (the whole corpus at 1M)."""
        bm25 = self.bm25
        tid = bm25.vocabulary.get(term) if bm25 else None
        if bm25 is None or tid is None:
            return set()
        pids = np.asarray(bm25.indices[bm25.indptr[tid] : bm25.indptr[tid + 1]])
        names, owner = self._paragraph_docs
        return {names[k] for k in np.unique(owner[pids]).tolist()}

    @cached_property
    def _paragraph_docs(self) -> tuple[list[str], np.ndarray]:
        """Document names, and for each paragraph id the position of its document there."""
        names = list(self.index.doc_paragraphs)
        owner = np.zeros(len(self.index.paragraphs), dtype=np.int32)
        for k, ids in enumerate(self.index.doc_paragraphs.values()):
            owner[ids if isinstance(ids, list) else slice(ids.start, ids.stop)] = k
        return names, owner

    def search(self, query: Query, k: int = 10) -> list[Hit]:
        n = len(self.index.paragraphs)
        if n == 0:
            return []
        depth = min(self.config.candidates, n)
        bm25_scores = self._bm25_scores(query)
        dense_scores = self._dense_scores(query, depth)
        return self._fuse(
            query,
            bm25_scores,
            self._bm25_order(bm25_scores, depth),
            dense_scores,
            sorted(dense_scores, key=lambda pid: -dense_scores[pid])[:depth],
        )[:k]

    def rank(self, query: Query, k: int, mode: str = "hybrid") -> list[Hit]:
        """Paragraphs ranked by BM25 alone, dense alone or both (RRF), to depth ``k``.

        For retrieval benchmarks, which score each retriever on its own and look deeper than
        ``search``'s ``config.candidates`` (50). ``hybrid`` fuses both lists cut at
        ``max(k, config.candidates)``.
        """
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; one of {', '.join(MODES)}")
        n = len(self.index.paragraphs)
        if n == 0:
            return []
        depth = min(max(k, self.config.candidates) if mode == "hybrid" else k, n)
        bm25_scores = self._bm25_scores(query) if mode != "dense" else np.zeros(n)
        bm25_order = self._bm25_order(bm25_scores, depth) if mode != "dense" else []
        dense_scores = self._dense_scores(query, depth) if mode != "bm25" else {}
        dense_order = sorted(dense_scores, key=lambda pid: -dense_scores[pid])[:depth]
        return self._fuse(query, bm25_scores, bm25_order, dense_scores, dense_order)[:k]

    def _bm25_scores(self, query: Query) -> np.ndarray:
        if self.bm25 is None:
            return np.zeros(len(self.index.paragraphs), dtype=np.float64)
        return self.bm25.weighted_scores(query.terms)

    @staticmethod
    def _bm25_order(scores: np.ndarray, depth: int) -> list[int]:
        return ranking.top_k(scores, depth).ids.tolist()

    def _dense_scores(self, query: Query, depth: int) -> dict[int, float]:
        # A paragraph's dense score is the best of its own cosine and its sentences' cosines:
        # a long paragraph may hold one sentence that matches the question closely.
        qv = query.vector.reshape(1, -1)
        sims, ids = qabot_vectors.search(self.index.paragraph_vectors, qv, depth)
        dense_scores = {int(i): float(s) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0}
        n_sent = self.index.sentence_vectors.shape[0]
        if n_sent:
            s_depth = min(n_sent, depth * self.config.sentences_per_candidate)
            s_sims, s_ids = qabot_vectors.search(self.sentence_vectors, qv, s_depth)
            for i, s in zip(s_ids[0], s_sims[0], strict=True):
                if i >= 0:
                    pid = int(self._sentence_paragraph[i])
                    dense_scores[pid] = max(dense_scores.get(pid, -1.0), float(s))
        return dense_scores

    def _fuse(
        self,
        query: Query,
        bm25_scores: np.ndarray | Mapping[int, float],
        bm25_order: list[int],
        dense_scores: dict[int, float],
        dense_order: list[int],
        vector_of: Callable[[int], np.ndarray] | None = None,
    ) -> list[Hit]:
        """Reciprocal-rank fusion of the two rankings, best first. A paragraph that only
        BM25 found scores its own vector's cosine (``vector_of``: where that vector is read;
        the index's vectors by default)."""
        vector_of = vector_of or self.index.paragraph_vectors.reconstruct
        bm25_rank, dense_rank = ranking.ranks(bm25_order), ranking.ranks(dense_order)
        hits: list[Hit] = []
        for pid, fused in ranking.rrf((bm25_rank, dense_rank), self.config.rrf_k).items():
            dense = dense_scores.get(pid)
            if dense is None:
                dense = float(vector_of(pid) @ query.vector)
            hits.append(
                Hit(
                    pid,
                    fused,
                    float(bm25_scores[pid]),
                    dense,
                    bm25_rank.get(pid),
                    dense_rank.get(pid),
                )
            )
        hits.sort(key=lambda h: (-h.fused, -h.dense))
        return hits


def evidence_of(index: CorpusIndex, hit: Hit) -> Evidence:
    """A retrieved paragraph as it is shown and cited, with how it scored."""
    p = index.paragraphs[hit.paragraph_id]
    return Evidence(
        p.doc,
        index.title(p.doc),
        p.number,
        p.start,
        p.end,
        p.text,
        round(hit.fused, 6),
        round(hit.bm25, 4),
        round(hit.dense, 4),
        hit.bm25_rank,
        hit.dense_rank,
        locator=index.locator(p.doc, p.start),
    )
