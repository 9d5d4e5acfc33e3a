"""Fine-tuning the reader, resumable: a killed run goes on from its last checkpoint.

Checkpoints are safetensors (the trainable weights, AdamW's moments, the RNG) and a JSON
state; nothing is pickled. The batch plan of every epoch is drawn from the seed alone, so a
resumed run trains on the same batches, in the same order, as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qabot.answer.reader_inputs import NEG, WindowConfig, WindowMaker
from qabot.errors import QabotError
from qabot.train import snapshots
from qabot.train.batches import Group, Plan, collate, make_group
from qabot.train.examples import TrainQuestion
from qabot.train.heldout import evaluate, read_evals
from qabot.train.perturb import swaps, turn


@dataclass(frozen=True)
class TrainConfig:
    epochs: float = 3.0
    # The learning rate warms up and decays linearly once per cycle of this many epochs
    # (None: once over the run). Cycles let a run be extended: a longer run with the same
    # cycle trains the same batches at the same rates up to where the shorter one stopped,
    # so it resumes from the shorter one's checkpoint.
    cycle: float | None = 0.5
    batch_questions: int = 8
    lr: float = 1e-4
    warmup: float = 0.05  # share of a cycle's steps
    weight_decay: float = 0.01
    unanswerable: float = 0.25  # share of groups with no passage holding the answer
    negatives_with_answer: int = 1  # passages beside the gold one
    negatives_without: int = 2
    hard_pool: int = 4  # negatives are drawn from the best this many retrieved
    # From epoch ``answer_removed_from`` on, this share of the groups without the answer
    # read the gold passage with its answer's sentences cut out in place of one retrieved
    # negative. The first epoch learns to find answers; later ones learn to refuse a
    # passage on the question's very topic that does not answer it.
    answer_removed: float = 0.75
    answer_removed_from: int = 1
    # From ``perturbed_from`` epochs on (a step, not an epoch: it may fall within one), this
    # share of the groups with the answer whose question names something its passage does
    # ask a changed question of the gold passage instead (``perturb``): the same passage, an
    # entity of the same kind that it never mentions, no answer.
    perturbed: float = 0.5
    perturbed_from: float = 1.5
    # From ``turned_from`` epochs on, this share of the groups still with the answer ask
    # their question turned (``perturb.turn``: a word swapped for an opposite the passage
    # never uses, or a negation put in) of the gold passage, which no longer answers it.
    turned: float = 0.3
    turned_from: float = 2.5
    # The reader written is the mean of the weights at the ends of the last this many cycles
    # (``snapshots``); 1: the weights at the last step.
    average: int = 3
    seed: int = 13
    checkpoint_every: int = 100  # steps
    eval_every: int = 1000
    eval_questions: int = 300
    max_steps: int | None = None  # stop early (tests, smoke runs); the schedule is unchanged
    window: WindowConfig = field(default_factory=WindowConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config a checkpoint was written under (one written before a field was added
        gets the field's off value)."""
        fields = dict(data)
        fields.setdefault("cycle", None)
        fields.setdefault("answer_removed", 0.0)
        fields.setdefault("perturbed", 0.0)
        fields.setdefault("perturbed_from", 0.0)
        fields.setdefault("turned", 0.0)
        fields.setdefault("turned_from", 0.0)
        fields["window"] = WindowConfig(**fields["window"])
        return cls(**fields)


def learning_rates(config: TrainConfig, steps_per_epoch: int) -> np.ndarray:
    """The learning rate of every step: per cycle, a linear warm-up then a linear decay."""
    total = max(1, int(config.epochs * steps_per_epoch))
    out = np.zeros(total)
    for lo, n in segments(total, cycle_steps(config, steps_per_epoch)):
        warm = max(1, int(config.warmup * n))
        s = np.arange(n)
        if n == warm:
            out[lo : lo + n] = config.lr * (s + 1) / warm
            continue
        decay = config.lr * np.maximum(0.0, (n - s) / (n - warm))
        out[lo : lo + n] = np.where(s < warm, config.lr * (s + 1) / warm, decay)
    return out


def cycle_steps(config: TrainConfig, steps_per_epoch: int) -> int | None:
    """Steps in a learning-rate cycle; None: one over the whole run."""
    return None if config.cycle is None else max(1, int(config.cycle * steps_per_epoch))


def segments(total: int, cycle: int | None) -> list[tuple[int, int]]:
    """The learning-rate cycles of a schedule of ``total`` steps, as (first step, steps). A
    tail shorter than half a cycle joins the cycle before it: a cycle of a step or two would
    end at the full rate, not at a settled model."""
    if not cycle or cycle >= total:
        return [(0, total)]
    out = [(lo, min(cycle, total - lo)) for lo in range(0, total, cycle)]
    if len(out) > 1 and out[-1][1] < max(2, cycle // 2):
        (lo, n), (_, tail) = out[-2], out.pop()
        out[-1] = (lo, n + tail)
    return out


def cycle_ends(total: int, cycle: int | None) -> list[int]:
    """The steps that end a learning-rate cycle (the last step always does)."""
    return [lo + n for lo, n in segments(total, cycle)]


def plans(questions: list[TrainQuestion], config: TrainConfig, epoch: int) -> list[list[Plan]]:
    """The batches of one epoch, drawn from the seed and the epoch alone. Questions of
    similar length share a batch (less padding); batches are then shuffled."""
    rng = np.random.default_rng([config.seed, epoch])
    # a stream of its own, so that turning answer-removed passages on leaves every other
    # draw (and so the epochs before ``answer_removed_from``) exactly as it was
    cut_rng = np.random.default_rng([config.seed, epoch, 1])
    cut = config.answer_removed if epoch >= config.answer_removed_from else 0.0
    order = rng.permutation(len(questions))
    out: list[Plan] = []
    for i in order.tolist():
        q = questions[i]
        pool = min(config.hard_pool, len(q.negatives))
        answerable = not (pool >= 1 and rng.random() < config.unanswerable)
        want = config.negatives_with_answer if answerable else config.negatives_without
        drawn = rng.choice(pool, size=min(want, pool), replace=False) if pool else []
        picks = [int(k) for k in drawn]
        removed = False
        if not answerable and cut and cut_rng.random() < cut and q.without_answer():
            removed, picks = True, picks[1:]
        out.append(Plan(i, answerable, tuple(sorted(picks)), removed))
    size = config.batch_questions
    chunk = size * 50
    batches: list[list[Plan]] = []
    for lo in range(0, len(out), chunk):
        part = sorted(out[lo : lo + chunk], key=lambda p: _length(questions[p.question], p))
        batches += [part[k : k + size] for k in range(0, len(part), size)]
    rng.shuffle(batches)  # type: ignore[arg-type]
    first = _first_batch(config.perturbed_from, epoch, len(batches))
    if config.perturbed and first < len(batches):
        found = swaps(questions)
        batches[first:] = _changed(
            batches[first:],
            config.perturbed,
            np.random.default_rng([config.seed, epoch, 2]),
            lambda k, r: found.perturb(k, questions[k], r),
            found.can_perturb,
        )
    first = _first_batch(config.turned_from, epoch, len(batches))
    if config.turned and first < len(batches):
        batches[first:] = _changed(
            batches[first:],
            config.turned,
            np.random.default_rng([config.seed, epoch, 3]),
            lambda k, r: turn(questions[k], r),
        )
    return batches


def _first_batch(start: float, epoch: int, n: int) -> int:
    """The first of epoch ``epoch``'s ``n`` batches at or after ``start`` epochs."""
    return max(0, math.ceil(start * n) - epoch * n)


def _changed(
    batches: list[list[Plan]],
    share: float,
    rng: np.random.Generator,
    change: Callable[[int, np.random.Generator], str | None],
    can: Callable[[int], bool] = lambda k: True,
) -> list[list[Plan]]:
    """``batches`` with ``share`` of the groups still with the answer whose question ``can``
    be changed asking it changed by ``change`` (question index, ``rng``; None: it cannot be)
    of the gold passage, which does not answer it. ``rng`` is a stream of its own, so every
    other draw stays as it was."""
    out = []
    for batch in batches:
        changed = []
        for plan in batch:
            if plan.answerable and can(plan.question) and rng.random() < share:
                text = change(plan.question, rng)
                if text is not None:
                    plan = Plan(plan.question, False, plan.negatives, perturbed=text)
            changed.append(plan)
        out.append(changed)
    return out


def _length(q: TrainQuestion, plan: Plan) -> int:
    # a cut passage is about as long; a changed question reads the gold passage itself
    gold = plan.answerable or plan.answer_removed or bool(plan.perturbed)
    texts = ([q.context] if gold else []) + [q.negatives[i] for i in plan.negatives]
    return max((len(t) for t in texts), default=0)


def group_loss(start: Any, end: Any, batch: Any) -> Any:
    """Mean over groups of -log P(gold start) - log P(gold end), normalised per group."""
    import torch

    allowed = torch.from_numpy(batch.allowed)
    start = start.masked_fill(~allowed, NEG)
    end = end.masked_fill(~allowed, NEG)
    losses = []
    for r0, r1, s, e in batch.groups:
        ls = torch.log_softmax(start[r0:r1].reshape(-1), 0)
        le = torch.log_softmax(end[r0:r1].reshape(-1), 0)
        losses.append(-(torch.logsumexp(ls[s], 0) + torch.logsumexp(le[e], 0)))
    return torch.stack(losses).mean()


class Trainer:
    """One training run in ``folder``; ``run`` resumes it from its checkpoint if any."""

    def __init__(
        self,
        questions: list[TrainQuestion],
        folder: Path,
        config: TrainConfig,
        say: Callable[[str], None] = print,
    ) -> None:
        self.train = [q for q in questions if not q.held_out]
        held = sorted((q for q in questions if q.held_out), key=lambda q: q.id)
        self.held = held[: config.eval_questions]
        self.folder = folder
        self.config = config
        self.say = say
        self.maker = WindowMaker(config.window)
        self.steps_per_epoch = math.ceil(len(self.train) / config.batch_questions)
        self.total_steps = max(1, int(config.epochs * self.steps_per_epoch))
        self.ends = cycle_ends(self.total_steps, cycle_steps(config, self.steps_per_epoch))
        self.averaged: list[int] = []  # the snapshot steps whose mean ``run`` returned
        self.losses: list[float] = []
        self.seconds = 0.0  # training time over every run that reached the last checkpoint
        self._since = time.perf_counter()

    # ---------------------------------------------------------------- state on disk

    def _paths(self) -> tuple[Path, Path]:
        return self.folder / "checkpoint.safetensors", self.folder / "state.json"

    def _save(self, model: Any, opt: Any, step: int) -> None:
        import torch
        from safetensors.torch import save_file

        from qabot.train.model import trainable_state

        weights, state_file = self._paths()
        tensors = {f"model.{k}": v.contiguous() for k, v in trainable_state(model).items()}
        names = {id(p): n for n, p in _named_trainable(model)}
        for param, st in opt.state.items():
            name = names[id(param)]
            tensors[f"exp_avg.{name}"] = st["exp_avg"].contiguous()
            tensors[f"exp_avg_sq.{name}"] = st["exp_avg_sq"].contiguous()
            tensors[f"step.{name}"] = torch.as_tensor(st["step"]).reshape(1).float()
        tensors["rng"] = torch.get_rng_state()
        tmp = weights.with_suffix(".tmp")
        save_file(tensors, str(tmp))
        os.replace(tmp, weights)
        now = time.perf_counter()
        self.seconds += now - self._since
        self._since = now
        state = {
            "step": step,
            "config": self.config.to_dict(),
            "losses": self.losses[-2000:],
            "seconds": round(self.seconds, 1),
        }
        tmp_state = state_file.with_suffix(".tmp")
        tmp_state.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp_state, state_file)

    def _resume(self, model: Any, opt: Any) -> int:
        import torch
        from safetensors.torch import load_file

        from qabot.train.model import load_trainable

        weights, state_file = self._paths()
        if not (weights.is_file() and state_file.is_file()):
            return 0
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if not self._continues(state):
            self.say(f"checkpoint in {self.folder} is of another configuration: starting anew")
            snapshots.clear(self.folder)
            (self.folder / "eval.jsonl").unlink(missing_ok=True)
            return 0
        tensors = load_file(str(weights))
        load_trainable(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        for name, param in _named_trainable(model):
            if f"exp_avg.{name}" in tensors:
                opt.state[param] = {
                    "step": torch.tensor(float(tensors[f"step.{name}"][0])),
                    "exp_avg": tensors[f"exp_avg.{name}"].clone(),
                    "exp_avg_sq": tensors[f"exp_avg_sq.{name}"].clone(),
                }
        torch.set_rng_state(tensors["rng"])
        self.losses = list(state.get("losses", []))
        self.seconds = float(state.get("seconds", 0.0))
        self.say(f"resuming at step {state['step']} of {self.total_steps}")
        return int(state["step"])

    def _continues(self, state: dict) -> bool:
        """Whether this run would have trained the checkpoint's steps exactly as it did:
        the same model, the same batches, and the same learning rate at every step up to
        it (so a longer run, or one that changes only later epochs, goes on from it)."""
        try:
            theirs = TrainConfig.from_dict(state["config"])
            step = int(state["step"])
        except (KeyError, TypeError, ValueError):
            return False
        ours = self.config
        if step > self.total_steps or (theirs.window, theirs.weight_decay, theirs.seed) != (
            ours.window,
            ours.weight_decay,
            ours.seed,
        ):
            return False
        spe = self.steps_per_epoch
        for epoch in range(math.ceil(step / spe)):
            n = min(spe, step - epoch * spe)
            if plans(self.train, theirs, epoch)[:n] != plans(self.train, ours, epoch)[:n]:
                return False
        a = learning_rates(theirs, self.steps_per_epoch)[:step]
        b = learning_rates(self.config, self.steps_per_epoch)[:step]
        return len(a) == step and bool(np.allclose(a, b, rtol=0, atol=1e-12))

    # ---------------------------------------------------------------- training

    def run(self) -> Any:
        """Train to the end (or ``max_steps``) and return the model."""
        import torch

        from qabot.ingest.embedding import usable_cores
        from qabot.train.model import build

        torch.set_num_threads(usable_cores())
        self.folder.mkdir(parents=True, exist_ok=True)
        model = build(self.config.seed)
        opt = torch.optim.AdamW(
            [p for _, p in _named_trainable(model)],
            lr=self.config.lr,
            weight_decay=self.config.weight_decay,
        )
        step = self._resume(model, opt)
        self._since = time.perf_counter()
        rates = learning_rates(self.config, self.steps_per_epoch)
        last = self.total_steps
        if self.config.max_steps is not None:
            last = max(step, min(last, self.config.max_steps))
        lacking = snapshots.missing(self.folder, [s for s in self._averaged(last) if s <= step])
        if lacking:  # found now, not after hours of training
            raise QabotError(
                f"{self.folder}: the checkpoint at step {step} lacks the snapshots of steps "
                f"{lacking} that the reader averages (TrainConfig.average); train again in "
                "an empty --work folder"
            )
        model.train()
        started, done_rows = time.perf_counter(), 0
        epoch_plans: dict[int, list[list[Plan]]] = {}
        while step < last:
            epoch, k = divmod(step, self.steps_per_epoch)
            if epoch not in epoch_plans:
                epoch_plans = {epoch: plans(self.train, self.config, epoch)}
            groups = self._groups(epoch_plans[epoch][k])
            if groups:
                batch = collate(groups)
                for g in opt.param_groups:
                    g["lr"] = float(rates[step])
                start, end = model(
                    torch.from_numpy(batch.ids),
                    torch.from_numpy(batch.type_ids),
                    torch.from_numpy(batch.mask),
                )
                loss = group_loss(start, end, batch)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for _, p in _named_trainable(model)], 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
                self.losses.append(round(float(loss.detach()), 4))
                done_rows += batch.rows
            step += 1
            if step in self.ends or step == last:
                snapshots.save(model, self.folder, step)
                snapshots.prune(self.folder, self._averaged(step))
            if step % self.config.checkpoint_every == 0 or step == last:
                self._save(model, opt, step)
                rate = done_rows / (time.perf_counter() - started)
                recent = self.losses[-self.config.checkpoint_every :]
                self.say(
                    f"step {step}/{self.total_steps} loss {np.mean(recent):.3f} "
                    f"({rate:.1f} windows/s)"
                )
            if step % self.config.eval_every == 0 or step == last:
                self._log_eval(model, step)
                model.train()
        steps = self._averaged(last)
        self.averaged = steps
        if len(steps) > 1:
            snapshots.average_into(model, self.folder, steps)
            if not any(e.get("averaged") == steps for e in read_evals(self.folder)):
                self._log_eval(model, last, {"averaged": steps})
        return model

    def _averaged(self, last: int) -> list[int]:
        """The snapshot steps whose mean a run stopped at ``last`` gives."""
        return snapshots.wanted(self.ends, last, self.config.average)

    def _groups(self, batch: list[Plan]) -> list[Group]:
        out = []
        for plan in batch:
            g = make_group(self.train[plan.question], plan, self.maker)
            if g is not None:
                out.append(g)
        return out

    def _log_eval(self, model: Any, step: int, extra: dict[str, Any] | None = None) -> None:
        scores: dict[str, Any] = {**evaluate(model, self.held, self.maker), "step": step}
        scores.update(extra or {})
        with (self.folder / "eval.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(scores) + "\n")
        self.say(f"held-out at step {step}: {scores}")


def _named_trainable(model: Any) -> list[tuple[str, Any]]:
    out = [(n, p) for n, p in model.bert.named_parameters() if p.requires_grad]
    return out + [(f"qa_outputs.{n}", p) for n, p in model.qa_outputs.named_parameters()]
