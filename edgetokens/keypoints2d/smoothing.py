"""Temporal landmark filters as MediaPipe's pose graph applies them in video mode
(PoseLandmarkFiltering): VisibilitySmoothingCalculator's low-pass on visibility, then
LandmarksSmoothingCalculator's one-euro filter on x, y, z in image pixels, each axis of each landmark
separately, the velocity scaled by 1 / object scale (given, as the pose graph's OBJECT_SCALE_ROI, or
else the mean of the landmarks' axis-aligned box width and height). Timestamps are seconds; the first sample passes through unchanged."""
from __future__ import annotations

import math

import numpy as np


class LowPass:
    """y = alpha x + (1 - alpha) y_prev, element-wise; the first sample initialises the state."""

    def __init__(self, alpha: float):
        self.alpha = alpha
        self.raw: np.ndarray | None = None
        self.stored: np.ndarray | None = None

    def reset(self) -> None:
        self.raw = self.stored = None

    def apply(self, value: np.ndarray, alpha: float | np.ndarray | None = None) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        a = self.alpha if alpha is None else alpha
        out = value if self.stored is None else a * value + (1.0 - a) * self.stored
        self.raw, self.stored = value, out
        return out


class OneEuro:
    """MediaPipe's OneEuroFilter over arrays (every element its own filter, one shared clock):
    frequency from the timestamps (`frequency` until the second sample), derivative low-passed at
    `derivate_cutoff`, value low-passed at min_cutoff + beta |derivative x value_scale|."""

    def __init__(self, min_cutoff: float, beta: float, derivate_cutoff: float = 1.0, frequency: float = 30.0):
        self.min_cutoff, self.beta, self.derivate_cutoff = min_cutoff, beta, derivate_cutoff
        self.initial_frequency = frequency
        self.reset()

    def reset(self) -> None:
        self.frequency = self.initial_frequency
        self.last_time: float | None = None
        self.x, self.dx = LowPass(0.0), LowPass(0.0)

    def _alpha(self, cutoff):
        te = 1.0 / self.frequency
        tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
        return 1.0 / (1.0 + tau / te)

    def apply(self, timestamp_s: float, value: np.ndarray, value_scale: float = 1.0) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if self.last_time is not None:
            if timestamp_s <= self.last_time:
                return value  # as MediaPipe: a non-increasing timestamp passes the value through
            self.frequency = 1.0 / (timestamp_s - self.last_time)
        self.last_time = timestamp_s
        if self.x.raw is None:
            dvalue = np.zeros_like(value)
        else:
            dvalue = (value - self.x.raw) * value_scale * self.frequency
        edvalue = self.dx.apply(dvalue, self._alpha(self.derivate_cutoff))
        cutoff = self.min_cutoff + self.beta * np.abs(edvalue)
        return self.x.apply(value, self._alpha(cutoff))


def object_scale(points_xy: np.ndarray) -> float:
    """MediaPipe's GetObjectScale: mean of the axis-aligned box's width and height."""
    span = np.max(points_xy, axis=0) - np.min(points_xy, axis=0)
    return float((span[0] + span[1]) / 2.0)


class LandmarkSmoother:
    """Visibility low-pass (alpha) then one-euro on x, y, z (pixels) of (N, >=4) landmarks
    (x, y, z, visibility, ...). `reset()` when the person is lost, as MediaPipe does on an empty packet."""

    def __init__(self, min_cutoff: float, beta: float, derivate_cutoff: float = 1.0,
                 visibility_alpha: float = 0.1, frequency: float = 30.0, min_allowed_object_scale: float = 1e-6):
        self.visibility = LowPass(visibility_alpha)
        self.xyz = OneEuro(min_cutoff, beta, derivate_cutoff, frequency)
        self.min_allowed_object_scale = min_allowed_object_scale

    def reset(self) -> None:
        self.visibility.reset()
        self.xyz.reset()

    def apply(self, timestamp_s: float, landmarks: np.ndarray, scale: float | None = None) -> np.ndarray:
        """`scale`: the object scale in pixels (MediaPipe's OBJECT_SCALE_ROI); None: from the landmarks."""
        out = np.array(landmarks, dtype=np.float64)
        out[:, 3] = self.visibility.apply(out[:, 3])
        scale = object_scale(out[:, :2]) if scale is None else scale
        if scale < self.min_allowed_object_scale:
            return out.astype(np.float32)
        out[:, :3] = self.xyz.apply(timestamp_s, out[:, :3], 1.0 / scale)
        return out.astype(np.float32)
