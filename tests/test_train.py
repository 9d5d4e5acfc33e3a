"""Training the reader, on a few dozen real SQuADShifts questions (no quality asserted)."""

from __future__ import annotations

import gzip
import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qabot.answer.reader_inputs import WindowMaker, token_span
from qabot.measure.metrics import normalize_answer as normalize
from qabot.train import snapshots
from qabot.train.batches import Plan, collate, make_group
from qabot.train.examples import SETS, TrainQuestion, data_root
from qabot.train.heldout import read_evals
from qabot.train.loop import TrainConfig, Trainer, cycle_ends, learning_rates, plans
from qabot.train.perturb import perturbed_questions, swaps, turn

pytestmark = pytest.mark.slow


def _questions(n: int) -> list[TrainQuestion]:
    """The first ``n`` questions of new Wikipedia; negatives are the article's other
    paragraphs (no retrieval: that is what ``prepare`` adds, tested below)."""
    with gzip.open(data_root() / SETS["new_wiki"], "rt", encoding="utf-8") as fh:
        article = json.load(fh)["data"][0]
    contexts = [p["context"] for p in article["paragraphs"]]
    out = []
    for k, par in enumerate(article["paragraphs"]):
        for qa in par["qas"]:
            a = qa["answers"][0]
            span = (a["answer_start"], a["answer_start"] + len(a["text"]))
            negatives = tuple(c for j, c in enumerate(contexts) if j != k)[:3]
            out.append(
                TrainQuestion(
                    qa["id"], "new_wiki", qa["question"], par["context"], (span,), negatives, False
                )
            )
            if len(out) == n:
                return out
    return out


def test_a_group_targets_the_gold_span_and_no_answer_otherwise():
    q = _questions(1)[0]
    maker = WindowMaker()
    g = make_group(q, Plan(0, True, (0,)), maker)
    assert g is not None and len(g.windows) == 2
    (k, s), (_, e) = g.starts[0], g.ends[0]
    w = g.windows[k]
    a, b = q.answers[0]
    # the target tokens cover exactly the answer's characters
    assert w.offsets[s - w.first][0] <= a < w.offsets[s - w.first][1]
    assert w.offsets[e - w.first][0] < b <= w.offsets[e - w.first][1]
    none = make_group(q, Plan(0, False, (0, 1)), maker)
    assert none is not None and not none.answerable
    batch = collate([g, none])
    width = batch.ids.shape[1]
    # the no-answer group's targets are the [CLS] of each of its windows
    assert batch.groups[1][2] == [0, width]


def test_a_passage_cut_of_its_answer_keeps_the_rest_and_never_the_answer():
    questions = _questions(40)
    cut = [(q, q.without_answer()) for q in questions]
    assert any(rest is not None for _, rest in cut)
    for q, rest in cut:
        if rest is None:
            continue
        answer = normalize(q.context[q.answers[0][0] : q.answers[0][1]])
        assert answer not in normalize(rest)
        assert len(rest) < len(q.context)
        # what is left is the passage's own sentences, in order
        assert all(sentence in q.context for sentence in rest.split(". ") if sentence)


def test_a_group_may_read_the_gold_passage_cut_of_its_answer_as_a_negative():
    q = next(q for q in _questions(40) if q.without_answer())
    g = make_group(q, Plan(0, False, (0,), answer_removed=True), WindowMaker())
    assert g is not None and not g.answerable and len(g.windows) == 2
    text = WindowMaker().encode([q.without_answer()])[0].ids
    assert g.windows[0].ids[g.windows[0].first : g.windows[0].first + 5] == text[:5]


def test_answer_removed_negatives_join_only_from_their_epoch_and_leave_other_draws_alone():
    questions = _questions(60)
    on = TrainConfig(batch_questions=4, unanswerable=0.5, answer_removed=1.0)
    off = TrainConfig(batch_questions=4, unanswerable=0.5, answer_removed=0.0)
    assert plans(questions, on, 0) == plans(questions, off, 0)
    later = [p for b in plans(questions, on, 1) for p in b]
    removed = [p for p in later if p.answer_removed]
    assert removed and all(not p.answerable for p in removed)
    assert all(questions[p.question].without_answer() for p in removed)
    plain = {p.question: p for b in plans(questions, off, 1) for p in b}
    for p in later:
        q = plain[p.question]
        assert p.answerable == q.answerable
        # one retrieved negative gives way to the cut passage; the others are the same
        assert set(p.negatives) <= set(q.negatives)
        assert len(p.negatives) == len(q.negatives) - int(p.answer_removed)


def test_a_changed_question_swaps_a_name_its_passage_holds_for_one_of_its_kind_it_does_not():
    questions = _questions(80)
    found = swaps(questions)
    changed = perturbed_questions(questions)
    assert sum(c is not None for c in changed) >= 10
    assert changed == perturbed_questions(questions)  # the same draw every time
    for k, (q, new_q) in enumerate(zip(questions, changed, strict=True)):
        if new_q is None:
            continue
        # one entity the question shares with its passage is put in place of another of
        # its kind, which the passage never mentions
        swapped = []
        for a, b, label in found.spots[k]:
            put = new_q[a : len(new_q) - (len(q.question) - b)]
            if new_q.startswith(q.question[:a]) and new_q.endswith(q.question[b:]):
                swapped.append((q.question[a:b], put, label))
        assert swapped, (q.question, new_q)
        assert any(
            old.lower() in q.context.lower()
            and put.lower() not in q.context.lower()
            and any(name.endswith(put) for name in found.pool[label])
            for old, put, label in swapped
        ), (q.question, new_q)


def test_changed_questions_join_from_their_step_and_read_the_gold_passage_unanswered():
    questions = _questions(60)
    base = dict(batch_questions=4, unanswerable=0.25)
    on = TrainConfig(**base, perturbed=1.0, perturbed_from=1.5)
    off = TrainConfig(**base, perturbed=0.0)
    assert plans(questions, on, 0) == plans(questions, off, 0)
    first = 15 // 2  # epoch 1 of 15 batches; the changes start at step 1.5 x 15
    later_on, later_off = plans(questions, on, 1), plans(questions, off, 1)
    assert later_on[: first + 1] == later_off[: first + 1]
    changed = [p for b in later_on[first + 1 :] for p in b if p.perturbed]
    assert changed and not any(p.perturbed for b in later_on[: first + 1] for p in b)
    maker = WindowMaker()
    for p in changed:
        q = questions[p.question]
        assert not p.answerable and p.perturbed != q.question
        g = make_group(q, p, maker)
        assert g is not None and not g.answerable
        # the changed question over the gold passage, then the retrieved negatives
        w = g.windows[0]
        asked = maker.encode([p.perturbed])[0].ids
        assert w.ids[1 : 1 + len(asked)] == asked
        gold = maker.encode([q.context])[0].ids
        assert w.ids[w.first : w.first + 5] == gold[:5]
        assert len(g.windows) >= 1 + len(p.negatives)


def test_turned_questions_join_from_their_step_and_leave_every_other_draw_alone():
    questions = _questions(60)
    base = dict(batch_questions=4, unanswerable=0.25, perturbed=0.5, perturbed_from=0.5)
    on = TrainConfig(**base, turned=1.0, turned_from=1.5)
    off = TrainConfig(**base, turned=0.0)
    assert plans(questions, on, 0) == plans(questions, off, 0)
    first = math.ceil(1.5 * 15) - 15  # of epoch 1's 15 batches, the first turned
    later_on, later_off = plans(questions, on, 1), plans(questions, off, 1)
    assert later_on[:first] == later_off[:first]
    turned = 0
    for b_on, b_off in zip(later_on[first:], later_off[first:], strict=True):
        for p_on, p_off in zip(b_on, b_off, strict=True):
            if p_on == p_off:
                # left alone: no answer already, changed already, or it cannot be turned
                assert (
                    not p_off.answerable
                    or turn(questions[p_off.question], np.random.default_rng(0)) is None
                )
                continue
            turned += 1
            q = questions[p_on.question]
            assert p_off.answerable and not p_on.answerable
            assert (p_on.question, p_on.negatives) == (p_off.question, p_off.negatives)
            assert p_on.perturbed not in ("", q.question)
            g = make_group(q, p_on, WindowMaker())
            assert g is not None and not g.answerable
    assert turned


def test_a_checkpoint_from_before_turned_questions_goes_on_under_them(tmp_path):
    questions = _questions(64)
    assert len(questions) == 64  # 16 steps an epoch, cycles of 8: 1.5 epochs end one
    base = dict(batch_questions=4, cycle=0.5)
    old = TrainConfig(epochs=1.5, **base).to_dict()
    del old["turned"], old["turned_from"]  # written before turned questions were
    assert TrainConfig.from_dict(old).turned == 0.0
    ours = TrainConfig(epochs=2.0, turned=1.0, turned_from=1.5, **base)
    trainer = Trainer(questions, tmp_path, ours)
    assert trainer._continues({"config": old, "step": 24})
    # and the turns do come after it
    assert plans(questions, ours, 1)[8:] != plans(questions, TrainConfig(**base), 1)[8:]
    ours_earlier = TrainConfig(epochs=2.0, turned=1.0, turned_from=1.0, **base)
    assert not Trainer(questions, tmp_path, ours_earlier)._continues({"config": old, "step": 24})


def test_windows_cover_a_long_passage_and_keep_offsets():
    maker = WindowMaker()
    passage = " ".join(f"word{i}" for i in range(600))
    windows = maker.windows("Which word comes last?", [passage])
    assert len(windows) > 1
    assert all(len(w.ids) <= maker.config.max_tokens for w in windows)
    assert windows[-1].offsets[-1][1] == len(passage)
    span = token_span(windows[0].offsets, 0, 5)
    assert span == (0, 1) or span[0] == 0


def test_the_loss_falls_on_the_questions_it_trains_on(tmp_path):
    questions = _questions(16)
    config = TrainConfig(
        epochs=4, batch_questions=4, lr=3e-4, checkpoint_every=4, eval_every=10_000
    )
    trainer = Trainer(questions, tmp_path / "run", config, say=lambda m: None)
    trainer.run()
    losses = trainer.losses
    assert len(losses) == 16
    assert np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4]), losses


def test_a_killed_run_resumes_where_it_stopped(tmp_path):
    questions = _questions(8)
    base = dict(epochs=2, batch_questions=4, checkpoint_every=1, eval_every=10_000)
    whole = Trainer(questions, tmp_path / "a", TrainConfig(**base), say=lambda m: None)
    whole.run()
    said: list[str] = []
    Trainer(questions, tmp_path / "b", TrainConfig(**base, max_steps=2), say=said.append).run()
    resumed = Trainer(questions, tmp_path / "b", TrainConfig(**base), say=said.append)
    resumed.run()
    assert any("resuming at step 2" in m for m in said)
    assert resumed.losses == pytest.approx(whole.losses, abs=2e-3)


def test_a_longer_run_goes_on_from_a_shorter_ones_checkpoint_when_it_shares_its_steps(tmp_path):
    questions = _questions(16)
    base = dict(batch_questions=4, cycle=0.5, checkpoint_every=1, eval_every=10_000)
    said: list[str] = []
    Trainer(questions, tmp_path / "run", TrainConfig(epochs=1, **base), said.append).run()
    # a change that only later epochs see goes on from the checkpoint; one the first
    # epoch saw starts anew (each tried on a copy, stopped where the checkpoint is)
    for change, verdict in (({"answer_removed": 0.0}, "resuming at step 4"), ({"seed": 7}, "anew")):
        shutil.copytree(tmp_path / "run", tmp_path / "copy", dirs_exist_ok=True)
        said.clear()
        config = TrainConfig(epochs=1.5, max_steps=4, **{**base, **change})
        Trainer(questions, tmp_path / "copy", config, said.append).run()
        assert any(verdict in m for m in said), (change, said)
    said.clear()
    longer = Trainer(questions, tmp_path / "run", TrainConfig(epochs=1.5, **base), said.append)
    longer.run()
    assert any("resuming at step 4" in m for m in said)
    whole = Trainer(questions, tmp_path / "whole", TrainConfig(epochs=1.5, **base), said.append)
    whole.run()
    assert longer.losses == pytest.approx(whole.losses, abs=2e-3)
    # another cycle would have trained the same steps at other rates: it starts anew
    said.clear()
    other = TrainConfig(epochs=1.5, **{**base, "cycle": None})
    Trainer(questions, tmp_path / "run", other, said.append).run()
    assert any("starting anew" in m for m in said)


def _weights(path: Path, prefix: str = "") -> dict:
    from safetensors.torch import load_file

    return {k[len(prefix) :]: v for k, v in load_file(str(path)).items() if k.startswith(prefix)}


def test_the_reader_trained_is_the_mean_of_the_weights_that_end_its_last_cycles(tmp_path):
    import torch

    from qabot.errors import QabotError
    from qabot.train.model import trainable_state

    questions = _questions(16)  # 4 steps an epoch, a cycle of 2: cycles end at 2, 4 and 6
    base = dict(epochs=1.5, cycle=0.5, average=2, batch_questions=4, eval_every=99)
    config = TrainConfig(**base, checkpoint_every=1)
    run, say = tmp_path / "run", lambda m: None
    trainer = Trainer(questions, run, config, say)
    mean = trainable_state(trainer.run())
    assert trainer.averaged == [4, 6]
    assert sorted(p.name for p in run.glob("snapshot-*")) == [
        "snapshot-4.safetensors",
        "snapshot-6.safetensors",
    ]
    # the snapshots are the weights at those steps: step 6's checkpoint, and a run stopped at 4
    four, six = _weights(run / "snapshot-4.safetensors"), _weights(run / "snapshot-6.safetensors")
    at_six = _weights(run / "checkpoint.safetensors", "model.")
    Trainer(questions, tmp_path / "four", replace(config, max_steps=4), say).run()
    at_four = _weights(tmp_path / "four" / "checkpoint.safetensors", "model.")
    assert set(mean) == set(six) == set(at_six)
    assert any(not torch.equal(four[k], six[k]) for k in six)
    for name, value in six.items():
        assert torch.equal(value, at_six[name]), name
        assert torch.allclose(four[name], at_four[name], atol=1e-4), name
        assert torch.allclose(mean[name], (four[name] + value) / 2, atol=1e-6), name
    # a run killed at step 3 and resumed gives the same mean
    Trainer(questions, tmp_path / "killed", replace(config, max_steps=3), say).run()
    resumed = trainable_state(Trainer(questions, tmp_path / "killed", config, say).run())
    assert all(torch.allclose(resumed[k], mean[k], atol=1e-4) for k in mean)
    # run again at its end: the same mean, its check logged once
    again = Trainer(questions, run, config, say).run()
    assert all(torch.equal(trainable_state(again)[k], mean[k]) for k in mean)
    assert [e.get("averaged") for e in read_evals(run)].count([4, 6]) == 1
    # a snapshot the mean needs is missing: said before any training
    (run / "snapshot-4.safetensors").unlink()
    with pytest.raises(QabotError, match=r"lacks the snapshots of steps \[4\]"):
        Trainer(questions, run, config, say).run()


def test_the_mean_takes_the_cycles_a_run_reached_and_its_last_step():
    assert snapshots.wanted(cycle_ends(6, 2), last=5, average=2) == [4, 5]
    assert snapshots.wanted(cycle_ends(6, 2), last=6, average=3) == [2, 4, 6]
    assert snapshots.wanted(cycle_ends(6, None), last=6, average=3) == [6]
    assert snapshots.wanted(cycle_ends(6, 2), last=1, average=3) == [1]
    # a tail of a step or two joins the cycle before it, in the schedule and in the mean
    assert cycle_ends(7902, 1580)[-3:] == [4740, 6320, 7902]
    rates = learning_rates(TrainConfig(epochs=2.5, cycle=0.5, warmup=0.1), steps_per_epoch=41)
    assert len(rates) == 102 and rates[-1] < 0.1 * rates.max()


def test_learning_rates_warm_up_and_decay_once_a_cycle():
    one = learning_rates(TrainConfig(epochs=1, cycle=None, warmup=0.1), steps_per_epoch=100)
    assert len(one) == 100 and np.argmax(one) == 9 and one[9] == pytest.approx(1e-4)
    assert np.all(np.diff(one[10:]) < 0)
    two = learning_rates(TrainConfig(epochs=1, cycle=0.5, warmup=0.1), steps_per_epoch=100)
    assert np.allclose(two[:50], two[50:]) and np.argmax(two[:50]) == 4
    # a run twice as long with the same cycle repeats the first one, then goes on
    longer = learning_rates(TrainConfig(epochs=2, cycle=0.5, warmup=0.1), steps_per_epoch=100)
    assert np.allclose(longer[:100], two)


def test_the_epoch_plan_depends_on_the_seed_alone():
    questions = _questions(12)
    config = TrainConfig(batch_questions=4)
    assert plans(questions, config, 0) == plans(questions, config, 0)
    assert plans(questions, config, 0) != plans(questions, config, 1)


def test_prepared_negatives_never_hold_the_answer(tmp_path):
    from qabot.train.examples import prepare

    questions = prepare(tmp_path, limit=6, say=lambda m: None)
    assert questions
    assert {q.source for q in questions} == set(SETS)
    for q in questions:
        golds = {normalize(q.context[a:b]) for a, b in q.answers}
        assert all(q.context[a:b].strip() for a, b in q.answers)
        for neg in q.negatives:
            assert neg != q.context
            assert not any(g in normalize(neg) for g in golds)
    # a second call reuses what the first wrote
    again = prepare(tmp_path, limit=6, say=lambda m: pytest.fail(m))
    assert again == questions


def test_held_out_articles_are_never_trained_on(tmp_path):
    from qabot.train.examples import _paragraphs

    paragraphs = _paragraphs("amazon", Path(data_root() / SETS["amazon"]))
    by_article: dict[str, set[bool]] = {}
    for p in paragraphs:
        by_article.setdefault(p.doc.split("/")[0], set()).add(p.held_out)
    assert all(len(flags) == 1 for flags in by_article.values())
    held = sum(p.held_out for p in paragraphs) / len(paragraphs)
    assert 0.03 < held < 0.15


def test_the_command_writes_a_calibrated_reader_that_answers(tmp_path):
    from click.testing import CliRunner

    from qabot.answer.reader import Reader
    from qabot.cli import main

    out = tmp_path / "reader"
    args = ["train-reader", "--work", str(tmp_path / "work"), "--out", str(out)]
    res = CliRunner().invoke(main, [*args, "--limit", "30", "--max-steps", "2"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "MODEL_CARD.md",
        "reader.json",
        "reader.safetensors",
    ]
    assert not (tmp_path / ".reader.partial").exists()
    settings = json.loads((out / "reader.json").read_text(encoding="utf-8"))
    assert settings["training"]["steps"] == 2 and settings["held_out"]["held_out_questions"] > 0
    reader = Reader(out)
    passage = "The Harbour Bridge was opened in 1932 by the mayor of the city."
    reading = reader.read("When was the Harbour Bridge opened?", [passage])
    assert reading.spans and passage[reading.spans[0].start : reading.spans[0].end]
