"""Snapshot averaging: the shipped reader is the mean of its weights at the ends of the last
few learning-rate cycles.

Each cycle decays the learning rate to zero, so its last step is a settled model; averaging
several such snapshots of one run (SWA: Izmailov et al. 2018, "Averaging Weights Leads to
Wider Optima and Better Generalization") lands nearer the middle of the region they share
than any one of them. How many: ``TrainConfig.average``, chosen on held-out training
questions (docs/EVALUATION.md).

Snapshots are safetensors of the trainable weights, float32, beside the checkpoint; only the
ones the average needs are kept.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qabot.errors import QabotError

PREFIX = "snapshot-"


def path(folder: Path, step: int) -> Path:
    return folder / f"{PREFIX}{step}.safetensors"


def wanted(ends: list[int], last: int, average: int) -> list[int]:
    """The snapshot steps the average of a run stopped at ``last`` takes: the last
    ``average`` of the cycle ``ends`` up to it, ``last`` itself counting as one (a run cut
    short by ``max_steps`` averages what it reached)."""
    reached = [s for s in ends if s < last] + [last]
    return reached[-max(1, average) :]


def save(model: Any, folder: Path, step: int) -> None:
    from safetensors.torch import save_file

    from qabot.train.model import trainable_state

    tensors = {k: v.float().contiguous() for k, v in trainable_state(model).items()}
    tmp = path(folder, step).with_suffix(".tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, path(folder, step))


def prune(folder: Path, keep: list[int]) -> None:
    """Remove the snapshots no average will take (a longer run keeps later ones), and any a
    killed save left half written."""
    for p in folder.glob(f"{PREFIX}*"):
        step = p.name[len(PREFIX) :].split(".")[0]
        if p.suffix != ".safetensors" or not step.isdigit() or int(step) not in keep:
            p.unlink()


def clear(folder: Path) -> None:
    """Forget a run's snapshots (a run starting anew)."""
    prune(folder, [])


def missing(folder: Path, steps: list[int]) -> list[int]:
    return [s for s in steps if not path(folder, s).is_file()]


def average_into(model: Any, folder: Path, steps: list[int]) -> None:
    """Load the mean of the snapshots at ``steps`` into ``model``."""
    from safetensors.torch import load_file

    from qabot.train.model import load_trainable

    lacking = missing(folder, steps)
    if lacking:
        raise QabotError(
            f"{folder} lacks the snapshots of steps {lacking} that the reader averages "
            "(TrainConfig.average); train again in an empty --work folder"
        )
    total: dict[str, Any] = {}
    for s in steps:
        for name, value in load_file(str(path(folder, s))).items():
            total[name] = total[name] + value if name in total else value.clone()
    load_trainable(model, {k: v / len(steps) for k, v in total.items()})
