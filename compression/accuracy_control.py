"""Validation for NNCF's accuracy-controlled PTQ (`python -m compression.ptq --max-drop`), per task.

`nncf.quantize_with_accuracy_control` reverts layers to float until `validation_fn` (higher is
better) drops by at most `max_drop`; a task opts in with `Task.accuracy_control`. It is given the
task's validation data (`TaskData.validation`, from the training split), never the test split
whose numbers the bundle then reports, and each evaluation logs a progress line.
"""
from __future__ import annotations

import logging

import numpy as np
from torch import nn

from training.data.clips import ClipConfig, PoseClipDataset

log = logging.getLogger("compression.ptq")


def pose_validation(views, model: nn.Module, seed: int):
    """(items, validation_fn) for the lifters: minus the MPJPE in mm over the official windows of
    `views` (per clip too, which NNCF uses to rank layers)."""

    c = model.config
    data = PoseClipDataset(views, ClipConfig(frames=c.frames, train=False, flip=False,
                                                  with_scores=c.in_channels == 3, seed=seed))
    items = [(item["input"].numpy()[None], item["target"].numpy()) for item in (data[i] for i in range(len(data)))]
    signature = model.signature(1)
    names = (signature.input_names[0], signature.output_names[0])
    calls = [0]

    def negative_mpjpe(graph, validation_items) -> tuple[float, list[float]]:
        run = graph_runner(graph, *names)
        errors = []
        for x, target in validation_items:
            pred = run(x)[0]
            pred = pred - pred[:, :1]
            errors.append(-1000.0 * float(np.linalg.norm(pred - target, axis=-1).mean()))
        calls[0] += 1
        log.info("accuracy control: evaluation %d on %d validation clips, MPJPE %.2f mm", calls[0], len(errors),
                 -float(np.mean(errors)))
        return float(np.mean(errors)), errors

    return items, negative_mpjpe


def graph_runner(graph, input_name: str, output_name: str):
    """Run an OpenVINO compiled model or an ONNX model (as NNCF hands them to validation_fn)."""
    if hasattr(graph, "output") and callable(graph):
        named = any(output_name in o.get_names() for o in graph.outputs)
        output = graph.output(output_name) if named else graph.output(0)
        return lambda x: graph({input_name: x})[output]
    import onnxruntime as ort  # deferred: ONNX Runtime only for ONNX graphs

    session = graph if isinstance(graph, ort.InferenceSession) else ort.InferenceSession(
        graph.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda x: session.run([output_name], {input_name: x})[0]
