"""What the reader model reads: a question paired with passage windows, as token ids.

Training (``qabot.train``) and answering build their inputs here, so the model is always
run on exactly the kind of input it learned from. A window is ``[CLS] question [SEP]
passage-part [SEP]`` with segment ids 0 then 1; a passage longer than the window budget is
read in overlapping windows. Each passage token keeps its character offsets into its passage,
so a predicted span is an exact slice of the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

NEG = -1e4  # the logit of a position that can be no answer's start or end


@dataclass(frozen=True)
class WindowConfig:
    """How passages are cut into model inputs: the same in training and answering."""

    max_tokens: int = 256  # a window, question and special tokens included
    max_question_tokens: int = 64
    stride: int = 128  # tokens a window advances along a long passage
    max_answer_tokens: int = 30


@dataclass(frozen=True)
class Window:
    """One model input: the question and (part of) one passage."""

    passage: int  # position of its passage among those read together
    ids: list[int]
    type_ids: list[int]
    first: int  # position of the first passage token
    offsets: list[tuple[int, int]]  # character span in the passage of each passage token

    @property
    def passage_tokens(self) -> int:
        return len(self.offsets)


def tokenizer_path() -> Path:
    """The packaged model's tokenizer: the reader is fine-tuned from the same weights."""
    from qabot.ingest.embedding import model_path

    return model_path() / "tokenizer.json"


@cache
def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path()))
    tok.no_padding()
    tok.no_truncation()
    return tok


class WindowMaker:
    """Turns (question, passages) into windows; one per process is enough."""

    def __init__(self, config: WindowConfig | None = None) -> None:
        self.config = config or WindowConfig()
        tok = _tokenizer()
        self._tok = tok
        self.cls = tok.token_to_id("[CLS]")
        self.sep = tok.token_to_id("[SEP]")

    def encode(self, texts: list[str]) -> list[Any]:
        return self._tok.encode_batch(texts, add_special_tokens=False)

    def windows(self, question: str, passages: list[str]) -> list[Window]:
        encodings = self.encode([question, *passages])
        q_ids = encodings[0].ids[: self.config.max_question_tokens]
        out: list[Window] = []
        for k, enc in enumerate(encodings[1:]):
            out += self.passage_windows(q_ids, k, enc.ids, enc.offsets)
        return out

    def passage_windows(
        self,
        q_ids: list[int],
        passage: int,
        ids: list[int],
        offsets: list[tuple[int, int]],
        only: tuple[int, int] | None = None,
    ) -> list[Window]:
        """The windows over one passage's tokens. ``only``: the window, among them, that
        holds token span (start, end) nearest its middle (training reads that one)."""
        budget = self.config.max_tokens - len(q_ids) - 3
        starts = [0]
        while starts[-1] + budget < len(ids):
            starts.append(starts[-1] + self.config.stride)
        if only is not None:
            fits = [s for s in starts if s <= only[0] and only[1] < s + budget]
            if not fits:
                return []
            middle = (only[0] + only[1]) / 2
            starts = [min(fits, key=lambda s: abs(s + min(budget, len(ids) - s) / 2 - middle))]
        head = [self.cls, *q_ids, self.sep]
        out = []
        for s in starts:
            part = ids[s : s + budget]
            out.append(
                Window(
                    passage,
                    [*head, *part, self.sep],
                    [0] * len(head) + [1] * (len(part) + 1),
                    len(head),
                    list(offsets[s : s + len(part)]),
                )
            )
        return out


def token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """First and last token covering characters [start, end) of the passage."""
    first = next((i for i, (_, e) in enumerate(offsets) if e > start), None)
    last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < end), None)
    if first is None or last is None or last < first:
        return None
    return first, last


def answer_mask(window: Window, width: int) -> np.ndarray:
    """Positions that may start or end an answer: [CLS] (no answer) and the passage tokens."""
    mask = np.zeros(width, dtype=bool)
    mask[0] = True
    mask[window.first : window.first + window.passage_tokens] = True
    return mask


@dataclass(frozen=True)
class SpanScore:
    """A candidate answer span, as the reader scores it."""

    passage: int
    start: int  # character offsets into the passage
    end: int
    logp: float  # log-probability among every span and no-answer, over all passages read


@dataclass(frozen=True)
class Reading:
    """What the reader made of a question over a set of passages."""

    spans: list[SpanScore]  # best first, one per distinct (passage, start, end)
    null_logp: float  # log-probability that no passage answers

    @property
    def margin(self) -> float:
        """How far the best span beats "no answer" (log-odds); -inf with no span."""
        return self.spans[0].logp - self.null_logp if self.spans else float("-inf")


def _logsumexp(x: np.ndarray) -> float:
    if x.size == 0:
        return float("-inf")
    m = float(np.max(x))
    return m + float(np.log(np.sum(np.exp(x - m))))


def decode(
    windows: list[Window],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    config: WindowConfig,
    n_best: int = 20,
) -> Reading:
    """Spans and no-answer scored with one normalisation over all windows of all passages
    (shared normalisation: a span's score means the same whichever passage it is in)."""
    starts, ends, s_cls, e_cls = [], [], [], []
    for k, w in enumerate(windows):
        lo, hi = w.first, w.first + w.passage_tokens
        starts.append(start_logits[k, lo:hi])
        ends.append(end_logits[k, lo:hi])
        s_cls.append(start_logits[k, 0])
        e_cls.append(end_logits[k, 0])
    if not windows:
        return Reading([], 0.0)
    log_z = _logsumexp(np.concatenate([*starts, np.array(s_cls)])) + _logsumexp(
        np.concatenate([*ends, np.array(e_cls)])
    )
    null = _logsumexp(np.array(s_cls)) + _logsumexp(np.array(e_cls)) - log_z
    best: dict[tuple[int, int, int], float] = {}
    for w, s_row, e_row in zip(windows, starts, ends, strict=True):
        if not len(s_row):
            continue
        top_s = np.argsort(-s_row, kind="stable")[:n_best]
        top_e = np.argsort(-e_row, kind="stable")[:n_best]
        for i in top_s.tolist():
            for j in top_e.tolist():
                if j < i or j - i + 1 > config.max_answer_tokens:
                    continue
                key = (w.passage, w.offsets[i][0], w.offsets[j][1])
                score = float(s_row[i] + e_row[j]) - log_z
                if score > best.get(key, float("-inf")):
                    best[key] = score
    spans = [SpanScore(p, a, b, s) for (p, a, b), s in best.items()]
    spans.sort(key=lambda s: (-s.logp, s.passage, s.start))
    return Reading(spans, null)
