"""Accuracy of exported artifacts on a test split, run by the same sessions the runtimes use."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from runtimes import open_session

CPU_TARGET = {"onnx": "onnxruntime:cpu", "openvino": "openvino:CPU"}


def artifact_runner(path: str | Path, fmt: str, precision: str = "fp32"):
    """A clip runner (N, F, J, C) -> (N, F, J, 3) on the CPU for one exported artifact."""
    if fmt not in CPU_TARGET:
        raise ValueError(f"unknown artifact format {fmt!r}; expected one of {', '.join(CPU_TARGET)}")
    session = open_session(path, device=CPU_TARGET[fmt], precision=precision)
    return lambda clips: session.run_in_batches(clips, "poses_3d")


def score_artifacts(bundle_dir: Path, artifacts: dict[str, dict[str, str]], views: Sequence, config) -> dict:
    """{precision: {format: metrics}} for every artifact of a bundle being built."""
    from training.evaluate import evaluation_set, score

    data = evaluation_set(views, config.frames, config.in_channels)
    results: dict[str, dict] = {}
    for precision, formats in artifacts.items():
        for fmt, rel in formats.items():
            run = artifact_runner(bundle_dir / rel, fmt, precision)
            results.setdefault(precision, {})[fmt] = score(run, data, config.frames)
    return results
