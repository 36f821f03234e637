"""Accuracy of exported artifacts on a task's test data, run by the same sessions the runtimes use."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from edgetokens.tasks import get_task
from runtimes import open_session

CPU_TARGET = {"onnx": "onnxruntime:cpu", "openvino": "openvino:CPU"}


def artifact_runner(path: str | Path, fmt: str, precision: str = "fp32", output: str | None = None):
    """A batch runner on the CPU for one exported artifact: its first input (N, ...) -> `output`
    (default: its first output) (N, ...)."""
    if fmt not in CPU_TARGET:
        raise ValueError(f"unknown artifact format {fmt!r}; expected one of {', '.join(CPU_TARGET)}")
    session = open_session(path, device=CPU_TARGET[fmt], precision=precision)
    name = output or session.outputs[0].name
    return lambda x: session.run_in_batches(x, name)


def score_artifacts(bundle_dir: Path, artifacts: dict[str, dict[str, str]], test_data, model: nn.Module) -> dict:
    """{precision: {format: metrics}} for every artifact of a bundle being built, scored by the task's
    own metrics (`edgetokens.tasks`) on `test_data` (`TaskData.test` of that task)."""
    metrics = get_task(model.task).load("metrics")
    results: dict[str, dict] = {}
    for precision, formats in artifacts.items():
        for fmt, rel in formats.items():
            run = artifact_runner(bundle_dir / rel, fmt, precision)
            results.setdefault(precision, {})[fmt] = metrics(run, test_data, model)
    return results
