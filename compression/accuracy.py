"""Accuracy of exported artifacts on a test split, run by the same sessions the runtimes use."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from runtimes import open_session

CPU_TARGET = {"onnx": "onnxruntime:cpu", "openvino": "openvino:CPU"}


def artifact_runner(path: str | Path, fmt: str, precision: str = "fp32", output: str = "poses_3d"):
    """A batch runner on the CPU for one exported artifact: clips (N, F, J, C) -> poses (N, F, J, 3),
    or with output="depth" images (N, 3, S, S) -> depth (N, 1, S, S)."""
    if fmt not in CPU_TARGET:
        raise ValueError(f"unknown artifact format {fmt!r}; expected one of {', '.join(CPU_TARGET)}")
    session = open_session(path, device=CPU_TARGET[fmt], precision=precision)
    return lambda x: session.run_in_batches(x, output)


def score_artifacts(bundle_dir: Path, artifacts: dict[str, dict[str, str]], views: Sequence, config) -> dict:
    """{precision: {format: metrics}} for every artifact of a bundle being built.

    Pose: `views` are test sequences (MPJPE...). Depth (a config with `image_size`): `views` is a test
    dataset of {"image", "depth"} items, scored on the valid pixels as `training.depth` does.
    """
    if hasattr(config, "image_size"):
        return _score_depth_artifacts(bundle_dir, artifacts, views)
    from training.evaluate import evaluation_set, score

    data = evaluation_set(views, config.frames, config.in_channels)
    results: dict[str, dict] = {}
    for precision, formats in artifacts.items():
        for fmt, rel in formats.items():
            run = artifact_runner(bundle_dir / rel, fmt, precision)
            results.setdefault(precision, {})[fmt] = score(run, data, config.frames)
    return results


def _score_depth_artifacts(bundle_dir: Path, artifacts: dict[str, dict[str, str]], test_set) -> dict:
    import torch

    from edgetokens.vision.depth import MIN_DEPTH
    from training.depth import score_depth

    def depth_of(run):
        return lambda images: torch.from_numpy(run(images.numpy())).clamp_min(MIN_DEPTH)

    results: dict[str, dict] = {}
    for precision, formats in artifacts.items():
        for fmt, rel in formats.items():
            run = artifact_runner(bundle_dir / rel, fmt, precision, output="depth")
            results.setdefault(precision, {})[fmt] = score_depth(depth_of(run), test_set)
    return results
