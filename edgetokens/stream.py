"""Live video: one frame of 2D keypoints in, one 3D pose out (`Predictor.stream`)."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Protocol

import numpy as np

from .keypoints import check_image_size, check_layout, prepare_observed_keypoints
from .pose.lifting import flip_average
from .pose.skeleton import H36M_NUM_JOINTS


class ClipLifter(Protocol):
    """What a stream needs from a pose predictor (`edgetokens.PosePredictor` is one): the clip length
    F, the input channels C (2, or 3 with scores), and a function from normalised clips (N, F, 17, C)
    to poses (N, F, 17, 3). A protocol, so this module imports no predictor."""

    @property
    def frames(self) -> int: ...

    @property
    def in_channels(self) -> int: ...

    def run_clips(self, clips: np.ndarray) -> np.ndarray: ...


class PoseStream:
    """Lifts live video one frame at a time with a causal window of the model's F frames (left
    edge-padded at the start of the stream) held in a ring buffer.

    `stride` trades a fixed delay for throughput: the model runs once every `stride` pushes, on the
    window ending at the newest frame, and that run answers the next `stride` pushes. So `push` for
    frame t returns the pose of frame t - (stride - 1) (`delay` frames behind; frame 0 while t < delay),
    and no push takes longer than one model run. stride=1 is one run per frame and no delay. The
    delayed frames also see `delay` frames of future context, which makes them slightly more accurate
    than the newest frame. `flush()` returns the poses still owed at the end of a stream.

    `last_observed`: which joints of the frame(s) the last `push` (17,) or `flush` (k, 17) returned
    were seen (see `PoseResult.observed`); `last_observed.any()` is False for a frame whose whole
    pose is invented.

    One stream per camera/thread: a stream holds one person's history, so `push`, `flush` and `reset`
    from a second thread while one is running raise RuntimeError instead of mixing two people's
    poses. Threads may share the Predictor; give each its own `predictor.stream(...)`.
    """

    def __init__(self, predictor: ClipLifter, image_size: tuple[float, float], layout: str = "h36m",
                 flip: bool = False, stride: int = 1):
        check_image_size(image_size)
        check_layout(layout)
        frames, channels = predictor.frames, predictor.in_channels
        if not isinstance(stride, (int, np.integer)) or not 1 <= stride <= frames:
            raise ValueError(f"stride must be an integer from 1 to the model's {frames} frames; got {stride!r}")
        self.predictor, self.image_size, self.layout, self.flip = predictor, image_size, layout, flip
        self.stride = int(stride)
        self._ring = np.zeros((frames, H36M_NUM_JOINTS, channels), dtype=np.float32)
        self._observed = np.zeros((frames, H36M_NUM_JOINTS), dtype=bool)  # per ring slot
        self.last_observed = np.zeros(H36M_NUM_JOINTS, dtype=bool)
        self._busy = threading.Lock()
        self._count = 0
        self._answers = np.zeros((0, H36M_NUM_JOINTS, 3), dtype=np.float32)  # poses owed to the next pushes
        self.latency_ms = 0.0  # of the last push

    @property
    def delay(self) -> int:
        """How many frames the returned pose lags the pushed frame."""
        return self.stride - 1

    @property
    def frames_seen(self) -> int:
        return self._count

    @contextmanager
    def _one_caller(self):
        if not self._busy.acquire(blocking=False):
            raise RuntimeError("this PoseStream is in use by another thread: one PoseStream per camera/thread; "
                               "create another with predictor.stream(...)")
        try:
            yield
        finally:
            self._busy.release()

    def reset(self) -> None:
        """Start a new stream (e.g. a new person or a scene cut)."""
        with self._one_caller():
            self._reset()

    def _reset(self) -> None:
        self._count = 0
        self._answers = self._answers[:0]

    def window(self) -> np.ndarray:
        """The current causal window (F, 17, C), normalised, oldest frame first."""
        frames = len(self._ring)
        if self._count < frames:  # left edge padding: frame 0 repeated
            return self._ring[np.clip(np.arange(self._count - frames, self._count), 0, None)]
        return self._ring[(self._count + np.arange(frames)) % frames]

    def _lift_window(self) -> np.ndarray:
        """Root-relative poses (F, 17, 3) of the current window."""
        window, run = self.window()[None], self.predictor.run_clips
        poses = (flip_average(run, window) if self.flip else run(window))[0]
        return (poses - poses[:, :1]).astype(np.float32)

    def push(self, keypoints: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
        """One frame (17, 2) pixels (or (17, 3) with score) -> the 3D pose (17, 3), root-relative metres,
        of frame `frames_seen - 1 - delay` (of this frame when stride=1)."""
        with self._one_caller():
            return self._push(keypoints, scores)

    def _push(self, keypoints: np.ndarray, scores: np.ndarray | None) -> np.ndarray:
        start = time.perf_counter()
        keypoints = np.asarray(keypoints)
        if keypoints.ndim != 2:
            raise ValueError(f"push takes one frame of shape (17, 2) or (17, 3); got {keypoints.shape}")
        previous = self._ring[(self._count - 1) % len(self._ring), :, :2] if self._count else None
        prepared = prepare_observed_keypoints(keypoints[None], self.image_size, self.layout,
                                              None if scores is None else np.asarray(scores)[None],
                                              self.predictor.in_channels, previous)
        self._ring[self._count % len(self._ring)] = prepared.inputs[0]
        self._observed[self._count % len(self._ring)] = prepared.observed[0]
        self._count += 1
        if not len(self._answers):
            # frames t-delay .. t sit at the end of the window ending at t
            self._answers = self._lift_window()[-self.stride:]
        pose, self._answers = self._answers[0], self._answers[1:]
        self.last_observed = self._observed[max(self._count - 1 - self.delay, 0) % len(self._ring)].copy()
        self.latency_ms = (time.perf_counter() - start) * 1000
        return pose

    def flush(self) -> np.ndarray:
        """End of stream: the poses (k, 17, 3) of the last frames `push` has not returned yet (k = delay,
        fewer on a stream shorter than that), then `reset()`."""
        with self._one_caller():
            owed = min(self.delay, max(self._count - 1, 0))
            poses = self._lift_window()[len(self._ring) - owed:] if owed else self._answers[:0]
            frames = np.arange(self._count - owed, self._count) % len(self._ring)
            self.last_observed = self._observed[frames].copy()
            self._reset()
            return poses
