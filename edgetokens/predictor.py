"""The user-facing pose lifter: 2D keypoints in pixels -> 3D poses in metres, on any device.

    from edgetokens import Predictor
    predictor = Predictor("hot-mixste", device="npu", fallback="cpu")
    result = predictor.predict(keypoints, image_size=(1920, 1080), layout="coco")   # (T, 17, 2) pixels
    result.poses_3d                                                                 # (T, 17, 3) metres

    stream = predictor.stream(image_size=(1920, 1080))      # live video: one frame in, one pose out
    pose = stream.push(frame_keypoints)                      # (17, 3); see `edgetokens.stream`

Model sources: a zoo name (the shipped checkpoint, `edgetokens.zoo`), a name plus `weights=` (our
checkpoint directory, or an official HoT/MixSTE/MotionBERT file for the `-243` configurations),
or a bundle directory / bare .onnx / .xml. Checkpoints are exported once into the cache
(`edgetokens.resolve`); precision="int8" uses the checkpoint's shipped QAT state.

Windows: `predict` cuts the sequence into the official seq2seq windows of the model's F frames,
edge-padded (`edgetokens.pose.lifting`, also used by evaluation). It matches the official demo's
chunks except when F divides T, where the demo adds one more, fully padded chunk. Windows run through
the graph's batch: default bundles have a static batch of 1 (what NPUs need), so windows run one
after another; a bundle built with `build_bundle(..., batch=B)` or `dynamic_batch=True` runs B (or
all) windows per call.

Missing joints: NaN/inf keypoints with score 0 are masked, others rejected (`edgetokens.keypoints`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtimes import BundleError, ModelSource, Session, open_session

from .keypoints import prepare_keypoints
from .pose.lifting import lift_sequence
from .pose.skeleton import H36M_NUM_JOINTS
from .resolve import ModelInfo, check_bundle_task, resolve_model, task_of
from .stream import PoseStream


@dataclass
class PoseResult:
    """3D poses of a sequence and how they were made."""

    poses_3d: np.ndarray  # (T, 17, 3) metres, camera frame, root-relative (joint 0 = 0)
    timings_ms: dict[str, float]  # preprocess, inference, postprocess, total
    device: str  # resolved backend:target, e.g. "openvino:CPU"
    execution_devices: list[str]  # what the runtime reports (OpenVINO EXECUTION_DEVICES, ORT providers)
    windows: int  # model windows run (x2 with flip)
    frames: int

    @property
    def fps(self) -> float:
        """Frames per second of the whole call."""
        return 1000.0 * self.frames / max(self.timings_ms["total"], 1e-9)


class Predictor:
    """A model on one device. `Predictor(model)` builds the predictor for the model's task: a
    `PosePredictor` for the pose lifters, a `edgetokens.depth.DepthPredictor` for AiT depth.
    `predict` is safe to call from several threads.

    Args:
        model: zoo name ("hot-mixste"), architecture name with `weights=`, or a bundle / .onnx / .xml path.
        device: "cpu", "gpu", "npu", "auto" or "backend:target" (see `runtimes.devices`).
        precision: "fp32", "fp16" or "int8"; the bundle must contain it (the error lists what it has).
        backend: restrict to "onnxruntime", "openvino" or "torch".
        weights: a checkpoint directory, an official checkpoint file, or "random" (seeded random
            weights: for speed measurements only).
        fallback: device to use, with a warning, when `device` is unavailable (e.g. "cpu").
        threads: CPU threads of the backend (None: the runtime's default).
        cache_dir: cache root (default `$EDGETOKENS_CACHE` or ~/.cache/edgetokens).
    """

    task = "pose3d"

    def __new__(cls, model: str | Path = "hot-mixste", *args, **kwargs):
        if cls is Predictor:  # dispatch on the model's task
            cls = PosePredictor
            if task_of(model, kwargs.get("weights")) == "depth":
                from .depth import DepthPredictor

                cls = DepthPredictor
        return super().__new__(cls)

    def __init__(self, model: str | Path = "hot-mixste", device: str = "cpu", precision: str = "fp32",
                 backend: str | None = None, weights: str | Path | None = None, fallback: str | None = None,
                 threads: int | None = None, cache_dir: str | Path | None = None):
        self.device_request = device
        self.precision = precision
        self.info, torch_model = resolve_model(model, weights, cache_dir, precision=precision,
                                               need_torch=str(device).startswith("torch") or backend == "torch")
        source = ModelSource.open(self.info.bundle, torch_model)
        check_bundle_task(source, self.task)
        self.manifest = source.manifest  # None for a bare .onnx / .xml
        self.session: Session = open_session(source, device, precision, backend, threads, fallback, cache_dir)
        self.first_inference_ms = self.session.warmup(1)
        self._check_inputs(self.session.inputs[0])

    def _check_inputs(self, spec) -> None:
        """Read the graph's input spec; raise BundleError when it is not this task's input."""
        raise NotImplementedError

    @property
    def device(self) -> str:
        """The resolved backend:target."""
        return self.session.device

    @property
    def load_ms(self) -> float:
        """Load + compile time of the session (export into the cache not included: see `info.export_ms`)."""
        return self.session.load_ms

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.info.name!r}, device={self.device!r}, precision={self.precision!r}, "
                f"execution_devices={self.session.execution_devices})")

    def close(self) -> None:
        self.session.close()


class PosePredictor(Predictor):
    """A 2D-to-3D pose lifter on one device (see `Predictor` for the arguments)."""

    task = "pose3d"

    def _check_inputs(self, spec) -> None:
        if len(spec.shape) != 4 or spec.shape[2] != H36M_NUM_JOINTS or spec.shape[3] not in (2, 3):
            raise BundleError(f"{self.info.bundle} takes input {spec.shape}; the pose Predictor needs "
                              f"(B, F, {H36M_NUM_JOINTS}, 2|3)")
        self.frames = spec.shape[1]
        self.in_channels = spec.shape[3]

    def run_clips(self, clips: np.ndarray) -> np.ndarray:
        """Normalised clips (N, F, 17, C) -> root-relative poses (N, F, 17, 3), through the graph's batch."""
        return self.session.run_in_batches(clips, "poses_3d")

    def predict(self, keypoints: np.ndarray, image_size: tuple[float, float], layout: str = "h36m",
                scores: np.ndarray | None = None, flip: bool = False) -> PoseResult:
        """Lift a sequence of T frames of 2D keypoints (T, 17, 2) in pixels (or (T, 17, 3) with scores).

        `flip=True` averages with the mirrored input (test-time augmentation, as in evaluation):
        slightly more accurate, twice the compute.
        """
        start = time.perf_counter()
        inputs = prepare_keypoints(keypoints, image_size, layout, scores, self.in_channels)
        prepared = time.perf_counter()
        poses = lift_sequence(self.run_clips, inputs, self.frames, flip, batch_size=max(self.session.batch, 32))
        lifted = time.perf_counter()
        poses = np.ascontiguousarray(poses, dtype=np.float32)
        done = time.perf_counter()
        windows = -(-len(inputs) // self.frames) * (2 if flip else 1)
        timings = {"preprocess": prepared - start, "inference": lifted - prepared, "postprocess": done - lifted,
                   "total": done - start}
        return PoseResult(poses, {k: 1000 * v for k, v in timings.items()}, self.device,
                          list(self.session.execution_devices), windows, len(inputs))

    def stream(self, image_size: tuple[float, float], layout: str = "h36m", flip: bool = False,
               stride: int = 1) -> "PoseStream":
        """A per-frame lifter for live video (causal window). `stride` > 1 runs the model once every
        `stride` frames and returns poses `stride - 1` frames late: see `PoseStream`."""
        return PoseStream(self, image_size, layout, flip, stride)


__all__ = ["Predictor", "PosePredictor", "PoseResult", "PoseStream", "ModelInfo"]
