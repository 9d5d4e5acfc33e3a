"""Training qabot's own reader: ``qabot train-reader`` reproduces the shipped model.

Nothing in the product imports this package (it needs torch and transformers, which
answering never loads); the CLI imports it only for that command.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from qabot.errors import QabotError


def train_reader(
    work: Path | None,
    out: Path,
    config: object | None = None,
    data: Path | None = None,
    limit: int | None = None,
    passages: int | None = None,
    say: Callable[[str], None] = print,
) -> dict:
    """Prepare the examples in ``work`` (default: the cache's ``train``), train (resuming a
    killed run), export the weights, set the thresholds on held-out questions for reading
    ``passages`` paragraphs a question, and write the model card. Returns the card's facts."""
    from qabot.answer.reader import DEFAULT_PASSAGES, SETTINGS, WEIGHTS, Reader
    from qabot.ingest.embedding import model_id
    from qabot.paths import cache_dir
    from qabot.train import calibrate, examples, export
    from qabot.train.heldout import read_evals
    from qabot.train.loop import TrainConfig, Trainer

    config = config or TrainConfig()
    work = work or cache_dir("train")
    passages = passages or DEFAULT_PASSAGES
    if not isinstance(config, TrainConfig):
        raise QabotError("config must be a TrainConfig")
    started = time.perf_counter()
    questions = examples.prepare(work, data, limit, say)
    train = [q for q in questions if not q.held_out]
    held = [q for q in questions if q.held_out]
    if not train or not held:
        raise QabotError("training data gave no training or no held-out questions")
    say(f"{len(train)} training questions, {len(held)} held out")
    run = work / ("run" if limit is None else f"run-limit{limit}")
    trainer = Trainer(questions, run, config, say)
    model = trainer.run()
    base = model_id().split("+")[0]
    # Written beside ``out`` and moved in once calibrated: a run killed before that leaves
    # the reader that was there, never weights with uncalibrated thresholds.
    stage = out.parent / f".{out.name}.partial"
    shutil.rmtree(stage, ignore_errors=True)
    export.write_weights(model, stage, base)
    # thresholds are set with the reader exactly as qabot runs it (CTranslate2, int8)
    export.write_settings(
        stage, config.window, calibrate.Thresholds(), base, {"passages": passages}
    )
    cal = calibrate.calibrate(Reader(stage), held, passages, say)
    state = _state(run)
    minutes = (time.perf_counter() - started) / 60
    facts = {
        "passages": passages,
        "training": {
            "questions": len(train),
            "held_out": len(held),
            "config": asdict(config),
            "steps": state.get("step"),
            "averaged": trainer.averaged,
            "training_minutes": _training_minutes(state),
            "minutes_this_command": round(minutes, 1),
            "losses_last_100": _tail_loss(state),
            "held_out_evals": read_evals(run),
        },
        "held_out": cal.report,
    }
    export.write_settings(stage, config.window, cal.thresholds, base, facts)
    export.write_card(stage, facts, cal.thresholds)
    out.mkdir(parents=True, exist_ok=True)
    for name in (WEIGHTS, export.CARD, SETTINGS):
        os.replace(stage / name, out / name)
    shutil.rmtree(stage, ignore_errors=True)
    say(json.dumps(cal.report))
    return facts


def _state(run: Path) -> dict:
    """The run's state.json (step, seconds, losses); empty when it has none."""
    state = run / "state.json"
    return json.loads(state.read_text(encoding="utf-8")) if state.is_file() else {}


def _tail_loss(state: dict) -> float | None:
    losses = state.get("losses", [])[-100:]
    return round(sum(losses) / len(losses), 4) if losses else None


def _training_minutes(state: dict) -> float | None:
    return round(state.get("seconds", 0.0) / 60, 1) if state else None
