"""Live video through BlazePose and a pose lifter, one frame at a time (`VideoPose.stream`; the
stride/delay and segment rules are in `edgetokens.video_pose`'s docstring)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .blazepose import BlazePose
from .blazepose_video import BlazePoseTracker
from .keypoints import far_outside_image
from .pose.skeleton import H36M_NUM_JOINTS
from .pose_predictor import PosePredictor
from .stream import PoseStream
from .video_frames import as_bgr


def mark_unseen_outside(keypoints: np.ndarray, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 (..., 17, 3) x, y, score -> (the keypoints with score 0 where a point lies more than
    `OUTSIDE_MARGIN` image sizes outside the image, the lifter's input: those points NaN, score 0)."""
    keypoints = np.array(keypoints, dtype=np.float32)
    far = far_outside_image(keypoints, image_size)
    keypoints[..., 2] = np.where(far, 0.0, keypoints[..., 2])
    lifter_input = keypoints.copy()
    lifter_input[far, :2] = np.nan
    return keypoints, lifter_input


@dataclass
class VideoFrame:
    """What one `VideoPoseStream.push` gives."""

    index: int  # this frame's index in the stream
    found: bool
    keypoints_2d: np.ndarray  # (17, 3) COCO-17 x, y pixels, score; NaN when no person
    pose_3d: np.ndarray | None  # (17, 3) metres, root-relative, of frame `pose_frame`; None when no person
    pose_frame: int | None  # the frame `pose_3d` belongs to (index - delay, or the segment's first frame)
    latency_ms: float  # of this push: detection, landmarks and lifting
    flushed_frames: np.ndarray  # (k,) frames of the segment that just ended whose poses were still owed
    flushed_poses: np.ndarray  # (k, 17, 3) their poses


class VideoPoseStream:
    """Live video: one BlazePose tracker, one `PoseStream` per segment of frames with a person. Frames
    must all have one size; timestamps (for the landmark smoothing) default to index * 1000 / fps."""

    def __init__(self, predictor: PosePredictor, detector: BlazePose, fps: float = 30.0, stride: int = 1,
                 flip: bool = True, smooth: bool = True):
        frames = predictor.frames
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or not 1 <= stride <= frames:
            raise ValueError(f"stride must be an integer from 1 to the model's {frames} frames; got {stride!r}")
        if not (isinstance(fps, (int, float)) and np.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number of frames per second; got {fps!r}")
        self.predictor, self.fps, self.stride, self.flip = predictor, float(fps), int(stride), flip
        self.tracker = BlazePoseTracker(detector, smooth=smooth)
        self.image_size: tuple[int, int] | None = None
        self.frames_seen = 0
        self._poses: PoseStream | None = None
        self._segment_start: int | None = None

    @property
    def delay(self) -> int:
        return self.stride - 1

    def push(self, frame_bgr: np.ndarray, timestamp_ms: float | None = None) -> VideoFrame:
        start = time.perf_counter()
        frame = as_bgr(frame_bgr, self.frames_seen)
        size = (frame.shape[1], frame.shape[0])
        if self.image_size is None:
            self.image_size = size
            self._poses = self.predictor.stream(size, layout="coco", flip=self.flip, stride=self.stride)
        elif size != self.image_size:
            raise ValueError(f"frame {self.frames_seen} is {size[0]}x{size[1]}; this stream's frames are "
                             f"{self.image_size[0]}x{self.image_size[1]}")
        index = self.frames_seen
        timestamp = index * 1000.0 / self.fps if timestamp_ms is None else float(timestamp_ms)
        if not np.isfinite(timestamp):
            raise ValueError(f"timestamp_ms must be finite; got {timestamp_ms!r}")
        found, _, coco = self.tracker.push(frame, timestamp)
        self.frames_seen += 1
        if not found:
            flushed_frames, flushed_poses = self.flush()
            return VideoFrame(index, False, coco, None, None, 1000 * (time.perf_counter() - start),
                              flushed_frames, flushed_poses)
        keypoints, lifter_input = mark_unseen_outside(coco, self.image_size)
        if self._segment_start is None:
            self._segment_start = index
        pose = self._poses.push(lifter_input)
        pose_frame = max(index - self.delay, self._segment_start)
        return VideoFrame(index, True, keypoints, pose, pose_frame, 1000 * (time.perf_counter() - start),
                          np.zeros(0, dtype=int), np.zeros((0, H36M_NUM_JOINTS, 3), np.float32))

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """End the current segment: (frames (k,), poses (k, 17, 3)) still owed by the pushes (k <= delay);
        the next person starts a fresh pose stream."""
        if self._poses is None or self._segment_start is None:
            return np.zeros(0, dtype=int), np.zeros((0, H36M_NUM_JOINTS, 3), np.float32)
        pushed = self._poses.frames_seen
        poses = self._poses.flush()
        frames = np.arange(self._segment_start + pushed - len(poses), self._segment_start + pushed)
        self._segment_start = None
        return frames, poses
