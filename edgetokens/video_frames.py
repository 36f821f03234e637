"""Frames in and out of `edgetokens.video_pose`: reading a video file (or any iterable of images) as
BGR uint8 frames of one size, and drawing one result frame (2D skeleton beside the 3D skeleton).

Reading stops at the first frame OpenCV cannot decode (a file that ends early or a corrupt frame):
what was read is kept and `FrameReader.warnings` names the frames read against those the header
declares. Grayscale (H, W) / (H, W, 1) and BGRA (H, W, 4) frames are converted to BGR.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from .pose.skeleton import coco_to_h36m
from .viz import blank, draw_skeleton_2d, label, render_skeleton_3d

DEFAULT_FPS = 30.0
_END = object()
CONVERSIONS = {1: cv2.COLOR_GRAY2BGR, 4: cv2.COLOR_BGRA2BGR}


def as_bgr(frame: np.ndarray, index: int) -> np.ndarray:
    """One frame as contiguous BGR uint8 (H, W, 3); grayscale and BGRA are converted, anything else is
    a ValueError naming frame `index`."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f"frame {index} must be a uint8 image (OpenCV's BGR); got dtype {frame.dtype}")
    if frame.ndim == 2:
        frame = frame[..., None]
    if frame.ndim != 3 or frame.shape[-1] not in (1, 3, 4) or min(frame.shape[:2]) < 1:
        raise ValueError(f"frame {index} must be (H, W, 3) BGR, (H, W) grayscale or (H, W, 4) BGRA; "
                         f"got shape {frame.shape}")
    if frame.shape[-1] in CONVERSIONS:
        return cv2.cvtColor(frame, CONVERSIONS[frame.shape[-1]])
    return np.ascontiguousarray(frame)


def open_video(path: str | os.PathLike) -> cv2.VideoCapture:
    """A cv2.VideoCapture on `path`; FileNotFoundError / ValueError naming the file when it cannot be one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {path} not found (or not a file)")
    if path.stat().st_size == 0:
        raise ValueError(f"video {path} is empty (0 bytes)")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise ValueError(f"{path} is not a video OpenCV can read (not a video file, a damaged one, or a "
                         "codec this OpenCV build lacks)")
    return capture


def check_video(path: str | os.PathLike) -> None:
    """`path` opens as a video and its first frame decodes (the CLI checks this before loading models)."""
    capture = open_video(path)
    try:
        if not capture.read()[0]:
            raise ValueError(f"{path}: OpenCV opens it but cannot decode its first frame (a damaged video?)")
    finally:
        capture.release()


class FrameReader:
    """Iterates (index, BGR frame) of a video file or an iterable of images, up to `max_frames`.

    `fps`: the video's rate (the header's for a file unless given, else `DEFAULT_FPS`);
    `frames_declared`: the header's frame count (None for iterables); `decode_ms`: time spent reading
    and converting; `warnings`: what went wrong on the way (reading stopped early, no frame rate).
    """

    def __init__(self, source: str | os.PathLike | Iterable[np.ndarray], fps: float | None = None,
                 max_frames: int | None = None):
        self.max_frames, self.warnings, self.decode_ms = max_frames, [], 0.0
        self.frames_read, self.image_size = 0, None
        self.frames_declared: int | None = None
        self._capture = None
        self.from_file = isinstance(source, (str, os.PathLike))
        if self.from_file:
            self.name = str(source)
            self._capture = open_video(source)
            declared = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
            self.frames_declared = int(declared) if np.isfinite(declared) and declared > 0 else None
            header_fps = self._capture.get(cv2.CAP_PROP_FPS)
            if fps is None and not (np.isfinite(header_fps) and header_fps > 0):
                self.warnings.append(f"{self.name} declares no frame rate; timing assumes {DEFAULT_FPS:g} fps")
            elif fps is None:
                fps = header_fps
            self._frames: Iterator[np.ndarray] = self._decode()
        else:
            self.name = "frames"
            if isinstance(source, np.ndarray) and (source.ndim < 3 or source.ndim == 3 and source.shape[-1] in (3, 4)):
                raise ValueError(f"source must be a video path or a sequence of frames; got one image of shape "
                                 f"{source.shape} (pass [image] for a one-frame video)")
            try:
                self._frames = iter(source)
            except TypeError:
                raise ValueError(f"source must be a video path or an iterable of BGR frames; got "
                                 f"{type(source).__name__}") from None
        self.fps = float(DEFAULT_FPS if fps is None else fps)
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number of frames per second; got {fps!r}")

    @property
    def expected_frames(self) -> int | None:
        """How many frames the iteration should give, when known (for progress bars)."""
        known = [n for n in (self.frames_declared, self.max_frames) if n]
        return min(known) if known else None

    def _decode(self) -> Iterator[np.ndarray]:
        while True:
            ok, frame = self._capture.read()
            if not ok:
                return
            yield frame

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        while self.max_frames is None or self.frames_read < self.max_frames:
            start = time.perf_counter()
            frame = next(self._frames, _END)
            if frame is _END:
                break
            frame = as_bgr(frame, self.frames_read)
            size = (frame.shape[1], frame.shape[0])
            if self.image_size is None:
                self.image_size = size
            elif size != self.image_size:
                raise ValueError(f"frame {self.frames_read} of {self.name} is {size[0]}x{size[1]}; the frames "
                                 f"before it are {self.image_size[0]}x{self.image_size[1]} (one size per video)")
            self.decode_ms += 1000 * (time.perf_counter() - start)
            yield self.frames_read, frame
            self.frames_read += 1
        self._finish()

    def _finish(self) -> None:
        self.close()
        if not self.frames_read and not self.from_file:
            raise ValueError("the frame sequence is empty; pass at least one frame")
        if not self.frames_read:
            raise ValueError(f"{self.name}: OpenCV opens it but decodes no frame (a damaged video?)")
        wanted = self.expected_frames
        if self.frames_declared and wanted and self.frames_read < wanted:
            self.warnings.append(f"{self.name}: read {self.frames_read} of the {self.frames_declared} frames its "
                                 f"header declares (the file ends early or frame {self.frames_read} is corrupt); "
                                 f"kept the {self.frames_read} frames read")

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def render_video_frame(frame_bgr: np.ndarray, keypoints_2d: np.ndarray | None, pose_3d: np.ndarray | None,
                       text: str = "") -> np.ndarray:
    """The frame with its 2D skeleton (COCO-17 x, y, score in pixels) drawn, beside a square panel of
    the frame's height with the 3D skeleton (H36M-17, metres); `text` at the frame's top left. No
    person (keypoints / pose None or NaN): the frame undrawn and the panel labelled "no person"."""
    frame = as_bgr(frame_bgr, 0)
    height = frame.shape[0]
    canvas = frame
    if keypoints_2d is not None and np.isfinite(np.asarray(keypoints_2d)[:, :2]).any():
        keypoints = np.asarray(keypoints_2d, dtype=np.float64)
        points, scores = coco_to_h36m(keypoints[:, :2], keypoints[:, 2])
        canvas = draw_skeleton_2d(frame, points, scores=scores)
    if pose_3d is None or not np.isfinite(pose_3d).all():
        panel = label(blank(height, height), "no person")
    else:
        panel = render_skeleton_3d([pose_3d], size=height, title="3D (m)")
    if text:  # viz.label's light text, on a darkened strip so it reads on bright frames
        (width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        canvas = canvas.copy()
        canvas[:28, :width + 16] = (canvas[:28, :width + 16] * 0.4).astype(np.uint8)
        canvas = label(canvas, text)
    return np.hstack([canvas, panel])
