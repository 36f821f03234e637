"""Pictures with OpenCV: 2D skeletons on images, 3D skeletons from a viewpoint, depth and mask overlays,
and video writing. Images are BGR uint8 (OpenCV's order) throughout.

    canvas = draw_skeleton_2d(frame, keypoints)                       # (17, 2) pixels, H36M order
    panel = render_skeleton_3d([pred, truth], colors=[PRED, TRUTH])   # (17, 3) metres, camera frame
    with VideoWriter("out.mp4", fps=25) as video:
        video.write(np.hstack([canvas, panel]))
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .clitools import OutputError
from .pose.skeleton import H36M_BONES, H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT
from .vision.depth import colorize_depth

LEFT, RIGHT, CENTRE = (255, 140, 40), (40, 90, 255), (200, 200, 200)  # BGR: left blue, right red
PRED, TRUTH = (60, 200, 255), (120, 220, 120)  # single-colour skeletons: prediction orange, truth green


def bone_color(child: int) -> tuple[int, int, int]:
    if child in H36M_JOINTS_LEFT:
        return LEFT
    if child in H36M_JOINTS_RIGHT:
        return RIGHT
    return CENTRE


def blank(height: int, width: int, value: int = 30) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def draw_skeleton_2d(image: np.ndarray, keypoints: np.ndarray, color: tuple[int, int, int] | None = None,
                     thickness: int = 2, scores: np.ndarray | None = None, min_score: float = 0.3) -> np.ndarray:
    """A copy of `image` with the H36M-17 skeleton (17, 2) pixels drawn; joints with a score below
    `min_score` (or non-finite) and their bones are skipped. `color=None`: left/right colouring."""
    canvas = image.copy()
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (17, 2):
        raise ValueError(f"keypoints must be (17, 2) pixels in the H36M order; got {kp.shape}")
    seen = np.isfinite(kp).all(-1) & (True if scores is None else np.asarray(scores) >= min_score)
    for child, parent in H36M_BONES:
        if seen[child] and seen[parent]:
            cv2.line(canvas, tuple(np.round(kp[parent]).astype(int)), tuple(np.round(kp[child]).astype(int)),
                     color or bone_color(child), thickness, cv2.LINE_AA)
    for joint in np.flatnonzero(seen):
        cv2.circle(canvas, tuple(np.round(kp[joint]).astype(int)), thickness + 1, color or bone_color(joint), -1,
                   cv2.LINE_AA)
    return canvas


def view_rotation(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Rotation from camera-frame coordinates (x right, y down, z forward) to a viewer looking at the
    body from `azimuth` degrees around the vertical axis and `elevation` degrees above."""
    a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
    yaw = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    pitch = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    return pitch @ yaw


def render_skeleton_3d(poses: Sequence[np.ndarray], size: int = 400, azimuth: float = 30.0,
                       elevation: float = 15.0, colors: Sequence[tuple[int, int, int] | None] | None = None,
                       extent: float = 1.0, title: str | None = None) -> np.ndarray:
    """Root-relative 3D poses (each (17, 3) metres, camera frame) drawn from one viewpoint, overlaid,
    on a size x size panel spanning +-`extent` metres (orthographic)."""
    canvas = blank(size, size)
    rotation = view_rotation(azimuth, elevation)
    scale = size / (2.0 * extent)
    floor_y = size - 12
    cv2.line(canvas, (10, floor_y), (size - 10, floor_y), (70, 70, 70), 1)
    colors = list(colors) if colors is not None else [None] * len(poses)
    for pose, color in zip(poses, colors):
        pose = np.asarray(pose, dtype=np.float64)
        if pose.shape != (17, 3):
            raise ValueError(f"3D poses must be (17, 3); got {pose.shape}")
        points = (pose - pose[0]) @ rotation.T
        pixels = np.stack([size / 2 + points[:, 0] * scale, size / 2 + points[:, 1] * scale], axis=-1)
        canvas = draw_skeleton_2d(canvas, pixels, color=color)
    if title:
        cv2.putText(canvas, title, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (230, 230, 230), 1, cv2.LINE_AA)
    return canvas


def depth_panel(depth: np.ndarray, max_depth: float | None = None) -> np.ndarray:
    """The depth colour map (`edgetokens.vision.depth.colorize_depth`): near warm, far cool, holes black."""
    return colorize_depth(depth, max_depth=max_depth)


def overlay_masks(image: np.ndarray, masks: np.ndarray, alpha: float = 0.5, seed: int = 0) -> np.ndarray:
    """A copy of `image` with each instance mask (N, H, W) bool tinted in its own colour and outlined."""
    canvas = image.copy()
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3 or masks.shape[1:] != image.shape[:2]:
        raise ValueError(f"masks must be (N, {image.shape[0]}, {image.shape[1]}); got {masks.shape}")
    rng = np.random.default_rng(seed)
    for mask in masks:
        color = rng.integers(60, 255, 3)
        canvas[mask] = ((1 - alpha) * canvas[mask] + alpha * color).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(canvas, contours, -1, tuple(int(c) for c in color), 1, cv2.LINE_8)
    return canvas


def label(image: np.ndarray, text: str) -> np.ndarray:
    canvas = image.copy()
    cv2.putText(canvas, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (240, 240, 240), 1, cv2.LINE_AA)
    return canvas


class VideoWriter:
    """MP4 (mp4v) writer that takes BGR frames of one size; a context manager."""

    def __init__(self, path: str | Path, fps: float = 25.0):
        self.path, self.fps = Path(path), float(fps)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            h, w = frame.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                raise OutputError(f"OpenCV cannot write {self.path} (mp4v codec unavailable, or the folder "
                                  "not writable?)")
            self.size = (w, h)
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(f"video frames must all be {self.size[0]}x{self.size[1]}; got {frame.shape[1]}x"
                             f"{frame.shape[0]}")
        self._writer.write(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
