"""The user-facing pose lifter: 2D keypoints in pixels -> 3D poses in metres, on any device.

    from edgetokens import Predictor
    predictor = Predictor("hot-mixste", device="npu", fallback="cpu")
    result = predictor.predict(keypoints, image_size=(1920, 1080), layout="coco")   # (T, 17, 2) pixels
    result.poses_3d                                                                 # (T, 17, 3) metres

    stream = predictor.stream(image_size=(1920, 1080))      # live video: one frame in, one pose out
    pose = stream.push(frame_keypoints)                      # (17, 3); see `edgetokens.stream`

Model sources and devices: see `edgetokens.predictor.Predictor`.

Windows: `predict` cuts the sequence into the official seq2seq windows of the model's F frames,
edge-padded (`edgetokens.pose.lifting`, also used by evaluation). It matches the official demo's
chunks except when F divides T, where the demo adds one more, fully padded chunk. Windows run through
the graph's batch: default bundles have a static batch of 1 (what NPUs need), so windows run one
after another; a bundle built with `build_bundle(..., batch=B)` or `dynamic_batch=True` runs B (or
all) windows per call.

Missing joints: NaN/inf keypoints with score 0 are masked, others rejected (`edgetokens.keypoints`).
The poses of masked joints are invented (held from the nearest frame that saw them, then lifted):
`PoseResult.observed` and `frame_observed` say which joints and frames were seen, and a warning is
logged when whole frames were not.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtimes import BundleError

from .keypoints import prepare_observed_keypoints
from .pose.lifting import lift_sequence
from .pose.metrics import mpjpe
from .pose.skeleton import H36M_NUM_JOINTS
from .predictor import Predictor
from .stream import PoseStream

log = logging.getLogger(__name__)


@dataclass
class PoseResult:
    """3D poses of a sequence and how they were made.

    `observed` (T, 17) bool, H36M order: True where the joint's 2D keypoint was seen (finite, score
    above 0); a joint derived from COCO keypoints (hip, spine, thorax, head) only if all its sources
    were. Its pose elsewhere is invented: held from the nearest frame that saw it, or the image centre.
    `frame_observed` (T,) bool: any joint seen in the frame; False marks a frame whose whole pose is
    invented (e.g. a frame without a person in a keypoint file).
    """

    poses_3d: np.ndarray  # (T, 17, 3) metres, camera frame, root-relative (joint 0 = 0)
    timings_ms: dict[str, float]  # preprocess, inference, postprocess, total
    device: str  # resolved backend:target, e.g. "openvino:CPU"
    execution_devices: list[str]  # what the runtime reports (OpenVINO EXECUTION_DEVICES, ORT providers)
    windows: int  # model windows run (x2 with flip)
    frames: int
    observed: np.ndarray  # (T, 17) bool: the joint's keypoint was seen (see above)

    @property
    def frame_observed(self) -> np.ndarray:
        """(T,) bool: at least one joint of the frame was seen."""
        return self.observed.any(-1)

    @property
    def fps(self) -> float:
        """Frames per second of the whole call."""
        return 1000.0 * self.frames / max(self.timings_ms["total"], 1e-9)


class PosePredictor(Predictor):
    """A 2D-to-3D pose lifter on one device (see `Predictor` for the arguments)."""

    task = "pose3d"

    def _check_manifest(self) -> None:
        preprocessing = self.manifest.preprocessing if self.manifest else {}
        skeleton = preprocessing.get("skeleton", "h36m-17")
        if skeleton != "h36m-17":
            raise BundleError(f"{self.info.bundle} expects skeleton {skeleton!r}; the pose Predictor feeds 'h36m-17'")
        # bundles exported before the layout was recorded come from H36M-layout training
        self.input_layouts = tuple(preprocessing.get("input_layouts", ("h36m",)))
        self._warned_layouts: set[str] = set()

    def check_trained_layout(self, layout: str) -> None:
        """Log a warning (once per layout) when `layout` is not one the model was trained on."""
        if layout in self.input_layouts or layout in self._warned_layouts:
            return
        self._warned_layouts.add(layout)
        log.warning("%s was trained on %s-layout 2D keypoints, not %r: expect lower accuracy (a lifter trained "
                    "with --input-layout mixed takes both)", self.info.name, "/".join(self.input_layouts), layout)

    def _check_inputs(self, spec) -> None:
        if len(spec.shape) != 4 or spec.shape[2] != H36M_NUM_JOINTS or spec.shape[3] not in (2, 3):
            raise BundleError(f"{self.info.bundle} takes input {spec.shape}; the pose Predictor needs "
                              f"(B, F, {H36M_NUM_JOINTS}, 2|3)")
        self.frames = spec.shape[1]
        self.in_channels = spec.shape[3]

    @property
    def frames_per_call(self) -> int:
        return self.frames

    def timed_calls(self, stream_stride: int | None = None) -> dict:
        calls = super().timed_calls(stream_stride)
        if stream_stride:
            stream = self.stream(image_size=(1000, 1000), stride=stream_stride)
            frame = np.random.default_rng(1).uniform(300, 700, (H36M_NUM_JOINTS, 2))
            calls[":stream"] = lambda: [stream.push(frame) for _ in range(stream.stride)]
        return calls

    def score_eval_file(self, path: str | Path, max_frames: int | None = None) -> float:
        """MPJPE (mm) over the frames of an npz of `inputs_<i>` (L, 17, C) normalised and `targets_<i>`
        (L, 17, 3) metres, lifted as `training.evaluate` does (seq2seq windows + flip)."""
        total = weighted = 0.0
        for inputs, targets in load_eval_file(path, self.in_channels, max_frames):
            pred = lift_sequence(self.run_clips, inputs, self.frames, flip=True)
            weighted += 1000 * mpjpe(pred, targets) * len(targets)
            total += len(targets)
        return weighted / total

    def run_clips(self, clips: np.ndarray) -> np.ndarray:
        """Normalised clips (N, F, 17, C) -> root-relative poses (N, F, 17, 3), through the graph's batch."""
        return self.session.run_in_batches(clips, "poses_3d")

    def predict(self, keypoints: np.ndarray, image_size: tuple[float, float], layout: str = "h36m",
                scores: np.ndarray | None = None, flip: bool = False, repair_swaps: bool = True) -> PoseResult:
        """Lift a sequence of T frames of 2D keypoints (T, 17, 2) in pixels (or (T, 17, 3) with scores).

        `flip=True` averages with the mirrored input (test-time augmentation, as in evaluation):
        slightly more accurate, twice the compute. `repair_swaps` (default) first relabels the frames
        where the detector swapped a left and a right limb (`edgetokens.pose.swaps`); the whole
        sequence decides, so it is for recorded sequences (`stream` lifts frames as they come, unrepaired).
        """
        start = time.perf_counter()
        prepared_keypoints = prepare_observed_keypoints(keypoints, image_size, layout, scores, self.in_channels)
        self.check_trained_layout(layout)
        inputs, observed = prepared_keypoints.inputs, prepared_keypoints.observed
        unseen = int((~observed.any(-1)).sum())
        if unseen:
            log.warning("%d of %d frames have no observed joint; their poses are invented (see "
                        "PoseResult.frame_observed)", unseen, len(observed))
        prepared = time.perf_counter()
        poses = lift_sequence(self.run_clips, inputs, self.frames, flip, batch_size=max(self.session.batch, 32),
                              repair=repair_swaps)
        lifted = time.perf_counter()
        poses = np.ascontiguousarray(poses, dtype=np.float32)
        done = time.perf_counter()
        windows = -(-len(inputs) // self.frames) * (2 if flip else 1)
        timings = {"preprocess": prepared - start, "inference": lifted - prepared, "postprocess": done - lifted,
                   "total": done - start}
        return PoseResult(poses, {k: 1000 * v for k, v in timings.items()}, self.device,
                          list(self.session.execution_devices), windows, len(inputs), observed)

    def stream(self, image_size: tuple[float, float], layout: str = "h36m", flip: bool = False,
               stride: int = 1) -> "PoseStream":
        """A per-frame lifter for live video (causal window). `stride` > 1 runs the model once every
        `stride` frames and returns poses `stride - 1` frames late: see `PoseStream`."""
        stream = PoseStream(self, image_size, layout, flip, stride)
        self.check_trained_layout(layout)
        return stream


def load_eval_file(path: str | Path, in_channels: int, max_frames: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(inputs, targets) pairs of an evaluation npz (plain arrays only, never pickles)."""
    with np.load(path, allow_pickle=False) as data:
        count = len([k for k in data.files if k.startswith("inputs_")])
        pairs, total = [], 0
        for i in range(count):
            inputs, targets = data[f"inputs_{i}"], data[f"targets_{i}"]
            if inputs.shape[-1] < in_channels:
                raise ValueError(f"{path}: inputs_{i} has {inputs.shape[-1]} channels, the model takes {in_channels}")
            pairs.append((inputs[..., :in_channels].astype(np.float32), targets.astype(np.float32)))
            total += len(inputs)
            if max_frames and total >= max_frames:
                break
    return pairs


__all__ = ["PosePredictor", "PoseResult", "PoseStream"]
