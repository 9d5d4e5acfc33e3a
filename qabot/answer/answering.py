"""Extractive answers: choose sentences of the retrieved paragraphs, never write text.

For each sentence of the top paragraphs a score mixes its cosine to the question, how much
of the question's (IDF-weighted) terms it covers, and its paragraph's fused retrieval rank.
Questions that ask who / when / where / how many / how much get a short answer: a named
entity of the expected kind (found by spaCy at index time) nearest the question's words.
Sentences that state the same fact (same short answer, or near-identical wording) become
one answer with several citations. Strong answers that fill the question's slot with
different values ("Defense Minister Benny Gantz" vs "Yoav Gallant, the Defense Minister"),
or that affirm and deny the same thing, are flagged as a conflict. When the best sentence
scores below a threshold calibrated on the dev set, qabot abstains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz

from qabot.answer.conflicts import polarity_conflict, slot_conflict
from qabot.answer.facts import same_value
from qabot.answer.questions import YES_NO, expected_labels
from qabot.answer.scope import SourceScope
from qabot.index.model import CorpusIndex
from qabot.records import Answer, AnswerSet, Citation, Entity, Hit, Paragraph, ShortAnswer
from qabot.search import tokens
from qabot.search.retrieval import Query, QueryWord, Retriever

# A capitalised function word straight after a word ("...Defense Minister this Tuesday Israel,
# When the US Warns...") is a seam where scraped or machine-translated fragments were glued
# together: such a "sentence" is a poor quote and a poor rival to a clean one.
_GLUED = re.compile(r"(?<=[\w,]) (?:He|She|When|The|But|It|They|We|This|That|And|As|In|On|If)\b")


_WORD = re.compile(r"\w+")
_LIST_GLUE = re.compile(r"^(?:,\s*(?:and\s+|or\s+)?|\s+(?:and|or|&)\s+)$")


@dataclass(frozen=True)
class AnswererConfig:
    """The sentence scorer's weights and thresholds, set on prompts/dev_qa.jsonl
    (docs/CALIBRATION.md)."""

    abstain_below: float = 0.50
    conflict_ratio: float = 0.80  # a rival answer must score this close to the best one
    cite_ratio: float = 0.70  # a sentence stating the same fact is cited if it scores this close
    same_sentence_cosine: float = 0.88
    top_paragraphs: int = 12
    slot_overlap: float = 0.7  # share of the (IDF-weighted) words around two names that agree
    max_answers: int = 3
    w_dense: float = 0.45
    w_lexical: float = 0.35
    w_retrieval: float = 0.20
    type_bonus: float = 0.05
    type_missing: float = 0.12
    heading_penalty: float = 0.15
    glued_penalty: float = 0.05  # per seam, up to three
    # A typed answer's sentence must hold this share of the question's (IDF-weighted) words:
    # a date in a sentence about something else answers nothing.
    typed_min_coverage: float = 0.2
    scope_bonus: float = 0.12
    soft_candidates: int = 12
    soft_floor: float = 0.30  # word cosine 0.3 -> no credit ...
    soft_span: float = 0.40
    soft_max: float = 0.9  # ... 0.7 -> 0.9 of the word's weight
    word_cache: int = 200_000  # question words embedded and kept, at most
    window: int = 5  # words either side of an entity that count as its slot


@dataclass
class Candidate:
    """A sentence considered as an answer, with the parts of its score."""

    paragraph: Paragraph
    paragraph_id: int
    start: int
    end: int
    vector: np.ndarray
    dense: float
    lexical: float
    retrieval: float
    score: float = 0.0
    missing: list[QueryWord] = field(default_factory=list)  # question words it lacks
    short: ShortAnswer | None = None
    fillers: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.paragraph.text[
            self.start - self.paragraph.start : self.end - self.paragraph.start
        ]


class Answerer:
    kind = "sentences"  # QABot(answerer=...) names it so

    def __init__(
        self, index: CorpusIndex, retriever: Retriever, config: AnswererConfig | None = None
    ) -> None:
        self.index = index
        self.retriever = retriever
        self.config = config or AnswererConfig()
        self.scope = SourceScope(index, retriever)
        self._word_vectors: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ scoring

    def candidates(
        self, hits: list[Hit], query: Query, question: str, about: Sequence[str] = ()
    ) -> list[Candidate]:
        """Score every sentence of the top paragraphs; best first.

        ``about`` is text a follow-up leans on (the earlier question, the names its answer
        gave): like names in the question, the names in it are never the answer.
        """
        labels = expected_labels(question)
        question_words = set(tokens.words(" ".join([question, *about])))
        # The chat's context helped find the paragraphs; the sentence must answer the question.
        words = query.own_words
        terms = {t: w for qw in words for t, w in qw.variants.items()}
        idf = {qw.word: self.retriever.word_idf(qw) for qw in words}
        norm = sum(idf.values()) or 1.0
        scope = self.scope.weights(question)
        top_fused = hits[0].fused if hits else 1.0
        out: list[Candidate] = []
        for hit, pid in self._read(hits[: self.config.top_paragraphs]):
            p = self.index.paragraphs[pid]
            for k, s in enumerate(p.sentences):
                vec = self.index.sentence_vectors[self.index.sentence_row(pid, k)]
                c = Candidate(
                    p,
                    pid,
                    s.start,
                    s.end,
                    vec,
                    dense=float(vec @ query.vector),
                    lexical=0.0,
                    retrieval=hit.fused / top_fused,
                )
                present = set(tokens.terms(c.text))
                c.missing = [qw for qw in words if not present.intersection(qw.variants)]
                c.lexical = 1.0 - sum(idf[qw.word] for qw in c.missing) / norm
                c.score = self._score(c, scope)
                out.append(c)
        out.sort(key=lambda c: -c.score)
        # Words the sentence lacks may still be there in other words ("famine" for
        # "starvation"): give partial credit by word-embedding similarity, for the best few.
        self._soften(out[: self.config.soft_candidates], idf, norm)
        for c in out:
            c.score = self._score(c, scope)
            c.score -= self.config.glued_penalty * min(3, len(_GLUED.findall(c.text)))
            if _is_heading(c):
                c.score -= self.config.heading_penalty
            else:
                self._fill_slots(
                    c, labels or ("PERSON",), terms, question_words, typed=bool(labels)
                )
            if labels:  # the first label is the one the question most likely wants
                if c.short is None:
                    c.score -= self.config.type_missing
                elif c.short.label == labels[0]:
                    c.score += self.config.type_bonus
                else:
                    c.score -= self.config.type_missing / 2
        out.sort(key=lambda c: -c.score)
        return out

    def _read(self, hits: list[Hit]) -> list[tuple[Hit, int]]:
        """The paragraphs to read: each hit, and after a matching heading the paragraph it
        introduces, which states what the headline only announces (scored as the heading)."""
        seen = {h.paragraph_id for h in hits}
        out = []
        for h in hits:
            out.append((h, h.paragraph_id))
            nxt = h.paragraph_id + 1
            p = self.index.paragraphs[h.paragraph_id]
            if (
                p.kind == "heading"
                and nxt not in seen
                and nxt < len(self.index.paragraphs)
                and self.index.paragraphs[nxt].doc == p.doc
            ):
                seen.add(nxt)
                out.append((h, nxt))
        return out

    def _score(self, c: Candidate, scope: dict[str, float]) -> float:
        score = (
            self.config.w_dense * c.dense
            + self.config.w_lexical * c.lexical
            + self.config.w_retrieval * c.retrieval
        )
        if scope:
            score += self.config.scope_bonus * scope.get(c.paragraph.doc, 0.0)
        return score

    def _soften(self, cands: list[Candidate], idf: dict[str, float], norm: float) -> None:
        # Only candidates that miss an open-class question word get soft credit, so only their
        # words are embedded: a question over new text embedded every word of every candidate
        # (~100 ms a question on SQuAD-like text, most of a warm ask).
        missing = {
            id(c): [qw for qw in c.missing if not tokens.closed_class(qw.word)] for c in cands
        }
        softened = [c for c in cands if missing[id(c)]]
        sentence_words = {id(c): tokens.content_words(c.text) for c in softened}
        needed = {qw.word for c in softened for qw in missing[id(c)]}
        needed |= {w for ws in sentence_words.values() for w in ws}
        vectors = self._vectors(needed)
        for c in softened:
            words = list(sentence_words[id(c)])
            if not words:
                continue
            matrix = np.stack([vectors[w] for w in words])
            credit = 0.0
            for qw in missing[id(c)]:  # "Monday" is close to "Tuesday", never it: skipped
                best = float(np.max(matrix @ vectors[qw.word]))
                credit += (
                    idf[qw.word]
                    * self.config.soft_max
                    * min(1.0, max(0.0, (best - self.config.soft_floor) / self.config.soft_span))
                )
            c.lexical = min(1.0, c.lexical + credit / norm)

    def _vectors(self, words: set[str]) -> dict[str, np.ndarray]:
        """Vectors of ``words``: the index's table holds every corpus word; the rest (question
        words the corpus lacks) are embedded once and kept."""
        from qabot.ingest.embedding import embed

        table, rows = self.index.word_vectors, self.index.words
        if (
            len(self._word_vectors) > self.config.word_cache
        ):  # before the look-up: every word must be there
            self._word_vectors.clear()
        missing = sorted(w for w in words if w not in rows and w not in self._word_vectors)
        if missing:
            self._word_vectors.update(zip(missing, embed(missing), strict=True))
        return {w: table[rows[w]] if w in rows else self._word_vectors[w] for w in words}

    def _fill_slots(
        self,
        c: Candidate,
        labels: tuple[str, ...],
        terms: dict[str, float],
        question_words: set[str],
        typed: bool,
    ) -> None:
        """Find entities of the wanted kind in the sentence, near the question's words."""
        text = c.paragraph.text
        base = c.paragraph.start
        word_spans = [(m.start() + base, m.end() + base, m.group()) for m in _WORD.finditer(text)]
        in_sentence = [w for w in word_spans if c.start <= w[0] and w[1] <= c.end]
        matched = [
            i
            for i, (_, _, w) in enumerate(in_sentence)
            if tokens.fold(w) not in tokens.STOPWORDS and tokens.stem(tokens.fold(w)) in terms
        ]
        entities = [
            e
            for e in c.paragraph.entities
            if c.start <= e.start
            and e.end <= c.end
            and e.label in labels
            and not _in_question(text[e.start - base : e.end - base], question_words)
        ]
        entities = _merge_lists(entities, text, base)
        best: tuple[float, Entity] | None = None
        for e in entities:
            idx = [i for i, w in enumerate(in_sentence) if e.start <= w[0] < e.end]
            if not idx:
                continue
            lo, hi = min(idx), max(idx)
            near = frozenset(
                tokens.stem(tokens.fold(in_sentence[i][2]))
                for i in matched
                if lo - self.config.window <= i <= hi + self.config.window and not lo <= i <= hi
            )
            value = text[e.start - base : e.end - base]
            if near:
                c.fillers.append((value, near))
            if typed:
                dist = min((abs(i - lo) for i in matched), default=99)
                rank = labels.index(e.label) if e.label in labels else len(labels)
                key = rank * 100 + dist
                if best is None or key < best[0]:
                    best = (key, e)
        if best is not None:
            e = best[1]
            c.short = ShortAnswer(text[e.start - base : e.end - base], e.start, e.end, e.label)

    def respond(
        self, hits: list[Hit], query: Query, question: str, about: Sequence[str] = ()
    ) -> AnswerSet:
        """Score the sentences of ``hits`` and conclude (``candidates``, then ``answer``)."""
        return self.answer(self.candidates(hits, query, question, about), question)

    # ------------------------------------------------------------------ answers

    def answer(self, candidates: list[Candidate], question: str) -> AnswerSet:
        """Ranked answers, and whether qabot abstains and whether sources conflict."""
        if not candidates or candidates[0].score < self.config.abstain_below:
            best = f"{candidates[0].score:.2f}" if candidates else "none"
            return AnswerSet(
                [],
                True,
                False,
                f"no sentence answers well enough (best {best} < {self.config.abstain_below})",
            )
        labels = expected_labels(question)
        top = candidates[0].score
        shown = [c for c in candidates[:5] if c.score >= self.config.conflict_ratio * top]
        # A wanted entity counts only in a sentence about the question: a date in a sentence
        # about something else ("almost six months" for "When did Netanyahu publish the
        # video?") answers nothing, however close its score comes to the best.
        if labels and not any(
            c.short and c.lexical >= self.config.typed_min_coverage for c in shown
        ):
            note = f"no {'/'.join(labels[:2])} in a sentence about the question"
            return AnswerSet([], True, False, note)
        groups: list[list[Candidate]] = []
        for c in candidates:
            if c.score < self.config.cite_ratio * top:
                break
            for g in groups:
                if _same_fact(g[0], c, self.config.same_sentence_cosine):
                    g.append(c)
                    break
            else:
                groups.append([c])
        answers = [self._to_answer(g) for g in groups[: self.config.max_answers]]
        # A rival that lacks a day or month the question names and the best answer has
        # ("on Tuesday") is about another occasion (Monday's meeting), not a disagreement.
        dated = {qw.word for qw in candidates[0].missing}
        leaders = [
            g[0]
            for g in groups
            if g[0].score >= self.config.conflict_ratio * top
            and all(qw.word in dated for qw in g[0].missing if tokens.closed_class(qw.word))
        ]
        conflict = slot_conflict(
            leaders,
            1 if labels else 2,
            lambda w: self.retriever.word_idf(QueryWord(w, {w: 1.0}, 1.0)),
            self.config.slot_overlap,
        ) or (bool(YES_NO.search(question)) and polarity_conflict(leaders, question))
        return AnswerSet(answers, False, conflict)

    def _to_answer(self, group: list[Candidate]) -> Answer:
        lead = group[0]
        p = lead.paragraph
        k = next(i for i, s in enumerate(p.sentences) if s.start == lead.start)
        ctx_start = p.sentences[max(0, k - 1)].start
        ctx_end = p.sentences[min(len(p.sentences) - 1, k + 1)].end
        title = self.index.title(p.doc)
        citations = []
        seen: set[tuple[str, int]] = set()
        for c in group:
            if (c.paragraph.doc, c.start) in seen:
                continue
            seen.add((c.paragraph.doc, c.start))
            citations.append(
                Citation(
                    c.paragraph.doc,
                    self.index.title(c.paragraph.doc),
                    c.paragraph.number,
                    c.start,
                    c.end,
                    c.text,
                    round(c.score, 4),
                )
            )
        return Answer(
            text=lead.text,
            doc=p.doc,
            start=lead.start,
            end=lead.end,
            score=round(lead.score, 4),
            context=p.text[ctx_start - p.start : ctx_end - p.start],
            context_start=ctx_start,
            context_end=ctx_end,
            title=title,
            paragraph=p.number,
            short_answer=lead.short,
            citations=citations,
        )


def _is_heading(c: Candidate) -> bool:
    return c.paragraph.kind == "heading"


def _in_question(value: str, question_words: set[str]) -> bool:
    """Whether an entity is (mostly) named in the question already, allowing misspellings."""
    words = [w for w in tokens.words(value) if w not in tokens.STOPWORDS]
    if not words:
        return True
    hits = sum(
        1
        for w in words
        if w in question_words
        or any(len(q) >= 4 and fuzz.ratio(w, q) >= 80 for q in question_words)
    )
    return hits * 2 >= len(words)


def _merge_lists(entities: list[Entity], text: str, base: int) -> list[Entity]:
    """Join entities of one kind separated only by list glue ("Egypt, Qatar") into one span."""
    merged: list[Entity] = []
    for e in sorted(entities, key=lambda e: e.start):
        if (
            merged
            and merged[-1].label == e.label
            and _LIST_GLUE.match(text[merged[-1].end - base : e.start - base])
        ):
            merged[-1] = Entity(merged[-1].start, e.end, e.label)
        else:
            merged.append(e)
    return merged


def _same_fact(a: Candidate, b: Candidate, same_sentence_cosine: float) -> bool:
    if a.short and b.short:
        return same_value(a.short.text, b.short.text)
    return float(a.vector @ b.vector) >= same_sentence_cosine
