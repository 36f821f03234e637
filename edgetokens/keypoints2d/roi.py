"""Rotated square regions of interest and the crops through them, as MediaPipe's pose pipeline makes
them: letterbox for the detector, alignment keypoints -> rotated ROI, ImageToTensor's warp and
LandmarkProjection's inverse. All coordinates here are image pixels unless said otherwise."""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Roi:
    """A rectangle centred at (x, y) pixels, width x height pixels, rotated by `rotation` radians
    (MediaPipe's convention: clockwise on screen, y down)."""
    x: float
    y: float
    width: float
    height: float
    rotation: float = 0.0


def normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def letterbox_roi(width: int, height: int) -> Roi:
    """The whole image padded to a square (centred), as ImageToTensor's keep_aspect_ratio does."""
    side = float(max(width, height))
    return Roi(width / 2.0, height / 2.0, side, side, 0.0)


def roi_from_keypoints(center: np.ndarray, scale_point: np.ndarray, scale: float = 1.25,
                       target_angle: float = math.pi / 2) -> Roi:
    """BlazePose's ROI from the detection's keypoints 0 (hip centre) and 1 (scale and rotation point),
    in pixels: centre at kp0, side 2 |kp1 - kp0| x `scale`, rotation making kp0 -> kp1 point up."""
    x0, y0 = float(center[0]), float(center[1])
    x1, y1 = float(scale_point[0]), float(scale_point[1])
    side = 2.0 * math.hypot(x1 - x0, y1 - y0) * scale
    rotation = normalize_radians(target_angle - math.atan2(-(y1 - y0), x1 - x0))
    return Roi(x0, y0, side, side, rotation)


def crop_matrix(roi: Roi, size: int) -> np.ndarray:
    """(2, 3) affine from crop pixels (0..size) to image pixels: p = centre + R(rot) ((u / size - 0.5) w,
    (v / size - 0.5) h), corner to corner as MediaPipe maps a rotated rect onto the tensor."""
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    a = np.array([[c * roi.width / size, -s * roi.height / size, 0.0],
                  [s * roi.width / size, c * roi.height / size, 0.0]])
    a[:, 2] = [roi.x, roi.y] - a[:, :2] @ [size / 2.0, size / 2.0]
    return a


def warp_crop(image: np.ndarray, roi: Roi, size: int, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """The size x size crop of `image` through `roi` (bilinear, same dtype as the image)."""
    return cv2.warpAffine(image, crop_matrix(roi, size), (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=border, borderValue=0)


def crop_to_image(points: np.ndarray, roi: Roi, size: int) -> np.ndarray:
    """(N, 2) crop pixels -> image pixels (the inverse of the warp)."""
    points = np.asarray(points, dtype=np.float64)
    return points @ crop_matrix(roi, size)[:, :2].T + crop_matrix(roi, size)[:, 2]
