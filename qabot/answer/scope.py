"""Questions that name a source ("according to the AP report", "the article on Gaza"):
documents whose title or text has its words count more."""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

from qabot.index.model import CorpusIndex
from qabot.search import tokens
from qabot.search.retrieval import Retriever

SCOPE = re.compile(
    r"(?:according to|in|from|per|by)\s+(?:the|this|that|an?)\s+(?P<name>[^,?]{1,60}?)\s+"
    r"(?:article|report|story|piece|account|coverage)\b"
    r"|(?:the|this|that)\s+(?:article|report|story|piece)\s+(?:on|about)\s+(?P<topic>[^,?]{1,80})",
    re.I,
)
SCOPE_NOISE = {"news", "articl", "report", "stori"}


class SourceScope:
    def __init__(self, index: CorpusIndex, retriever: Retriever) -> None:
        self.index = index
        self.retriever = retriever

    def weights(self, question: str) -> dict[str, float]:
        """How well each document matches a source the question names ("the AP report")."""
        m = SCOPE.search(question)
        if not m:
            return {}
        wanted = {t for t in tokens.terms(m.group("name") or m.group("topic") or "")} - SCOPE_NOISE
        if not wanted:
            return {}
        in_text = {t: self.docs_with(t) for t in wanted}
        found: dict[str, float] = {}
        for name in self.index.manifest.files:
            title_terms = set(tokens.terms(self.index.title(name)))
            found[name] = sum(
                1.0 if t in title_terms else 0.6 if name in in_text[t] else 0.0 for t in wanted
            ) / len(wanted)
        return found

    def docs_with(self, term: str) -> set[str]:
        """Documents with ``term`` in their text: its BM25 row lists the paragraphs that have
        it, rather than a scan of every paragraph's terms (the whole corpus at 1M paragraphs)."""
        bm25 = self.retriever.bm25
        tid = bm25.vocabulary.get(term) if bm25 else None
        if tid is None:
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
