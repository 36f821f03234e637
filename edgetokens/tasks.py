"""The task map: every capability is one entry, as Ultralytics keeps `task_map`.

An entry names, for one task, the classes and functions each layer plugs in: the Predictor subclass
(`edgetokens`), the data builder, the training step and the metrics (`training`). Entries are
"module:attribute" strings resolved on first use, so the map is plain data at the bottom of the
stack: a layer looks up only its own part and no import runs upward or in a cycle. The export graph
and the tensor contract are not here: each model family owns them (`model.signature()`,
`model.graph_forward()`, see `edgetokens.models.signature`).

A new task is new files plus one `register_task(Task(...))` call below (docs/architecture.md).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    predictor: str | None = None  # Predictor subclass for users; None for training-only tasks
    cli_predict: str | None = None  # (predictor, args) -> exit code: `edgetokens predict` for this task
    data: str | None = None  # (DataConfig, model) -> TaskData: train set, test set, calibration inputs
    train_step: str | None = None  # (RunConfig, model) -> step(net, batch, device, amp) -> losses
    metrics: str | None = None  # (run, test set, model) -> {metric: value}; run maps a graph input batch
    best_metric: str = ""  # the metrics key that picks OUT/best (lower is better)
    publish: str | None = None  # training.tasks.Publishing: what `training.publish` records for a shipped default
    # (test data, model, seed) -> (validation items, NNCF validation_fn) for accuracy-controlled PTQ
    accuracy_control: str | None = None
    quantization_aware: bool = False  # `compression.qat` fine-tunes this task's models

    def load(self, part: str) -> Any:
        """The object behind one part of the entry, imported on first use."""
        target = getattr(self, part)
        if not target:
            raise ValueError(f"task {self.name!r} has no {part}")
        module, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module), attribute)


TASKS: dict[str, Task] = {}
DEFAULT_TASK = "pose3d"  # what a bare .onnx / .xml without a manifest is taken for


def register_task(task: Task) -> Task:
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]


def predictor_class(task: str) -> type:
    """The Predictor subclass of a task; training-only tasks (a tokenizer) have none."""
    entry = get_task(task)
    if not entry.predictor:
        users = ", ".join(sorted(t.name for t in TASKS.values() if t.predictor))
        raise ValueError(f"{task!r} models are trained, not deployed; Predictor serves the tasks {users}")
    return entry.load("predictor")


register_task(Task(
    "pose3d", "2D keypoints of a video -> 3D poses (HoT lifters)",
    predictor="edgetokens.pose_predictor:PosePredictor",
    cli_predict="edgetokens.cli_commands:predict_pose",
    data="training.tasks.pose:build_data",
    train_step="training.tasks.pose:train_step",
    metrics="training.tasks.pose:metrics",
    best_metric="mpjpe_mm",
    publish="training.tasks.pose:PUBLISH",
    accuracy_control="compression.accuracy_control:pose_validation",
    quantization_aware=True,
))
register_task(Task(
    "depth", "an image -> metric depth (AiT)",
    predictor="edgetokens.depth:DepthPredictor",
    cli_predict="edgetokens.cli_commands:predict_depth",
    data="training.tasks.depth:build_data",
    train_step="training.tasks.depth:solver_step",
    metrics="training.tasks.depth:metrics",
    best_metric="rmse",
    publish="training.tasks.depth:PUBLISH",
))
register_task(Task(
    "depth-tokenizer", "depth -> VQ-VAE tokens -> depth (AiT stage 1; trained, not deployed)",
    data="training.tasks.depth:build_tokenizer_data",
    train_step="training.tasks.depth:tokenizer_step",
    metrics="training.tasks.depth:tokenizer_metrics",
    best_metric="rmse",
))
register_task(Task(
    "instances", "an image -> instance boxes, classes and masks (AiT; decoding in torch)",
    predictor="edgetokens.instances_predictor:InstancePredictor",
    cli_predict="edgetokens.cli_instances:predict_instances",
    data="training.tasks.instances:build_data",
    train_step="training.tasks.instances:solver_step",
    metrics="training.tasks.instances:metrics",
    best_metric="mask_ap_loss",
    publish="training.tasks.instances:PUBLISH",
))
register_task(Task(
    "instances+depth", "one AiT model for instances and depth, chosen by the task prompt (Predictor(..., task=))",
    predictor="edgetokens.instances_predictor:InstancePredictor",
    cli_predict="edgetokens.cli_instances:predict_instances",
    data="training.tasks.joint:build_data",
    train_step="training.tasks.joint:solver_step",
    metrics="training.tasks.joint:metrics",
    best_metric="joint_loss",
    publish="training.tasks.joint:PUBLISH",
))
register_task(Task(
    "mask-tokenizer", "instance mask crop -> VQ-VAE tokens -> mask (AiT stage 1; trained, not deployed)",
    data="training.tasks.instances:build_tokenizer_data",
    train_step="training.tasks.instances:tokenizer_step",
    metrics="training.tasks.instances:tokenizer_metrics",
    best_metric="mse",
))
