"""The training side of each task in `edgetokens.tasks`: data, train step, metrics, publishing.

Every task module (`pose`, `depth`) provides, under the names its `Task` entry points at:

- `build_data(DataConfig, model) -> TaskData`: training set, test data, calibration inputs;
- a train-step factory `(RunConfig, model) -> TrainStep`: `step(net, batch, device, amp) -> {"loss": ...}`;
- `metrics(run, test, model) -> {metric: value}`: `run=None` scores the torch `model` itself (what
  training evaluates every epoch); otherwise `run` maps a numpy batch of the model's first graph input
  (N, ...) to its first graph output (N, ...), and the exported artifact behind it is scored;
- a `Publishing` (`training.publish`): what a shipped default of the task records.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

Step = Callable[[nn.Module, dict, torch.device, bool], dict[str, torch.Tensor]]


@dataclass
class TaskData:
    """One task's data for one model.

    train: the training set (items are dicts; `set_epoch(epoch)` when its sampling depends on the
    epoch), or None where only test data were asked for; test: what the task's `metrics` take;
    info: recorded in checkpoints (`data` in config.json); unit: what one training sample is ("clip",
    "image"), for progress bars and the `<unit>s_per_s` / `<unit>s_per_epoch` records; validation:
    data in the `test` format drawn from the training split, for tuning decisions (accuracy-controlled
    PTQ) that must not see the test split whose numbers are reported, or None.
    """

    train: Dataset | None
    test: Any
    info: dict
    sample_calibration: Callable[[int, int], list[np.ndarray]]
    unit: str = "sample"
    validation: Any = None

    def calibration(self, count: int, seed: int) -> list[np.ndarray]:
        """`count` calibration samples from the training split (fewer where it is smaller), each shaped
        as the model's first graph input at batch 1 (`model.signature(1).inputs[0].shape`), float32."""
        return self.sample_calibration(count, seed)


@dataclass
class TrainStep:
    """A task's training step, `step(net, batch, device, amp) -> {"loss": loss to minimise, other terms}`,
    plus the step's settings worth recording beside the data (`info`, merged into `data` in config.json)."""

    step: Step
    info: dict = field(default_factory=dict)

    def __call__(self, net: nn.Module, batch: dict, device: torch.device, amp: bool = False) -> dict:
        return self.step(net, batch, device, amp)


@dataclass(frozen=True)
class Publishing:
    """What `python -m training.publish` does for a task's shipped defaults.

    evaluate: (model, data root, seed, real RGB-D folder or None) -> the `evaluation` recorded in
    config.json (the folder matters to the depth models only);
    table: [(name, config.json)] -> markdown lines of the README's results table;
    parameter_dtype: how the parameters are stored (None: as trained); the recorded evaluation is of
    the stored (rounded) parameters.
    """

    evaluate: Callable[[nn.Module, str | None, int, str | None], dict]
    table: Callable[[list[tuple[str, dict]]], list[str]]
    parameter_dtype: torch.dtype | None = None
