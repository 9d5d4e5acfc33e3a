"""The answerers qabot has, made by name (``QABot(answerer=...)``, ``$QABOT_ANSWERER``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qabot.answer.answering import Answerer
    from qabot.answer.extraction import SpanAnswerer
    from qabot.index.model import CorpusIndex
    from qabot.search.retrieval import Retriever


def make(index: CorpusIndex, retriever: Retriever, kind: str) -> Answerer | SpanAnswerer:
    """The answerer ``kind`` over ``index``: loaded at the first question, not before."""
    if kind == "sentences":
        from qabot.answer.answering import Answerer

        return Answerer(index, retriever)
    from qabot.answer.extraction import SpanAnswerer
    from qabot.answer.reader import shipped_reader

    return SpanAnswerer(index, retriever, shipped_reader())
