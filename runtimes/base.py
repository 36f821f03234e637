"""The one interface every backend implements: numpy in, numpy out, on a resolved device.

A `Session` wraps one loaded model on one backend (torch, ONNX Runtime, OpenVINO). Apps and the
Predictor call `run()` and never branch on the backend. Every session reports where it really runs
(`device`, e.g. "openvino:CPU", and `execution_devices`, what the runtime itself says).
"""
from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from typing import Mapping

import numpy as np

from edgetokens.clitools import UserError

from .manifest import TensorSpec

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnxruntime", "openvino")


class DeviceUnavailableError(UserError, RuntimeError):
    """The requested device or backend is not usable here. The message lists what is available.
    A `UserError` (the CLI prints one line) and, as before, a RuntimeError."""

    def __init__(self, message: str, available: list[str] | None = None):
        super().__init__(message)
        self.available = list(available or [])


class Session(ABC):
    """One model on one backend and device. `run` is safe to call from several threads."""

    backend: str = ""
    probe: dict | None = None  # the CPU backend measurement that chose this session, if any

    def __init__(self, inputs: list[TensorSpec], outputs: list[TensorSpec], device: str,
                 execution_devices: list[str], precision: str, load_ms: float):
        self.examples: dict[str, np.ndarray] = {}  # valid inputs from the model's signature, when known
        self.inputs = inputs
        self.outputs = outputs
        self.device = device  # resolved "backend:target"
        self.execution_devices = execution_devices  # as the runtime reports it
        self.precision = precision
        self.load_ms = load_ms  # load + compile time

    @abstractmethod
    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Backend call: named float32/int64 arrays in, named arrays out."""

    def run(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch. A bare array feeds the first input. Shapes are checked against the specs."""
        if not isinstance(inputs, Mapping):
            inputs = {self.inputs[0].name: inputs}
        feeds = {}
        for spec in self.inputs:
            if spec.name not in inputs:
                raise ValueError(f"missing input {spec.name!r}; this model takes "
                                 f"{', '.join(s.name for s in self.inputs)}")
            array = np.ascontiguousarray(inputs[spec.name], dtype=np.dtype(spec.dtype))
            expected = [d if d > 0 else array.shape[i] for i, d in enumerate(spec.shape)] \
                if array.ndim == len(spec.shape) else spec.shape
            if list(array.shape) != expected:
                raise ValueError(f"input {spec.name!r} must have shape {tuple(spec.shape)} (-1 = any), "
                                 f"got {array.shape}")
            feeds[spec.name] = array
        return self._run(feeds)

    def run_in_batches(self, x: np.ndarray, output: str) -> np.ndarray:
        """Run any number of samples (N, ...) through the graph's batch and return one output (N, ...).

        A static batch B runs B samples per call; the last call is padded with copies of the last
        sample, whose outputs are dropped.
        """
        x = np.ascontiguousarray(x, dtype=np.dtype(self.inputs[0].dtype))
        batch = self.batch
        if batch <= 0:
            return self.run(x)[output]
        outputs = []
        for lo in range(0, len(x), batch):
            chunk = x[lo:lo + batch]
            n = len(chunk)
            if n < batch:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - n, axis=0)])
            outputs.append(self.run(chunk)[output][:n])
        return np.concatenate(outputs)

    @property
    def batch(self) -> int:
        """Static batch of the graph, or -1 when the batch axis is dynamic."""
        return self.inputs[0].shape[0]

    def example_feeds(self) -> dict[str, np.ndarray]:
        """Inputs for warm-up and timing: the model's own examples (`Signature.examples`, which a bundle
        records) where they fit the graph, else zeros."""
        feeds = {}
        for spec in self.inputs:
            shape = [d if d > 0 else 1 for d in spec.shape]
            example = self.examples.get(spec.name)
            if example is not None and list(example.shape[1:]) == shape[1:]:
                batch = np.resize(example, (shape[0], *example.shape[1:]))  # repeats samples to the batch
                feeds[spec.name] = np.ascontiguousarray(batch, dtype=np.dtype(spec.dtype))
            else:
                feeds[spec.name] = np.zeros(shape, dtype=np.dtype(spec.dtype))
        return feeds

    def warmup(self, runs: int = 1) -> float:
        """Run the example inputs through the model; returns the first run's milliseconds."""
        feeds = self.example_feeds()
        first = 0.0
        for i in range(runs):
            start = time.perf_counter()
            self._run(feeds)
            if i == 0:
                first = (time.perf_counter() - start) * 1000
        return first

    def close(self) -> None:
        """Release the backend's resources (optional; garbage collection does it too)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r}, precision={self.precision!r}, " \
               f"execution_devices={self.execution_devices})"
