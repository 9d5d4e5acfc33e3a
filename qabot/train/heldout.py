"""Held-out checks while the reader trains: gold-passage F1 and how "no answer" separates
passages that hold the answer from those that do not, logged to the run's ``eval.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from qabot.answer.reader_inputs import Reading, WindowMaker, decode
from qabot.measure.metrics import token_f1 as f1
from qabot.train.examples import TrainQuestion
from qabot.train.perturb import perturbed_questions, turned_questions


def read_evals(folder: Path) -> list[dict[str, Any]]:
    """The held-out checks a run in ``folder`` logged, oldest first."""
    path = folder / "eval.jsonl"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def torch_logits(model: Any, windows: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Start and end logits of ``windows`` (padded to the longest), without gradients."""
    import torch

    width = max(len(w.ids) for w in windows)
    ids = np.zeros((len(windows), width), dtype=np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for r, w in enumerate(windows):
        ids[r, : len(w.ids)] = w.ids
        types[r, : len(w.ids)] = w.type_ids
        mask[r, : len(w.ids)] = 1
    with torch.no_grad():
        s, e = model(torch.from_numpy(ids), torch.from_numpy(types), torch.from_numpy(mask))
    return s.numpy(), e.numpy()


def evaluate(model: Any, held: list[TrainQuestion], maker: WindowMaker) -> dict[str, float]:
    """Held-out F1 with the gold passage alone; how the no-answer score separates the gold
    passage beside negatives from negatives alone (share ordered right, margin 0); and the
    shares of gold passages with their answer cut out, of changed questions and of turned
    ones over their gold passage, that it refuses (margin 0)."""
    model.eval()

    def read(question: str, texts: list[str]) -> Reading:
        windows = maker.windows(question, texts)
        return decode(windows, *torch_logits(model, windows), maker.config)

    f1s, right = [], 0
    pairs = refused = cuts = 0
    refusals: dict[str, list[bool]] = {"perturbed": [], "turned": []}
    kinds = zip(perturbed_questions(held), turned_questions(held), strict=True)
    for q, (changed_q, turned_q) in zip(held, kinds, strict=True):
        for kind, text in (("perturbed", changed_q), ("turned", turned_q)):
            if text is not None:
                refusals[kind].append(read(text, [q.context]).margin <= 0)
        golds = [q.context[a:b] for a, b in q.answers]
        r = read(q.question, [q.context])
        f1s.append(f1(q.context[r.spans[0].start : r.spans[0].end], golds) if r.spans else 0.0)
        rest = q.without_answer()
        if rest is not None:
            refused += int(read(q.question, [rest]).margin <= 0)
            cuts += 1
        if q.negatives:
            negs = list(q.negatives[:2])
            m1 = read(q.question, [q.context, *negs]).margin
            m2 = read(q.question, negs).margin
            right += int(m1 > 0) + int(m2 <= 0)
            pairs += 2
    return {
        "f1_gold_passage": round(100 * float(np.mean(f1s)), 2) if f1s else 0.0,
        "no_answer_accuracy": round(100 * right / pairs, 2) if pairs else 0.0,
        "answer_removed_refused": round(100 * refused / cuts, 2) if cuts else 0.0,
        **{
            f"{kind}_refused": round(100 * float(np.mean(v)), 2) if v else 0.0
            for kind, v in refusals.items()
        },
        "questions": len(held),
    }
