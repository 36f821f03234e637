"""Video -> 3D poses in one call: BlazePose in video mode (`edgetokens.blazepose_video`) finds a
person's 2D keypoints in each frame, a pose lifter (`edgetokens.Predictor`) turns them into 3D.

    from edgetokens.video_pose import VideoPose
    video = VideoPose("hot-mixste", device="cpu")
    result = video.run("walk.mp4")          # offline: all frames, each segment lifted with future context
    result.poses_3d                         # (T, 17, 3) metres, root-relative; NaN where no person
    result.save_json("poses.json")

    stream = video.stream(fps=30)           # live: one frame in, one pose out (causal window)
    out = stream.push(frame_bgr)            # out.pose_3d: the pose of frame out.pose_frame (None: no person)

One person: BlazePose follows one person, as MediaPipe's pose graph does. While nobody is tracked the
detector runs on each frame and the best-scoring person is taken; that person is then tracked from
frame to frame until the landmark model's pose flag drops (they leave or are hidden), and only then
does the detector run again, which may pick someone else. Other people in the picture are ignored.

Segments: runs of consecutive frames with a person. Each is lifted on its own (the person leaving
and the one entering are different people); frames between segments keep NaN poses, so a gap never
makes up poses. The lifter gets COCO-17 keypoints with BlazePose's visibility as the score; a
keypoint BlazePose places more than one image size outside the frame (someone half out of the
picture) gets score 0 and is treated as unseen (held from the nearest frame that saw it, `observed`
False) instead of being rejected by the lifter (`edgetokens.keypoints`).

Streaming follows `PoseStream` within each segment: with `stride` s the lifter runs once every s
frames and a push returns the pose of the frame s - 1 frames back (`pose_frame`; the segment's first
frame while fewer have been pushed). When the tracker loses the person the frame returns
`pose_3d=None`, the poses still owed for the ended segment come back in that frame's
`flushed_frames` / `flushed_poses`, and the next person starts a fresh pose stream.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .blazepose import BlazePose
from .blazepose_video import BlazePoseTracker
from .clitools import check_int
from .pose.skeleton import H36M_NUM_JOINTS
from .pose_predictor import PosePredictor
from .predictor import Predictor
from .video_frames import FrameReader, render_video_frame
from .video_stream import VideoFrame, VideoPoseStream, mark_unseen_outside

log = logging.getLogger(__name__)


def found_segments(found: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of consecutive True frames."""
    edges = np.diff(np.r_[0, np.asarray(found, dtype=np.int8), 0])
    return [(int(a), int(b)) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def _json_array(values: np.ndarray, decimals: int) -> list:
    """Nested lists of rounded floats, None where not finite (JSON has no NaN)."""
    values = np.round(np.asarray(values, dtype=np.float64), decimals)
    return np.where(np.isfinite(values), values, None).tolist()


@dataclass
class VideoPoseResult:
    """The poses of one video. Frames without a person have found False, NaN keypoints and poses."""

    keypoints_2d: np.ndarray  # (T, 17, 3) COCO-17 x, y pixels, score (BlazePose visibility)
    landmarks: np.ndarray  # (T, 33, 5) BlazePose x, y, z pixels, visibility, presence
    found: np.ndarray  # (T,) bool: a person was tracked in the frame
    poses_3d: np.ndarray  # (T, 17, 3) H36M-17 metres, camera frame, root-relative
    observed: np.ndarray  # (T, 17) bool, H36M order: the joint's keypoint was seen (PoseResult.observed)
    segments: list[tuple[int, int]]  # (start, stop) runs of found frames, each lifted on its own
    fps: float
    image_size: tuple[int, int]  # (width, height)
    timings_ms: dict[str, float]  # decode, detect_landmarks, lift, total (whole run)
    devices: dict[str, str]  # detector, lifter: resolved backend:target
    frames_declared: int | None  # the video header's frame count (None for frame iterables)
    warnings: list[str] = field(default_factory=list)
    model: str = ""

    @property
    def frame_count(self) -> int:
        return len(self.found)

    @property
    def frames_per_second(self) -> dict[str, float]:
        """Video frames per second of each stage's own time, and of the whole run ("total")."""
        return {stage: 1000.0 * self.frame_count / max(ms, 1e-9) for stage, ms in self.timings_ms.items()}

    def save_json(self, path: str | Path) -> Path:
        """Per-frame found, 2D keypoints (COCO-17 pixels) and scores, 3D pose (H36M-17 metres) and
        observed joints, plus the metadata; NaN is written as null (no person: null arrays)."""
        frames = []
        for i in range(self.frame_count):
            seen = bool(self.found[i])
            frames.append({"frame": i, "time_s": round(i / self.fps, 6), "found": seen,
                           "keypoints_2d": _json_array(self.keypoints_2d[i, :, :2], 2) if seen else None,
                           "scores": _json_array(self.keypoints_2d[i, :, 2], 4) if seen else None,
                           "pose_3d": _json_array(self.poses_3d[i], 5) if seen else None,
                           "observed": self.observed[i].tolist() if seen else None})
        content = {"model": self.model, "devices": self.devices, "fps": self.fps, "image_size": list(self.image_size),
                   "frames": self.frame_count, "frames_declared": self.frames_declared,
                   "frames_found": int(self.found.sum()), "segments": [list(s) for s in self.segments],
                   "keypoints_2d_layout": "coco-17, pixels", "pose_3d_layout": "h36m-17, metres, camera frame, "
                   "root-relative", "timings_ms": self.timings_ms, "frames_per_second": self.frames_per_second,
                   "warnings": self.warnings, "per_frame": frames}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, allow_nan=False))
        return path


class VideoPose:
    """BlazePose (2D, video mode) + a 3D pose lifter. `detector_device` defaults to `device`; `fallback`
    is used, with a warning, for a stage whose device is unavailable. `flip`: the lifter's test-time
    flip averaging; `smooth`: BlazePose's landmark smoothing (MediaPipe's video-mode filters)."""

    def __init__(self, model: str | Path = "hot-mixste", device: str = "cpu", detector_device: str | None = None,
                 precision: str | None = None, flip: bool = True, smooth: bool = True, fallback: str | None = None):
        options = {} if precision is None else {"precision": precision}
        self.predictor = Predictor(model, device=device, fallback=fallback, **options)
        if self.predictor.task != PosePredictor.task:
            raise ValueError(f"{model} is a {self.predictor.task!r} model; VideoPose needs a 3D pose lifter")
        self.detector = BlazePose(device=detector_device or device, fallback=fallback)
        self.flip, self.smooth = flip, smooth

    @property
    def devices(self) -> dict[str, str]:
        """The resolved devices of the two stages: {"detector": ..., "lifter": ...}."""
        return {"detector": self.detector.device, "lifter": self.predictor.device}

    def run(self, source: str | Path | Iterable[np.ndarray], max_frames: int | None = None,
            progress: bool = False, fps: float | None = None) -> VideoPoseResult:
        """The poses of a video file (read with OpenCV) or of an iterable of BGR frames. `fps`: the
        frame rate (default: the file's header, else 30), which times the landmark smoothing."""
        check_int("max_frames", max_frames, allow_none=True)
        start = time.perf_counter()
        reader = FrameReader(source, fps, max_frames)
        tracker = BlazePoseTracker(self.detector, smooth=self.smooth)
        found, landmarks, keypoints, detect_ms = [], [], [], 0.0
        frames = tqdm(reader, total=reader.expected_frames, unit="frame", desc="2D poses", disable=not progress)
        try:
            for index, frame in frames:
                tick = time.perf_counter()
                person, points, coco = tracker.push(frame, index * 1000.0 / reader.fps)
                detect_ms += 1000 * (time.perf_counter() - tick)
                found.append(person)
                landmarks.append(points)
                keypoints.append(coco)
        finally:
            frames.close()
            reader.close()
        found = np.array(found, dtype=bool)
        keypoints_2d, lifter_input = mark_unseen_outside(np.stack(keypoints), reader.image_size)
        tick = time.perf_counter()
        poses, observed, segments = self.lift(lifter_input, found, reader.image_size)
        lift_ms = 1000 * (time.perf_counter() - tick)
        warnings = list(reader.warnings)
        if not found.any():
            warnings.append(f"no person found in any of the {len(found)} frames: every pose is NaN")
        for warning in warnings:
            log.warning(warning)
        timings = {"decode": reader.decode_ms, "detect_landmarks": detect_ms, "lift": lift_ms,
                   "total": 1000 * (time.perf_counter() - start)}
        return VideoPoseResult(keypoints_2d, np.stack(landmarks), found, poses, observed, segments, reader.fps,
                               reader.image_size, timings, self.devices, reader.frames_declared, warnings,
                               self.predictor.info.name)

    def lift(self, keypoints: np.ndarray, found: np.ndarray,
             image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """Lift each segment of found frames on its own: (poses (T, 17, 3) NaN outside the segments,
        observed (T, 17), segments)."""
        poses = np.full((len(found), H36M_NUM_JOINTS, 3), np.nan, dtype=np.float32)
        observed = np.zeros((len(found), H36M_NUM_JOINTS), dtype=bool)
        segments = found_segments(found)
        for start, stop in segments:
            result = self.predictor.predict(keypoints[start:stop], image_size, layout="coco", flip=self.flip)
            poses[start:stop], observed[start:stop] = result.poses_3d, result.observed
        return poses, observed, segments

    def stream(self, fps: float = 30.0, stride: int = 1) -> VideoPoseStream:
        """A live pipeline: frames in one at a time (see the module docstring for stride and delay)."""
        return VideoPoseStream(self.predictor, self.detector, fps, stride, self.flip, self.smooth)


__all__ = ["VideoFrame", "VideoPose", "VideoPoseResult", "VideoPoseStream", "render_video_frame"]
