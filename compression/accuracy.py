"""Accuracy of exported artifacts on a test split, measured the way the runtimes run them."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

# OpenVINO CPU inference precision per artifact precision: fp32 and int8 are scored without the
# CPU plugin's default bf16 downcast (AMX / AVX512-BF16 CPUs), fp16 in f16.
OPENVINO_PRECISION_HINT = {"fp32": "f32", "fp16": "f16", "int8": "f32"}


def artifact_runner(path: str | Path, fmt: str, precision: str = "fp32"):
    """A clip runner (N, F, J, C) -> (N, F, J, 3) on the CPU for one exported artifact."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        batch = session.get_inputs()[0].shape[0]

        def infer(x):
            return session.run(["poses_3d"], {"keypoints": x})[0]
    elif fmt == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU",
                                           {"INFERENCE_PRECISION_HINT": OPENVINO_PRECISION_HINT[precision]})
        batch = compiled.inputs[0].get_partial_shape()[0]
        batch = batch.get_length() if batch.is_static else None
        output = compiled.output("poses_3d")

        def infer(x):
            return compiled({"keypoints": x})[output]
    else:
        raise ValueError(f"unknown artifact format {fmt!r}; expected onnx or openvino")
    static = batch if isinstance(batch, int) and batch > 0 else None

    def run(clips: np.ndarray) -> np.ndarray:
        if static is None:
            return np.asarray(infer(np.ascontiguousarray(clips, dtype=np.float32)))
        outputs = []
        for lo in range(0, len(clips), static):
            chunk = clips[lo:lo + static]
            pad = static - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
            outputs.append(np.asarray(infer(np.ascontiguousarray(chunk, dtype=np.float32)))[: static - pad])
        return np.concatenate(outputs)

    return run


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
